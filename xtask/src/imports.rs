//! Shorter names for the web app's imports, after trunk and before compression.
//!
//! wasm-bindgen names each function the wasm imports from its JS glue after the binding
//! and a hash of 16 hex digits (`__wbg_addEventListener_3acb0aad4483804c`), so that the
//! bindings of different crates never collide. Those digits are random to a compressor:
//! with some 160 imports, each named once in the wasm's import section and once in the
//! glue, they were about 3 KiB of the app's 110 KiB Brotli budget. This step renames each
//! such import to its name without the hash (numbered when two would be equal), in the
//! wasm and in the glue alike, which is all that binds the two; `index.html` must name no
//! `integrity` digests of them (it asks trunk for none: `data-integrity="none"`). The glue
//! is also minified (`minify`); the other sections of the wasm are copied byte for byte.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

/// Renames the hashed imports of the one `*_bg.wasm` in `dist` and its JS glue (the
/// `.js` of the same stem); returns how many were renamed.
pub fn shorten(dist: &Path) -> Result<usize> {
    let mut wasm_files = Vec::new();
    for entry in std::fs::read_dir(dist).with_context(|| format!("listing {}", dist.display()))? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with("_bg.wasm") {
            wasm_files.push(path);
        }
    }
    let [wasm_path] = wasm_files.as_slice() else {
        bail!("expected one *_bg.wasm in {}, found {wasm_files:?}", dist.display());
    };
    let name = wasm_path.to_string_lossy();
    let js_path = Path::new(name.strip_suffix("_bg.wasm").unwrap_or(&name)).with_extension("js");
    let wasm = std::fs::read(wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let js = std::fs::read_to_string(&js_path).with_context(|| format!("reading {}", js_path.display()))?;

    let renames = new_names(&import_names(&wasm)?);
    let new_wasm = rename_imports(&wasm, &renames)?;
    let mut new_js = js.clone();
    for (old, new) in &renames {
        ensure!(new_js.matches(old.as_str()).count() == 1, "the glue does not name {old} exactly once");
        new_js = new_js.replace(old.as_str(), new);
    }
    let new_js = crate::minify::minify(&new_js)?;
    let index_path = dist.join("index.html");
    let mut index = std::fs::read_to_string(&index_path).context("reading index.html")?;
    // A browser refuses a file whose digest is not the one its link names, and this step
    // changes the glue and the wasm: index.html asks trunk for no digests.
    ensure!(!index.contains(" integrity="), "index.html has `integrity` digests: ask trunk for none");
    // trunk leaves index.html's `data-integrity="none"` on the stylesheet's and the
    // script's tags: bytes of the first load that no browser reads.
    index = index.replace(" data-integrity=none", "");
    std::fs::write(wasm_path, &new_wasm)?;
    std::fs::write(&js_path, &new_js)?;
    std::fs::write(&index_path, index)?;
    Ok(renames.len())
}

/// `name` without a trailing `_` and 16 hex digits, if it has them.
fn unhashed(name: &str) -> Option<&str> {
    let (stem, hash) = name.rsplit_once('_')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !stem.is_empty()).then_some(stem)
}

/// The new name of each hashed import: its stem, or the stem and a number when the stem
/// is taken (by an unhashed import or by an earlier stem).
fn new_names(names: &[String]) -> BTreeMap<String, String> {
    let mut taken: HashSet<String> = names.iter().filter(|n| unhashed(n).is_none()).cloned().collect();
    let mut out = BTreeMap::new();
    for name in names {
        let Some(stem) = unhashed(name) else { continue };
        let mut new = stem.to_owned();
        let mut n = 2;
        while taken.contains(&new) {
            new = format!("{stem}{n}");
            n += 1;
        }
        taken.insert(new.clone());
        out.insert(name.clone(), new);
    }
    out
}

fn leb(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let byte = *bytes.get(*at).context("the wasm ends inside a number")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        ensure!(shift < 64, "a number in the wasm is too long");
    }
}

fn put_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn name<'a>(bytes: &'a [u8], at: &mut usize) -> Result<&'a str> {
    let len = leb(bytes, at)? as usize;
    let s = bytes.get(*at..*at + len).context("the wasm ends inside a name")?;
    *at += len;
    Ok(std::str::from_utf8(s)?)
}

