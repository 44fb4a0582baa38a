//! A store that fails half-way through a push: the real store underneath,
//! with the push's change-log write refused after its records were
//! written in the same transaction — what a lost connection or a full
//! disk does at the worst moment.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use jcselect_sync::record::Record;
use jcselect_sync::store::ParentCount;
use jcselect_sync::store::{
    LogEntry, LogPosition, LogQuery, Login, PushTransaction, RecordTransaction, RefreshSession,
    SeenOutcome, ServerStore, StationSeen, StoreError,
};
use jcselect_sync::{EntityDecl, Timestamp};
use uuid::Uuid;

/// `inner`, whose pushes fail when they write the change log.
pub struct FailsMidPush(pub Arc<dyn ServerStore>);

struct FailingPush(Box<dyn PushTransaction>);

fn refused() -> StoreError {
    StoreError::Backend {
        store: "test",
        retryable: true,
        source: "the connection was lost half-way through the push (test)".into(),
    }
}

#[async_trait]
impl RecordTransaction for FailingPush {
    async fn load_records(
        &mut self,
        entity: &'static EntityDecl,
        ids: &[Uuid],
    ) -> Result<Vec<Record>, StoreError> {
        self.0.load_records(entity, ids).await
    }

    async fn upsert_records(
        &mut self,
        entity: &'static EntityDecl,
        records: &[Record],
    ) -> Result<(), StoreError> {
        self.0.upsert_records(entity, records).await
    }

    async fn find_matching(
        &mut self,
        entity: &'static EntityDecl,
        conditions: &[jcselect_sync::store::FieldIn<'_>],
    ) -> Result<Vec<Record>, StoreError> {
        self.0.find_matching(entity, conditions).await
    }
}

#[async_trait]
impl PushTransaction for FailingPush {
    fn head(&self) -> LogPosition {
        self.0.head()
    }

    async fn seen_changes(
        &mut self,
        change_ids: &[Uuid],
        stored_records: &[Uuid],
    ) -> Result<HashMap<Uuid, SeenOutcome>, StoreError> {
        self.0.seen_changes(change_ids, stored_records).await
    }

    async fn supersede_log(
        &mut self,
        entity_type: &str,
        ids: &[Uuid],
        only_scope: Option<Uuid>,
    ) -> Result<(), StoreError> {
        self.0.supersede_log(entity_type, ids, only_scope).await
    }

    async fn append_log(&mut self, _entries: &[LogEntry]) -> Result<(), StoreError> {
        Err(refused())
    }

    async fn remember_changes(&mut self, seen: &[(Uuid, SeenOutcome)]) -> Result<(), StoreError> {
        self.0.remember_changes(seen).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.0.commit().await
    }
}

#[async_trait]
impl ServerStore for FailsMidPush {
    async fn migrate(&self, entities: &[&'static EntityDecl]) -> Result<(), StoreError> {
        self.0.migrate(entities).await
    }

    async fn begin_push(&self) -> Result<Box<dyn PushTransaction>, StoreError> {
        Ok(Box::new(FailingPush(self.0.begin_push().await?)))
    }

    async fn log_head(&self) -> Result<LogPosition, StoreError> {
        self.0.log_head().await
    }

    async fn read_log(&self, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        self.0.read_log(query).await
    }

    async fn count_log(&self, query: &LogQuery, cap: u64) -> Result<u64, StoreError> {
        self.0.count_log(query, cap).await
    }

    async fn log_position_from(&self, receive_seq: i64) -> Result<Option<LogPosition>, StoreError> {
        self.0.log_position_from(receive_seq).await
    }

    async fn put_login(&self, login: &Login) -> Result<(), StoreError> {
        self.0.put_login(login).await
    }

    async fn login(&self, username: &str) -> Result<Option<Login>, StoreError> {
        self.0.login(username).await
    }

    async fn logins(&self) -> Result<Vec<Login>, StoreError> {
        self.0.logins().await
    }

    async fn count_per_parent(
        &self,
        entity: &'static EntityDecl,
        parent: &str,
        flag: &str,
        only: Option<&[Uuid]>,
    ) -> Result<Vec<ParentCount>, StoreError> {
        self.0.count_per_parent(entity, parent, flag, only).await
    }

    async fn put_station(&self, station: &StationSeen) -> Result<(), StoreError> {
        self.0.put_station(station).await
    }

    async fn stations(&self) -> Result<Vec<StationSeen>, StoreError> {
        self.0.stations().await
    }

    async fn put_session(
        &self,
        session: &RefreshSession,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.put_session(session, now).await
    }

    async fn take_session(&self, token_hash: &str) -> Result<Option<RefreshSession>, StoreError> {
        self.0.take_session(token_hash).await
    }

    async fn get_record(
        &self,
        entity: &'static EntityDecl,
        id: Uuid,
    ) -> Result<Option<Record>, StoreError> {
        self.0.get_record(entity, id).await
    }

    async fn records_after(
        &self,
        entity: &'static EntityDecl,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.0.records_after(entity, after, limit).await
    }
}
