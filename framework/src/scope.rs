//! Records known during one transaction, loaded set-based, and the scope
//! key of a record derived from its entity's [`ScopeDecl`].

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use crate::decl::{ScopeDecl, ADMIN_ONLY_SCOPE};
use crate::record::{FieldValue, Record};
use crate::registry::Registry;
use crate::store::{RecordTransaction, StoreError};

/// The identity of a record: entity wire name and id.
pub type RecordKey = (&'static str, Uuid);

/// Where a record belongs: everyone's, or the scope keys (pens) it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every replica pulls it.
    Global,
    /// Replicas of these scope keys pull it (one or more; the admins-only
    /// key [`ADMIN_ONLY_SCOPE`] for a record no pen may see).
    Keys(Vec<Uuid>),
}

impl Scope {
    /// A record in one scope key.
    pub fn key(key: Uuid) -> Self {
        Scope::Keys(vec![key])
    }

    /// The log's scope column for each entry the record takes: `None` once
    /// for a global record, each key otherwise.
    pub fn log_keys(&self) -> Vec<Option<Uuid>> {
        match self {
            Scope::Global => vec![None],
            Scope::Keys(keys) => keys.iter().copied().map(Some).collect(),
        }
    }

    /// Whether no pen can see it besides admins (global, or admins only).
    pub fn is_unplaced(&self) -> bool {
        match self {
            Scope::Global => true,
            Scope::Keys(keys) => keys.as_slice() == [ADMIN_ONLY_SCOPE],
        }
    }
}

/// The current version of every record a transaction has loaded or
/// written, and the ids it looked for and did not find.
#[derive(Debug, Default)]
pub struct RecordIndex {
    records: HashMap<RecordKey, Record>,
    absent: HashSet<RecordKey>,
    /// The scope of each principal record (a user), by id, from the
    /// server's log-ins.
    principals: HashMap<Uuid, Scope>,
}

impl RecordIndex {
    /// The current version of a record, if known to exist.
    pub fn get(&self, key: &RecordKey) -> Option<&Record> {
        self.records.get(key)
    }

    /// Whether the record exists (loaded or written here).
    pub fn contains(&self, key: &RecordKey) -> bool {
        self.records.contains_key(key)
    }

    /// Remembers the scope of a principal record (see
    /// [`ScopeDecl::Principal`]).
    pub fn set_principal_scope(&mut self, id: Uuid, scope: Scope) {
        self.principals.insert(id, scope);
    }

    /// Records a new current version.
    pub fn insert(&mut self, record: Record) {
        let key = (record.entity().name, record.id());
        self.absent.remove(&key);
        self.records.insert(key, record);
    }

    /// Loads the records of `keys` not known yet, one query per entity.
    pub async fn load(
        &mut self,
        source: &mut dyn RecordTransaction,
        registry: &Registry,
        keys: impl IntoIterator<Item = RecordKey>,
    ) -> Result<(), StoreError> {
        let mut wanted: BTreeMap<&'static str, Vec<Uuid>> = BTreeMap::new();
        for key in keys {
            if !self.records.contains_key(&key) && !self.absent.contains(&key) {
                wanted.entry(key.0).or_default().push(key.1);
            }
        }
        for (entity, mut ids) in wanted {
            ids.sort_unstable();
            ids.dedup();
            let decl = registry.entity(entity)?;
            for record in source.load_records(decl, &ids).await? {
                self.records.insert((entity, record.id()), record);
            }
            for id in ids {
                if !self.records.contains_key(&(entity, id)) {
                    self.absent.insert((entity, id));
                }
            }
        }
        Ok(())
    }

