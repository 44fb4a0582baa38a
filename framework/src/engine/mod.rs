//! The client's sync engine (PROTOCOL.md §5): push the outbox in dependency
//! order and in batches, act on every bucket of every answer, pull every
//! page from the stored cursor, keep the clock honest, log in again when the
//! token expires, and back off when the server cannot be reached.

mod settings;
mod state;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use uuid::Uuid;

pub use settings::SyncSettings;
pub use state::{ClientState, LocalClock};

use crate::audit::AuditTrail;
use crate::pull::{decode_cursor, encode_cursor, PullFrom};
use crate::record::Record;
use crate::registry::Registry;
use crate::replica::{
    apply_pulled_page, plan_settlement, settle_outbox, write_local, OutboxUpdate, PulledPage,
    ReplicaContext,
};
use crate::store::{ClientStore, OutboxEntry, OutboxState, StoreError};
use crate::timestamp::Timestamp;
use crate::transport::{Transport, TransportError};
use crate::wire::{EntityChange, StationReport, SyncPushRequest, MAX_CHANGES_PER_PUSH};

/// Most outbox entries read from the store at a time.
const OUTBOX_READ: usize = 10_000;
/// Room for the request envelope around the changes of a batch.
const ENVELOPE_BYTES: u64 = 256;

/// Why a sync cycle stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server could not be reached or refused.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// No valid token and no password to get one: run `login`.
    #[error("not logged in: {0}")]
    NeedLogin(String),
}

impl SyncError {
    /// Whether the background loop should back off and try again.
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Transport(error) => error.is_retryable(),
            SyncError::Store(error) => error.is_retryable(),
            SyncError::NeedLogin(_) => false,
        }
    }

    /// Seconds the server asked the client to wait before trying again.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            SyncError::Transport(error) => error.retry_after(),
            _ => None,
        }
    }
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Changes the server applied or already had.
    pub pushed: u64,
    /// Changes the server's version beat (it comes down on the pull).
    pub conflicts: u64,
    /// Changes waiting for a parent, to be retried later.
    pub waiting: u64,
    /// Changes parked by this cycle (refused by the server, or out of
    /// retries).
    pub parked: u64,
    /// Changes parked in the outbox after this cycle, whenever parked:
    /// while this is not zero the station holds changes the server has
    /// not taken.
    pub parked_total: u64,
    /// Parked changes tried again by this cycle after their rest.
    pub revived: u64,
    /// Changes still queued after this cycle (pending or waiting to retry).
    pub unsent: u64,
    /// Changes stamped again after a clock-skew refusal.
    pub restamped: u64,
    /// Changes pulled.
    pub pulled: u64,
    /// Pull pages read.
    pub pages: u64,
    /// Whether more pages wait for the next cycle.
    pub more_to_pull: bool,
    /// Pending local changes that lost to a pulled version.
    pub local_conflicts: u64,
}

/// One cycle of [`SyncEngine::run`], as its caller hears of it.
#[derive(Debug, Clone, Copy)]
pub struct CycleOutcome<'a> {
    /// What the cycle did, or why it stopped.
    pub result: Result<&'a SyncReport, &'a SyncError>,
    /// Seconds until the next cycle.
    pub next_in_seconds: f64,
}

/// How far a pull has come, for progress lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullProgress {
    /// Pages read this cycle.
    pub pages: u64,
    /// Changes read this cycle.
    pub pulled: u64,
    /// Changes the server still had when the last page was read.
    pub remaining: Option<u64>,
}

/// A replica's sync engine.
pub struct SyncEngine {
    store: Arc<dyn ClientStore>,
    transport: Arc<dyn Transport>,
    registry: &'static Registry,
    audit: Arc<dyn AuditTrail>,
    settings: SyncSettings,
    state: ClientState,
    /// The largest batch sent now, bytes: `sync_max_payload_size`, less
    /// after a push that was too large or too slow for the link.
    batch_limit: AtomicU64,
    /// The program it runs in, as its station reports name it.
    program: String,
}

