//! How a server sorts and applies one push (PROTOCOL.md §3): every change
//! into exactly one bucket, everything applied in one transaction.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::audit::{AuditEvent, AuditTrail};
use crate::auth::{Principal, Role};
use crate::conflict::{decide, Decision, Merged};
use crate::decl::{ScopeDecl, ADMIN_ONLY_SCOPE};
use crate::record::{FieldValue, Record};
use crate::registry::Registry;
use crate::scope::{RecordIndex, RecordKey, Scope};
use crate::store::{LogEntry, Login, PushTransaction, SeenOutcome, ServerStore, StoreError};
use crate::timestamp::Timestamp;
use crate::wire::{
    DependencyConflict, EntityChange, EntityRef, FailedChange, FailureReason, Operation,
    SyncPushRequest, SyncPushResponse,
};

/// Default `max_clock_skew`: five minutes.
pub const DEFAULT_MAX_CLOCK_SKEW_MICROS: i64 = 300 * 1_000_000;

/// Changes handled between two yields of the CPU-bound steps that run
/// beside the store's statements.
const YIELD_EVERY: usize = 128;

/// What a push needs besides the store and the request.
pub struct PushContext<'a> {
    /// The entities.
    pub registry: &'a Registry,
    /// Builds the audit rows of conflicts and duplicate marks.
    pub audit: &'a dyn AuditTrail,
    /// How far ahead of the server's clock a change may be stamped.
    pub max_clock_skew_micros: i64,
    /// Whether credentials are taken from the records (the server's own
    /// user commands); a client's push never sets one (PROTOCOL.md §2).
    pub accept_credentials: bool,
    /// Log-ins being created along with this push (the server's `user
    /// add`): a user record's scope is read from these before the store's.
    pub new_logins: &'a [Login],
}

/// The bucket one change was sorted into.
#[derive(Debug, Clone, PartialEq)]
enum Bucket {
    Processed,
    Conflict,
    Dependency(Vec<EntityRef>),
    Failed(FailureReason, String),
}

/// A change that decoded, waiting to be sorted against the store.
#[derive(Clone)]
struct Candidate {
    index: usize,
    rank: usize,
    record: Record,
}

/// A request decoded and checked against everything that needs no store:
/// the changes that may apply, and the buckets of those refused already.
#[derive(Clone)]
struct PreparedPush {
    buckets: Vec<Option<Bucket>>,
    candidates: Vec<Candidate>,
}

/// Decodes and checks every change of `request` (CPU only, yielding now
/// and then so the store's statements go out).
async fn prepare(
    context: &PushContext<'_>,
    request: &SyncPushRequest,
    now: Timestamp,
) -> PreparedPush {
    let mut buckets: Vec<Option<Bucket>> = vec![None; request.changes.len()];
    let mut candidates = Vec::new();
    for (index, change) in request.changes.iter().enumerate() {
        if index % YIELD_EVERY == YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
        match check_change(context, change, now) {
            Ok(record) => candidates.push(Candidate {
                index,
                rank: context
                    .registry
                    .rank(&change.entity_type)
                    .unwrap_or(usize::MAX),
                record,
            }),
            Err(failed) => buckets[index] = Some(failed),
        }
    }
    PreparedPush {
        buckets,
        candidates,
    }
}

/// Sorts and applies `request` for `principal` in one transaction of
/// `store`. Any store error rolls everything back and is returned.
pub async fn apply_push(
    store: &dyn ServerStore,
    context: &PushContext<'_>,
    principal: &Principal,
    request: &SyncPushRequest,
    now: Timestamp,
) -> Result<SyncPushResponse, StoreError> {
    if request.changes.is_empty() {
        // nothing to sort: answer with the clock, without taking the lock
        return Ok(response(request, Vec::new(), now));
    }
    // The store opens the transaction while this task decodes the records:
    // the two run on different threads.
    let (opened, prepared) = tokio::join!(store.begin_push(), prepare(context, request, now));
    let mut tx = opened?;
    let item = GroupItem {
        principal,
        request,
        prepared,
        now,
    };
    let answer = apply_in(store, &mut tx, context, vec![item]).await?;
    tx.commit().await?;
    Ok(answer.into_iter().next().expect("one answer per request"))
}

