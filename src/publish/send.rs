//! Outbound requests with retries: every request to another service goes through one
//! client that obeys the address policy, and is retried with exponential backoff when
//! the failure may pass (no connection, a timeout, 408, 429, 5xx).

use std::sync::Arc;
use std::time::Duration;

use crate::assets::fetch::{check_url, checked_client};
use crate::assets::AddressPolicy;
use crate::error::{ErrorKind, Result};

/// How outbound deliveries behave.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Tries of one request before it fails for good.
    pub attempts: u32,
    /// The wait before the first retry; each later wait doubles, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The most one request may take.
    pub request_timeout: Duration,
    /// Files larger than this go to S3 in parts.
    pub multipart_threshold: u64,
    /// The size of each part but the last (S3 needs at least 5 MiB).
    pub part_size: u64,
    /// Signs webhook and callback bodies; without it they go unsigned.
    pub webhook_secret: Option<String>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            request_timeout: Duration::from_secs(300),
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            webhook_secret: None,
        }
    }
}

/// Why a request failed, in words safe to show (no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// The destination's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Whether trying again may help.
    pub transient: bool,
}

impl Failure {
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: None,
            transient: false,
        }
    }
}

/// A successful answer: its status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

/// The client and policy of outbound requests.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    pub settings: DeliverySettings,
}

/// How much of an error body a failure quotes.
const QUOTED_BODY_BYTES: usize = 300;

impl Outbound {
    pub fn new(policy: Arc<AddressPolicy>, settings: DeliverySettings) -> Result<Self> {
        let client = checked_client(Arc::clone(&policy), Duration::from_secs(5))?;
        Ok(Self {
            client,
            policy,
            settings,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Checks a URL's scheme and literal address against the policy.
    pub fn check(&self, url: &url::Url) -> Result<()> {
        check_url(&self.policy, url)
    }

    /// Sends the request `build` makes, again after a transient failure, up to the
    /// configured attempts. `describe` turns an error answer into words (it must not
    /// repeat credentials). Returns the answer or the last failure, and the tries made.
    pub async fn send(
        &self,
        url: &url::Url,
        mut build: impl FnMut() -> Result<reqwest::RequestBuilder, Failure>,
        describe: impl Fn(u16, &[u8]) -> String,
    ) -> (Result<Answer, Failure>, u32) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.check(url) {
                Ok(()) => self.once(build(), &describe).await,
                // The check's message names the URL without what may hold credentials.
                Err(e) => Err(Failure::permanent(e.message().to_owned())),
            };
            match result {
                Err(failure) if failure.transient && attempt < self.settings.attempts => {
                    let wait = self.backoff(attempt);
                    tracing::info!(
                        url = %crate::publish::task::shown_url(url),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        error = %failure.message,
                        "outbound request failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                result => return (result, attempt),
            }
        }
    }

    async fn once(
        &self,
        request: Result<reqwest::RequestBuilder, Failure>,
        describe: &impl Fn(u16, &[u8]) -> String,
    ) -> Result<Answer, Failure> {
        let response = request?
            .timeout(self.settings.request_timeout)
            .send()
            .await
            .map_err(network_failure)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_capped(response).await?;
        if (200..300).contains(&status) {
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
        Err(Failure {
            message: describe(status, &body[..body.len().min(4096)]),
            status: Some(status),
            transient: matches!(status, 408 | 429 | 500..=599),
        })
    }

    /// The wait before retry `attempt` (1-based): doubling from the base, capped, with up
    /// to a quarter of random jitter so that many failed deliveries do not retry at once.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.settings.backoff.as_secs_f64();
        let doubled = base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let capped = doubled.min(self.settings.max_backoff.as_secs_f64());
        let mut byte = [0u8; 1];
        let jitter = match getrandom::fill(&mut byte) {
            Ok(()) => f64::from(byte[0]) / 255.0 * 0.25,
            Err(_) => 0.0,
        };
        Duration::from_secs_f64(capped * (1.0 + jitter))
    }
}

/// The most of an answer's body that is read: destinations answer with a little XML or
/// text, and one that sends more must not fill the server's memory.
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// An answer's body, cut at [`MAX_ANSWER_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<bytes::Bytes, Failure> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network_failure)? {
        let room = MAX_ANSWER_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(body.into())
}

/// A failure to reach a destination; refused addresses and requests that cannot be
/// built are permanent.
fn network_failure(error: reqwest::Error) -> Failure {
    let builder = error.is_builder();
    let explained = match error.url().map(crate::publish::task::shown) {
        Some(url) => crate::assets::fetch::explain(&url, error.without_url()),
        None => crate::Error::asset(format!("the destination: {error}")),
    };
    Failure {
        transient: !builder && explained.kind() != ErrorKind::AssetRefused,
        message: explained.message().to_owned(),
        status: None,
    }
}

/// The start of a body, as text, for error messages.
pub fn quoted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTED_BODY_BYTES)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let outbound = Outbound::new(
            Arc::new(AddressPolicy::default()),
            DeliverySettings {
                backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(350),
                ..DeliverySettings::default()
            },
        )
        .expect("outbound");
        let waits: Vec<f64> = (1..=4).map(|n| outbound.backoff(n).as_secs_f64()).collect();
        for (wait, expected) in waits.iter().zip([0.1, 0.2, 0.35, 0.35]) {
            assert!(
                *wait >= expected && *wait <= expected * 1.25 + 1e-9,
                "{waits:?}"
            );
        }
    }
}
