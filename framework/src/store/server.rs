//! The server side of a store: one push transaction at a time, and the
//! change log read in receive order.

use std::collections::HashMap;

use async_trait::async_trait;
use uuid::Uuid;

use crate::auth::ScopeFilter;
use crate::decl::EntityDecl;
use crate::record::Record;
use crate::store::{RecordTransaction, StoreError};
use crate::timestamp::Timestamp;
use crate::wire::Operation;

/// The head of the change log: the last receive position and its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// The last `receive_seq` committed (0 for an empty log).
    pub receive_seq: i64,
    /// When it was received (the log's creation time for an empty log).
    pub received_at: Timestamp,
}

/// One row of the change log: the latest accepted version of one record
/// in one scope, or the stub a superseded version leaves behind.
///
/// The log is compacted as it is written: a new version of a record takes a
/// new position and its earlier entries become stubs (their `data` emptied)
/// in the same transaction. A stub keeps its position and scope so that the
/// seed's offset paging (`last_sync` + `offset`) counts the same positions
/// between two pages; a cursor read steps over stubs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Position in the server's receive order, strictly increasing in
    /// commit order.
    pub receive_seq: i64,
    /// Server time of the receiving transaction, strictly increasing
    /// between transactions.
    pub received_at: Timestamp,
    /// The change that produced this version (or a fresh id for versions
    /// the server made).
    pub change_id: Uuid,
    /// The entity's wire name.
    pub entity_type: String,
    /// The record's id.
    pub entity_id: Uuid,
    /// Insert or update, as first reported.
    pub operation: Operation,
    /// The record's scope key (`None`: global).
    pub scope: Option<Uuid>,
    /// The record's whole state as JSON text; empty for a stub.
    pub data: String,
}

impl LogEntry {
    /// Whether a later version of its record superseded it (a stub).
    pub fn is_superseded(&self) -> bool {
        self.data.is_empty()
    }
}

/// The latest report of one station, as the server keeps it (server-only,
/// never synced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationSeen {
    /// What the station said.
    pub report: crate::wire::StationReport,
    /// The user its request's token named.
    pub user_id: Uuid,
    /// When the server received it.
    pub seen_at: Timestamp,
}

/// A user's server-only log-in data: never synced, never pulled.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name it is found by.
    pub username: String,
    /// The user's id (its synced user record).
    pub user_id: Uuid,
    /// The hash of a user made before hashes lived in the `User` record
    /// (an argon2 PHC string); new users keep theirs in the record and
    /// leave this empty.
    pub password_hash: Option<String>,
    /// The pens an operator may touch.
    pub pens: Vec<Uuid>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<hidden>"),
            )
            .field("pens", &self.pens)
            .finish()
    }
}

/// A refresh session (server-only, never synced): the holder of the
/// refresh token whose hash is `token_hash` may get a new access token for
/// `username` until `expires_at`, once (the token is rotated on use).
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshSession {
    /// The SHA-256 of the refresh token, hex (the token itself is never
    /// stored).
    pub token_hash: String,
    /// The user name it was given to.
    pub username: String,
    /// The user's id.
    pub user_id: Uuid,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for RefreshSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshSession")
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a change already sorted was answered, kept for idempotent replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeenOutcome {
    /// Applied or already there.
    Processed,
    /// Lost to the stored record.
    Conflict,
}

impl SeenOutcome {
    /// The code stored in the database.
    pub fn code(self) -> i16 {
        match self {
            SeenOutcome::Processed => 1,
            SeenOutcome::Conflict => 2,
        }
    }

    /// The outcome a stored code stands for.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(SeenOutcome::Processed),
            2 => Some(SeenOutcome::Conflict),
            _ => None,
        }
    }
}

/// A read of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// Rows after this receive position.
    pub after_seq: i64,
    /// Matching rows to skip (the seed's `offset`).
    pub offset: u64,
    /// Read nothing past this position (the head read before the page).
    pub up_to_seq: i64,
    /// Which scopes to return.
    pub scope: ScopeFilter,
    /// Most rows to return.
    pub limit: usize,
    /// Whether stubs of superseded versions are returned too (the offset
    /// form counts them); a cursor read leaves them out.
    pub with_superseded: bool,
}

/// The current versions the change log holds after a position up to a
/// head, in receive order, a page at a time (stubs of superseded versions
/// left out).
pub struct LogPages<'s> {
    store: &'s dyn ServerStore,
    query: LogQuery,
    done: bool,
}

impl<'s> LogPages<'s> {
    /// Pages of at most `page` rows of `scope` after `after_seq` up to
    /// `up_to_seq`.
    pub fn new(
        store: &'s dyn ServerStore,
        after_seq: i64,
        up_to_seq: i64,
        scope: ScopeFilter,
        page: usize,
    ) -> Self {
        LogPages {
            store,
            query: LogQuery {
                after_seq,
                offset: 0,
                up_to_seq,
                scope,
                limit: page.max(1),
                with_superseded: false,
            },
            done: false,
        }
    }

    /// The next page; `None` once every row has been read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<LogEntry>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.read_log(&self.query).await?;
        self.done = page.len() < self.query.limit;
        match page.last() {
            Some(last) => {
                self.query.after_seq = last.receive_seq;
                Ok(Some(page))
            }
            None => Ok(None),
        }
    }
}

