//! Optional API keys (`Authorization: Bearer <key>`), each bound to a tier that caps how
//! many renders its account runs at once; requests without a key share the anonymous
//! tier. Beyond the cap, 429 with `Retry-After`. Serving what is already rendered is never
//! capped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::header::{self, HeaderMap};
use hyper::StatusCode;

use super::error::ApiError;

/// The tier of requests without a key, unless the settings name one.
pub const ANONYMOUS_TIER: &str = "anonymous";
/// Concurrent renders of the anonymous tier when the settings do not say.
pub const DEFAULT_ANONYMOUS_RENDERS: u32 = 4;
/// Seconds a 429 asks the client to wait.
const RETRY_AFTER_SECONDS: u32 = 2;

/// Keys, tiers and the renders each account has running.
#[derive(Debug, Default)]
pub struct Accounts {
    /// Key to tier name.
    keys: HashMap<String, String>,
    /// Tier name to concurrent renders.
    tiers: HashMap<String, u32>,
    running: Arc<Mutex<HashMap<String, u32>>>,
}

/// Who a request is: an account name for counting, and its tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub tier: String,
}

/// A running render counted against its account until dropped.
#[derive(Debug)]
pub struct RenderSlot {
    account: String,
    running: Arc<Mutex<HashMap<String, u32>>>,
}

impl Drop for RenderSlot {
    fn drop(&mut self) {
        let mut running = lock(&self.running);
        if let Some(count) = running.get_mut(&self.account) {
            *count = count.saturating_sub(1);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each change under the lock is a single counter update.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Accounts {
    pub fn new(keys: HashMap<String, String>, mut tiers: HashMap<String, u32>) -> Self {
        tiers
            .entry(ANONYMOUS_TIER.to_owned())
            .or_insert(DEFAULT_ANONYMOUS_RENDERS);
        Self {
            keys,
            tiers,
            running: Arc::default(),
        }
    }

    /// Checks that every key names a configured tier.
    pub fn check(&self) -> Result<(), String> {
        for (key, tier) in &self.keys {
            if !self.tiers.contains_key(tier) {
                let prefix: String = key.chars().take(4).collect();
                return Err(format!(
                    "api key {prefix}... names the unknown tier {tier:?}"
                ));
            }
        }
        Ok(())
    }

    /// The caller of a request: anonymous without `Authorization`, 401 for a key this
    /// server does not know.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(Caller {
                account: ANONYMOUS_TIER.to_owned(),
                tier: ANONYMOUS_TIER.to_owned(),
            });
        };
        let key = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key)
            .map(str::trim)
            .ok_or_else(|| unauthorized("Authorization: expected `Bearer <api key>`"))?;
        match self.keys.get(key) {
            Some(tier) => Ok(Caller {
                account: format!("key:{}", blake3::hash(key.as_bytes()).to_hex()),
                tier: tier.clone(),
            }),
            None => Err(unauthorized(
                "Authorization: this API key is not known here",
            )),
        }
    }

    /// The API key a request presents, if it is one this server knows.
    pub fn key<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let key = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))?
            .1
            .trim();
        self.keys.contains_key(key).then_some(key)
    }

    /// A slot for one more render of `caller`, or 429 when its tier is full.
    pub fn start_render(&self, caller: &Caller) -> Result<RenderSlot, ApiError> {
        let limit = self.tiers.get(&caller.tier).copied().unwrap_or(0);
        let mut running = lock(&self.running);
        let count = running.entry(caller.account.clone()).or_insert(0);
        if *count >= limit {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "tier {:?} allows {limit} renders at once and they are all running; \
                     retry in a few seconds",
                    caller.tier
                ),
            );
            error.retry_after_seconds = Some(RETRY_AFTER_SECONDS);
            return Err(error);
        }
        *count += 1;
        Ok(RenderSlot {
            account: caller.account.clone(),
            running: Arc::clone(&self.running),
        })
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn tiers_cap_renders_per_account() {
        let accounts = Accounts::new(
            HashMap::from([("k1".to_owned(), "pro".to_owned())]),
            HashMap::from([("pro".to_owned(), 2), (ANONYMOUS_TIER.to_owned(), 1)]),
        );
        assert!(accounts.check().is_ok());
        let mut headers = HeaderMap::new();
        let anonymous = accounts.caller(&headers).expect("anonymous");
        let first = accounts.start_render(&anonymous).expect("one");
        let refused = accounts.start_render(&anonymous).expect_err("full");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.retry_after_seconds, Some(2));
        drop(first);
        assert!(accounts.start_render(&anonymous).is_ok());

        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k1"));
        let pro = accounts.caller(&headers).expect("pro");
        assert_eq!(pro.tier, "pro");
        let _a = accounts.start_render(&pro).expect("a");
        let _b = accounts.start_render(&pro).expect("b");
        assert!(accounts.start_render(&pro).is_err());

        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert_eq!(
            accounts.caller(&headers).expect_err("unknown").status,
            StatusCode::UNAUTHORIZED
        );
    }
}
