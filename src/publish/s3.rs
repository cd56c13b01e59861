//! Sending a file to an S3 bucket: one signed PUT for small files, a multipart upload
//! (create, parts, complete; abort on failure) for large ones. Works with AWS and any
//! S3-compatible store (`s3host`), path-style there and virtual-hosted on AWS.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::send::{quoted, Answer, Failure, Outbound};
use super::sign::{amz_time, sha256_hex, uri_encode, SigV4};
use super::task::S3Destination;

/// Where an object goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: &'static str,
    /// `host[:port]` as the `Host` header says it.
    pub host: String,
    /// The URI-encoded path of the object.
    pub path: String,
    pub region: String,
}

impl Endpoint {
    pub fn of(destination: &S3Destination, key: &str) -> Self {
        let scheme = if destination.secure { "https" } else { "http" };
        let region = destination
            .region
            .clone()
            .or_else(|| destination.host.as_deref().and_then(region_of_host))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let key = uri_encode(key, true);
        let bucket = &destination.bucket;
        let (host, path) = match &destination.host {
            Some(host) => (host.clone(), format!("/{bucket}/{key}")),
            // Names with dots do not match the wildcard certificate of virtual hosts.
            None if bucket.contains('.') => (
                format!("s3.{region}.amazonaws.com"),
                format!("/{bucket}/{key}"),
            ),
            None => (
                format!("{bucket}.s3.{region}.amazonaws.com"),
                format!("/{key}"),
            ),
        };
        Self {
            scheme,
            host,
            path,
            region,
        }
    }

    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.path)
    }
}

/// The region in an AWS endpoint name (`s3.eu-west-1.amazonaws.com`,
/// `s3-eu-west-1.amazonaws.com`, `bucket.s3.eu-west-1.amazonaws.com`).
fn region_of_host(host: &str) -> Option<String> {
    let name = host.split(':').next()?.strip_suffix(".amazonaws.com")?;
    let labels: Vec<&str> = name.split('.').collect();
    labels
        .iter()
        .enumerate()
        .find_map(|(i, label)| match label.strip_prefix("s3-") {
            Some(region) => Some(region),
            None if *label == "s3" => labels.get(i + 1).copied(),
            None => None,
        })
        .filter(|region| !region.is_empty())
        .map(str::to_owned)
}

/// What the store answered for a finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub url: String,
    pub status: u16,
    pub etag: Option<String>,
    /// Parts of a multipart upload; 1 for a single PUT.
    pub parts: u32,
    /// Requests made, retries included.
    pub attempts: u32,
}

/// One upload of a file to one destination.
pub struct Upload<'a> {
    pub outbound: &'a Outbound,
    pub destination: &'a S3Destination,
    pub key: &'a str,
    pub file: &'a Path,
    pub size: u64,
    /// The output's media type, unless the destination names another.
    pub content_type: &'a str,
}

