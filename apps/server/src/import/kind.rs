//! What each importable file holds: its entity, the natural key a row is
//! matched by, the columns it may carry and the values a new record starts
//! with. The columns are the desktop app's field names.

use jcselect_entities::{Party, Pen, Voter};
use jcselect_sync::decl::EntityDecl;
use jcselect_sync::Syncable;
use serde_json::{json, Value};

/// A kind of import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Polling stations, matched by `town_name` + `label`.
    Pens,
    /// Parties, matched by `name`.
    Parties,
    /// Voters, matched by their pen + `voter_number`; the pen is named by
    /// its `town_name` + `label` columns, or by `pen_id`.
    Voters,
}

/// A field of the records a file's rows name by a parent's key: a voter's
/// `pen_id` by the pen's `town_name` and `label`.
#[derive(Debug)]
pub struct Reference {
    /// The field the parent's id goes into.
    pub field: &'static str,
    /// The kind of the parent.
    pub parent: Kind,
}

impl Kind {
    /// Every kind, in the order files are applied (parents first).
    pub const ALL: [Kind; 3] = [Kind::Pens, Kind::Parties, Kind::Voters];

    /// The kind's name on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pens => "pens",
            Kind::Parties => "parties",
            Kind::Voters => "voters",
        }
    }

    /// What a single record of the kind is called in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Pens => "pen",
            Kind::Parties => "party",
            Kind::Voters => "voter",
        }
    }

    /// The entity its rows become.
    pub fn entity(self) -> &'static EntityDecl {
        match self {
            Kind::Pens => Pen::DECL,
            Kind::Parties => Party::DECL,
            Kind::Voters => Voter::DECL,
        }
    }

    /// The fields a row is matched by, among the records stored (a
    /// reference's field stands for the parent's key).
    pub fn key(self) -> &'static [&'static str] {
        match self {
            Kind::Pens => &["town_name", "label"],
            Kind::Parties => &["name"],
            Kind::Voters => &["pen_id", "voter_number"],
        }
    }

    /// Whether a tombstone still holds its key (a deleted voter's number
    /// may be given to a new voter; a party's name is never reused).
    pub fn key_held_by_tombstones(self) -> bool {
        !matches!(self, Kind::Voters)
    }

    /// The fields a file may carry, besides the key: the rest (ids, times,
    /// a voter's vote) are the stations' and the server's to write.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Pens => &["town_name", "label"],
            Kind::Parties => &["name", "short_code", "display_order", "is_active"],
            Kind::Voters => &[
                "pen_id",
                "voter_number",
                "full_name",
                "father_name",
                "mother_name",
                "birth_year",
                "gender",
            ],
        }
    }

    /// The fields every file of the kind must have a column for.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Kind::Pens => &["town_name", "label"],
            Kind::Parties => &["name"],
            Kind::Voters => &["voter_number", "full_name"],
        }
    }

    /// The parents its rows name by their key.
    pub fn references(self) -> &'static [Reference] {
        match self {
            Kind::Voters => &[Reference {
                field: "pen_id",
                parent: Kind::Pens,
            }],
            _ => &[],
        }
    }

    /// Whether the rows of another kind name records of this one.
    pub fn is_parent(self) -> bool {
        Kind::ALL.iter().any(|kind| {
            kind.references()
                .iter()
                .any(|reference| reference.parent == self)
        })
    }

    /// The values of a new record's fields that the file may leave out.
    pub fn defaults(self) -> Value {
        match self {
            Kind::Pens => json!({}),
            Kind::Parties => json!({"short_code": null, "display_order": 0, "is_active": true}),
            Kind::Voters => json!({
                "father_name": null, "mother_name": null, "birth_year": null,
                "gender": null, "has_voted": false, "voted_at": null,
                "voted_by_operator_id": null
            }),
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|kind| kind.name()).collect();
                format!("{name:?} is not a kind of file: {}", names.join(", "))
            })
    }
}
