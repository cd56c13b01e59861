//! Byte ranges of a representation of known size (RFC 9110, section 14): the `Range`
//! header, `If-Range` against a strong entity tag, and `If-None-Match`. It knows nothing of
//! what the bytes are.
//!
//! One range is served as asked; a list of several ranges is answered with the whole
//! representation, which the RFC allows, and which players and CDNs never need otherwise.

use std::ops::Range;

/// What to send for a request's `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with every byte.
    Full,
    /// 206 with these bytes.
    Partial(Range<u64>),
    /// 416: the range starts past the end.
    Unsatisfiable,
}

/// Reads a `Range` header for a representation of `size_bytes`. Malformed headers and
/// units other than bytes are ignored (a full response), as the RFC asks.
pub fn parse_range(header: Option<&str>, size_bytes: u64) -> RangeAnswer {
    let Some(spec) = header.map(str::trim).and_then(|h| {
        h.get(..6)
            .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
            .map(|_| &h[6..])
    }) else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // `-N`: the last N bytes.
        (true, _, Some(suffix)) => {
            if suffix == 0 || size_bytes == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial(size_bytes.saturating_sub(suffix)..size_bytes)
            }
        }
        // `N-` or `N-M`.
        (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
            if end.is_some_and(|end| end < start) {
                return RangeAnswer::Full;
            }
            if start >= size_bytes {
                return RangeAnswer::Unsatisfiable;
            }
            let end = end.map_or(size_bytes, |end| end.saturating_add(1).min(size_bytes));
            RangeAnswer::Partial(start..end)
        }
        _ => RangeAnswer::Full,
    }
}

/// Whether `If-Range` lets a range through: only an identical strong tag does (a date, a
/// weak tag or another tag asks for the whole representation).
pub fn if_range_allows(header: Option<&str>, etag: &str) -> bool {
    header.is_none_or(|value| value.trim() == etag)
}

/// Whether `If-None-Match` matches `etag`, so that the answer is 304 (weak comparison, as
/// the RFC requires for this header).
pub fn none_match(header: Option<&str>, etag: &str) -> bool {
    let Some(value) = header else {
        return false;
    };
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    value.trim() == "*" || value.split(',').any(|tag| bare(tag) == bare(etag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_of_every_form() {
        let p = |h: &str| parse_range(Some(h), 1000);
        assert_eq!(p("bytes=0-499"), RangeAnswer::Partial(0..500));
        assert_eq!(p("Bytes=0-0"), RangeAnswer::Partial(0..1));
        assert_eq!(p("bytes=500-"), RangeAnswer::Partial(500..1000));
        assert_eq!(p("bytes=-100"), RangeAnswer::Partial(900..1000));
        assert_eq!(p("bytes=-5000"), RangeAnswer::Partial(0..1000));
        assert_eq!(p("bytes=990-5000"), RangeAnswer::Partial(990..1000));
        assert_eq!(p("bytes=1000-"), RangeAnswer::Unsatisfiable);
        assert_eq!(p("bytes=-0"), RangeAnswer::Unsatisfiable);
        assert_eq!(p("bytes=5-1"), RangeAnswer::Full);
        assert_eq!(p("bytes=0-1,5-6"), RangeAnswer::Full);
        assert_eq!(p("items=0-1"), RangeAnswer::Full);
        assert_eq!(p("bytes=+1-2"), RangeAnswer::Full);
        assert_eq!(parse_range(None, 10), RangeAnswer::Full);
    }

    #[test]
    fn conditional_headers() {
        let tag = "\"abc\"";
        assert!(if_range_allows(None, tag));
        assert!(if_range_allows(Some("\"abc\""), tag));
        assert!(!if_range_allows(Some("\"abd\""), tag));
        assert!(!if_range_allows(Some("Wed, 21 Oct 2015 07:28:00 GMT"), tag));
        assert!(none_match(Some("\"x\", W/\"abc\""), tag));
        assert!(none_match(Some("*"), tag));
        assert!(!none_match(Some("\"x\""), tag));
        assert!(!none_match(None, tag));
    }

    proptest! {
        #[test]
        fn any_header_gives_a_range_inside_the_body(header in ".{0,40}", size in 0u64..10_000) {
            if let RangeAnswer::Partial(range) = parse_range(Some(&header), size) {
                prop_assert!(range.start < range.end && range.end <= size);
            }
        }

        #[test]
        fn well_formed_ranges_are_honoured(start in 0u64..2000, len in 1u64..2000, size in 1u64..3000) {
            let header = format!("bytes={start}-{}", start + len - 1);
            let answer = parse_range(Some(&header), size);
            if start >= size {
                prop_assert_eq!(answer, RangeAnswer::Unsatisfiable);
            } else {
                prop_assert_eq!(answer, RangeAnswer::Partial(start..(start + len).min(size)));
            }
        }
    }
}