impl std::fmt::Debug for Upload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("bucket", &self.destination.bucket)
            .field("key", &self.key)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Upload<'_> {
    pub async fn run(&self) -> Result<Stored, (Failure, u32)> {
        let endpoint = Endpoint::of(self.destination, self.key);
        if self.size > self.outbound.settings.multipart_threshold {
            self.multipart(&endpoint).await
        } else {
            self.single(&endpoint).await
        }
    }

    /// Headers that describe the object: its type, disposition, caching, ACL, metadata.
    fn object_headers(&self) -> Vec<(String, String)> {
        let d = self.destination;
        let mut headers = vec![(
            "content-type".to_owned(),
            d.content_type
                .as_deref()
                .unwrap_or(self.content_type)
                .to_owned(),
        )];
        let optional = [
            ("content-disposition", &d.content_disposition),
            ("cache-control", &d.cache_control),
            ("x-amz-acl", &d.acl),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                headers.push((name.to_owned(), value.clone()));
            }
        }
        for (name, value) in &d.metadata {
            headers.push((format!("x-amz-meta-{name}"), value.clone()));
        }
        headers
    }

    async fn single(&self, endpoint: &Endpoint) -> Result<Stored, (Failure, u32)> {
        let body = tokio::fs::read(self.file)
            .await
            .map_err(|e| (Failure::permanent(format!("reading the output: {e}")), 0))?;
        let answer = self
            .request(endpoint, "PUT", &[], self.object_headers(), body)
            .await?;
        Ok(Stored {
            url: endpoint.url(),
            status: answer.0.status,
            etag: etag(&answer.0),
            parts: 1,
            attempts: answer.1,
        })
    }

    async fn multipart(&self, endpoint: &Endpoint) -> Result<Stored, (Failure, u32)> {
        let (created, mut attempts) = self
            .request(
                endpoint,
                "POST",
                &[("uploads", "")],
                self.object_headers(),
                Vec::new(),
            )
            .await?;
        let upload_id = xml_value(&created.body, "UploadId").ok_or_else(|| {
            (
                Failure::permanent("the store's answer to CreateMultipartUpload has no UploadId"),
                attempts,
            )
        })?;
        let result = self.parts(endpoint, &upload_id, &mut attempts).await;
        match result {
            Ok((answer, parts)) => Ok(Stored {
                url: endpoint.url(),
                status: answer.status,
                etag: xml_value(&answer.body, "ETag").or_else(|| etag(&answer)),
                parts,
                attempts,
            }),
            Err(failure) => {
                // Parts left behind cost the bucket's owner storage: abort, best effort.
                let query = [("uploadId", upload_id.as_str())];
                let _ = self
                    .request(endpoint, "DELETE", &query, Vec::new(), Vec::new())
                    .await;
                Err((failure, attempts))
            }
        }
    }

    async fn parts(
        &self,
        endpoint: &Endpoint,
        upload_id: &str,
        attempts: &mut u32,
    ) -> Result<(Answer, u32), Failure> {
        let part_size = self.outbound.settings.part_size.max(5 << 20);
        let mut file = tokio::fs::File::open(self.file)
            .await
            .map_err(|e| Failure::permanent(format!("reading the output: {e}")))?;
        let mut completed = String::from("<CompleteMultipartUpload>");
        let mut offset = 0;
        let mut number = 0u32;
        while offset < self.size {
            number += 1;
            let length = part_size.min(self.size - offset);
            let mut chunk = vec![0; length as usize];
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .and(file.read_exact(&mut chunk).await.map(|_| ()))
                .map_err(|e| Failure::permanent(format!("reading the output: {e}")))?;
            let part = number.to_string();
            let query = [("partNumber", part.as_str()), ("uploadId", upload_id)];
            let (answer, tries) = self
                .request(endpoint, "PUT", &query, Vec::new(), chunk)
                .await
                .map_err(|(f, tries)| {
                    *attempts += tries;
                    f
                })?;
            *attempts += tries;
            let tag = etag(&answer).ok_or_else(|| {
                Failure::permanent(format!("part {number} came back without an ETag"))
            })?;
            completed.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
                xml_escape(&tag)
            ));
            offset += length;
        }
        completed.push_str("</CompleteMultipartUpload>");
        let query = [("uploadId", upload_id)];
        let headers = vec![("content-type".to_owned(), "application/xml".to_owned())];
        let (answer, tries) = self
            .request(endpoint, "POST", &query, headers, completed.into_bytes())
            .await
            .map_err(|(f, tries)| {
                *attempts += tries;
                f
            })?;
        *attempts += tries;
        // S3 may answer 200 and still report an error in the body.
        if let Some(code) = xml_value(&answer.body, "Code") {
            return Err(Failure::permanent(format!(
                "CompleteMultipartUpload failed: {code}"
            )));
        }
        Ok((answer, number))
    }

    /// One signed request, retried under the outbound settings.
    async fn request(
        &self,
        endpoint: &Endpoint,
        method: &str,
        query: &[(&str, &str)],
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<(Answer, u32), (Failure, u32)> {
        let body = bytes::Bytes::from(body);
        let payload_hash = sha256_hex(&body);
        let query_text: Vec<String> = query
            .iter()
            .map(|(k, v)| match v.is_empty() {
                true => uri_encode(k, false),
                false => format!("{}={}", uri_encode(k, false), uri_encode(v, false)),
            })
            .collect();
        let mut target = format!("{}://{}{}", endpoint.scheme, endpoint.host, endpoint.path);
        if !query_text.is_empty() {
            target = format!("{target}?{}", query_text.join("&"));
        }
        let url = url::Url::parse(&target)
            .map_err(|e| (Failure::permanent(format!("the object URL: {e}")), 0))?;
        // Signed as sent: the host as the client writes it (lowercase, no default port)
        // and the path as parsed.
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err((Failure::permanent("the object URL has no host"), 0)),
        };
        let path = url.path().to_owned();
        headers.push(("x-amz-content-sha256".to_owned(), payload_hash.clone()));
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| (Failure::permanent(e.to_string()), 0))?;
        let client = self.outbound.client().clone();
        let destination = self.destination;
        let build = || {
            let time = amz_time(crate::store::unix_now());
            let mut signed = headers.clone();
            signed.push(("host".to_owned(), host.clone()));
            signed.push(("x-amz-date".to_owned(), time.clone()));
            let mut request = client.request(method.clone(), url.clone());
            if let Some((id, secret)) = &destination.credentials {
                let signer = SigV4 {
                    access_key: id,
                    secret_key: secret.expose(),
                    region: &endpoint.region,
                };
                let authorization = signer.authorization(
                    method.as_str(),
                    &path,
                    query,
                    &signed,
                    &payload_hash,
                    &time,
                );
                request = request.header("authorization", authorization);
            }
            for (name, value) in signed.iter().filter(|(n, _)| n != "host") {
                request = request.header(name.as_str(), value.as_str());
            }
            Ok(request.body(body.clone()))
        };
        let secrets: Vec<String> = destination
            .credentials
            .iter()
            .flat_map(|(id, secret)| [id.clone(), secret.expose().to_owned()])
            .collect();
        let describe = |status: u16, body: &[u8]| {
            let detail = match (xml_value(body, "Code"), xml_value(body, "Message")) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code,
                _ => quoted(body),
            };
            let mut message = format!("the store answered {status} ({detail})");
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                message = message.replace(secret.as_str(), "(redacted)");
            }
            message
        };
        let (result, tries) = self.outbound.send(&url, build, describe).await;
        match result {
            Ok(answer) => Ok((answer, tries)),
            Err(failure) => Err((failure, tries)),
        }
    }
}