/// The server side of a store.
///
/// # Contract
///
/// - [`begin_push`](Self::begin_push) serialises push transactions against
///   every other push on the same database, from every process: a second
///   caller waits until the first commits or rolls back. So receive
///   positions are taken in commit order, without gaps (a push appends at
///   `head + 1…`), and a reader that has seen the head at position `p` can
///   see every row at or before `p`.
/// - Dropping a [`PushTransaction`] without committing rolls it back;
///   nothing of it stays.
/// - [`read_log`](Self::read_log) returns rows in receive order and never
///   past `up_to_seq`.
#[async_trait]
pub trait ServerStore: Send + Sync {
    /// Creates or upgrades the schema for these entities (idempotent).
    async fn migrate(&self, entities: &[&'static EntityDecl]) -> Result<(), StoreError>;

    /// Starts a push transaction; see the contract.
    async fn begin_push(&self) -> Result<Box<dyn PushTransaction>, StoreError>;

    /// The last committed position of the change log.
    async fn log_head(&self) -> Result<LogPosition, StoreError>;

    /// A page of the change log.
    async fn read_log(&self, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError>;

    /// How many rows match `query`, ignoring its limit and offset, counting
    /// at most `cap` in each scope it reads (so the count costs no more
    /// than reading that many index entries).
    async fn count_log(&self, query: &LogQuery, cap: u64) -> Result<u64, StoreError>;

    /// The position of the first log row at or after `receive_seq`, if any.
    async fn log_position_from(&self, receive_seq: i64) -> Result<Option<LogPosition>, StoreError>;

    /// Stores a log-in (replacing one of the same user name).
    async fn put_login(&self, login: &Login) -> Result<(), StoreError>;

    /// The log-in of a user name, if any.
    async fn login(&self, username: &str) -> Result<Option<Login>, StoreError>;

    /// Every log-in, in one read (who holds which pens, for the control
    /// room).
    async fn logins(&self) -> Result<Vec<Login>, StoreError>;

    /// Keeps the latest report of a station (replacing its earlier one).
    async fn put_station(&self, station: &StationSeen) -> Result<(), StoreError>;

    /// Every station's latest report, by client id.
    async fn stations(&self) -> Result<Vec<StationSeen>, StoreError>;

    /// Keeps a refresh session (and forgets those expired before
    /// `session.expires_at`'s issuing, i.e. any already past `now`).
    async fn put_session(&self, session: &RefreshSession, now: Timestamp)
        -> Result<(), StoreError>;

    /// Removes the session of this token hash and returns it, if there was
    /// one: two callers with one token never both get it.
    async fn take_session(&self, token_hash: &str) -> Result<Option<RefreshSession>, StoreError>;

    /// The stored version of one record, if any.
    async fn get_record(
        &self,
        entity: &'static EntityDecl,
        id: Uuid,
    ) -> Result<Option<Record>, StoreError>;

    /// Up to `limit` stored records of `entity` (tombstones included) in
    /// id order, after the record `after` when given: how an export pages
    /// through a table without holding it.
    async fn records_after(
        &self,
        entity: &'static EntityDecl,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError>;

    /// For each value of `entity`'s UUID field `parent` (a reference), how
    /// many live records hold it and how many of those have the boolean
    /// field `flag` true (a pen's voters and those who voted), counted in
    /// the database. With `only`, for those parents alone (a parent with no
    /// live record is left out). Fields of other types are an error.
    async fn count_per_parent(
        &self,
        entity: &'static EntityDecl,
        parent: &str,
        flag: &str,
        only: Option<&[Uuid]>,
    ) -> Result<Vec<ParentCount>, StoreError>;
}

/// What [`ServerStore::count_per_parent`] counts for one parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentCount {
    /// The parent's id.
    pub parent: Uuid,
    /// Live records naming it.
    pub records: u64,
    /// Of those, the ones whose flag is true.
    pub flagged: u64,
}

/// One push, in one database transaction (its records read and written
/// through [`RecordTransaction`]).
#[async_trait]
pub trait PushTransaction: RecordTransaction {
    /// The log head when the transaction began (it cannot move until
    /// commit, since pushes are serialised).
    fn head(&self) -> LogPosition;

    /// Which of these change ids were sorted before, and how: remembered by
    /// [`remember_changes`](Self::remember_changes), or carried by a log
    /// entry (live or a stub) of one of `stored_records` — processed. (A
    /// change that became its record's logged version is not remembered
    /// apart; only a record already stored can have an entry.)
    async fn seen_changes(
        &mut self,
        change_ids: &[Uuid],
        stored_records: &[Uuid],
    ) -> Result<HashMap<Uuid, SeenOutcome>, StoreError>;

    /// Turns the live log entries of these records of entity `entity_type`
    /// into stubs (see [`LogEntry`]): in every scope, or in `only_scope`.
    /// Called before the records' new entries are appended.
    async fn supersede_log(
        &mut self,
        entity_type: &str,
        ids: &[Uuid],
        only_scope: Option<Uuid>,
    ) -> Result<(), StoreError>;

    /// Appends rows to the change log and moves the head to the last one.
    async fn append_log(&mut self, entries: &[LogEntry]) -> Result<(), StoreError>;

    /// Remembers how these change ids were sorted (a change logged as its
    /// record's version needs no remembering: its log entry answers).
    async fn remember_changes(&mut self, seen: &[(Uuid, SeenOutcome)]) -> Result<(), StoreError>;

    /// Commits everything.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
