//! Fetching remote assets over http(s) under the address policy.
//!
//! ```text
//! url -> scheme check -> host is an IP literal? check it : resolver checks every address
//!     -> connect only to checked addresses -> status, size and time limits
//!     -> redirect? re-check the next hop (at most `max_redirects`)
//! ```
//!
//! Name resolution happens inside the HTTP client's resolver hook, which refuses a host if
//! any of its addresses is not allowed and otherwise hands the client exactly the addresses
//! it checked, so a second lookup can never swap in another address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use super::address::{AddressPolicy, Refusal};
use crate::error::{Error, Result};

/// Limits on one remote fetch.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub max_bytes: u64,
    pub total_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_redirects: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: 32 << 20,
            total_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            max_redirects: 5,
        }
    }
}

/// Resolves names with the system resolver and refuses hosts with disallowed addresses.
#[derive(Debug)]
struct CheckedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &addresses {
                policy.check(&host, address.ip())?;
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client bound to an address policy.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    limits: FetchLimits,
}

/// An HTTP client that reaches only addresses `policy` allows, follows no redirects and
/// uses no proxy; every outbound request of the server goes through one.
pub fn checked_client(
    policy: Arc<AddressPolicy>,
    connect_timeout: Duration,
) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(CheckedResolver { policy }))
        .connect_timeout(connect_timeout)
        .user_agent(concat!("framecast/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))
}

/// Scheme and literal-address checks of a URL before a checked client connects; names
/// are checked by the client's resolver.
pub fn check_url(policy: &AddressPolicy, url: &Url) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::refused(format!(
            "{}: expected an http or https URL, found scheme {:?}",
            shown_url(url),
            url.scheme()
        )));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
        None => {
            return Err(Error::refused(format!(
                "{}: expected a host",
                shown_url(url)
            )))
        }
    };
    if let Some(address) = literal {
        let host = url.host_str().unwrap_or_default();
        policy
            .check(host, address)
            .map_err(|r| Error::refused(format!("{}: {r}", shown_url(url))))?;
    }
    Ok(())
}

impl Fetcher {
    pub fn new(policy: AddressPolicy, limits: FetchLimits) -> Result<Self> {
        let policy = Arc::new(policy);
        let client = checked_client(Arc::clone(&policy), limits.connect_timeout)?;
        Ok(Self {
            client,
            policy,
            limits,
        })
    }

    /// The address policy this fetcher and every client built from it obey.
    pub fn policy(&self) -> &Arc<AddressPolicy> {
        &self.policy
    }

    /// Fetches `url`, following redirects under the same checks, within the limits.
    pub async fn fetch(&self, url: &Url) -> Result<Vec<u8>> {
        let deadline = tokio::time::sleep(self.limits.total_timeout);
        tokio::pin!(deadline);
        tokio::select! {
            result = self.fetch_following(url.clone()) => result,
            () = &mut deadline => Err(Error::asset(format!(
                "{}: took longer than {} s", shown_url(url), self.limits.total_timeout.as_secs_f64()
            ))),
        }
    }

    async fn fetch_following(&self, mut url: Url) -> Result<Vec<u8>> {
        for _hop in 0..=self.limits.max_redirects {
            self.check_url(&url)?;
            tracing::debug!(url = %shown_url(&url), "fetching asset");
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| explain(&url, e))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Error::asset(format!(
                            "{}: redirect {status} without a Location",
                            shown_url(&url)
                        ))
                    })?;
                url = url.join(location).map_err(|e| {
                    Error::asset(format!(
                        "{}: bad redirect location {location:?}: {e}",
                        shown_url(&url)
                    ))
                })?;
                continue;
            }
            if !status.is_success() {
                return Err(Error::asset(format!(
                    "{}: expected status 200, found {status}",
                    shown_url(&url)
                )));
            }
            return self.read_body(&url, response).await;
        }
        Err(Error::refused(format!(
            "{}: more than {} redirects",
            shown_url(&url),
            self.limits.max_redirects
        )))
    }

    fn check_url(&self, url: &Url) -> Result<()> {
        check_url(&self.policy, url)
    }

    async fn read_body(&self, url: &Url, response: reqwest::Response) -> Result<Vec<u8>> {
        let max = self.limits.max_bytes;
        if let Some(length) = response.content_length().filter(|&l| l > max) {
            return Err(Error::asset(format!(
                "{}: expected at most {max} bytes, the server announces {length}",
                shown_url(url)
            )));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| explain(url, e))?;
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(Error::asset(format!(
                    "{}: expected at most {max} bytes, received more",
                    shown_url(url)
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A URL as errors and logs may show it: without user, password, query and fragment,
/// which may hold credentials (pre-signed URLs carry theirs in the query).
pub fn shown_url(url: &Url) -> String {
    shown(url).to_string()
}

/// `url` without user, password, query and fragment.
pub fn shown(url: &Url) -> Url {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown
}

/// Turns a client error into ours, surfacing a resolver refusal as such.
pub fn explain(url: &Url, error: reqwest::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return Error::refused(format!("{}: {refusal}", shown_url(url)));
        }
        source = cause.source();
    }
    // The client's own message names the URL in full.
    let error = error.without_url();
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        message = format!("{message}: {inner}");
        cause = inner.source();
    }
    Error::asset(format!("{}: {message}", shown_url(url)))
}
