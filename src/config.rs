//! Start-up settings from a TOML file, `FRAMECAST_*` environment variables and flags, in
//! rising order of precedence.

use std::path::Path;

use serde::Deserialize;

use crate::api::ServerSettings;
use crate::assets::{AllowRule, AssetSettings};
use crate::encode::H264Encoder;
use crate::error::{Error, ErrorKind, Result};

/// The settings file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Hosts, addresses or CIDR networks the asset loader may reach although they are not
    /// public (for example an internal image service).
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Largest remote asset in bytes.
    #[serde(default)]
    pub asset_max_bytes: Option<u64>,
    /// Seconds a remote asset may take.
    #[serde(default)]
    pub asset_timeout_seconds: Option<u64>,
    /// The FFmpeg program for WebM, MPEG-2, Windows Media and ProRes (default: `ffmpeg`
    /// on the PATH).
    #[serde(default)]
    pub ffmpeg_path: Option<std::path::PathBuf>,
    /// The H.264 encoder: `openh264` (bundled, the default) or `x264` (through FFmpeg).
    #[serde(default)]
    pub h264_encoder: H264Encoder,
    /// The server's section.
    #[serde(default)]
    pub server: ServerSection,
    /// Uploads, callbacks, webhooks and batches.
    #[serde(default)]
    pub delivery: DeliverySection,
}

/// `[delivery]` in the settings file; every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySection {
    /// Tries of one outbound request before it fails for good.
    pub attempts: Option<u32>,
    /// The wait before the first retry, in milliseconds; later waits double.
    pub backoff_ms: Option<u64>,
    /// The longest wait between retries, in milliseconds.
    pub max_backoff_ms: Option<u64>,
    /// The most one outbound request may take, in seconds.
    pub request_timeout_seconds: Option<u64>,
    /// Files larger than this go to S3 in parts, in bytes.
    pub multipart_threshold_bytes: Option<u64>,
    /// The size of each part, in bytes (at least 5 MiB).
    pub part_bytes: Option<u64>,
    /// The key of the HMAC-SHA256 signature on webhook and callback bodies
    /// (`FRAMECAST_WEBHOOK_SECRET` overrides it).
    pub webhook_secret: Option<String>,
    /// Batch tasks rendered at once, across all batches.
    pub batch_concurrency: Option<usize>,
}

/// `[server]` in the settings file; every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<std::net::SocketAddr>,
    pub projects: Option<std::path::PathBuf>,
    pub data: Option<std::path::PathBuf>,
    pub region: Option<String>,
    pub public_url: Option<String>,
    pub token_lifetime_seconds: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub max_uri_bytes: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub header_read_timeout_seconds: Option<u64>,
    /// Memory for hot finished files, in bytes.
    pub file_cache_bytes: Option<u64>,
    /// Memory for encoded segments, in bytes.
    pub segment_cache_bytes: Option<u64>,
    /// Connections served at once.
    pub max_connections: Option<usize>,
    /// API keys and their tiers: `"<key>" = "<tier>"`.
    #[serde(default)]
    pub keys: std::collections::HashMap<String, String>,
    /// Tiers and the renders an account of each may run at once.
    #[serde(default)]
    pub tiers: std::collections::HashMap<String, TierSection>,
    /// Base URLs of other regions, to redirect their tokens to.
    #[serde(default)]
    pub regions: std::collections::HashMap<String, String>,
    /// The project of batch tasks whose movie names none, for callers without a bound
    /// project [default: demo].
    pub default_project: Option<String>,
    /// API keys and the project each binds batch tasks to: `"<key>" = "<project>"`.
    #[serde(default)]
    pub key_projects: std::collections::HashMap<String, String>,
}

/// `[server.tiers.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSection {
    pub concurrent_renders: u32,
}

