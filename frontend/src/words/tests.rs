//! The tables hold every word by construction (a missing field does not compile); these
//! tests check what the compiler cannot: no word is left empty, every language names the
//! same values in each word (a translation that drops `{n}` would show no count), and the
//! language is chosen as the browser's preferences ask.

use super::*;

/// Every word of `words` as (field, text), read from its `Debug` form: one line per field,
/// a `Plural`'s forms as `field.one` and `field.other`.
fn entries(words: &Words) -> Vec<(String, String)> {
    let text = format!("{words:#?}");
    let mut out = Vec::new();
    let mut outer = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_suffix(": Plural {") {
            outer = format!("{name}.");
        } else if line == "}," {
            outer.clear();
        } else if let Some((name, value)) = line.split_once(": \"") {
            let value = value.strip_suffix("\",").expect("a quoted value");
            out.push((format!("{outer}{name}"), value.to_owned()));
        }
    }
    out
}

/// The names in braces in `text`, sorted.
fn placeholders(text: &str) -> Vec<String> {
    let mut names: Vec<String> =
        text.split('{').skip(1).map(|part| part.split('}').next().unwrap_or("").to_owned()).collect();
    names.sort();
    names
}

#[test]
fn every_language_has_every_word_with_the_same_values() {
    let english = entries(&EN);
    // The struct's fields, Plurals' forms counted apart: the parsing above saw them all.
    assert!(english.len() > 70, "{} words", english.len());
    for words in LANGUAGES {
        let table = entries(words);
        assert_eq!(table.len(), english.len(), "{}", words.lang);
        for ((name, text), (en_name, en_text)) in table.iter().zip(&english) {
            assert_eq!(name, en_name);
            // Only the separators of a counted notice may be empty (English names people
            // in the first part of it only).
            assert!(
                !text.trim().is_empty() || name.starts_with("counted_who"),
                "{}: {name} is empty",
                words.lang
            );
            assert_eq!(placeholders(text), placeholders(en_text), "{}: {name} ({text})", words.lang);
        }
    }
}

#[test]
fn korean_is_not_english() {
    // A word copied untranslated is a missed translation (a few are the same in both).
    let same: Vec<String> = entries(&EN)
        .into_iter()
        .zip(entries(&KO))
        .filter(|((_, en), (_, ko))| en == ko && !en.trim().is_empty())
        .map(|((name, _), _)| name)
        .collect();
    assert_eq!(same, ["counted"], "left in English");
}

#[test]
fn the_first_language_spoken_wins() {
    assert_eq!(choose(["ko-KR", "en-US"]).lang, "ko");
    assert_eq!(choose(["fr-FR", "KO", "en"]).lang, "ko");
    assert_eq!(choose(["en-GB", "ko"]).lang, "en");
    assert_eq!(choose(["de", "fr"]).lang, "en");
    assert_eq!(choose(Vec::<String>::new()).lang, "en");
    // A tag that only starts like a language is not it.
    assert_eq!(choose(["kok", "ko"]).lang, "ko");
    assert_eq!(choose(["kok"]).lang, "en");
}

#[test]
fn fill_puts_each_value_where_its_language_wants_it() {
    assert_eq!(fill(EN.renamed, &[("old", "bob"), ("nick", "ann")]), "bob is now ann");
    assert_eq!(fill(KO.renamed, &[("old", "bob"), ("nick", "ann")]), "bob님이 ann님으로 닉네임을 바꿨습니다");
    assert_eq!(fill("{n}", &[]), "");
    assert_eq!(fill("a {b", &[("b", "x")]), "a x");
    assert_eq!(fill("no braces", &[("n", "1")]), "no braces");
}

#[test]
fn plurals_follow_each_language() {
    assert_eq!(fill(EN.room_members.of(1), &[("n", "1")]), "1 member");
    assert_eq!(fill(EN.room_members.of(2), &[("n", "2")]), "2 members");
    assert_eq!(fill(EN.room_members.of(0), &[("n", "0")]), "0 members");
    assert_eq!(fill(KO.room_members.of(1), &[("n", "1")]), "참여자 1명");
    assert_eq!(fill(KO.room_members.of(2), &[("n", "2")]), "참여자 2명");
}