/// The pushes of one server process, committed in groups (group commit):
/// while one group's transaction runs, the pushes that arrive wait in
/// memory, not on a database connection; the next group applies them one
/// after another in one transaction and commits once, so a burst of small
/// pushes costs one turn of the log's head lock and one flush to disk, not
/// one each. Each push is sorted exactly as it would be alone (it sees the
/// writes of those before it). When a group fails, each of its pushes is
/// applied again alone, so one push's failure never becomes another's.
///
/// One queue serves one server: every caller passes the same context.
#[derive(Default)]
pub struct PushQueue {
    waiting: std::sync::Mutex<Vec<QueuedPush>>,
    turn: tokio::sync::Mutex<()>,
}

/// A push waiting for its group.
struct QueuedPush {
    principal: Principal,
    request: std::sync::Arc<SyncPushRequest>,
    prepared: PreparedPush,
    now: Timestamp,
    answer: tokio::sync::oneshot::Sender<Result<SyncPushResponse, StoreError>>,
}

impl PushQueue {
    /// Sorts and applies `request` for `principal` with the next group;
    /// answers as [`apply_push`] would.
    pub async fn apply(
        &self,
        store: &dyn ServerStore,
        context: &PushContext<'_>,
        principal: &Principal,
        request: std::sync::Arc<SyncPushRequest>,
        now: Timestamp,
    ) -> Result<SyncPushResponse, StoreError> {
        if request.changes.is_empty() {
            return Ok(response(&request, Vec::new(), now));
        }
        let prepared = prepare(context, &request, now).await;
        loop {
            let (answer, mut answered) = tokio::sync::oneshot::channel();
            self.waiting
                .lock()
                .expect("push queue lock")
                .push(QueuedPush {
                    principal: principal.clone(),
                    request: request.clone(),
                    prepared: prepared.clone(),
                    now,
                    answer,
                });
            let turn = self.turn.lock().await;
            // an earlier group may have taken this push and answered it
            if let Ok(result) = answered.try_recv() {
                return result;
            }
            let group = std::mem::take(&mut *self.waiting.lock().expect("push queue lock"));
            if !group.is_empty() {
                apply_group(store, context, group).await;
            }
            drop(turn);
            match answered.await {
                Ok(result) => return result,
                // the task leading its group was cancelled before answering:
                // nothing of the group was committed, so queue it again
                Err(_) => continue,
            }
        }
    }
}

/// Applies a group in one transaction, or each of its pushes alone when
/// that fails, and answers each.
async fn apply_group(store: &dyn ServerStore, context: &PushContext<'_>, group: Vec<QueuedPush>) {
    if group.len() > 1 {
        match apply_together(store, context, &group).await {
            Ok(answers) => {
                for (queued, answer) in group.into_iter().zip(answers) {
                    let _ = queued.answer.send(Ok(answer));
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, pushes = group.len(), "a group of pushes failed; applying each alone");
            }
        }
    }
    for queued in group {
        let result = async {
            let mut tx = store.begin_push().await?;
            let item = GroupItem {
                principal: &queued.principal,
                request: &queued.request,
                prepared: queued.prepared,
                now: queued.now,
            };
            let answer = apply_in(store, &mut tx, context, vec![item]).await?;
            tx.commit().await?;
            Ok(answer.into_iter().next().expect("one answer per request"))
        }
        .await;
        let _ = queued.answer.send(result);
    }
}