impl Settings {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("config file {}: {e}", path.display()),
            )
        })?;
        toml::from_str(&text).map_err(|e| {
            Error::new(
                ErrorKind::InvalidParam,
                format!("config file {}: {e}", path.display()),
            )
        })
    }

    /// The server settings these imply, before flags and environment variables.
    pub fn server_settings(&self) -> Result<ServerSettings> {
        let mut settings = ServerSettings::default();
        let section = &self.server;
        if let Some(listen) = section.listen {
            settings.listen = listen;
        }
        if let Some(projects) = &section.projects {
            settings.projects_dir.clone_from(projects);
        }
        if let Some(data) = &section.data {
            settings.data_dir.clone_from(data);
        }
        if let Some(region) = &section.region {
            settings.region.clone_from(region);
        }
        settings.public_url.clone_from(&section.public_url);
        if let Some(seconds) = section.token_lifetime_seconds {
            settings.token_lifetime = std::time::Duration::from_secs(seconds);
        }
        let limits = [
            (section.max_body_bytes, &mut settings.max_body_bytes),
            (section.max_uri_bytes, &mut settings.max_uri_bytes),
            (section.max_header_bytes, &mut settings.max_header_bytes),
            (section.max_headers, &mut settings.max_headers),
        ];
        for (value, slot) in limits {
            if let Some(value) = value {
                *slot = value;
            }
        }
        if let Some(bytes) = section.file_cache_bytes {
            settings.file_cache_bytes = bytes;
        }
        if let Some(bytes) = section.segment_cache_bytes {
            settings.segment_cache_bytes = bytes;
        }
        if let Some(connections) = section.max_connections {
            settings.max_connections = connections;
        }
        settings.keys.clone_from(&section.keys);
        settings.tiers = section
            .tiers
            .iter()
            .map(|(name, tier)| (name.clone(), tier.concurrent_renders))
            .collect();
        settings.regions.clone_from(&section.regions);
        if let Some(seconds) = section.header_read_timeout_seconds {
            settings.header_read_timeout = std::time::Duration::from_secs(seconds.max(1));
        }
        if let Some(project) = &section.default_project {
            settings.default_project.clone_from(project);
        }
        settings.key_projects.clone_from(&section.key_projects);
        let d = &self.delivery;
        let delivery = &mut settings.delivery;
        if let Some(attempts) = d.attempts {
            delivery.attempts = attempts.max(1);
        }
        let millis = std::time::Duration::from_millis;
        if let Some(ms) = d.backoff_ms {
            delivery.backoff = millis(ms);
        }
        if let Some(ms) = d.max_backoff_ms {
            delivery.max_backoff = millis(ms);
        }
        if let Some(seconds) = d.request_timeout_seconds {
            delivery.request_timeout = std::time::Duration::from_secs(seconds.max(1));
        }
        if let Some(bytes) = d.multipart_threshold_bytes {
            delivery.multipart_threshold = bytes;
        }
        if let Some(bytes) = d.part_bytes {
            if bytes < 5 << 20 {
                return Err(Error::new(
                    ErrorKind::InvalidParam,
                    format!("delivery.part_bytes: S3 needs parts of at least 5 MiB, found {bytes}"),
                ));
            }
            delivery.part_size = bytes;
        }
        delivery.webhook_secret = std::env::var("FRAMECAST_WEBHOOK_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| d.webhook_secret.clone());
        if let Some(n) = d.batch_concurrency {
            settings.batch_concurrency = n.max(1);
        }
        Ok(settings)
    }

    /// The asset loader settings these imply, with `extra_hosts` from flags or environment.
    pub fn asset_settings(&self, extra_hosts: &[String]) -> Result<AssetSettings> {
        let mut settings = AssetSettings::default();
        for host in self.allow_hosts.iter().chain(extra_hosts) {
            let rule: AllowRule = host.parse().map_err(|e| {
                Error::new(
                    ErrorKind::InvalidParam,
                    format!("allowed host {host:?}: {e}"),
                )
            })?;
            settings.allow.push(rule);
        }
        if let Some(bytes) = self.asset_max_bytes {
            settings.fetch.max_bytes = bytes;
        }
        if let Some(seconds) = self.asset_timeout_seconds {
            settings.fetch.total_timeout = std::time::Duration::from_secs(seconds);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings shown in the README, all blocks together, are one valid file.
    #[test]
    fn the_readme_settings_are_valid() {
        let readme = include_str!("../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .collect();
        assert!(blocks.len() >= 3, "the README shows its settings");
        let settings: Settings = toml::from_str(&blocks.join("\n")).expect("valid settings");
        let server = settings.server_settings().expect("server settings");
        assert_eq!(server.default_project, "demo");
        assert_eq!(server.key_projects["a-long-random-key"], "campaigns");
        assert_eq!(server.delivery.part_size, 8 << 20);
        assert_eq!(server.batch_concurrency, 1);
        assert!(server.delivery.webhook_secret.is_some());
        settings.asset_settings(&[]).expect("asset settings");
    }
}
