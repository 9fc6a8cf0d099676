//! The app's icons, drawn by code so they can be made again exactly: `cargo xtask icons`
//! writes them into `assets/` (committed, copied into `dist/` by trunk), and a test checks
//! that the committed files still show what this code draws.
//!
//! A white speech bubble on the app's accent colour, filling the square: a phone's home
//! screen rounds or masks the corners itself. 16 shades between the two colours (4-bit
//! indexed PNG) smooth the edges and keep each file to a few hundred bytes.

use std::path::Path;

use anyhow::{Context, Result};

/// The file names and sizes, in CSS pixels: the manifest's two, Apple's touch icon and the
/// tab's (index.html names only this small one, which every first load fetches: 0.5 KiB
/// less than the 192 px icon it named before).
pub const ICONS: [(&str, u32); 4] =
    [("icon-192.png", 192), ("icon-512.png", 512), ("apple-touch-icon.png", 180), ("icon-32.png", 32)];

/// `--accent` in style.css (light scheme), and white.
const BACKGROUND: [u8; 3] = [0x3b, 0x5b, 0xdb];
const FOREGROUND: [u8; 3] = [0xff, 0xff, 0xff];
const SHADES: u8 = 16;
/// Samples per pixel along each axis, for the edge shades.
const SUPERSAMPLE: u32 = 4;

/// Writes every icon into `dir`.
pub fn write_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, size) in ICONS {
        let path = dir.join(name);
        std::fs::write(&path, encode(size)?).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("    {} ({size} px)", path.display());
    }
    Ok(())
}

/// Whether the point (`x`, `y`), in units of the icon's side, is inside the bubble.
fn in_bubble(x: f64, y: f64) -> bool {
    // A rounded rectangle...
    let (left, top, right, bottom, radius) = (0.2, 0.24, 0.8, 0.66, 0.12);
    let cx = x.clamp(left + radius, right - radius);
    let cy = y.clamp(top + radius, bottom - radius);
    let body = (x - cx).powi(2) + (y - cy).powi(2) <= radius * radius;
    // ...and its tail, a triangle hanging from the lower left.
    let (ax, ay, bx, by, tx, ty) = (0.3, 0.6, 0.46, 0.6, 0.3, 0.8);
    let side = |px: f64, py: f64, qx: f64, qy: f64| (qx - px) * (y - py) - (qy - py) * (x - px);
    let (d1, d2, d3) = (side(ax, ay, bx, by), side(bx, by, tx, ty), side(tx, ty, ax, ay));
    let tail = (d1 >= 0.0 && d2 >= 0.0 && d3 >= 0.0) || (d1 <= 0.0 && d2 <= 0.0 && d3 <= 0.0);
    body || tail
}

/// Each pixel's palette index: how much of it the bubble covers, in `SHADES` steps.
fn pixels(size: u32) -> Vec<u8> {
    let samples = SUPERSAMPLE * SUPERSAMPLE;
    let mut out = Vec::with_capacity((size * size) as usize);
    for py in 0..size {
        for px in 0..size {
            let mut covered = 0;
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    let x = (f64::from(px * SUPERSAMPLE + sx) + 0.5) / f64::from(size * SUPERSAMPLE);
                    let y = (f64::from(py * SUPERSAMPLE + sy) + 0.5) / f64::from(size * SUPERSAMPLE);
                    covered += u32::from(in_bubble(x, y));
                }
            }
            let shade = (covered * u32::from(SHADES - 1) + samples / 2) / samples;
            out.push(u8::try_from(shade).expect("below SHADES"));
        }
    }
    out
}

fn palette() -> Vec<u8> {
    (0..SHADES)
        .flat_map(|i| {
            (0..3).map(move |c| {
                let (bg, fg) = (u32::from(BACKGROUND[c]), u32::from(FOREGROUND[c]));
                let n = u32::from(SHADES - 1);
                u8::try_from((bg * (n - u32::from(i)) + fg * u32::from(i) + n / 2) / n).expect("a channel")
            })
        })
        .collect()
}

/// The icon of `size` pixels as a 4-bit indexed PNG.
pub fn encode(size: u32) -> Result<Vec<u8>> {
    let indices = pixels(size);
    // Two pixels per byte, each row padded to whole bytes.
    let packed: Vec<u8> = indices
        .chunks(size as usize)
        .flat_map(|row| row.chunks(2).map(|p| p[0] << 4 | p.get(1).copied().unwrap_or(0)))
        .collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size, size);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Four);
    encoder.set_palette(palette());
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&packed)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RGB pixels of a PNG.
    fn decode(bytes: &[u8]) -> (u32, Vec<u8>) {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, buf)
    }

    #[test]
    fn the_committed_icons_are_what_the_code_draws() {
        let assets = crate::tasks::root().join("assets");
        for (name, size) in ICONS {
            let committed = std::fs::read(assets.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Pixels, not bytes: another PNG encoder version may pack the same image differently.
            assert_eq!(
                decode(&committed),
                decode(&encode(size).unwrap()),
                "assets/{name} differs from what `cargo xtask icons` draws: run it"
            );
        }
    }

    #[test]
    fn an_icon_is_the_bubble_on_the_accent_colour_and_small() {
        let bytes = encode(192).unwrap();
        assert!(bytes.len() < 2048, "{} bytes", bytes.len());
        let (width, rgb) = decode(&bytes);
        assert_eq!(width, 192);
        let at = |x: usize, y: usize| &rgb[(y * 192 + x) * 3..][..3];
        assert_eq!(at(2, 2), BACKGROUND, "a corner is the background");
        assert_eq!(at(96, 86), FOREGROUND, "the middle is the bubble");
        assert_eq!(at(62, 145), FOREGROUND, "the tail hangs below it");
        assert_eq!(at(150, 145), BACKGROUND, "only on the left");
    }
}
