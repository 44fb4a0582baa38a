//! The error every store returns.

/// A store failure. Backends map their driver errors into
/// [`StoreError::Backend`], flagging the ones worth retrying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("{store} store: {source}")]
    Backend {
        /// Which backend (`sqlite`, `postgres`, `mssql`).
        store: &'static str,
        /// Whether retrying the whole operation may succeed (deadlock,
        /// lost connection, busy database).
        retryable: bool,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored value cannot be read back as its declaration says.
    #[error("{store} store: corrupt data in {table}: {message}")]
    Corrupt {
        /// Which backend.
        store: &'static str,
        /// The table read.
        table: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A setting or URL the store cannot use.
    #[error("{store} store: {message}")]
    Config {
        /// Which backend.
        store: &'static str,
        /// What was wrong, for a person.
        message: String,
    },
    /// The framework refused a record.
    #[error(transparent)]
    Record(#[from] crate::Error),
}

impl StoreError {
    /// Whether retrying the whole operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                retryable: true,
                ..
            }
        )
    }
}
