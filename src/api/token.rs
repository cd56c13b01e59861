//! Render tokens: `v2:<region>:<id>`, where the id is 128 random bits in lowercase hex.
//!
//! Paths may carry the colons raw or percent-encoded (`v2%3Alocal%3A...`); both read the
//! same. A token of another region is well formed but not ours.

use std::fmt;

use crate::error::{Error, Result};

/// Random bytes in a token id.
const ID_BYTES: usize = 16;

/// A parsed token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    region: String,
    id: String,
}

impl Token {
    /// A fresh token of `region`.
    pub fn generate(region: &str) -> Result<Self> {
        let mut bytes = [0u8; ID_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::internal(format!("no random bytes for a token: {e}")))?;
        let id = crate::publish::sign::hex(&bytes);
        Ok(Self {
            region: region.to_owned(),
            id,
        })
    }

    /// Reads a token from a path segment, percent-encoded or not. `None` when it is not
    /// shaped like one of ours (such tokens are simply not found).
    pub fn parse(text: &str) -> Option<Self> {
        let decoded = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .ok()?;
        let mut parts = decoded.split(':');
        let (Some("v2"), Some(region), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let region_ok = !region.is_empty()
            && region.len() <= 64
            && region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        (region_ok && is_id(id)).then(|| Self {
            region: region.to_owned(),
            id: id.to_owned(),
        })
    }

    /// The token of `id` in `region` (part URLs name only the id).
    pub fn from_id(region: &str, id: &str) -> Option<Self> {
        is_id(id).then(|| Self {
            region: region.to_owned(),
            id: id.to_owned(),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The random part, which also names the token's folder of outputs.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Whether `id` is shaped like the ids this server makes.
pub fn is_id(id: &str) -> bool {
    id.len() == ID_BYTES * 2 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v2:{}:{}", self.region, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_round_trip_raw_and_encoded() {
        let token = Token::generate("local").expect("token");
        let text = token.to_string();
        assert!(text.starts_with("v2:local:") && text.len() == 9 + 32);
        assert_eq!(Token::parse(&text), Some(token.clone()));
        assert_eq!(Token::parse(&text.replace(':', "%3A")), Some(token.clone()));
        assert_eq!(Token::parse(&text.replace(':', "%3a")), Some(token));
        assert_ne!(Token::generate("local").expect("token").id().len(), 0);
        for bad in [
            "v2:local",
            "v1:local:00",
            "v2::00",
            "v2:a:b:c",
            "v2:local:XYZ",
            "",
        ] {
            assert_eq!(Token::parse(bad), None, "{bad}");
        }
        assert_ne!(
            Token::generate("local").expect("a"),
            Token::generate("local").expect("b")
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,80}") {
            let _ = Token::parse(&text);
        }
    }
}