/// Every push of a group in one transaction, committed once.
async fn apply_together(
    store: &dyn ServerStore,
    context: &PushContext<'_>,
    group: &[QueuedPush],
) -> Result<Vec<SyncPushResponse>, StoreError> {
    let mut tx = store.begin_push().await?;
    let items = group
        .iter()
        .map(|queued| GroupItem {
            principal: &queued.principal,
            request: &queued.request,
            prepared: queued.prepared.clone(),
            now: queued.now,
        })
        .collect();
    let answers = apply_in(store, &mut tx, context, items).await?;
    tx.commit().await?;
    Ok(answers)
}

/// One prepared request of a group, with who sent it and when.
struct GroupItem<'r> {
    principal: &'r Principal,
    request: &'r SyncPushRequest,
    prepared: PreparedPush,
    now: Timestamp,
}

/// Sorts and applies prepared requests, in order, inside `tx`: each is
/// sorted exactly as if it were applied alone after those before it (it
/// sees their writes and their change ids), while the group's reads and
/// writes go to the store together — one lookup of the change ids, of the
/// stored records and their parents, of the natural keys, and one write of
/// the records, the log and the remembered ids for the lot.
async fn apply_in(
    store: &dyn ServerStore,
    tx: &mut Box<dyn PushTransaction>,
    context: &PushContext<'_>,
    items: Vec<GroupItem<'_>>,
) -> Result<Vec<SyncPushResponse>, StoreError> {
    let head = tx.head();
    let latest_now = items
        .iter()
        .map(|item| item.now)
        .max()
        .unwrap_or(head.received_at);
    let received_at = latest_now.max(head.received_at.plus_micros(1));
    let incoming_records: Vec<&Record> = items
        .iter()
        .flat_map(|item| item.prepared.candidates.iter())
        .map(|candidate| &candidate.record)
        .collect();
    let incoming = || incoming_records.iter().copied();

    let mut known = RecordIndex::default();
    let keys: Vec<RecordKey> = incoming().map(|r| (r.entity().name, r.id())).collect();
    known.load(tx.as_mut(), context.registry, keys).await?;
    known
        .load_parents(tx.as_mut(), context.registry, incoming())
        .await?;
    let principals = known.principals(incoming());
    for user in principals {
        let scope = principal_scope(store, context.new_logins, &user).await?;
        known.set_principal_scope(user.id(), scope);
    }
    let claims = crate::natural_key::Claims::load(tx.as_mut(), incoming()).await?;
    let change_ids: Vec<Uuid> = items
        .iter()
        .flat_map(|item| item.request.changes.iter().map(|change| change.change_id))
        .collect();
    // only a record already stored can have a log entry carrying a change
    let mut stored_records: Vec<Uuid> = incoming()
        .map(|record| (record.entity().name, record.id()))
        .filter(|key| known.contains(key))
        .map(|key| key.1)
        .collect();
    stored_records.sort_unstable();
    stored_records.dedup();
    let mut seen = tx.seen_changes(&change_ids, &stored_records).await?;

    let mut writes = Writes::new(received_at, claims);
    let mut remembered = Vec::new();
    let mut responses = Vec::with_capacity(items.len());
    for item in items {
        let GroupItem {
            principal,
            request,
            prepared,
            now,
        } = item;
        let PreparedPush {
            mut buckets,
            mut candidates,
        } = prepared;
        // Replays: a change id sorted before gets the same answer, and
        // nothing is done again. A change id repeated inside the request is
        // sorted once.
        let mut first_of_id: HashMap<Uuid, usize> = HashMap::new();
        let mut repeats = Vec::new();
        candidates.retain(|candidate| {
            let change_id = request.changes[candidate.index].change_id;
            if let Some(outcome) = seen.get(&change_id) {
                buckets[candidate.index] = Some(match outcome {
                    SeenOutcome::Processed => Bucket::Processed,
                    SeenOutcome::Conflict => Bucket::Conflict,
                });
                return false;
            }
            match first_of_id.get(&change_id) {
                Some(first) => {
                    repeats.push((candidate.index, *first));
                    false
                }
                None => {
                    first_of_id.insert(change_id, candidate.index);
                    true
                }
            }
        });
        candidates.sort_by_key(|candidate| (candidate.rank, candidate.index));
        let in_batch: std::collections::HashSet<RecordKey> = candidates
            .iter()
            .map(|c| (c.record.entity().name, c.record.id()))
            .collect();
        for candidate in &candidates {
            let change = &request.changes[candidate.index];
            let bucket = sort_change(
                context,
                principal,
                change,
                &candidate.record,
                &mut known,
                &in_batch,
                &mut writes,
            );
            buckets[candidate.index] = Some(bucket);
        }
        for (repeat, first) in repeats {
            buckets[repeat] = buckets[first].clone();
        }
        for (change_id, index) in first_of_id {
            let outcome = match buckets[index] {
                Some(Bucket::Processed) => SeenOutcome::Processed,
                Some(Bucket::Conflict) => SeenOutcome::Conflict,
                _ => continue,
            };
            seen.insert(change_id, outcome);
            remembered.push((change_id, outcome));
        }
        responses.push(response(request, buckets, now));
    }
    // a change logged as its record's version is answered by its entry
    let logged = writes.logged_change_ids();
    remembered.retain(|(change_id, outcome)| {
        *outcome != SeenOutcome::Processed || !logged.contains(change_id)
    });
    writes.flush(context, tx, head.receive_seq).await?;
    tx.remember_changes(&remembered).await?;
    Ok(responses)
}

