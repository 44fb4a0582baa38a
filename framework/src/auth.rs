//! Who is asking: the principal a token names, and what it may see.

use uuid::Uuid;

/// A principal's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// May write anything, including soft deletes; pulls everything.
    Admin,
    /// May write only records of its pens (and global records it owns),
    /// never a soft delete; pulls global records and its pens'.
    Operator,
}

/// The authenticated caller of a push or pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's id (`sub`).
    pub user_id: Uuid,
    /// The user's role.
    pub role: Role,
    /// The pens an operator may touch (ignored for admins).
    pub pens: Vec<Uuid>,
}

impl Principal {
    /// What this principal may pull.
    pub fn scope_filter(&self) -> ScopeFilter {
        match self.role {
            Role::Admin => ScopeFilter::All,
            Role::Operator => ScopeFilter::GlobalAnd(self.pens.clone()),
        }
    }
}

/// Which records a read returns, by scope key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeFilter {
    /// Every record.
    All,
    /// Global records (no scope key) and those of these pens.
    GlobalAnd(Vec<Uuid>),
}

impl ScopeFilter {
    /// The pens whose records pass besides global ones (`None`: all pass).
    pub fn pens(&self) -> Option<&[Uuid]> {
        match self {
            ScopeFilter::All => None,
            ScopeFilter::GlobalAnd(pens) => Some(pens),
        }
    }

    /// Whether a record with this scope key passes.
    pub fn admits(&self, scope: Option<Uuid>) -> bool {
        match (self, scope) {
            (ScopeFilter::All, _) | (_, None) => true,
            (ScopeFilter::GlobalAnd(pens), Some(pen)) => pens.contains(&pen),
        }
    }
}
