//! Brotli and gzip copies of the built web app, written beside each file at build time
//! (`app.wasm` gets `app.wasm.br` and `app.wasm.gz`), so the server sends compressed
//! bytes without compressing anything per request: it picks the copy the client's
//! `Accept-Encoding` allows (see `backend/src/web.rs`).
//!
//! Both at their best quality: this runs once per build, and every phone that loads
//! the app gets the smaller download. A copy that would not be smaller than the original
//! (a PNG, say) is not written, and the server then sends the original.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Brotli's best quality and its largest standard window (16 MiB, more than any file here).
const BROTLI_QUALITY: i32 = 11;
const BROTLI_WINDOW: i32 = 24;

/// One file of the app and the sizes of what was written for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    pub file: PathBuf,
    pub raw: u64,
    /// `None` when the copy would not have been smaller, so none was written.
    pub brotli: Option<u64>,
    pub gzip: Option<u64>,
}

/// Writes `.br` and `.gz` copies beside every file under `dir` (replacing old ones) and
/// returns what it did, sorted by file name.
pub fn compress_dir(dir: &Path) -> Result<Vec<Compressed>> {
    let mut out = Vec::new();
    for file in files(dir)? {
        if is_copy(&file) {
            continue;
        }
        let data = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let brotli = keep_if_smaller(&file, "br", &data, brotli(&data)?)?;
        let gzip = keep_if_smaller(&file, "gz", &data, gzip(&data)?)?;
        out.push(Compressed { file, raw: data.len() as u64, brotli, gzip });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

/// Every regular file under `dir`, at any depth.
fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// A copy this module wrote on an earlier build: it is replaced, never compressed again.
fn is_copy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "br" || e == "gz")
}

/// Writes `compressed` as `<file>.<ext>` when it is smaller than `original`, and removes
/// any stale copy otherwise (a smaller one from an older build would be served instead).
fn keep_if_smaller(file: &Path, ext: &str, original: &[u8], compressed: Vec<u8>) -> Result<Option<u64>> {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    let copy = PathBuf::from(name);
    if compressed.len() < original.len() {
        std::fs::write(&copy, &compressed).with_context(|| format!("writing {}", copy.display()))?;
        Ok(Some(compressed.len() as u64))
    } else {
        match std::fs::remove_file(&copy) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", copy.display()))
            }
            _ => Ok(None),
        }
    }
}

pub fn brotli(data: &[u8]) -> Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY,
        lgwin: BROTLI_WINDOW,
        size_hint: data.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).context("brotli")?;
    Ok(out)
}

pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn scratch(name: &str) -> crate::tasks::TempFolder {
        let dir = crate::tasks::TempFolder::new(&format!("xtask-compress-{name}")).unwrap();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        dir
    }

    #[test]
    fn every_file_gets_copies_that_decompress_to_it() {
        let dir = scratch("roundtrip");
        let text = "fn main() { println!(\"hello\"); }\n".repeat(200);
        std::fs::write(dir.join("app-0123456789abcdef.js"), &text).unwrap();
        std::fs::write(dir.join("sub/index.html"), &text).unwrap();
        let done = compress_dir(&dir).unwrap();
        assert_eq!(done.len(), 2, "{done:?}");
        for file in ["app-0123456789abcdef.js", "sub/index.html"] {
            let path = dir.join(file);
            let br = std::fs::read(format!("{}.br", path.display())).unwrap();
            let mut back = String::new();
            brotli::Decompressor::new(&br[..], 4096).read_to_string(&mut back).unwrap();
            assert_eq!(back, text);
            let gz = std::fs::read(format!("{}.gz", path.display())).unwrap();
            let mut back = String::new();
            flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut back).unwrap();
            assert_eq!(back, text);
            assert!(br.len() < text.len() / 10 && gz.len() < text.len() / 10);
        }
        // A second build replaces the copies instead of compressing them again.
        let again = compress_dir(&dir).unwrap();
        assert_eq!(again, done);
        assert!(!dir.join("app-0123456789abcdef.js.br.br").exists());
    }

    #[test]
    fn a_copy_that_would_not_be_smaller_is_not_written() {
        let dir = scratch("incompressible");
        // Pseudo-random bytes, as in a PNG: compressing only adds framing.
        let mut x: u32 = 12345;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        std::fs::write(dir.join("icon.png"), &noise).unwrap();
        // A stale copy from an older build must not survive.
        std::fs::write(dir.join("icon.png.br"), b"old").unwrap();
        let done = compress_dir(&dir).unwrap();
        assert_eq!(done[0].brotli, None);
        assert_eq!(done[0].gzip, None);
        assert!(!dir.join("icon.png.br").exists() && !dir.join("icon.png.gz").exists());
    }
}
