//! # jcselect-sync
//!
//! The core of an offline-first sync framework: entities declare themselves
//! through [`Syncable`] and an [`EntityDecl`], submit themselves with
//! [`register_entity!`], and the framework derives from those declarations
//! the dependency order ([`Registry`]), record decoding ([`Record`]), the
//! conflict rule ([`conflict`]) and the local clock ([`HybridClock`]). The
//! wire types of the HTTP protocol live in [`wire`].
//!
//! This crate never names an entity, a store backend or a transport.

pub mod audit;
pub mod auth;
pub mod clock;
pub mod conflict;
pub mod decl;
pub mod engine;
mod error;
mod natural_key;
mod order;
pub mod pull;
pub mod push;
pub mod record;
mod registry;
pub mod relog;
pub mod replica;
pub mod scope;
pub mod store;
mod syncable;
pub mod text;
mod timestamp;
pub mod transport;
pub mod wire;

pub use clock::HybridClock;
pub use decl::{
    EntityDecl, FieldDecl, FieldType, MonotonicDecl, NaturalKey, Placement, ReferenceDecl,
    ScopeDecl, Versioning, ADMIN_ONLY_SCOPE, IDENTITY_FIELDS, LOCKED_CREDENTIAL, STAMP_FIELDS,
};
pub use error::Error;
pub use jcselect_sync_derive::Syncable;
pub use order::dependency_order;
pub use record::{FieldValue, Record};
pub use registry::Registry;
pub use syncable::{DynSyncable, EntityRegistration, Syncable};
pub use timestamp::Timestamp;

#[doc(hidden)]
pub use inventory;
