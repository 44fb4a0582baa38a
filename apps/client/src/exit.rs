//! What the command line says when something goes wrong: a short code, a
//! message a person can act on, and an exit status a script can test.

use std::process::ExitCode;

use jcselect_sync::engine::SyncError;
use jcselect_sync::store::StoreError;
use jcselect_sync::transport::TransportError;

use crate::dao::DaoError;

/// The exit statuses of `jcselect-client`, as `--help` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done; nothing parked.
    Success = 0,
    /// Failed: a local problem (database, settings, a refused operation).
    Failed = 1,
    /// The command line was wrong.
    Usage = 2,
    /// The cycle ran, but changes are parked: the server refused them and
    /// they have not reached the centre (`status` lists them).
    Parked = 3,
    /// The server could not be reached or could not take the request now;
    /// everything stays queued and is sent later.
    Unreachable = 4,
    /// Not logged in, or the log-in was refused: run `login`.
    NotLoggedIn = 5,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

/// The exit statuses, for `--help`.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  done, nothing parked
  1  failed (local database, settings, or a refused operation)
  2  bad command line
  3  synced, but changes are parked: the server refused them (see `status`)
  4  server unreachable or busy: everything stays queued for later
  5  not logged in or log-in refused: run `login`";

/// A failure as the command line reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// A short machine-readable code (`unreachable`, `not_logged_in`…).
    pub code: &'static str,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// The exit status.
    pub status: ExitStatus,
}

impl CliError {
    /// A local failure (exit 1).
    pub fn failed(code: &'static str, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            status: ExitStatus::Failed,
        }
    }

    /// The JSON form printed under `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": self.code, "message": self.message})
    }
}

impl From<StoreError> for CliError {
    fn from(error: StoreError) -> Self {
        (&error).into()
    }
}

impl From<&StoreError> for CliError {
    fn from(error: &StoreError) -> Self {
        CliError::failed("local_database", error.to_string())
    }
}

impl From<DaoError> for CliError {
    fn from(error: DaoError) -> Self {
        match error {
            DaoError::Store(error) => error.into(),
            DaoError::NotFound(message) => CliError::failed("not_found", message),
            DaoError::Forbidden(message) => CliError::failed("forbidden", message),
            other => CliError::failed("refused", other.to_string()),
        }
    }
}

impl From<TransportError> for CliError {
    fn from(error: TransportError) -> Self {
        (&error).into()
    }
}

impl From<&TransportError> for CliError {
    fn from(error: &TransportError) -> Self {
        match error {
            TransportError::Unauthorized(message) => CliError {
                code: "not_logged_in",
                message: format!("the server refused the log-in or token: {message}; run `jcselect-client login`"),
                status: ExitStatus::NotLoggedIn,
            },
            TransportError::Refused { code, .. } if code == "too_many_attempts" => CliError {
                code: "too_many_attempts",
                message: error.to_string(),
                status: ExitStatus::NotLoggedIn,
            },
            TransportError::Refused { .. } => CliError::failed("refused", error.to_string()),
            _ => CliError {
                code: "unreachable",
                message: format!("{error}; nothing is lost, the changes stay queued"),
                status: ExitStatus::Unreachable,
            },
        }
    }
}

impl From<SyncError> for CliError {
    fn from(error: SyncError) -> Self {
        (&error).into()
    }
}

impl From<&SyncError> for CliError {
    fn from(error: &SyncError) -> Self {
        match error {
            SyncError::Store(error) => error.into(),
            SyncError::Transport(error) => error.into(),
            SyncError::NeedLogin(message) => CliError {
                code: "not_logged_in",
                message: format!("{message}: run `jcselect-client login --username NAME`"),
                status: ExitStatus::NotLoggedIn,
            },
            other => CliError::failed("sync", other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_map_to_their_exit_statuses() {
        let transient = TransportError::Transient {
            status: 502,
            message: "bad gateway".into(),
            retry_after: None,
        };
        assert_eq!(CliError::from(transient).status, ExitStatus::Unreachable);
        assert_eq!(
            CliError::from(TransportError::Network("refused".into())).status,
            ExitStatus::Unreachable
        );
        assert_eq!(
            CliError::from(TransportError::Unauthorized("expired".into())).status,
            ExitStatus::NotLoggedIn
        );
        let refused = CliError::from(TransportError::Refused {
            status: 400,
            code: "bad_request".into(),
            message: "limit".into(),
        });
        assert_eq!(
            (refused.status, refused.code),
            (ExitStatus::Failed, "refused")
        );
        assert_eq!(
            CliError::from(SyncError::NeedLogin("no token".into())).to_json()["error"],
            "not_logged_in"
        );
    }
}
