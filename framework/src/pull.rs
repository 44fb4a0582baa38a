//! How a server answers a pull (PROTOCOL.md §4): a page of its change log
//! in receive order, filtered by the caller's scope, that never lets a
//! client skip a change.
//!
//! Why nothing is skipped: pushes are serialised by the store, so receive
//! positions are taken in commit order, and the head read first bounds the
//! page: every row at or before the head is committed and visible. The
//! next cursor is the last row returned, or the head when the page ends the
//! log, so rows outside the caller's scope are stepped over once. For the
//! seed's `last_sync` form the answer's `server_timestamp` is the head's
//! receive time, and every later transaction is stamped strictly after it.

use async_trait::async_trait;

use crate::auth::{Principal, Role};
use crate::decl::{EntityDecl, LOCKED_CREDENTIAL};
use crate::error::Error;
use crate::registry::Registry;
use crate::store::{LogQuery, ServerStore, StoreError};
use crate::timestamp::Timestamp;
use crate::wire::{EntityChange, SyncPullResponse};

/// Most changes one pull page may hold.
pub const MAX_PULL_LIMIT: usize = 1000;
/// The page size when the request names none.
pub const DEFAULT_PULL_LIMIT: usize = 100;

const CURSOR_PREFIX: &str = "r";

/// Where a pull starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFrom {
    /// After a cursor (`None`: from the beginning).
    Cursor(Option<i64>),
    /// The seed's form: changes received after `last_sync`, skipping
    /// `offset` of them.
    LastSync {
        /// The previous answer's `server_timestamp`.
        last_sync: Timestamp,
        /// Changes to skip.
        offset: u64,
    },
}

/// The opaque text of a cursor at receive position `receive_seq`.
pub fn encode_cursor(receive_seq: i64) -> String {
    format!("{CURSOR_PREFIX}{receive_seq}")
}

/// The receive position a cursor holds; an error for anything this server
/// did not make.
pub fn decode_cursor(cursor: &str) -> Result<i64, Error> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|digits| digits.parse::<i64>().ok())
        .filter(|seq| *seq >= 0 && !cursor[1..].starts_with('+'))
        .ok_or_else(|| Error::Invalid {
            entity: "cursor",
            message: format!("{cursor:?} is not a cursor this server issued"),
        })
}

/// The last receive position whose time is at or before `since` (0 when
/// none): a binary search over the log's primary key, which works because
/// receive times never decrease along receive positions.
async fn last_seq_received_by(
    store: &dyn ServerStore,
    since: Timestamp,
    head_seq: i64,
) -> Result<i64, StoreError> {
    let (mut known, mut unknown_up_to) = (0_i64, head_seq);
    while known < unknown_up_to {
        let middle = known + (unknown_up_to - known + 1) / 2;
        match store.log_position_from(middle).await? {
            Some(found) if found.receive_seq <= unknown_up_to && found.received_at <= since => {
                known = found.receive_seq;
            }
            _ => unknown_up_to = middle - 1,
        }
    }
    Ok(known)
}

/// Why a pull page cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cursor points past the end of this server's change log: it was
    /// issued by another database, or before this one was restored from a
    /// backup. Answering with an empty page would make the client skip
    /// everything written since; it must pull from the beginning instead.
    #[error("cursor {cursor} is ahead of this server's change log (last position {head}); pull from the beginning")]
    CursorAhead {
        /// The cursor as given.
        cursor: String,
        /// The log's last position.
        head: i64,
    },
}

/// Who may receive a record's credentials (PROTOCOL.md §2). Records of
/// entities without credential fields never ask.
#[async_trait]
pub trait CredentialPolicy: Send + Sync {
    /// Whether `principal` may receive the credentials of `record` (its
    /// stored JSON) as they are; if not, it receives
    /// [`LOCKED_CREDENTIAL`] in their place.
    async fn may_read(
        &self,
        principal: &Principal,
        entity: &'static EntityDecl,
        record: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<bool, StoreError>;
}

/// Credentials go to admins only.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminsOnly;

#[async_trait]
impl CredentialPolicy for AdminsOnly {
    async fn may_read(
        &self,
        principal: &Principal,
        _entity: &'static EntityDecl,
        _record: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<bool, StoreError> {
        Ok(principal.role == Role::Admin)
    }
}

/// What a pull needs besides the store.
#[derive(Clone, Copy)]
pub struct PullContext<'a> {
    /// The entities (each one's version field).
    pub registry: &'a Registry,
    /// Who receives credentials.
    pub credentials: &'a dyn CredentialPolicy,
}

/// The version time of a record's stored JSON: the value of its entity's
/// version field, read without decoding the rest.
fn version_time_of(data: &str, field: &str) -> Result<Timestamp, String> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Seek<'f>(&'f str);
    impl<'de> Visitor<'de> for Seek<'_> {
        type Value = Option<Timestamp>;
        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(formatter, "a record with `{}`", self.0)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == self.0 {
                    found = Some(map.next_value::<Timestamp>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    impl<'de> DeserializeSeed<'de> for Seek<'_> {
        type Value = Option<Timestamp>;
        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(data);
    Seek(field)
        .deserialize(&mut deserializer)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("missing field `{field}`"))
}

