//! The data API the desktop UI calls (the seed's `dao.py` and voter search):
//! every write stamped by the hybrid clock and queued for push in the same
//! transaction.

use std::sync::Arc;

use jcselect_entities::{AuditLog, Pen, User, Voter};
use jcselect_sync::engine::ClientState;
use jcselect_sync::record::FieldValue;
use jcselect_sync::replica::write_local;
use jcselect_sync::store::{ClientStore, StoreError};
use jcselect_sync::{Registry, Syncable};
use serde_json::json;
use uuid::Uuid;

/// Most results a voter search returns.
pub const SEARCH_LIMIT: usize = 100;

/// Why a data operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaoError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record does not exist (or is soft-deleted).
    #[error("{0}")]
    NotFound(String),
    /// The user's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// The operation makes no sense for the record as it is.
    #[error("{0}")]
    Refused(String),
}

/// Who is acting at this desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user's id.
    pub user_id: Uuid,
    /// Whether the user is an admin.
    pub is_admin: bool,
}

/// The local data API.
#[derive(Clone)]
pub struct Dao {
    store: Arc<dyn ClientStore>,
    registry: &'static Registry,
    state: ClientState,
}

impl Dao {
    /// The API over a migrated replica; `state` gives the clock.
    pub fn new(
        store: Arc<dyn ClientStore>,
        registry: &'static Registry,
        state: ClientState,
    ) -> Self {
        Dao {
            store,
            registry,
            state,
        }
    }

    /// Creates or updates records: each gets a fresh `updated_at` (and a
    /// `created_at` when new) from the hybrid clock; all are written and
    /// queued in one transaction.
    pub async fn save<T: Syncable + Clone>(&self, records: &[T]) -> Result<Vec<T>, DaoError> {
        let mut stamped = Vec::with_capacity(records.len());
        let mut erased = Vec::with_capacity(records.len());
        for record in records {
            let stamp = self.state.next_stamp().await?;
            let mut value = record.to_record().map_err(StoreError::from)?;
            value
                .set("updated_at", FieldValue::Timestamp(stamp))
                .map_err(StoreError::from)?;
            if self.store.get_record(T::DECL, value.id()).await?.is_none() {
                value
                    .set("created_at", FieldValue::Timestamp(stamp))
                    .map_err(StoreError::from)?;
            }
            stamped.push(T::from_record(&value).map_err(StoreError::from)?);
            erased.push(value);
        }
        write_local(self.store.as_ref(), self.registry, &erased).await?;
        Ok(stamped)
    }

    /// A live voter.
    pub async fn voter(&self, id: Uuid) -> Result<Voter, DaoError> {
        let record = self
            .store
            .get_record(Voter::DECL, id)
            .await?
            .ok_or_else(|| DaoError::NotFound(format!("no voter {id}")))?;
        let voter = Voter::from_record(&record).map_err(StoreError::from)?;
        if voter.deleted_at.is_some() {
            return Err(DaoError::NotFound(format!("voter {id} was deleted")));
        }
        Ok(voter)
    }

