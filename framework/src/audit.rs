//! The audit rows the sync logic writes. The framework does not know the
//! audit entity; the app supplies an [`AuditTrail`] that builds its rows.

use uuid::Uuid;

use crate::conflict::DuplicateMark;
use crate::record::Record;
use crate::timestamp::Timestamp;

/// What the sync logic asks the audit trail to record.
#[derive(Debug, Clone, Copy)]
pub enum AuditEvent<'a> {
    /// A version lost under the conflict rule (`SYNC_CONFLICT`).
    SyncConflict {
        /// The version kept.
        winner: &'a Record,
        /// The version that lost, kept here so nothing is lost silently.
        loser: &'a Record,
    },
    /// Two versions carried different marks of one monotonic flag
    /// (`DUPLICATE_VOTE_MARK`).
    DuplicateMark {
        /// The merged record.
        record: &'a Record,
        /// The two marks.
        mark: &'a DuplicateMark,
    },
}

/// Builds audit records.
pub trait AuditTrail: Send + Sync {
    /// An audit record for `event`, by `actor`, stamped `at`; its id must
    /// be new, and it must name the record concerned so that it takes that
    /// record's scope. Credentials never go into it (use
    /// [`Record::to_json_without_credentials`]).
    fn record(&self, event: AuditEvent<'_>, actor: Option<Uuid>, at: Timestamp) -> Record;
}
