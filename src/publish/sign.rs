//! Signatures: HMAC-SHA256 of webhook bodies, and AWS Signature Version 4 of S3 requests.
//!
//! ```text
//! canonical request = method \n path \n query \n headers \n signed header names \n body hash
//! string to sign    = AWS4-HMAC-SHA256 \n time \n date/region/s3/aws4_request \n hash(canonical)
//! key               = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")
//! Authorization     = AWS4-HMAC-SHA256 Credential=<id>/<scope>, SignedHeaders=..., Signature=hex(HMAC(key, string))
//! ```

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 15)] as char);
    }
    text
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The `X-Framecast-Signature` value of a webhook body: `sha256=<hex HMAC>`.
pub fn body_signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex(&hmac_sha256(secret, body)))
}

/// Percent-encodes as SigV4 asks: everything but `A-Z a-z 0-9 - . _ ~`, and `/` too
/// unless `keep_slash`.
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(b as char)
            }
            b'/' if keep_slash => encoded.push('/'),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    encoded
}

/// A UTC time as SigV4 writes it: `YYYYMMDD'T'HHMMSS'Z'`.
pub fn amz_time(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let seconds = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Credentials and scope of SigV4 signing for S3.
#[derive(Clone)]
pub struct SigV4<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

impl std::fmt::Debug for SigV4<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SigV4<'_> {
    /// The `Authorization` header of a request. `path` is already URI-encoded; `query`
    /// pairs are raw; `headers` are every header sent that is to be signed (`host`,
    /// `x-amz-date` and `x-amz-content-sha256` among them), names in any case.
    pub fn authorization(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        payload_hash: &str,
        time: &str,
    ) -> String {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        pairs.sort();
        let canonical_query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut canonical_headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| {
                let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                (name.to_ascii_lowercase(), value)
            })
            .collect();
        canonical_headers.sort();
        let header_block: String = canonical_headers
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect();
        let signed: Vec<&str> = canonical_headers.iter().map(|(n, _)| n.as_str()).collect();
        let signed = signed.join(";");
        let canonical = format!(
            "{method}\n{path}\n{}\n{header_block}\n{signed}\n{payload_hash}",
            canonical_query.join("&")
        );
        let date = &time[..8];
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{time}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let mut key = hmac_sha256(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        for part in [self.region, "s3", "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access_key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn example() -> SigV4<'static> {
        SigV4 {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn signs_the_published_get_object_example() {
        let authorization = example().authorization(
            "GET",
            "/test.txt",
            &[],
            &headers(&[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_HASH),
                ("x-amz-date", "20130524T000000Z"),
            ]),
            EMPTY_HASH,
            "20130524T000000Z",
        );
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn signs_the_published_put_object_example() {
        let body_hash = sha256_hex(b"Welcome to Amazon S3.");
        let authorization = example().authorization(
            "PUT",
            &uri_encode("/test$file.text", true),
            &[],
            &headers(&[
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-content-sha256", &body_hash),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ]),
            &body_hash,
            "20130524T000000Z",
        );
        assert!(authorization.ends_with(
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        ));
    }

    #[test]
    fn query_parameters_are_sorted_and_encoded() {
        let authorization = example().authorization(
            "GET",
            "/",
            &[("max-keys", "2"), ("prefix", "J")],
            &headers(&[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-content-sha256", EMPTY_HASH),
                ("x-amz-date", "20130524T000000Z"),
            ]),
            EMPTY_HASH,
            "20130524T000000Z",
        );
        assert!(authorization.ends_with(
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        ));
    }

    #[test]
    fn times_and_hmacs() {
        assert_eq!(amz_time(0), "19700101T000000Z");
        assert_eq!(amz_time(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_time(951_782_400), "20000229T000000Z");
        // RFC 4231, test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(uri_encode("a b/c~", false), "a%20b%2Fc~");
    }
}