/// The checks that need no store: a known entity, a decodable record
/// agreeing with its envelope, a stamp not too far ahead.
fn check_change(
    context: &PushContext<'_>,
    change: &EntityChange,
    now: Timestamp,
) -> Result<Record, Bucket> {
    let invalid = |message: String| Bucket::Failed(FailureReason::Invalid, message);
    let record = context
        .registry
        .decode(&change.entity_type, change.data.get())
        .map_err(|error| invalid(error.to_string()))?;
    if record.id() != change.entity_id {
        return Err(invalid(format!(
            "entity_id {} differs from data.id {}",
            change.entity_id,
            record.id()
        )));
    }
    if record.version_time() != change.timestamp {
        return Err(invalid(format!(
            "timestamp {} differs from data.{} {}",
            change.timestamp,
            record.entity().version_field(),
            record.version_time()
        )));
    }
    let limit = now.plus_micros(context.max_clock_skew_micros);
    if record.version_time() > limit {
        return Err(Bucket::Failed(
            FailureReason::ClockSkew,
            format!(
                "stamped {} but the server's clock reads {now}; more than {} s ahead",
                record.version_time(),
                context.max_clock_skew_micros / 1_000_000
            ),
        ));
    }
    Ok(record)
}

/// Sorts one decoded change against the current versions, queuing what it
/// writes.
fn sort_change(
    context: &PushContext<'_>,
    principal: &Principal,
    change: &EntityChange,
    record: &Record,
    known: &mut RecordIndex,
    in_batch: &std::collections::HashSet<RecordKey>,
    writes: &mut Writes,
) -> Bucket {
    let entity = record.entity();
    let key = (entity.name, record.id());
    let missing: Vec<EntityRef> = record
        .references()
        .filter(|(_, parent, id)| {
            let parent_key = (*parent, *id);
            let same_entity_in_batch = *parent == entity.name && in_batch.contains(&parent_key);
            !known.contains(&parent_key) && !same_entity_in_batch
        })
        .map(|(_, parent, id)| EntityRef {
            entity_type: parent.to_owned(),
            entity_id: id,
        })
        .collect();
    if !missing.is_empty() {
        return Bucket::Dependency(missing);
    }

    let stored = known.get(&key).cloned();
    let record: &Record = &with_stored_credentials(context, record, stored.as_ref());
    if stored.as_ref() == Some(record) {
        // the server holds exactly this: nothing to write, whoever sends it
        // (a desktop's first push of rows it shares with the server)
        return Bucket::Processed;
    }
    if let Some(refusal) = authorize(principal, record, stored.as_ref(), known, context.registry) {
        return Bucket::Failed(FailureReason::Forbidden, refusal);
    }
    if let Some((key, holder)) = writes.claims.holder(record) {
        return Bucket::Failed(
            FailureReason::Invalid,
            crate::natural_key::breach_message(record, key, holder),
        );
    }
    if let Some(stored) = &stored {
        if entity.append_only
            && stored != record
            && !is_admin_tombstoning(principal, stored, record)
        {
            return Bucket::Failed(
                FailureReason::Immutable,
                format!(
                    "{} records are append-only; only an admin may tombstone one",
                    entity.name
                ),
            );
        }
    }

    let Some(stored) = stored else {
        writes.record(
            context,
            known,
            record.clone(),
            change.change_id,
            change.operation,
        );
        return Bucket::Processed;
    };
    match decide(&stored, record) {
        Decision::Identical => Bucket::Processed,
        Decision::Apply(merged) => {
            writes.audit_duplicates(context, principal, known, &merged);
            writes.record(
                context,
                known,
                merged.record,
                change.change_id,
                change.operation,
            );
            Bucket::Processed
        }
        Decision::Conflict(merged) => {
            writes.audit(
                context,
                known,
                AuditEvent::SyncConflict {
                    winner: &stored,
                    loser: record,
                },
                principal,
            );
            writes.audit_duplicates(context, principal, known, &merged);
            // Re-log the winner so the loser's replica pulls it even when
            // its cursor is past the winner's first position.
            writes.record(
                context,
                known,
                merged.record,
                Uuid::now_v7(),
                Operation::Update,
            );
            Bucket::Conflict
        }
    }
}

