//! What an upload is, judged by its bytes alone: a GIF, PNG, JPEG or WebP whose structure
//! parses to its end and whose dimensions are real, with its metadata taken out.
//!
//! The type and the dimensions come from the header (`imagesize`); the structure from
//! `img-parts` for JPEG, PNG and WebP (chunks and segments, without decoding or
//! re-encoding the picture) and from a walk of the blocks here for GIF. A file cut short,
//! a PNG signature in front of other bytes, an SVG, anything else: [`Refused`].
//!
//! Metadata is what a phone writes about the photo rather than the picture: EXIF (the
//! place it was taken, the device), XMP, IPTC, comments, text chunks. All of it goes,
//! but for two things that change how the picture looks: the ICC colour profile, and the
//! EXIF orientation of a JPEG, which is written back alone in a minimal EXIF block.
//! This module does no I/O.

use img_parts::jpeg::{Jpeg, JpegSegment, markers};
use img_parts::png::Png;
use img_parts::webp::{CHUNK_XMP, WebP};
use img_parts::{Bytes, ImageEXIF};

/// The largest width or height accepted: beyond what a browser draws, and a decompression
/// bomb's first sign.
pub const MAX_SIDE: u32 = 16_384;

/// The image types the server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gif,
    Png,
    Jpeg,
    Webp,
}

impl Kind {
    /// The file name extension the server stores it under.
    pub fn ext(self) -> &'static str {
        match self {
            Self::Gif => "gif",
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Gif => "image/gif",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }
}

/// An accepted image: its bytes as they will be stored (metadata taken out).
#[derive(Debug)]
pub struct Image {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub bytes: Bytes,
}

/// Why bytes are not an image the server takes; the text is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a GIF, PNG, JPEG or WebP image")]
    Type,
    #[error("a damaged or incomplete {0} image")]
    Broken(&'static str),
    #[error("an image must be 1 to {MAX_SIDE} pixels wide and high")]
    Size,
}

/// Judges `bytes` and strips their metadata.
pub fn inspect(bytes: Bytes) -> Result<Image, Refused> {
    let kind = match imagesize::image_type(&bytes) {
        Ok(imagesize::ImageType::Gif) => Kind::Gif,
        Ok(imagesize::ImageType::Png) => Kind::Png,
        Ok(imagesize::ImageType::Jpeg) => Kind::Jpeg,
        Ok(imagesize::ImageType::Webp) => Kind::Webp,
        _ => return Err(Refused::Type),
    };
    let size = imagesize::blob_size(&bytes).map_err(|_| Refused::Broken(kind.ext()))?;
    let (width, height) = (u32::try_from(size.width), u32::try_from(size.height));
    let (Ok(width), Ok(height)) = (width, height) else { return Err(Refused::Size) };
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(Refused::Size);
    }
    let broken = Refused::Broken(kind.ext());
    let bytes = match kind {
        Kind::Gif => strip_gif(&bytes).ok_or(broken)?,
        Kind::Png => strip_png(bytes).ok_or(broken)?,
        Kind::Jpeg => strip_jpeg(bytes).ok_or(broken)?,
        Kind::Webp => strip_webp(bytes).ok_or(broken)?,
    };
    Ok(Image { kind, width, height, bytes })
}

