//! The web app's scripts minified by terser (npm, pinned in `tools/package.json`,
//! installed by `cargo xtask setup`), after trunk: wasm-bindgen's glue (by `imports`, once
//! it is renamed) and our own `boot.js` ([`minify_scripts`]), whose comments were most of
//! its bytes. The names trunk gave the files by their content stay: the minified content
//! follows from that content alone.

use std::path::Path;

use anyhow::{Context, Result, ensure};

/// Minifies every script in `dist` but the glue (`<stem>.js` beside a `<stem>_bg.wasm`),
/// which `imports` minifies; returns how many.
pub fn minify_scripts(dist: &Path) -> Result<usize> {
    let mut done = 0;
    for entry in std::fs::read_dir(dist).with_context(|| format!("listing {}", dist.display()))? {
        let path = entry?.path();
        let name = path.to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".js") else { continue };
        if Path::new(&format!("{stem}_bg.wasm")).exists() {
            continue;
        }
        let js = std::fs::read_to_string(&path).with_context(|| format!("reading {name}"))?;
        std::fs::write(&path, minify(&js)?)?;
        done += 1;
    }
    Ok(done)
}

/// `js` minified by terser: its comments and whitespace go and its local names shrink
/// (wasm-bindgen's glue: 0.9 KiB of Brotli off the first load, bench/TUNING.md). trunk's own JS minifier cannot parse
/// wasm-bindgen's glue. `--module` keeps the glue's exports (`default`, `initSync`) and the
/// keys of its imports object, which name what the wasm imports.
pub fn minify(js: &str) -> Result<String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let terser = crate::setup::node_tool("terser");
    let mut child = Command::new(&terser)
        .args(["--module", "--compress", "passes=2", "--mangle"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} (`cargo xtask setup` installs it)", terser.display()))?;
    let mut stdin = child.stdin.take().context("terser's stdin")?;
    let out = std::thread::scope(|s| {
        // Written from a thread of its own, so that a full pipe either way cannot stall both.
        let writer = s.spawn(move || stdin.write_all(js.as_bytes()));
        let out = child.wait_with_output();
        writer.join().map_err(|_| anyhow::anyhow!("writing to terser panicked"))??;
        anyhow::Ok(out?)
    })?;
    ensure!(out.status.success(), "terser failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).context("terser's output is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glue_is_minified_and_keeps_its_exports_and_import_keys() {
        let glue = "/** Docs. */\nexport function initSync(module) {\n    // why\n    const imports = { __wbg_log: function(arg0) { console.log(arg0); } };\n    return imports;\n}\nexport default async function __wbg_init(path) { return initSync(path); }\n";
        let small = minify(glue).unwrap();
        assert!(small.len() < glue.len(), "{small}");
        assert!(!small.contains("Docs") && !small.contains("why"), "{small}");
        for kept in ["initSync", "__wbg_log", "export default", "console.log"] {
            assert!(small.contains(kept), "{kept} lost: {small}");
        }
        assert!(minify("export function f( {").is_err(), "a syntax error fails the build");
    }

    #[test]
    fn boot_is_minified_and_the_glue_left_to_imports() {
        let dir = std::env::temp_dir().join(format!("chat-minify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let boot = "// Starts the app.\nconst app = document.querySelector('meta');\nconst { default: init } = await import(app.dataset.js);\nawait init({ module_or_path: app.dataset.wasm });\n";
        std::fs::write(dir.join("boot-1.js"), boot).unwrap();
        std::fs::write(dir.join("frontend-1.js"), "// glue\n").unwrap();
        std::fs::write(dir.join("frontend-1_bg.wasm"), b"").unwrap();
        assert_eq!(minify_scripts(&dir).unwrap(), 1);
        let small = std::fs::read_to_string(dir.join("boot-1.js")).unwrap();
        assert!(!small.contains("Starts") && small.len() < boot.len(), "{small}");
        assert!(small.contains("module_or_path") && small.contains("import("), "{small}");
        assert_eq!(std::fs::read_to_string(dir.join("frontend-1.js")).unwrap(), "// glue\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