    /// The live voter with this voter number (as read off the voter's card:
    /// Arabic-Indic digits are read as 0–9) among the station's voters;
    /// refused when none has it, or when voters of several pens do.
    pub async fn voter_by_number(&self, number: &str) -> Result<Voter, DaoError> {
        let number = jcselect_sync::text::western_digits(number.trim());
        let records = self
            .store
            .find_records(
                Voter::DECL,
                &[("voter_number", FieldValue::Text(number.clone()))],
                false,
            )
            .await?;
        let mut voters = records
            .iter()
            .map(Voter::from_record)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)?;
        match voters.len() {
            0 => Err(DaoError::NotFound(format!("no voter number {number} here"))),
            1 => Ok(voters.remove(0)),
            n => {
                let mut named = Vec::with_capacity(n);
                for voter in &voters {
                    named.push(format!(
                        "{} at {}: --voter {}",
                        voter.full_name,
                        self.pen_name(voter.pen_id).await?,
                        voter.id
                    ));
                }
                Err(DaoError::Refused(format!(
                    "{n} voters of different pens have number {number}; name the one you mean: {}",
                    named.join("; ")
                )))
            }
        }
    }

    /// A user's log-in name as the replica holds it (its id when the
    /// station does not hold the user).
    pub async fn username(&self, user_id: Uuid) -> Result<String, DaoError> {
        Ok(match self.store.get_record(User::DECL, user_id).await? {
            Some(record) => User::from_record(&record)
                .map(|user| user.username)
                .unwrap_or_else(|_| user_id.to_string()),
            None => user_id.to_string(),
        })
    }

    /// A pen as people name it, `TOWN/LABEL` (its id when the station does
    /// not hold the pen).
    pub async fn pen_name(&self, pen_id: Uuid) -> Result<String, DaoError> {
        Ok(match self.store.get_record(Pen::DECL, pen_id).await? {
            Some(record) => Pen::from_record(&record)
                .map(|pen| format!("{}/{}", pen.town_name, pen.label))
                .unwrap_or_else(|_| pen_id.to_string()),
            None => pen_id.to_string(),
        })
    }

    /// Marks a voter as voted by `actor`; refused when already marked.
    pub async fn mark_voted(&self, voter_id: Uuid, actor: Actor) -> Result<Voter, DaoError> {
        let mut voter = self.voter(voter_id).await?;
        if voter.has_voted {
            let marked_by = match voter.voted_by_operator_id {
                Some(by) => self.username(by).await?,
                None => "unknown".into(),
            };
            return Err(DaoError::Refused(format!(
                "voter {} {} already voted at {} (marked by {marked_by})",
                voter.voter_number,
                voter.full_name,
                voter
                    .voted_at
                    .map_or_else(|| "an unknown time".into(), |at| at.to_string()),
            )));
        }
        let stamp = self.state.next_stamp().await?;
        voter.has_voted = true;
        voter.voted_at = Some(stamp);
        voter.voted_by_operator_id = Some(actor.user_id);
        voter.updated_at = stamp;
        let record = voter.to_record().map_err(StoreError::from)?;
        write_local(self.store.as_ref(), self.registry, &[record]).await?;
        Ok(voter)
    }

    /// Soft-deletes a voter (admins only): the tombstone, its
    /// `VOTER_DELETED` audit row and their outbox entries in one
    /// transaction.
    pub async fn soft_delete_voter(&self, voter_id: Uuid, actor: Actor) -> Result<Voter, DaoError> {
        if !actor.is_admin {
            return Err(DaoError::Forbidden(
                "only an admin may delete a voter".into(),
            ));
        }
        let mut voter = self.voter(voter_id).await?;
        let stamp = self.state.next_stamp().await?;
        voter.deleted_at = Some(stamp);
        voter.deleted_by = Some(actor.user_id);
        voter.updated_at = stamp;
        let audit = AuditLog {
            id: Uuid::now_v7(),
            deleted_at: None,
            deleted_by: None,
            operator_id: Some(actor.user_id),
            action: "VOTER_DELETED".into(),
            entity_type: Voter::DECL.name.into(),
            entity_id: voter.id,
            old_values: None,
            new_values: Some(json!({"deleted_at": stamp, "deleted_by": actor.user_id})),
            timestamp: stamp,
            ip_address: None,
            user_agent: None,
        };
        let records = [
            voter.to_record().map_err(StoreError::from)?,
            audit.to_record().map_err(StoreError::from)?,
        ];
        write_local(self.store.as_ref(), self.registry, &records).await?;
        Ok(voter)
    }

    /// The live voters of a pen, by voter number.
    pub async fn active_voters(&self, pen_id: Uuid) -> Result<Vec<Voter>, DaoError> {
        let records = self
            .store
            .find_records(Voter::DECL, &[("pen_id", FieldValue::Uuid(pen_id))], false)
            .await?;
        let mut voters = records
            .iter()
            .map(Voter::from_record)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)?;
        voters.sort_by(|a, b| a.voter_number.cmp(&b.voter_number));
        Ok(voters)
    }

    /// Voter search (PROTOCOL.md §5 folding: Arabic spellings, Arabic-Indic
    /// digits, runs of spaces): every word of the query begins the voter's
    /// number or a word of the full or father's name; a voter matching
    /// the words whole (the exact number) first, then by voter number; at
    /// most [`SEARCH_LIMIT`]; soft-deleted voters never. Runs in SQL on the
    /// replica's search index, never by loading the pen.
    pub async fn search_voters(&self, query: &str) -> Result<Vec<Voter>, DaoError> {
        self.store
            .search(Voter::DECL, query, SEARCH_LIMIT)
            .await?
            .iter()
            .map(|record| {
                Voter::from_record(record).map_err(|error| StoreError::from(error).into())
            })
            .collect()
    }
}