/// The stored JSON as `principal` may receive it: credentials replaced by
/// [`LOCKED_CREDENTIAL`] unless the policy entitles it.
async fn as_entitled(
    data: String,
    entity: &'static EntityDecl,
    principal: &Principal,
    policy: &dyn CredentialPolicy,
) -> Result<String, String> {
    if entity.credential_fields().next().is_none() {
        return Ok(data);
    }
    let mut record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&data).map_err(|error| error.to_string())?;
    if policy
        .may_read(principal, entity, &record)
        .await
        .map_err(|error| error.to_string())?
    {
        return Ok(data);
    }
    for field in entity.credential_fields() {
        record.insert(
            field.name.to_owned(),
            serde_json::Value::String(LOCKED_CREDENTIAL.to_owned()),
        );
    }
    serde_json::to_string(&record).map_err(|error| error.to_string())
}

/// How many changes are left from this page on (PROTOCOL.md §4's
/// `total_available`), at the cost of a page at most: for an admin, every
/// log position after the cursor (an upper bound: it counts superseded
/// positions too); for an operator, its scopes' entries counted through the
/// scope index up to ten pages ahead (exact below that, a lower bound
/// beyond).
async fn estimate_available(
    store: &dyn ServerStore,
    query: &LogQuery,
    head_seq: i64,
    limit: usize,
) -> Result<u64, StoreError> {
    let available = match query.scope.pens() {
        None => u64::try_from(head_seq - query.after_seq).unwrap_or(0),
        Some(_) => {
            let cap = (limit * 10).max(MAX_PULL_LIMIT) as u64 + query.offset;
            store.count_log(query, cap).await?
        }
    };
    Ok(available.saturating_sub(query.offset))
}

/// Reads one pull page for `principal`. `limit` must be 1…[`MAX_PULL_LIMIT`].
pub async fn read_pull(
    store: &dyn ServerStore,
    context: &PullContext<'_>,
    principal: &Principal,
    from: PullFrom,
    limit: usize,
) -> Result<SyncPullResponse, PullError> {
    let head = store.log_head().await?;
    if let PullFrom::Cursor(Some(seq)) = from {
        if seq > head.receive_seq {
            return Err(PullError::CursorAhead {
                cursor: encode_cursor(seq),
                head: head.receive_seq,
            });
        }
    }
    let (after_seq, offset) = match from {
        PullFrom::Cursor(seq) => (seq.unwrap_or(0), 0),
        PullFrom::LastSync { last_sync, offset } => (
            last_seq_received_by(store, last_sync, head.receive_seq).await?,
            offset,
        ),
    };
    // The seed's offset pages count positions, superseded ones included,
    // so that a version superseded between two pages shifts nothing.
    let with_superseded = matches!(from, PullFrom::LastSync { .. });
    let query = LogQuery {
        after_seq,
        offset,
        up_to_seq: head.receive_seq,
        scope: principal.scope_filter(),
        limit: limit + 1,
        with_superseded,
    };
    let mut entries = store.read_log(&query).await?;
    let has_more = entries.len() > limit;
    entries.truncate(limit);
    let (next_seq, server_timestamp) = match (has_more, entries.last()) {
        // Rows of the last transaction may continue on the next page, so a
        // client resuming from this time stamp gets them again, not never.
        (true, Some(last)) => (last.receive_seq, last.received_at.plus_micros(-1)),
        _ => (head.receive_seq.max(after_seq), head.received_at),
    };
    entries.retain(|entry| !entry.is_superseded());
    let total_available = if has_more {
        estimate_available(store, &query, head.receive_seq, limit).await?
    } else {
        entries.len() as u64
    };

    let mut changes = Vec::with_capacity(entries.len());
    for entry in entries {
        let corrupt = |problem: String| StoreError::Corrupt {
            store: "log",
            table: "sync_log",
            message: format!("receive_seq {}: {problem}", entry.receive_seq),
        };
        let entity = context
            .registry
            .entity(&entry.entity_type)
            .map_err(|error| corrupt(error.to_string()))?;
        let timestamp = version_time_of(&entry.data, entity.version_field()).map_err(corrupt)?;
        let data = as_entitled(entry.data, entity, principal, context.credentials)
            .await
            .map_err(corrupt)?;
        let data = serde_json::value::RawValue::from_string(data)
            .map_err(|error| corrupt(error.to_string()))?;
        changes.push(EntityChange {
            change_id: entry.change_id,
            entity_type: entry.entity_type,
            entity_id: entry.entity_id,
            operation: entry.operation,
            timestamp,
            data,
        });
    }
    Ok(SyncPullResponse {
        changes,
        server_timestamp,
        has_more,
        total_available: Some(total_available),
        next_cursor: Some(encode_cursor(next_seq)),
    })
}
