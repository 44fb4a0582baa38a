//! The client's sync settings: the seed's `SyncSettings` names, defaults and
//! bounds (the seed's `sync_jwt_secret` is gone: the secret stays on the
//! server).

use crate::error::Error;

/// How a replica syncs.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSettings {
    /// The server's base URL.
    pub sync_api_url: String,
    /// Seconds between background cycles (60–3600, default 300).
    pub sync_interval_seconds: u64,
    /// Largest push body, bytes (1024–10485760, default 1048576).
    pub sync_max_payload_size: u64,
    /// Whether the background loop syncs at all.
    pub sync_enabled: bool,
    /// Changes per pull page (10–1000, default 100).
    pub sync_pull_page_size: u64,
    /// Pull pages per cycle (1–100, default 10); the rest next cycle.
    pub sync_max_pull_pages: u64,
    /// Tries before a change waiting for a parent is parked (1–10,
    /// default 5).
    pub sync_max_retries: u64,
    /// Growth of retry and backoff delays (1.0–5.0, default 2.0).
    pub sync_backoff_base: f64,
    /// Longest backoff, seconds (60–1800, default 300).
    pub sync_backoff_max_seconds: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            sync_api_url: "http://127.0.0.1:8000".into(),
            sync_interval_seconds: 300,
            sync_max_payload_size: 1_048_576,
            sync_enabled: true,
            sync_pull_page_size: 100,
            sync_max_pull_pages: 10,
            sync_max_retries: 5,
            sync_backoff_base: 2.0,
            sync_backoff_max_seconds: 300,
        }
    }
}

impl SyncSettings {
    /// Checks every bound; the error names the setting and its bounds.
    pub fn validate(&self) -> Result<(), Error> {
        let check = |name: &'static str, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(Error::Invalid {
                    entity: "settings",
                    message: format!(
                        "{name} = {value} is out of bounds; it must be between {min} and {max}"
                    ),
                })
            }
        };
        check(
            "sync_interval_seconds",
            self.sync_interval_seconds,
            60,
            3_600,
        )?;
        check(
            "sync_max_payload_size",
            self.sync_max_payload_size,
            1_024,
            10_485_760,
        )?;
        check("sync_pull_page_size", self.sync_pull_page_size, 10, 1_000)?;
        check("sync_max_pull_pages", self.sync_max_pull_pages, 1, 100)?;
        check("sync_max_retries", self.sync_max_retries, 1, 10)?;
        check(
            "sync_backoff_max_seconds",
            self.sync_backoff_max_seconds,
            60,
            1_800,
        )?;
        if !(1.0..=5.0).contains(&self.sync_backoff_base) {
            return Err(Error::Invalid {
                entity: "settings",
                message: format!(
                    "sync_backoff_base = {} is out of bounds; it must be between 1.0 and 5.0",
                    self.sync_backoff_base
                ),
            });
        }
        if !(self.sync_api_url.starts_with("http://") || self.sync_api_url.starts_with("https://"))
        {
            return Err(Error::Invalid {
                entity: "settings",
                message: format!(
                    "sync_api_url = {:?} must be an http:// or https:// URL",
                    self.sync_api_url
                ),
            });
        }
        Ok(())
    }

    /// The retry policy for changes waiting for a parent.
    pub fn retry_policy(&self) -> crate::replica::RetryPolicy {
        crate::replica::RetryPolicy {
            max_retries: u32::try_from(self.sync_max_retries).unwrap_or(u32::MAX),
            backoff_base: self.sync_backoff_base,
            max_delay_seconds: self.sync_backoff_max_seconds,
        }
    }

    /// The delay before background try number `failures` (1-based) after
    /// network errors or 5xx: exponential, capped, with jitter in
    /// [50 %, 100 %] so that pens do not come back all at once.
    pub fn backoff_seconds(&self, failures: u32, jitter: f64) -> f64 {
        let full = self
            .sync_backoff_base
            .powi(failures.min(64) as i32)
            .min(self.sync_backoff_max_seconds as f64);
        full * (0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds_and_pass() {
        SyncSettings::default().validate().unwrap();
    }

    #[test]
    fn a_value_out_of_bounds_is_named_with_its_bounds() {
        let settings = SyncSettings {
            sync_pull_page_size: 5,
            ..SyncSettings::default()
        };
        let message = settings.validate().unwrap_err().to_string();
        assert!(
            message.contains("sync_pull_page_size") && message.contains("10 and 1000"),
            "{message}"
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let settings = SyncSettings::default();
        assert_eq!(settings.backoff_seconds(1, 1.0), 2.0);
        assert_eq!(settings.backoff_seconds(3, 1.0), 8.0);
        assert_eq!(settings.backoff_seconds(30, 1.0), 300.0);
        assert_eq!(settings.backoff_seconds(3, 0.0), 4.0);
    }
}
