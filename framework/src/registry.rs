//! The entity registry: every submitted [`EntityRegistration`], checked once
//! and kept in dependency order.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::decl::EntityDecl;
use crate::error::Error;
use crate::order::dependency_order;
use crate::record::Record;
use crate::syncable::EntityRegistration;

/// The checked set of entities, parents first.
#[derive(Debug)]
pub struct Registry {
    entries: Vec<EntityRegistration>,
    position: HashMap<&'static str, usize>,
}

impl Registry {
    /// The registry of every entity submitted in this program, built and
    /// checked on first use. An error (duplicate names, unknown parents,
    /// a cycle) is returned on every call: programs call this at start-up.
    pub fn global() -> Result<&'static Registry, Error> {
        static GLOBAL: OnceLock<Result<Registry, Error>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Registry::new(inventory::iter::<EntityRegistration>().copied()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A registry of exactly these entities.
    pub fn new(registrations: impl IntoIterator<Item = EntityRegistration>) -> Result<Self, Error> {
        let registrations: Vec<EntityRegistration> = registrations.into_iter().collect();
        let decls: Vec<&'static EntityDecl> =
            registrations.iter().map(|entry| entry.decl).collect();
        let ordered = dependency_order(&decls)?;
        let entries: Vec<EntityRegistration> = ordered
            .iter()
            .map(|decl| {
                *registrations
                    .iter()
                    .find(|entry| std::ptr::eq(entry.decl, *decl))
                    .expect("every ordered declaration came from a registration")
            })
            .collect();
        let position = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.decl.name, index))
            .collect();
        tracing::debug!(order = ?entries.iter().map(|e| e.decl.name).collect::<Vec<_>>(), "entity registry ready");
        Ok(Registry { entries, position })
    }

    /// Every entity's declaration, parents first.
    pub fn entities(&self) -> impl ExactSizeIterator<Item = &'static EntityDecl> + '_ {
        self.entries.iter().map(|entry| entry.decl)
    }

    /// Every wire name, parents first.
    pub fn names(&self) -> Vec<&'static str> {
        self.entities().map(|decl| decl.name).collect()
    }

    /// The declaration of the entity with this wire name.
    pub fn entity(&self, name: &str) -> Result<&'static EntityDecl, Error> {
        self.position
            .get(name)
            .map(|index| self.entries[*index].decl)
            .ok_or_else(|| Error::UnknownEntity {
                name: name.to_owned(),
                known: self.names(),
            })
    }

    /// The entity's place in the dependency order (0 first).
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.position.get(name).copied()
    }

    /// Decodes and checks a record sent as JSON text: the entity must be
    /// known, every field present with its declared type, and the entity's
    /// own rules must hold.
    pub fn decode(&self, entity_type: &str, data: &str) -> Result<Record, Error> {
        let index = *self
            .position
            .get(entity_type)
            .ok_or_else(|| Error::UnknownEntity {
                name: entity_type.to_owned(),
                known: self.names(),
            })?;
        let entry = &self.entries[index];
        let record = Record::from_json_str(entry.decl, data)?;
        let mut typed_input = serde_json::Deserializer::from_str(data);
        let typed = (entry.decode)(&mut <dyn erased_serde::Deserializer>::erase(
            &mut typed_input,
        ))
        .map_err(|error| Error::Invalid {
            entity: entry.decl.name,
            message: error.to_string(),
        })?;
        typed.validate().map_err(|message| Error::Invalid {
            entity: entry.decl.name,
            message,
        })?;
        Ok(record)
    }
}