/// `record` with the credentials the server holds (those of `stored`, or
/// the locked value for a new record) in place of the pushed ones, unless
/// the context accepts credentials.
fn with_stored_credentials<'r>(
    context: &PushContext<'_>,
    record: &'r Record,
    stored: Option<&Record>,
) -> std::borrow::Cow<'r, Record> {
    if context.accept_credentials || record.entity().credential_fields().next().is_none() {
        return std::borrow::Cow::Borrowed(record);
    }
    let mut record = record.clone();
    for field in record.entity().credential_fields() {
        let kept = stored
            .and_then(|stored| stored.get(field.name))
            .cloned()
            .unwrap_or_else(|| {
                crate::record::FieldValue::Text(crate::decl::LOCKED_CREDENTIAL.to_owned())
            });
        record
            .set(field.name, kept)
            .expect("a credential keeps its declared type");
    }
    std::borrow::Cow::Owned(record)
}

/// The scope of a user record ([`ScopeDecl::Principal`]): global for the
/// admin role, else the pens its log-in lists (one of `new_logins`, being
/// created with this push, first), else admins only.
pub(crate) async fn principal_scope(
    store: &dyn ServerStore,
    new_logins: &[Login],
    user: &Record,
) -> Result<Scope, StoreError> {
    let ScopeDecl::Principal {
        username,
        role,
        admin,
    } = user.entity().scope
    else {
        return Ok(Scope::Global);
    };
    let text = |field| match user.get(field) {
        Some(FieldValue::Text(text)) => Some(text.as_str()),
        _ => None,
    };
    if text(role) == Some(admin) {
        return Ok(Scope::Global);
    }
    let Some(name) = text(username) else {
        return Ok(Scope::key(ADMIN_ONLY_SCOPE));
    };
    let login = match new_logins.iter().find(|login| login.username == name) {
        Some(login) => Some(login.clone()),
        None => store.login(name).await?,
    };
    Ok(match login {
        Some(login) if login.user_id == user.id() && !login.pens.is_empty() => {
            Scope::Keys(login.pens)
        }
        _ => Scope::key(ADMIN_ONLY_SCOPE),
    })
}

