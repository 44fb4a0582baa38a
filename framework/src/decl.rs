//! Entity declarations: what an entity tells the framework about itself.
//!
//! Everything the framework derives (dependency order, foreign-key checks,
//! scope filters, schemas, the merge of monotonic fields) is read from an
//! [`EntityDecl`]; no entity is ever named in framework or store code.

/// The wire names of the fields every syncable record carries, in the order
/// a [`Record`](crate::Record) keeps them before the entity's own fields.
pub const COMMON_FIELDS: [FieldDecl; 5] = [
    FieldDecl::new("id", FieldType::Uuid),
    FieldDecl::new("created_at", FieldType::Timestamp),
    FieldDecl::new("updated_at", FieldType::Timestamp),
    FieldDecl::new("deleted_at", FieldType::Timestamp)
        .nullable()
        .indexed(),
    FieldDecl::new("deleted_by", FieldType::Uuid).nullable(),
];

/// The type of a field's value, as it travels and as it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A UUID, sent as its hyphenated lower-case text.
    Uuid,
    /// Unicode text, stored and returned byte for byte.
    Text,
    /// A signed 64-bit integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// A [`Timestamp`](crate::Timestamp).
    Timestamp,
    /// Any JSON value, stored as its text.
    Json,
}

impl FieldType {
    /// How the type is described in error messages.
    pub const fn describe(self) -> &'static str {
        match self {
            FieldType::Uuid => "a UUID string",
            FieldType::Text => "a string",
            FieldType::Int => "an integer",
            FieldType::Bool => "a boolean",
            FieldType::Timestamp => "an RFC 3339 timestamp string",
            FieldType::Json => "JSON",
        }
    }
}

/// One field of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDecl {
    /// Wire name, also the column name.
    pub name: &'static str,
    /// Value type.
    pub ty: FieldType,
    /// Whether `null` is allowed (and an absent field read as `null`).
    pub nullable: bool,
    /// Whether stores enforce uniqueness among records of the entity.
    pub unique: bool,
    /// Whether stores index the column (searches and listings use it).
    pub indexed: bool,
}

impl FieldDecl {
    /// A required, non-unique, unindexed field.
    pub const fn new(name: &'static str, ty: FieldType) -> Self {
        FieldDecl {
            name,
            ty,
            nullable: false,
            unique: false,
            indexed: false,
        }
    }

    /// This field, allowing `null`.
    pub const fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }

    /// This field, unique among the entity's records.
    pub const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// This field, indexed by stores.
    pub const fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }
}

/// A reference (foreign key): `field` holds the id of a `parent` record.
///
/// Nullability comes from the field's declaration. A reference to the
/// entity itself never constrains the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceDecl {
    /// The referencing field (a [`FieldType::Uuid`] field of this entity).
    pub field: &'static str,
    /// The wire name of the referenced entity.
    pub parent: &'static str,
}

/// Which pen (scope key) a record belongs to, for authorisation and pull
/// filters. A record whose scope key is `null` is global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeDecl {
    /// Every record is global: everyone pulls it, only admins write it.
    Global,
    /// The record's own UUID field holds its scope key; `null` means global.
    Field(&'static str),
    /// The record has the scope of the parent its reference `field` points at.
    Parent(&'static str),
}

/// A monotonic group of fields: once any version sets `flag` to `true` the
/// merged record keeps it `true`, with the `mark` fields of the earliest
/// such version (ordered by `mark[0]`, then by the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonotonicDecl {
    /// A boolean field that can only go from `false` to `true`.
    pub flag: &'static str,
    /// The fields describing when and by whom the flag was set; the first
    /// one orders the marks (earliest wins, `null` last).
    pub mark: &'static [&'static str],
}

/// Where an entity goes in the dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// After the parents its references name.
    ByReferences,
    /// After every entity placed by references (audit trails).
    Last,
}

/// Everything an entity declares about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityDecl {
    /// Wire name (`entity_type`).
    pub name: &'static str,
    /// Table name in every store.
    pub table: &'static str,
    /// The entity's own fields, beyond [`COMMON_FIELDS`].
    pub fields: &'static [FieldDecl],
    /// Its references to parent entities.
    pub references: &'static [ReferenceDecl],
    /// The entity `deleted_by` refers to, if any.
    pub deleted_by: Option<&'static str>,
    /// Its scope.
    pub scope: ScopeDecl,
    /// Its monotonic field groups.
    pub monotonic: &'static [MonotonicDecl],
    /// Where it goes in the dependency order.
    pub placement: Placement,
    /// Records are append-only: an existing record may not be edited, only
    /// tombstoned by an admin.
    pub append_only: bool,
    /// A field naming the user who owns a record; an operator may write a
    /// global record of this entity when it names the operator.
    pub owner_field: Option<&'static str>,
}

impl EntityDecl {
    /// A declaration with no fields, no references, global scope, placed by
    /// references. Fill the rest with struct-update syntax.
    pub const fn new(name: &'static str, table: &'static str) -> Self {
        EntityDecl {
            name,
            table,
            fields: &[],
            references: &[],
            deleted_by: None,
            scope: ScopeDecl::Global,
            monotonic: &[],
            placement: Placement::ByReferences,
            append_only: false,
            owner_field: None,
        }
    }

    /// Every field: the common ones first, then the entity's own.
    pub fn all_fields(&self) -> impl Iterator<Item = &'static FieldDecl> + Clone {
        COMMON_FIELDS.iter().chain(self.fields.iter())
    }

    /// The number of fields, common ones included.
    pub fn field_count(&self) -> usize {
        COMMON_FIELDS.len() + self.fields.len()
    }

    /// The position of a field among [`all_fields`](Self::all_fields).
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.all_fields().position(|field| field.name == name)
    }

    /// Every reference, `deleted_by` included, as (field, parent) pairs.
    pub fn all_references(&self) -> impl Iterator<Item = ReferenceDecl> + '_ {
        self.references
            .iter()
            .copied()
            .chain(self.deleted_by.map(|parent| ReferenceDecl {
                field: "deleted_by",
                parent,
            }))
    }

    /// Whether `field` belongs to a monotonic group (and so is left out of
    /// the canonical JSON that breaks timestamp ties).
    pub fn is_monotonic_field(&self, field: &str) -> bool {
        self.monotonic
            .iter()
            .any(|group| group.flag == field || group.mark.contains(&field))
    }
}