/// The smallest batch limit a slow link shrinks batches to, bytes.
const MIN_BATCH_BYTES: u64 = 16 * 1024;

/// How long a parked change rests before it is tried again by itself (a
/// parent may have arrived, a user may have been re-activated).
pub const PARKED_RETRY_SECONDS: i64 = 15 * 60;

/// The request's size on the wire, roughly.
fn request_bytes(request: &SyncPushRequest) -> u64 {
    request
        .changes
        .iter()
        .map(|change| change.data.get().len() as u64 + 200)
        .sum::<u64>()
        + ENVELOPE_BYTES
}

impl SyncEngine {
    /// An engine over a migrated store.
    pub fn new(
        store: Arc<dyn ClientStore>,
        transport: Arc<dyn Transport>,
        registry: &'static Registry,
        audit: Arc<dyn AuditTrail>,
        settings: SyncSettings,
    ) -> Self {
        let state = ClientState::new(store.clone());
        let batch_limit = AtomicU64::new(settings.sync_max_payload_size);
        SyncEngine {
            store,
            transport,
            registry,
            audit,
            settings,
            state,
            batch_limit,
            program: concat!("jcselect-sync ", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The same engine, its station reports naming `program` (a name and
    /// version, e.g. `jcselect-client 0.1.0`).
    pub fn with_program(mut self, program: impl Into<String>) -> Self {
        self.program = program.into();
        self
    }

    /// What this station tells the server of itself with each request
    /// ([`STATION_HEADER`](crate::wire::STATION_HEADER)): its id, its
    /// program, its outbox by state and since when it holds a change the
    /// server has not accepted, its clock's offset from the server's.
    pub async fn station_report(&self) -> Result<StationReport, SyncError> {
        let outbox = self.store.outbox_summary().await?;
        let parked_changes = if outbox.parked == 0 {
            Vec::new()
        } else {
            self.store
                .outbox_entries()
                .await?
                .into_iter()
                .filter(|entry| entry.state == OutboxState::Parked)
                .take(crate::wire::PARKED_CHANGES_REPORTED)
                .map(|entry| crate::wire::ParkedChange {
                    entity_type: entry.entity_type.to_owned(),
                    entity_id: entry.entity_id,
                    reason: entry
                        .last_error
                        .map(|reason| reason.chars().take(200).collect()),
                    attempts: entry.attempts,
                })
                .collect()
        };
        Ok(StationReport {
            parked_changes,
            client_id: self.state.client_id().await?.to_string(),
            version: self.program.clone(),
            pending: outbox.pending,
            retry: outbox.retry,
            parked: outbox.parked,
            oldest_unsent_at: outbox.oldest_unsent_at,
            clock_offset_micros: -self.state.hybrid_clock().await?.offset_micros(),
        })
    }

    /// The same engine reading another wall clock (a wrong one, in tests).
    pub fn with_clock(mut self, clock: LocalClock) -> Self {
        self.state = self.state.with_clock(clock);
        self
    }

    /// The replica's stored state (token, cursor, clock).
    pub fn state(&self) -> &ClientState {
        &self.state
    }

    /// The settings.
    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// Logs in with a password and keeps the token, the session's refresh
    /// token and the server (the password itself is never kept: pass it
    /// again to [`Self::sync_once_with`] if the session ends).
    pub async fn login(&self, username: &str, password: &str) -> Result<(), SyncError> {
        let sent = self.state.clock().wall();
        let answer = self.transport.login(username, password).await?;
        self.keep(username, &answer, sent).await?;
        self.state
            .save_server_url(&self.settings.sync_api_url)
            .await?;
        tracing::info!(username, role = %answer.role, "logged in");
        Ok(())
    }

    /// Stores what a log-in or refresh answered.
    async fn keep(
        &self,
        username: &str,
        answer: &crate::wire::LoginResponse,
        sent: Timestamp,
    ) -> Result<(), SyncError> {
        let seconds = |value: u64| i64::try_from(value).unwrap_or(0) * 1_000_000;
        self.state
            .save_login(
                username,
                &answer.access_token,
                sent.plus_micros(seconds(answer.expires_in)),
                answer.user_id,
                &answer.role,
            )
            .await?;
        let session = answer.refresh_token.as_deref().map(|token| {
            (
                token,
                sent.plus_micros(seconds(answer.refresh_expires_in.unwrap_or(0))),
            )
        });
        self.state.save_session(session).await?;
        Ok(())
    }

    /// A usable token: the stored one while it is valid for another
    /// minute (and `renew` is false), else one renewed with the session's
    /// refresh token, else a new log-in with `password` if given.
    async fn token(&self, password: Option<&str>, renew: bool) -> Result<String, SyncError> {
        let Some(login) = self.state.login().await? else {
            return Err(SyncError::NeedLogin("not logged in".into()));
        };
        let now = self.state.clock().wall();
        if !renew && login.expires_at > now.plus_micros(60 * 1_000_000) {
            return Ok(login.token);
        }
        if let Some(refresh) = self.state.refresh_token().await? {
            match self.transport.refresh(&refresh).await {
                Ok(answer) => {
                    self.keep(&login.username, &answer, now).await?;
                    tracing::info!(username = %login.username, "access token renewed");
                    return Ok(answer.access_token);
                }
                Err(TransportError::Unauthorized(message)) => {
                    tracing::warn!(%message, "the session could not be renewed");
                }
                Err(other) => return Err(other.into()),
            }
        }
        match password {
            Some(password) => {
                self.login(&login.username, password).await?;
                Ok(self.state.login().await?.expect("just logged in").token)
            }
            None => Err(SyncError::NeedLogin(
                "the session has ended (token expired or refused, no refresh possible); log in again"
                    .into(),
            )),
        }
    }

    /// One cycle with the stored token.
    pub async fn sync_once(
        &self,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<SyncReport, SyncError> {
        self.sync_once_with(None, progress).await
    }

    /// One cycle: push everything ready, then pull up to
    /// `sync_max_pull_pages` pages. With a password, an expired or refused
    /// token is renewed by logging in again.
    pub async fn sync_once_with(
        &self,
        password: Option<&str>,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<SyncReport, SyncError> {
        let mut token = self.token(password, false).await?;
        let mut report = SyncReport {
            revived: self.revive_parked(self.state.clock().wall()).await?,
            ..SyncReport::default()
        };
        // a refused token is renewed once (refresh token, else password)
        match self.push_all(&token, &mut report).await {
            Err(SyncError::Transport(TransportError::Unauthorized(_))) => {
                token = self.token(password, true).await?;
                self.push_all(&token, &mut report).await?;
            }
            other => other?,
        }
        match self.pull_pages(&token, &mut report, progress).await {
            Err(SyncError::Transport(TransportError::Unauthorized(_))) => {
                token = self.token(password, true).await?;
                self.pull_pages(&token, &mut report, progress).await?;
            }
            other => other?,
        }
        self.state.save_last_sync(self.state.clock().wall()).await?;
        let outbox = self.store.outbox_summary().await?;
        report.parked_total = outbox.parked;
        report.unsent = outbox.pending + outbox.retry;
        tracing::info!(?report, "sync cycle done");
        Ok(report)
    }

    /// Pushes every ready outbox entry, batch by batch. With nothing to
    /// push it sends an empty request: its answer carries the server's
    /// clock (a pull's time stamp is a log position, not the time now).
    async fn push_all(&self, token: &str, report: &mut SyncReport) -> Result<(), SyncError> {
        let mut sent_this_cycle = std::collections::HashSet::new();
        loop {
            let now = self.state.clock().wall();
            let ready: Vec<(OutboxEntry, Record)> = self
                .store
                .outbox_ready(now, OUTBOX_READ)
                .await?
                .into_iter()
                .filter(|(entry, _)| !sent_this_cycle.contains(&entry.change_id))
                .collect();
            // what this round's requests tell the server of the station
            let station = self.station_report().await?;
            if ready.is_empty() {
                if sent_this_cycle.is_empty() {
                    self.push_batch(token, Vec::new(), &station, report).await?;
                }
                return Ok(());
            }
            for batch in self.batches(ready) {
                sent_this_cycle.extend(batch.iter().map(|(entry, _)| entry.change_id));
                self.push_batch(token, batch, &station, report).await?;
            }
        }
    }

    /// Splits entries (already in dependency order) into batches no larger
    /// than `sync_max_payload_size`.
    fn batches(&self, ready: Vec<(OutboxEntry, Record)>) -> Vec<Vec<(OutboxEntry, EntityChange)>> {
        let limit = self
            .batch_limit
            .load(Ordering::Relaxed)
            .saturating_sub(ENVELOPE_BYTES);
        let mut batches = Vec::new();
        let mut current: Vec<(OutboxEntry, EntityChange)> = Vec::new();
        let mut size = 0;
        for (entry, record) in ready {
            let change = EntityChange {
                change_id: entry.change_id,
                entity_type: entry.entity_type.to_owned(),
                entity_id: entry.entity_id,
                operation: entry.operation,
                timestamp: record.version_time(),
                data: serde_json::value::RawValue::from_string(record.to_json_string())
                    .expect("a record's JSON text is valid JSON"),
            };
            let bytes = change.data.get().len() as u64 + 200;
            if !current.is_empty()
                && (size + bytes > limit || current.len() == MAX_CHANGES_PER_PUSH)
            {
                batches.push(std::mem::take(&mut current));
                size = 0;
            }
            size += bytes;
            current.push((entry, change));
        }
        if !current.is_empty() {
            batches.push(current);
        }
        batches
    }

    async fn push_batch(
        &self,
        token: &str,
        batch: Vec<(OutboxEntry, EntityChange)>,
        station: &StationReport,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let (entries, changes): (Vec<OutboxEntry>, Vec<EntityChange>) = batch.into_iter().unzip();
        let request = SyncPushRequest {
            client_id: self.state.client_id().await?.to_string(),
            changes,
        };
        let sent = self.state.clock().wall();
        let answer = match self.transport.push(token, &request, Some(station)).await {
            Ok(answer) => answer,
            Err(TransportError::TooLarge(message)) if entries.len() > 1 => {
                // the server or a proxy takes less than we sent: send the
                // same changes in halves, and less per batch from now on
                self.shrink_batches(request_bytes(&request));
                tracing::warn!(%message, changes = entries.len(), "push too large; splitting the batch");
                let mut halves = entries.into_iter().zip(request.changes).collect::<Vec<_>>();
                let second = halves.split_off(halves.len() / 2);
                Box::pin(self.push_batch(token, halves, station, report)).await?;
                return Box::pin(self.push_batch(token, second, station, report)).await;
            }
            Err(error) => {
                if error.is_slow_link() {
                    self.shrink_batches(request_bytes(&request));
                }
                // not a verdict on any change: everything stays queued
                return Err(error.into());
            }
        };
        self.grow_batches();
        let received = self.state.clock().wall();
        self.state
            .observe_server(answer.server_timestamp, sent, received)
            .await?;
        let updates = plan_settlement(&entries, &answer, received, &self.settings.retry_policy());
        settle_outbox(self.store.as_ref(), &updates).await?;
        report.pushed += answer.processed_count;
        report.conflicts += answer.conflicts.len() as u64;
        report.waiting += answer.dependency_conflicts.len() as u64;
        for update in &updates {
            match update {
                OutboxUpdate::Update(entry) if entry.state == OutboxState::Parked => {
                    report.parked += 1
                }
                OutboxUpdate::Restamp(entry) => {
                    self.restamp(entry).await?;
                    report.restamped += 1;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Sends at most half of `sent_bytes` per batch from now on (not below
    /// [`MIN_BATCH_BYTES`]).
    fn shrink_batches(&self, sent_bytes: u64) {
        let current = self.batch_limit.load(Ordering::Relaxed);
        let smaller = (sent_bytes.min(current) / 2).max(MIN_BATCH_BYTES);
        self.batch_limit.store(smaller, Ordering::Relaxed);
        tracing::info!(batch_limit_bytes = smaller, "smaller batches for this link");
    }

    /// After a push that went through, batches grow back towards
    /// `sync_max_payload_size`.
    fn grow_batches(&self) {
        let current = self.batch_limit.load(Ordering::Relaxed);
        let larger = current
            .saturating_mul(2)
            .min(self.settings.sync_max_payload_size);
        self.batch_limit.store(larger, Ordering::Relaxed);
    }

    /// The largest batch the engine sends now, bytes.
    pub fn batch_limit(&self) -> u64 {
        self.batch_limit.load(Ordering::Relaxed)
    }

    /// Parked changes whose rest is over go back to the retry queue with
    /// their attempts kept: a change that fails again is parked again at
    /// once, for another rest. Returns how many were revived.
    async fn revive_parked(&self, now: Timestamp) -> Result<u64, SyncError> {
        // a count first: the whole outbox is read only when something is
        // parked (a station's first push may queue tens of thousands)
        if self.store.outbox_summary().await?.parked == 0 {
            return Ok(0);
        }
        let due: Vec<OutboxEntry> = self
            .store
            .outbox_entries()
            .await?
            .into_iter()
            .filter(|entry| {
                entry.state == OutboxState::Parked
                    && entry.next_attempt_at.map_or(true, |at| at <= now)
            })
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let mut tx = self.store.begin().await?;
        for entry in &due {
            tx.update_outbox(&OutboxEntry {
                state: OutboxState::Retry,
                next_attempt_at: Some(now),
                ..entry.clone()
            })
            .await?;
        }
        tx.commit().await?;
        tracing::info!(
            changes = due.len(),
            "retrying parked changes after their rest"
        );
        Ok(due.len() as u64)
    }

    /// Stamps a record refused for clock skew again with the corrected
    /// clock, keeping its attempt count.
    async fn restamp(&self, entry: &OutboxEntry) -> Result<(), SyncError> {
        let decl = self
            .registry
            .entity(entry.entity_type)
            .map_err(StoreError::from)?;
        let Some(mut record) = self.store.get_record(decl, entry.entity_id).await? else {
            return Ok(());
        };
        let stamp = self.state.next_stamp().await?;
        record.set_version_time(stamp).map_err(StoreError::from)?;
        let ids = write_local(self.store.as_ref(), self.registry, &[record]).await?;
        let mut tx = self.store.begin().await?;
        tx.update_outbox(&OutboxEntry {
            change_id: ids[0],
            state: OutboxState::Pending,
            ..entry.clone()
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pulls up to `sync_max_pull_pages` pages from the stored cursor, each
    /// page applied with its cursor in one transaction.
    async fn pull_pages(
        &self,
        token: &str,
        report: &mut SyncReport,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<(), SyncError> {
        let actor = self.state.login().await?.map(|login| login.user_id);
        let replica = ReplicaContext {
            registry: self.registry,
            audit: self.audit.as_ref(),
            actor,
        };
        let limit = usize::try_from(self.settings.sync_pull_page_size).unwrap_or(100);
        // what this phase's requests tell the server of the station
        let station = self.station_report().await?;
        for _ in 0..self.settings.sync_max_pull_pages {
            let cursor = self.state.cursor().await?;
            let from = PullFrom::Cursor(
                cursor
                    .as_deref()
                    .map(decode_cursor)
                    .transpose()
                    .map_err(StoreError::from)?,
            );
            let page = match self
                .transport
                .pull(token, from, limit, Some(&station))
                .await
            {
                Err(TransportError::Refused { code, message, .. }) if code == "cursor_ahead" => {
                    // the server's log is behind our cursor (restored from a
                    // backup, or another database): start over; applying a
                    // page again is harmless under the merge rule
                    tracing::warn!(%message, "the server does not know our cursor; pulling from the beginning");
                    self.state.reset_cursor().await?;
                    self.transport
                        .pull(token, PullFrom::Cursor(None), limit, Some(&station))
                        .await?
                }
                other => other?,
            };
            let received = self.state.clock().wall();
            let next = page
                .next_cursor
                .clone()
                .unwrap_or_else(|| cursor.clone().unwrap_or_else(|| encode_cursor(0)));
            let applied = apply_pulled_page(
                self.store.as_ref(),
                &replica,
                &PulledPage {
                    changes: &page.changes,
                    cursor_key: state::CURSOR,
                    cursor: &next,
                },
                received,
            )
            .await?;
            if let Some(latest) = applied.latest_stamp {
                self.state.observe(latest).await?;
            }
            report.pages += 1;
            report.pulled += page.changes.len() as u64;
            report.local_conflicts += applied.conflicts as u64;
            report.more_to_pull = page.has_more;
            progress(PullProgress {
                pages: report.pages,
                pulled: report.pulled,
                remaining: page
                    .total_available
                    .map(|total| total.saturating_sub(page.changes.len() as u64)),
            });
            if !page.has_more {
                break;
            }
        }
        Ok(())
    }

    /// Syncs every `sync_interval_seconds` until `shutdown` completes;
    /// a failure that may pass (no answer, a transient answer, a
    /// throttled or timed-out push) backs off exponentially with jitter,
    /// and never less than the server's `Retry-After`. `on_cycle` hears of
    /// every cycle and when the next one starts.
    pub async fn run(
        &self,
        password: Option<&str>,
        on_cycle: &(dyn Fn(CycleOutcome<'_>) + Sync),
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut failures: u32 = 0;
        loop {
            let wait = if !self.settings.sync_enabled {
                self.settings.sync_interval_seconds as f64
            } else {
                let result = self.sync_once_with(password, &|_| {}).await;
                let wait = match &result {
                    Ok(report) if report.more_to_pull => {
                        failures = 0;
                        0.0
                    }
                    Ok(_) => {
                        failures = 0;
                        self.settings.sync_interval_seconds as f64
                    }
                    Err(error) if error.is_retryable() => {
                        failures += 1;
                        let delay = self.settings.backoff_seconds(failures, jitter());
                        let asked = error.retry_after().unwrap_or(0) as f64;
                        tracing::warn!(%error, failures, retry_in_seconds = delay.max(asked), "sync failed; backing off");
                        delay.max(asked)
                    }
                    Err(error) => {
                        tracing::error!(%error, "sync failed");
                        self.settings.sync_interval_seconds as f64
                    }
                };
                on_cycle(CycleOutcome {
                    result: result.as_ref(),
                    next_in_seconds: wait,
                });
                wait
            };
            tokio::select! {
                _ = &mut shutdown => {
                    tracing::info!("sync loop stopped");
                    return;
                }
                _ = tokio::time::sleep(std::time::Duration::from_secs_f64(wait)) => {}
            }
        }
    }

    /// Sets parked entries back to pending (all, or those of `change_ids`).
    pub async fn requeue(&self, change_ids: Option<&[Uuid]>) -> Result<u64, SyncError> {
        let mut tx = self.store.begin().await?;
        let count = tx.requeue_parked(change_ids).await?;
        tx.commit().await?;
        Ok(count)
    }
}

/// A number in [0, 1) from the OS random source.
fn jitter() -> f64 {
    (Uuid::new_v4().as_u128() as u64 >> 11) as f64 / (1u64 << 53) as f64
}