/// Why `principal` may not write `record` (over `stored`), if it may not.
fn authorize(
    principal: &Principal,
    record: &Record,
    stored: Option<&Record>,
    known: &RecordIndex,
    registry: &Registry,
) -> Option<String> {
    if principal.role == Role::Admin {
        return None;
    }
    let entity = record.entity();
    if record.is_tombstone() && stored.map(Record::deleted_at) != Some(record.deleted_at()) {
        return Some("only an admin may soft-delete (set deleted_at)".to_owned());
    }
    let owns = |version: &Record| {
        entity
            .owner_field
            .and_then(|field| version.get(field))
            .and_then(crate::record::FieldValue::as_uuid)
            == Some(principal.user_id)
    };
    if matches!(entity.scope, ScopeDecl::Principal { .. }) {
        return Some(format!(
            "{} {} is a user; only an admin may write it",
            entity.name,
            record.id()
        ));
    }
    for version in std::iter::once(record).chain(stored) {
        let scope = known.scope_of(version, registry);
        if scope.is_unplaced() && owns(version) {
            continue;
        }
        let refused = match &scope {
            Scope::Global => Some(format!(
                "{} {} is global; only an admin may write it",
                entity.name,
                version.id()
            )),
            Scope::Keys(keys) => keys
                .iter()
                .find(|key| !principal.pens.contains(key))
                .map(|pen| {
                    format!(
                        "{} {} belongs to pen {pen}, which this token does not list",
                        entity.name,
                        version.id()
                    )
                }),
        };
        if refused.is_some() {
            return refused;
        }
    }
    None
}

/// Whether the only change from `stored` to `record` is an admin setting
/// the tombstone (the one edit an append-only record allows).
fn is_admin_tombstoning(principal: &Principal, stored: &Record, record: &Record) -> bool {
    const TOMBSTONE_EDIT: [&str; 3] = ["updated_at", "deleted_at", "deleted_by"];
    principal.role == Role::Admin
        && record.is_tombstone()
        && record
            .entity()
            .all_fields()
            .filter(|field| !TOMBSTONE_EDIT.contains(&field.name))
            .all(|field| stored.get(field.name) == record.get(field.name))
}

/// Everything a push writes, collected while sorting and flushed with
/// set-based statements at the end.
struct Writes {
    received_at: Timestamp,
    /// The last version of each record written, by entity, in first-write
    /// order.
    records: BTreeMap<&'static str, (Vec<Uuid>, HashMap<Uuid, Record>)>,
    /// One log entry per record written: its first write's position and
    /// operation, its last version's change id, scope and state.
    log: Vec<(Uuid, Operation, Scope, Record)>,
    /// Where each record's entry is in `log`.
    logged: HashMap<RecordKey, usize>,
    /// The records stored before this push that it writes, by entity: their
    /// earlier log entries are superseded.
    superseding: BTreeMap<&'static str, Vec<Uuid>>,
    /// Who holds each natural key, as stored and as written so far.
    claims: crate::natural_key::Claims,
}

impl Writes {
    fn new(received_at: Timestamp, claims: crate::natural_key::Claims) -> Self {
        Writes {
            received_at,
            records: BTreeMap::new(),
            log: Vec::new(),
            logged: HashMap::new(),
            superseding: BTreeMap::new(),
            claims,
        }
    }

    fn record(
        &mut self,
        context: &PushContext<'_>,
        known: &mut RecordIndex,
        record: Record,
        change_id: Uuid,
        operation: Operation,
    ) {
        let key = (record.entity().name, record.id());
        let (order, latest) = self.records.entry(key.0).or_default();
        if latest.insert(key.1, record.clone()).is_none() {
            order.push(key.1);
            if known.contains(&key) {
                self.superseding.entry(key.0).or_default().push(key.1);
            }
        }
        if !record.entity().natural_keys.is_empty() {
            self.claims.update(known.get(&key), &record);
        }
        known.insert(record.clone());
        let scope = known.scope_of(&record, context.registry);
        match self.logged.get(&key) {
            // a record written twice in one push keeps one entry: parents
            // still come before the children written after them
            Some(&at) => {
                let first_operation = self.log[at].1;
                self.log[at] = (change_id, first_operation, scope, record);
            }
            None => {
                self.logged.insert(key, self.log.len());
                self.log.push((change_id, operation, scope, record));
            }
        }
    }

