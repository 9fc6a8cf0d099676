//! Builds the web app into the binary when asked: with `CHAT_EMBED_WEB` set to the built
//! app's folder (`cargo xtask build --release-binary` sets it to `dist/`), every file in
//! it, the Brotli and gzip copies included, goes into a table of `include_bytes!` that
//! `src/web/files.rs` serves. Without it the table is empty and the server reads the app
//! from disk, so `cargo build`, `cargo test` and clippy need no built app.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

fn main() {
    println!("cargo:rerun-if-env-changed=CHAT_EMBED_WEB");
    let mut table = String::from("pub static FILES: &[Embedded] = &[\n");
    if let Some(dir) = std::env::var_os("CHAT_EMBED_WEB").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        assert!(
            dir.join("index.html").is_file(),
            "CHAT_EMBED_WEB={} has no index.html: build the app first (cargo xtask build)",
            dir.display()
        );
        let mut files = Vec::new();
        walk(&dir, &dir, &mut files);
        // Sorted by name: the server looks them up by binary search.
        files.sort();
        for (name, path) in files {
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let path = path.canonicalize().expect("a file just listed");
            writeln!(
                table,
                "    Embedded {{ name: {name:?}, bytes: include_bytes!({path:?}), modified: {modified} }},"
            )
            .expect("writing to a string");
        }
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("embedded_web.rs"), table).expect("writing the table of the app's files");
}

/// Every file under `dir`, as (its path from `root` with `/`, its path).
fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).expect("reading the app's folder") {
        let path = entry.expect("reading the app's folder").path();
        if path.is_dir() {
            walk(root, &path, files);
        } else {
            let name = path.strip_prefix(root).expect("under the root");
            let name =
                name.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            files.push((name, path));
        }
    }
}
