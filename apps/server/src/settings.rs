//! Settings: flags, `JCSELECT_*` environment variables and an optional TOML
//! file, in that order of precedence, each checked against its bounds.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use crate::error::ServerError;

/// Where the database is when nothing says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://jcselect-server.db";
/// Where the server listens when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";

/// Settings as read from the TOML file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// `listen = "0.0.0.0:8000"`
    pub listen: Option<String>,
    /// `database_url = "postgres://…"`
    pub database_url: Option<String>,
    /// `token_ttl_seconds = 43200`
    pub token_ttl_seconds: Option<u64>,
    /// `max_payload_size = 10485760`
    pub max_payload_size: Option<u64>,
    /// `request_timeout_seconds = 60`
    pub request_timeout_seconds: Option<u64>,
    /// `max_clock_skew_seconds = 300`
    pub max_clock_skew_seconds: Option<u64>,
    /// `login_lockout_seconds = 900`
    pub login_lockout_seconds: Option<u64>,
    /// `refresh_ttl_seconds = 259200`
    pub refresh_ttl_seconds: Option<u64>,
    /// `station_amber_seconds = 600`
    pub station_amber_seconds: Option<u64>,
    /// `station_red_seconds = 1800`
    pub station_red_seconds: Option<u64>,
}

impl FileSettings {
    /// Reads a TOML settings file; unknown keys are refused by name.
    pub fn read(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ServerError::io(format!("reading {}", path.display()), error))?;
        toml::from_str(&text).map_err(|error| ServerError::Setting {
            name: "config",
            message: format!("{}: {error}", path.display()),
        })
    }
}

/// The checked settings of `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The database URL (its `Debug` is the URL: never log it whole).
    pub database_url: String,
    /// Lifetime of tokens issued by `/auth/login`, seconds.
    pub token_ttl_seconds: u64,
    /// Largest request body accepted, bytes.
    pub max_payload_size: u64,
    /// Longest a request may take, seconds.
    pub request_timeout_seconds: u64,
    /// How far ahead of the server's clock a change may be stamped, seconds.
    pub max_clock_skew_seconds: u64,
    /// How long repeated failed log-ins lock a user name or address out,
    /// seconds.
    pub login_lockout_seconds: u64,
    /// How long a log-in's session lasts without the password (refresh
    /// tokens), seconds.
    pub refresh_ttl_seconds: u64,
    /// The control room: a station unheard of this long (or holding
    /// changes this old) turns amber, seconds.
    pub station_amber_seconds: u64,
    /// … and red, seconds (at least the amber threshold).
    pub station_red_seconds: u64,
}

/// A numeric setting's name, default and bounds.
struct Bounded {
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
}

impl Bounded {
    fn pick(&self, given: Option<u64>) -> Result<u64, ServerError> {
        let value = given.unwrap_or(self.default);
        if !(self.min..=self.max).contains(&value) {
            return Err(ServerError::Setting {
                name: self.name,
                message: format!(
                    "{value} is out of bounds; it must be between {} and {}",
                    self.min, self.max
                ),
            });
        }
        Ok(value)
    }
}

const TOKEN_TTL: Bounded = Bounded {
    name: "token_ttl_seconds",
    default: 43_200,
    min: 60,
    max: 604_800,
};
const MAX_PAYLOAD: Bounded = Bounded {
    name: "max_payload_size",
    default: 10_485_760,
    min: 1_024,
    max: 104_857_600,
};
const REQUEST_TIMEOUT: Bounded = Bounded {
    name: "request_timeout_seconds",
    default: 60,
    min: 1,
    max: 600,
};
const CLOCK_SKEW: Bounded = Bounded {
    name: "max_clock_skew_seconds",
    default: 300,
    min: 1,
    max: 86_400,
};

const LOGIN_LOCKOUT: Bounded = Bounded {
    name: "login_lockout_seconds",
    default: 900,
    min: 1,
    max: 86_400,
};

const REFRESH_TTL: Bounded = Bounded {
    name: "refresh_ttl_seconds",
    default: 259_200,
    min: 3_600,
    max: 2_592_000,
};

const STATION_AMBER: Bounded = Bounded {
    name: "station_amber_seconds",
    default: 600,
    min: 10,
    max: 86_400,
};

const STATION_RED: Bounded = Bounded {
    name: "station_red_seconds",
    default: 1_800,
    min: 20,
    max: 604_800,
};