    fn audit(
        &mut self,
        context: &PushContext<'_>,
        known: &mut RecordIndex,
        event: AuditEvent<'_>,
        principal: &Principal,
    ) {
        let row = context
            .audit
            .record(event, Some(principal.user_id), self.received_at);
        self.record(context, known, row, Uuid::now_v7(), Operation::Insert);
    }

    fn audit_duplicates(
        &mut self,
        context: &PushContext<'_>,
        principal: &Principal,
        known: &mut RecordIndex,
        merged: &Merged,
    ) {
        for mark in &merged.duplicate_marks {
            let event = AuditEvent::DuplicateMark {
                record: &merged.record,
                mark,
            };
            self.audit(context, known, event, principal);
        }
    }

    /// The change ids the log entries of this push carry.
    fn logged_change_ids(&self) -> std::collections::HashSet<Uuid> {
        self.log.iter().map(|(change_id, ..)| *change_id).collect()
    }

    async fn flush(
        self,
        context: &PushContext<'_>,
        tx: &mut Box<dyn PushTransaction>,
        head_seq: i64,
    ) -> Result<(), StoreError> {
        let Writes {
            received_at,
            mut records,
            log,
            superseding,
            ..
        } = self;
        let upserts = async {
            for entity in context.registry.entities() {
                if let Some((order, mut latest)) = records.remove(entity.name) {
                    let batch: Vec<Record> =
                        order.iter().filter_map(|id| latest.remove(id)).collect();
                    tx.upsert_records(entity, &batch).await?;
                }
            }
            Ok::<_, StoreError>(())
        };
        // the log rows' JSON is written while the store upserts
        // one entry per scope key a record is in (a user of two pens is
        // logged in each)
        let entries = async {
            let mut entries = Vec::with_capacity(log.len());
            let mut receive_seq = head_seq;
            for (n, (change_id, operation, scope, record)) in log.iter().enumerate() {
                if n % YIELD_EVERY == YIELD_EVERY - 1 {
                    tokio::task::yield_now().await;
                }
                let data = record.to_json_string();
                for key in scope.log_keys() {
                    receive_seq += 1;
                    entries.push(LogEntry {
                        receive_seq,
                        received_at,
                        change_id: *change_id,
                        entity_type: record.entity().name.to_owned(),
                        entity_id: record.id(),
                        operation: *operation,
                        scope: key,
                        data: data.clone(),
                    });
                }
            }
            entries
        };
        let (upserted, entries) = tokio::join!(upserts, entries);
        upserted?;
        for (entity_type, ids) in &superseding {
            tx.supersede_log(entity_type, ids, None).await?;
        }
        if !entries.is_empty() {
            tx.append_log(&entries).await?;
        }
        Ok(())
    }
}

fn response(
    request: &SyncPushRequest,
    buckets: Vec<Option<Bucket>>,
    now: Timestamp,
) -> SyncPushResponse {
    let mut response = SyncPushResponse {
        processed_count: 0,
        conflicts: Vec::new(),
        dependency_conflicts: Vec::new(),
        failed_changes: Vec::new(),
        server_timestamp: now,
    };
    for (change, bucket) in request.changes.iter().zip(buckets) {
        match bucket.expect("every change is sorted") {
            Bucket::Processed => response.processed_count += 1,
            Bucket::Conflict => response.conflicts.push(change.clone()),
            Bucket::Dependency(missing) => response.dependency_conflicts.push(DependencyConflict {
                change: change.clone(),
                missing,
            }),
            Bucket::Failed(reason, message) => response.failed_changes.push(FailedChange {
                change: change.clone(),
                reason,
                message,
            }),
        }
    }
    response
}
