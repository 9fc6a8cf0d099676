//! The names of uploaded images, as `say.image` and `message.image` carry them.
//!
//! The server stores an upload once, under the SHA-256 of its bytes, and answers
//! `POST /api/media` with `/media/<64 hex digits>.<gif|png|jpg|webp>`. [`ImageRef`] holds
//! a URL of exactly that form: a path of this server, never another host, never anything
//! that could leave the media folder. Whether the file exists is the server's business.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::InvalidName;

/// Where the server serves uploaded images.
pub const MEDIA_PATH: &str = "/media/";

/// The file extensions of the image types the server accepts, and their media types.
pub const IMAGE_TYPES: [(&str, &str); 4] =
    [("gif", "image/gif"), ("png", "image/png"), ("jpg", "image/jpeg"), ("webp", "image/webp")];

/// A URL `POST /api/media` answers with: `/media/<sha256 hex>.<ext>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef(String);

impl ImageRef {
    pub fn parse(url: &str) -> Result<Self, InvalidName> {
        let name = url.strip_prefix(MEDIA_PATH).ok_or(InvalidName::Image)?;
        if !is_file_name(name) {
            return Err(InvalidName::Image);
        }
        Ok(Self(url.to_owned()))
    }

    /// `/media/<sha256 hex>.<ext>` for `sha256_hex` and `ext` (one of [`IMAGE_TYPES`]).
    pub fn new(sha256_hex: &str, ext: &str) -> Result<Self, InvalidName> {
        Self::parse(&format!("{MEDIA_PATH}{sha256_hex}.{ext}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file's name in the media folder: `<sha256 hex>.<ext>`.
    pub fn file_name(&self) -> &str {
        &self.0[MEDIA_PATH.len()..]
    }
}

/// Whether `name` is a stored image's file name: 64 lowercase hex digits, a dot, and one
/// of the extensions of [`IMAGE_TYPES`] (so no `/`, no `..`, nothing hidden).
pub fn is_file_name(name: &str) -> bool {
    let Some((hash, ext)) = name.split_once('.') else { return false };
    hash.len() == 64
        && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && IMAGE_TYPES.iter().any(|(e, _)| *e == ext)
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ImageRef> for String {
    fn from(v: ImageRef) -> String {
        v.0
    }
}

impl TryFrom<String> for ImageRef {
    type Error = InvalidName;
    fn try_from(s: String) -> Result<Self, InvalidName> {
        Self::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn only_this_servers_media_urls_are_images() {
        let ok = ImageRef::parse(&format!("/media/{HASH}.png")).unwrap();
        assert_eq!(ok.file_name(), format!("{HASH}.png"));
        assert_eq!(ImageRef::new(HASH, "webp").unwrap().as_str(), format!("/media/{HASH}.webp"));
        for bad in [
            format!("https://evil.example/media/{HASH}.png"),
            format!("//evil.example/media/{HASH}.png"),
            format!("/media/{HASH}.svg"),
            format!("/media/{HASH}.png/../../etc/passwd"),
            format!("/media/../{HASH}.png"),
            format!("/media/{}.png", HASH.to_uppercase()),
            format!("/media/{}.png", &HASH[1..]),
            format!("/media/{HASH}.png?x=1"),
            "/media/".into(),
            "javascript:alert(1)".into(),
            String::new(),
        ] {
            assert_eq!(ImageRef::parse(&bad), Err(InvalidName::Image), "{bad}");
        }
    }
}