/// Values given on the command line or in the environment (`None`: not
/// given there).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen` / `JCSELECT_LISTEN`
    pub listen: Option<String>,
    /// `--database` / `JCSELECT_DATABASE_URL`
    pub database_url: Option<String>,
    /// `--token-ttl-seconds` / `JCSELECT_TOKEN_TTL_SECONDS`
    pub token_ttl_seconds: Option<u64>,
    /// `--max-payload-size` / `JCSELECT_MAX_PAYLOAD_SIZE`
    pub max_payload_size: Option<u64>,
    /// `--request-timeout-seconds` / `JCSELECT_REQUEST_TIMEOUT_SECONDS`
    pub request_timeout_seconds: Option<u64>,
    /// `--max-clock-skew-seconds` / `JCSELECT_MAX_CLOCK_SKEW_SECONDS`
    pub max_clock_skew_seconds: Option<u64>,
    /// `--login-lockout-seconds` / `JCSELECT_LOGIN_LOCKOUT_SECONDS`
    pub login_lockout_seconds: Option<u64>,
    /// `--refresh-ttl-seconds` / `JCSELECT_REFRESH_TTL_SECONDS`
    pub refresh_ttl_seconds: Option<u64>,
    /// `--station-amber-seconds` / `JCSELECT_STATION_AMBER_SECONDS`
    pub station_amber_seconds: Option<u64>,
    /// `--station-red-seconds` / `JCSELECT_STATION_RED_SECONDS`
    pub station_red_seconds: Option<u64>,
}

impl Settings {
    /// Overrides first, then the file, then the defaults; every value
    /// checked.
    pub fn resolve(overrides: Overrides, file: FileSettings) -> Result<Self, ServerError> {
        let listen_text = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|_| ServerError::Setting {
            name: "listen",
            message: format!("{listen_text:?} is not an address such as 127.0.0.1:8000"),
        })?;
        let station_amber_seconds = STATION_AMBER.pick(
            overrides
                .station_amber_seconds
                .or(file.station_amber_seconds),
        )?;
        let station_red_seconds =
            STATION_RED.pick(overrides.station_red_seconds.or(file.station_red_seconds))?;
        if station_red_seconds < station_amber_seconds {
            return Err(ServerError::Setting {
                name: "station_red_seconds",
                message: format!(
                    "{station_red_seconds} is less than station_amber_seconds ({station_amber_seconds}): \
                     a station turns amber before it turns red"
                ),
            });
        }
        Ok(Settings {
            listen,
            station_amber_seconds,
            station_red_seconds,
            database_url: database_url(overrides.database_url, file.database_url),
            token_ttl_seconds: TOKEN_TTL
                .pick(overrides.token_ttl_seconds.or(file.token_ttl_seconds))?,
            max_payload_size: MAX_PAYLOAD
                .pick(overrides.max_payload_size.or(file.max_payload_size))?,
            request_timeout_seconds: REQUEST_TIMEOUT.pick(
                overrides
                    .request_timeout_seconds
                    .or(file.request_timeout_seconds),
            )?,
            max_clock_skew_seconds: CLOCK_SKEW.pick(
                overrides
                    .max_clock_skew_seconds
                    .or(file.max_clock_skew_seconds),
            )?,
            login_lockout_seconds: LOGIN_LOCKOUT.pick(
                overrides
                    .login_lockout_seconds
                    .or(file.login_lockout_seconds),
            )?,
            refresh_ttl_seconds: REFRESH_TTL
                .pick(overrides.refresh_ttl_seconds.or(file.refresh_ttl_seconds))?,
        })
    }
}

/// The database URL: given, else from the file, else the default SQLite
/// file in the working directory.
pub fn database_url(given: Option<String>, file: Option<String>) -> String {
    given
        .or(file)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings = Settings::resolve(Overrides::default(), FileSettings::default()).unwrap();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(settings.database_url, "sqlite://jcselect-server.db");
        assert_eq!(settings.token_ttl_seconds, 43_200);
        assert_eq!(settings.max_clock_skew_seconds, 300);
    }

    #[test]
    fn a_value_out_of_bounds_names_the_setting_and_its_bounds() {
        let overrides = Overrides {
            max_payload_size: Some(10),
            ..Overrides::default()
        };
        let error = Settings::resolve(overrides, FileSettings::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("max_payload_size")
                && error.contains("1024")
                && error.contains("104857600"),
            "{error}"
        );
    }

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let file: FileSettings =
            toml::from_str("token_ttl_seconds = 600\nlisten = \"0.0.0.0:9000\"").unwrap();
        let overrides = Overrides {
            token_ttl_seconds: Some(900),
            ..Overrides::default()
        };
        let settings = Settings::resolve(overrides, file).unwrap();
        assert_eq!(settings.token_ttl_seconds, 900);
        assert_eq!(settings.listen.to_string(), "0.0.0.0:9000");
        assert!(toml::from_str::<FileSettings>("colour = 1").is_err());
    }
}