    /// Loads every parent these records refer to, and the ancestors that
    /// their scopes are inherited from.
    pub async fn load_parents<'r>(
        &mut self,
        source: &mut dyn RecordTransaction,
        registry: &Registry,
        records: impl IntoIterator<Item = &'r Record>,
    ) -> Result<(), StoreError> {
        let mut frontier: Vec<RecordKey> = records
            .into_iter()
            .flat_map(|record| {
                record
                    .references()
                    .map(|(_, parent, id)| (parent, id))
                    .chain(scope_source(record, registry))
            })
            .collect();
        while !frontier.is_empty() {
            self.load(source, registry, frontier.iter().copied())
                .await?;
            frontier = frontier
                .iter()
                .filter_map(|key| self.records.get(key))
                .filter_map(|parent| scope_source(parent, registry))
                .filter(|key| !self.records.contains_key(key) && !self.absent.contains(key))
                .collect();
        }
        Ok(())
    }

    /// The scope of `record`: its own field or id, or the scope of the
    /// record it inherits from or names, or (a user) the pens its log-in
    /// lists. An unknown parent leaves the record global (callers check
    /// references before they ask); a named record that is not known, or a
    /// user whose scope was not looked up, places the record with admins
    /// only ([`ADMIN_ONLY_SCOPE`]).
    pub fn scope_of(&self, record: &Record, registry: &Registry) -> Scope {
        let admins_only = || Scope::key(ADMIN_ONLY_SCOPE);
        let mut current = record;
        // a chain of inherited scopes is at most as long as the entity count
        for _ in 0..64 {
            match current.entity().scope {
                ScopeDecl::Global => return Scope::Global,
                ScopeDecl::Own => return Scope::key(current.id()),
                ScopeDecl::Field(field) => {
                    return match current.get(field).and_then(FieldValue::as_uuid) {
                        Some(key) => Scope::key(key),
                        None => Scope::Global,
                    }
                }
                ScopeDecl::Principal { .. } => {
                    return self
                        .principals
                        .get(&current.id())
                        .cloned()
                        .unwrap_or_else(admins_only)
                }
                ScopeDecl::Parent(_) => {
                    let Some(parent) =
                        scope_source(current, registry).and_then(|key| self.records.get(&key))
                    else {
                        return Scope::Global;
                    };
                    current = parent;
                }
                ScopeDecl::Named { .. } => {
                    let Some(named) =
                        scope_source(current, registry).and_then(|key| self.records.get(&key))
                    else {
                        return admins_only();
                    };
                    current = named;
                }
            }
        }
        Scope::Global
    }

    /// The principal records (users) among the known records and
    /// `incoming`, whose scopes [`scope_of`](Self::scope_of) needs looked up.
    pub fn principals<'r>(&self, incoming: impl IntoIterator<Item = &'r Record>) -> Vec<Record> {
        let mut found: HashMap<Uuid, &Record> = self
            .records
            .values()
            .filter(|record| matches!(record.entity().scope, ScopeDecl::Principal { .. }))
            .map(|record| (record.id(), record))
            .collect();
        // the version being written decides, not the stored one
        for record in incoming {
            if matches!(record.entity().scope, ScopeDecl::Principal { .. }) {
                found.insert(record.id(), record);
            }
        }
        found.into_values().cloned().collect()
    }
}

/// The record a record takes its scope from: the parent it inherits from,
/// or the record it names (when its entity is known).
fn scope_source(record: &Record, registry: &Registry) -> Option<RecordKey> {
    if let ScopeDecl::Named {
        entity_type,
        entity_id,
    } = record.entity().scope
    {
        let FieldValue::Text(name) = record.get(entity_type)? else {
            return None;
        };
        let entity = registry.entity(name).ok()?;
        return record
            .get(entity_id)
            .and_then(FieldValue::as_uuid)
            .map(|id| (entity.name, id));
    }
    let ScopeDecl::Parent(field) = record.entity().scope else {
        return None;
    };
    let parent = record
        .entity()
        .references
        .iter()
        .find(|reference| reference.field == field)?
        .parent;
    record
        .get(field)
        .and_then(FieldValue::as_uuid)
        .map(|id| (parent, id))
}
