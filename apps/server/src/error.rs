//! The server's error type.

use jcselect_sync::store::StoreError;

/// Everything that stops a server command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A setting out of its bounds or unreadable.
    #[error("setting {name}: {message}")]
    Setting {
        /// The setting's name (as in the TOML file).
        name: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The JWT secret cannot be used.
    #[error("JWT secret: {0}")]
    Secret(String),
    /// A database URL no compiled-in store handles.
    #[error("database URL {url:?}: {message}")]
    Database {
        /// The URL with any password removed.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A user command cannot be carried out.
    #[error("{0}")]
    User(String),
    /// Reading or writing a file or socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

impl ServerError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ServerError::Io {
            context: context.into(),
            source,
        }
    }
}
