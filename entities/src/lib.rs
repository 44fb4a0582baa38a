//! # jcselect-entities
//!
//! The seven entities of jcselect's election day (PROTOCOL.md §1), each an
//! ordinary serde struct plus one [`Syncable`](jcselect_sync::Syncable)
//! implementation and one registration. Apps call [`registry`] at start-up,
//! which both checks the declarations and makes sure the linker keeps them.

mod audit;
mod reference;
mod tally;
mod user;
mod voter;

pub use audit::{AuditLog, SyncAudit};
pub use reference::{Party, Pen};
pub use tally::{TallyLine, TallySession};
pub use user::{Role, User};
pub use voter::Voter;

use jcselect_sync::{register_entity, Error, Registry};

register_entity!(User);
register_entity!(Party);
register_entity!(Pen);
register_entity!(TallySession);
register_entity!(Voter);
register_entity!(TallyLine);
register_entity!(AuditLog);

/// The wire names of the entities this crate registers.
pub const ENTITY_NAMES: [&str; 7] = [
    "User",
    "Party",
    "Pen",
    "TallySession",
    "Voter",
    "TallyLine",
    "AuditLog",
];

/// The program's registry, checked; calling it also keeps this crate's
/// registrations from being dropped by the linker.
pub fn registry() -> Result<&'static Registry, Error> {
    Registry::global()
}
