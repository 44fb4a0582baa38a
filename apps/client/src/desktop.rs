//! What file the client was pointed at (PROTOCOL.md §7), found before it
//! is opened for writing: a new file, a replica of this client, or a
//! jcselect desktop database at a revision of the app's chain. Anything
//! else is refused with a message naming what is unexpected, and the file
//! is left byte for byte as it was (it is only ever opened read-only here).

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

/// The revisions of the jcselect desktop app's alembic chain, oldest first.
pub const KNOWN_REVISIONS: [&str; 5] = [
    "52569a9164c7",
    "a38a64aee2cc",
    "56f069e8711f",
    "48d1d8da74af",
    "19ee681d4f77",
];

/// What a database file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No file, or one without tables: a new replica.
    New,
    /// A replica this client made.
    Replica,
    /// A jcselect desktop database at this revision.
    Desktop {
        /// The app's alembic revision.
        revision: String,
    },
}

/// Why a file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}; the file was left untouched")]
pub struct Unrecognised {
    /// The file.
    pub path: String,
    /// What is unexpected, for a person.
    pub reason: String,
}

/// Inspects the SQLite file at `path` without writing to it.
pub async fn inspect(path: &Path) -> Result<Found, Unrecognised> {
    let refuse = |reason: String| Unrecognised {
        path: path.display().to_string(),
        reason,
    };
    if !path.exists() {
        return Ok(Found::New);
    }
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|error| refuse(format!("cannot be opened as SQLite: {error}")))?;
    let tables: Vec<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut connection)
            .await
            .map_err(|error| refuse(format!("is not a SQLite database: {error}")))?
            .iter()
            .map(|row| row.get(0))
            .collect();
    let found = if tables.iter().any(|table| table == "alembic_version") {
        let revision: Option<String> = sqlx::query("SELECT version_num FROM alembic_version")
            .fetch_optional(&mut connection)
            .await
            .map_err(|error| refuse(format!("alembic_version cannot be read: {error}")))?
            .map(|row| row.get(0));
        match revision {
            Some(revision) if KNOWN_REVISIONS.contains(&revision.as_str()) => {
                Found::Desktop { revision }
            }
            Some(revision) => {
                return Err(refuse(format!(
                    "it is at revision {revision} of the jcselect desktop app, which this client does not know \
                     (it knows {})",
                    KNOWN_REVISIONS.join(", ")
                )))
            }
            None => return Err(refuse("alembic_version holds no revision".into())),
        }
    } else if tables.iter().any(|table| table == "sync_schema_versions") {
        Found::Replica
    } else if tables.is_empty() {
        Found::New
    } else {
        return Err(refuse(format!(
            "it holds tables this client does not know ({}) and is neither a jcselect desktop database \
             (no alembic_version) nor a jcselect-client replica",
            tables.join(", ")
        )));
    };
    let _ = connection.close().await;
    Ok(found)
}

/// What a new replica's file holds besides the tables, so that the desktop
/// app opens it as its own at its newest revision: the results view its
/// results screen reads (votes and ballots per pen, party, candidate and
/// ballot type, over live lines of live sessions), the partial index under
/// it, and the alembic marker. Written only where nothing stands yet.
pub const NEW_FILE_MARKER: [&str; 4] = [
    "CREATE VIEW IF NOT EXISTS v_results_aggregate AS \
     SELECT session.pen_id AS pen_id, line.party_id AS party_id, line.candidate_id AS candidate_id, \
     line.ballot_type AS ballot_type, \
     SUM(CASE WHEN line.deleted_at IS NULL THEN line.vote_count ELSE 0 END) AS votes, \
     COUNT(CASE WHEN line.deleted_at IS NULL THEN line.id END) AS ballot_count, \
     MAX(line.updated_at) AS last_updated \
     FROM tally_lines AS line JOIN tally_sessions AS session ON line.tally_session_id = session.id \
     WHERE session.deleted_at IS NULL \
     GROUP BY session.pen_id, line.party_id, line.candidate_id, line.ballot_type",
    "CREATE INDEX IF NOT EXISTS idx_results_aggregate_pen_party \
     ON tally_lines (tally_session_id, party_id, candidate_id) WHERE deleted_at IS NULL",
    "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, \
     CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
    "INSERT INTO alembic_version (version_num) SELECT '19ee681d4f77' \
     WHERE NOT EXISTS (SELECT 1 FROM alembic_version)",
];

/// Marks a new replica's file as the app's newest revision.
pub async fn mark_new_file(path: &Path) -> Result<(), sqlx::Error> {
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await?;
    for statement in NEW_FILE_MARKER {
        sqlx::query(statement).execute(&mut connection).await?;
    }
    connection.close().await
}
