//! The framework's error type.

/// Everything the framework core can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A text that should be a timestamp is not one this system can keep.
    #[error("invalid timestamp {input:?}: {reason}")]
    Timestamp {
        /// The text as received.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An entity type name that no registered entity has.
    #[error("unknown entity type {name:?}; known entity types: {}", known.join(", "))]
    UnknownEntity {
        /// The name as received.
        name: String,
        /// Every registered wire name, in dependency order.
        known: Vec<&'static str>,
    },
    /// A record lacks a field its entity requires.
    #[error("{entity}: missing field `{field}`")]
    MissingField {
        /// The entity's wire name.
        entity: &'static str,
        /// The missing field's wire name.
        field: &'static str,
    },
    /// A record's field holds a value of the wrong type.
    #[error("{entity}: field `{field}` must be {expected}, got {found}")]
    WrongType {
        /// The entity's wire name.
        entity: &'static str,
        /// The field's wire name.
        field: &'static str,
        /// What the declaration asks for.
        expected: &'static str,
        /// A short description of what was received.
        found: String,
    },
    /// A record decodes but breaks a rule of its entity (e.g. a negative
    /// vote count).
    #[error("{entity}: {message}")]
    Invalid {
        /// The entity's wire name.
        entity: &'static str,
        /// What rule was broken, for a person.
        message: String,
    },
    /// Two registrations use the same wire name or table.
    #[error("entity {name:?} is registered twice (or shares table {table:?} with another)")]
    DuplicateEntity {
        /// The repeated wire name.
        name: &'static str,
        /// Its table.
        table: &'static str,
    },
    /// A declaration names a field, parent or entity that does not exist.
    #[error("entity {entity}: {problem}")]
    BadDeclaration {
        /// The entity whose declaration is wrong.
        entity: &'static str,
        /// What is wrong, for a person.
        problem: String,
    },
    /// The references among entities form a cycle, so no order exists in
    /// which every parent comes before its children.
    #[error("entity references form a cycle: {}", entities.join(" -> "))]
    Cycle {
        /// The entities on the cycle, the first repeated at the end.
        entities: Vec<&'static str>,
    },
}