fn etag(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The text of the first `<name>` element of an XML answer, unescaped.
fn xml_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(
        text[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(host: Option<&str>, bucket: &str) -> S3Destination {
        S3Destination {
            bucket: bucket.to_owned(),
            filename: None,
            credentials: None,
            host: host.map(str::to_owned),
            region: None,
            secure: true,
            content_type: None,
            content_disposition: None,
            acl: None,
            cache_control: None,
            metadata: Default::default(),
        }
    }

    #[test]
    fn endpoints_for_aws_and_other_stores() {
        let aws = Endpoint::of(&destination(None, "videos"), "spring/Zoë 1.mp4");
        assert_eq!(
            aws.url(),
            "https://videos.s3.us-east-1.amazonaws.com/spring/Zo%C3%AB%201.mp4"
        );
        let regional = Endpoint::of(
            &destination(Some("s3.eu-west-1.amazonaws.com"), "my.videos"),
            "a.mp4",
        );
        assert_eq!(regional.region, "eu-west-1");
        assert_eq!(regional.path, "/my.videos/a.mp4");
        let local = Endpoint::of(&destination(Some("127.0.0.1:9000"), "b"), "k");
        assert_eq!(
            (local.host.as_str(), local.region.as_str()),
            ("127.0.0.1:9000", "us-east-1")
        );
        assert_eq!(
            region_of_host("s3-ap-south-1.amazonaws.com").as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(region_of_host("s3.amazonaws.com"), None);
    }

    #[test]
    fn reads_xml_values() {
        let body = b"<InitiateMultipartUploadResult><UploadId>a&amp;b</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(xml_value(body, "UploadId").as_deref(), Some("a&b"));
        assert_eq!(xml_value(body, "Code"), None);
    }
}