/// PNG chunks that say something about the picture rather than draw it.
const PNG_METADATA: [&[u8; 4]; 5] = [b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"];

/// A PNG is whole when its chunks (each with a good CRC) run from `IHDR` to `IEND` with
/// image data between.
fn strip_png(bytes: Bytes) -> Option<Bytes> {
    let mut png = Png::from_bytes(bytes).ok()?;
    let chunks = png.chunks();
    let whole = chunks.first().is_some_and(|c| &c.kind() == b"IHDR")
        && chunks.last().is_some_and(|c| &c.kind() == b"IEND")
        && chunks.iter().any(|c| &c.kind() == b"IDAT");
    if !whole {
        return None;
    }
    png.chunks_mut().retain(|c| !PNG_METADATA.contains(&&c.kind()));
    Some(png.encoder().bytes())
}

/// A JPEG is whole when its segments parse up to the scan, which ends with the EOI
/// marker, and a frame header (SOF) gives its size.
fn strip_jpeg(bytes: Bytes) -> Option<Bytes> {
    let total = bytes.len();
    let mut jpeg = Jpeg::from_bytes(bytes.clone()).ok()?;
    let scan = jpeg.segments().last().filter(|s| s.marker() == markers::SOS && s.has_entropy())?;
    // The scan's entropy holds the rest of the file: the EOI must be in it (0xFF is
    // stuffed as FF 00 in entropy-coded data, so FF D9 is only ever a marker).
    let entropy = &bytes[total - (scan.len_with_entropy() - scan.len())..];
    if !entropy.windows(2).any(|w| w == [0xFF, markers::EOI]) {
        return None;
    }
    jpeg.dimensions()?;
    let orientation = jpeg.exif().and_then(|exif| exif_orientation(&exif));
    // Kept: JFIF (APP0), ICC profiles and multi-picture data (APP2), Adobe's colour
    // transform (APP14), and everything that is not an APPn or a comment.
    jpeg.segments_mut().retain(|s| match s.marker() {
        markers::APP0 | markers::APP2 | markers::APP14 => true,
        m => !(markers::APP1..=markers::APP15).contains(&m) && m != markers::COM,
    });
    if let Some(o) = orientation.filter(|&o| o != 1) {
        let at = jpeg.segments().iter().take_while(|s| s.marker() == markers::APP0).count();
        jpeg.segments_mut().insert(at, JpegSegment::new_with_contents(markers::APP1, orientation_exif(o)));
    }
    Some(jpeg.encoder().bytes())
}

/// The Orientation tag (0x0112) of IFD0 in an EXIF block (the TIFF structure after
/// `Exif\0\0`), when it has a valid one (1 to 8).
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let big = match tiff.get(..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |at: usize| {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?);
    (0..count.min(256))
        .map(|i| ifd + 2 + i * 12)
        .find(|&entry| u16_at(entry) == Some(0x0112) && u16_at(entry + 2) == Some(3))
        .and_then(|entry| u16_at(entry + 8))
        .filter(|o| (1..=8).contains(o))
}

/// An EXIF block that holds the orientation and nothing else.
fn orientation_exif(orientation: u16) -> Bytes {
    let mut b = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    b.extend_from_slice(&orientation.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Bytes::from(b)
}

/// A WebP is whole when its RIFF chunks parse to their declared end and a bitstream
/// header gives its size.
fn strip_webp(bytes: Bytes) -> Option<Bytes> {
    let mut webp = WebP::from_bytes(bytes).ok()?;
    webp.dimensions()?;
    webp.remove_chunks_by_id(CHUNK_XMP);
    // Removes the EXIF chunk and sets the VP8X flags to the chunks that are left.
    webp.set_exif(None);
    Some(webp.encoder().bytes())
}

/// Walks a GIF's blocks from the header to the trailer, copying all but comments and
/// application extensions other than the looping one (XMP hides in those).
fn strip_gif(b: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(b.len());
    let flags = *b.get(10)?;
    let mut at = 13 + if flags & 0x80 != 0 { 3 << ((flags & 7) + 1) } else { 0 };
    out.extend_from_slice(b.get(..at)?);
    let mut images = 0;
    // The end of the data sub-blocks that start at `from`.
    let sub_blocks = |mut from: usize| -> Option<usize> {
        loop {
            let len = usize::from(*b.get(from)?);
            from += 1 + len;
            if len == 0 {
                return (from <= b.len()).then_some(from);
            }
        }
    };
    loop {
        match *b.get(at)? {
            0x3B => {
                out.push(0x3B);
                return (images > 0).then(|| Bytes::from(out));
            }
            0x2C => {
                let flags = *b.get(at + 9)?;
                let table = if flags & 0x80 != 0 { 3 << ((flags & 7) + 1) } else { 0 };
                // The descriptor, the local colour table, the LZW code size, the data.
                let end = sub_blocks(at + 10 + table + 1)?;
                out.extend_from_slice(&b[at..end]);
                images += 1;
                at = end;
            }
            0x21 => {
                let label = *b.get(at + 1)?;
                let end = sub_blocks(at + 2)?;
                let looping = label == 0xFF
                    && matches!(b.get(at + 2..at + 14), Some(b"\x0bNETSCAPE2.0" | b"\x0bANIMEXTS1.0"));
                let keep = match label {
                    0xFE => false,
                    0xFF => looping,
                    _ => true,
                };
                if keep {
                    out.extend_from_slice(&b[at..end]);
                }
                at = end;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1x1 GIF with a comment and an XMP application extension.
    fn gif() -> Vec<u8> {
        let mut g = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
        g.extend_from_slice(b"\x21\xfe\x06secret\x00");
        g.extend_from_slice(b"\x21\xff\x0bXMP DataXMP\x03abc\x00");
        g.extend_from_slice(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00");
        g.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b");
        g
    }

    #[test]
    fn a_gif_loses_its_comments_and_xmp_but_not_its_loop() {
        let image = inspect(Bytes::from(gif())).unwrap();
        assert_eq!((image.kind, image.width, image.height), (Kind::Gif, 1, 1));
        let out = image.bytes.to_vec();
        assert!(!out.windows(6).any(|w| w == b"secret"));
        assert!(!out.windows(3).any(|w| w == b"XMP"));
        assert!(out.windows(8).any(|w| w == b"NETSCAPE"));
        assert!(out.ends_with(b"\x3b"));
    }

    #[test]
    fn a_gif_cut_short_is_refused() {
        let g = gif();
        assert_eq!(inspect(Bytes::copy_from_slice(&g[..g.len() - 1])).unwrap_err(), Refused::Broken("gif"));
    }

    #[test]
    fn the_orientation_survives_in_a_minimal_exif() {
        let exif = orientation_exif(6);
        assert_eq!(exif_orientation(&exif[6..]), Some(6));
        let mut little = b"II\x2a\0\x08\0\0\0\x02\0".to_vec();
        little.extend_from_slice(b"\x0f\x01\x02\0\x04\0\0\0\0\0\0\0"); // Make
        little.extend_from_slice(b"\x12\x01\x03\0\x01\0\0\0\x08\0\0\0");
        assert_eq!(exif_orientation(&little), Some(8));
        assert_eq!(exif_orientation(b"II\x2a\0\xff\xff\0\0"), None);
    }

    #[test]
    fn svg_and_text_are_not_images() {
        for bad in [&b"<svg xmlns='http://www.w3.org/2000/svg'/>"[..], b"hello", b"", b"\x89PNG\r\n\x1a\n"] {
            assert!(inspect(Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
        }
    }
}