/// The import section's entries: (module, name, the description's bytes).
fn imports(section: &[u8]) -> Result<Vec<(&str, &str, &[u8])>> {
    let mut at = 0;
    let count = leb(section, &mut at)?;
    let mut out = Vec::new();
    for _ in 0..count {
        let module = name(section, &mut at)?;
        let field = name(section, &mut at)?;
        let start = at;
        let kind = *section.get(at).context("the wasm ends inside an import")?;
        at += 1;
        let limits = |at: &mut usize| -> Result<()> {
            let flags = *section.get(*at).context("the wasm ends inside limits")?;
            *at += 1;
            leb(section, at)?;
            if flags & 1 != 0 {
                leb(section, at)?;
            }
            Ok(())
        };
        match kind {
            // A function (its type) or a tag (an attribute byte and its type).
            0x00 => {
                leb(section, &mut at)?;
            }
            0x04 => {
                at += 1;
                leb(section, &mut at)?;
            }
            // A table (its element type, then its limits) or a memory (its limits).
            0x01 => {
                at += 1;
                limits(&mut at)?;
            }
            0x02 => limits(&mut at)?,
            // A global: its value type and mutability.
            0x03 => at += 2,
            other => bail!("an import of unknown kind {other:#x}"),
        }
        out.push((module, field, section.get(start..at).context("the wasm ends inside an import")?));
    }
    ensure!(at == section.len(), "the import section has bytes after its entries");
    Ok(out)
}

/// Each section: (id, its content's range).
fn sections(wasm: &[u8]) -> Result<Vec<(u8, std::ops::Range<usize>)>> {
    ensure!(wasm.len() >= 8 && wasm[..4] == *b"\0asm", "not a wasm module");
    let mut at = 8;
    let mut out = Vec::new();
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let len = leb(wasm, &mut at)? as usize;
        ensure!(at + len <= wasm.len(), "a section runs past the end of the wasm");
        out.push((id, at..at + len));
        at += len;
    }
    Ok(out)
}

fn import_names(wasm: &[u8]) -> Result<Vec<String>> {
    let Some((_, range)) = sections(wasm)?.into_iter().find(|(id, _)| *id == 2) else {
        return Ok(Vec::new());
    };
    Ok(imports(&wasm[range])?.into_iter().map(|(_, field, _)| field.to_owned()).collect())
}

/// The wasm with its import section rewritten under the new names.
fn rename_imports(wasm: &[u8], renames: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut out = wasm[..8].to_vec();
    for (id, range) in sections(wasm)? {
        let content = if id == 2 {
            let entries = imports(&wasm[range.clone()])?;
            let mut section = Vec::new();
            put_leb(&mut section, entries.len() as u64);
            for (module, field, desc) in entries {
                let field = renames.get(field).map_or(field, String::as_str);
                for s in [module, field] {
                    put_leb(&mut section, s.len() as u64);
                    section.extend_from_slice(s.as_bytes());
                }
                section.extend_from_slice(desc);
            }
            section
        } else {
            wasm[range].to_vec()
        };
        out.push(id);
        put_leb(&mut out, content.len() as u64);
        out.extend_from_slice(&content);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module importing two functions and a memory from "wbg".
    fn module(names: [&str; 3]) -> Vec<u8> {
        let mut section = vec![3];
        for (name, desc) in names.iter().zip([&[0x00, 0x00][..], &[0x00, 0x01], &[0x02, 0x01, 0x01, 0x02]]) {
            section.push(3);
            section.extend_from_slice(b"wbg");
            section.push(name.len() as u8);
            section.extend_from_slice(name.as_bytes());
            section.extend_from_slice(desc);
        }
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        // A type section that must come through unchanged, then the imports.
        wasm.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
        wasm.push(2);
        wasm.push(section.len() as u8);
        wasm.extend_from_slice(&section);
        wasm
    }

    #[test]
    fn hashed_imports_lose_their_hash_and_equal_stems_are_numbered() {
        let wasm = module(["__wbg_new_0123456789abcdef", "__wbg_new_fedcba9876543210", "memory"]);
        let names = import_names(&wasm).unwrap();
        let renames = new_names(&names);
        assert_eq!(renames["__wbg_new_0123456789abcdef"], "__wbg_new");
        assert_eq!(renames["__wbg_new_fedcba9876543210"], "__wbg_new2");
        assert!(!renames.contains_key("memory"));
        let renamed = rename_imports(&wasm, &renames).unwrap();
        assert_eq!(renamed, module(["__wbg_new", "__wbg_new2", "memory"]));
    }

    #[test]
    fn only_a_16_digit_hex_suffix_is_a_hash() {
        assert_eq!(unhashed("__wbg_get_4f1baf9a00be3c74"), Some("__wbg_get"));
        assert_eq!(unhashed("__wbindgen_generic_0000000000000001"), Some("__wbindgen_generic"));
        assert_eq!(unhashed("__wbindgen_malloc"), None);
        assert_eq!(unhashed("__wbg_get_4f1baf9a00be3c7"), None);
        assert_eq!(unhashed("__wbg_get_4f1baf9a00be3c7z"), None);
    }
}
