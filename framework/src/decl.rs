//! Entity declarations: what an entity tells the framework about itself.
//!
//! Everything the framework derives (dependency order, foreign-key checks,
//! scope filters, schemas, the merge of monotonic fields) is read from an
//! [`EntityDecl`]; no entity is ever named in framework or store code.

/// The fields every syncable record carries, in the order a
/// [`Record`](crate::Record) keeps them first: its id and its tombstone.
pub const IDENTITY_FIELDS: [FieldDecl; 3] = [
    FieldDecl::new("id", FieldType::Uuid),
    FieldDecl::new("deleted_at", FieldType::Timestamp)
        .nullable()
        .indexed(),
    FieldDecl::new("deleted_by", FieldType::Uuid).nullable(),
];

/// The creation and last-write times of a [`Versioning::Stamped`] entity,
/// kept after [`IDENTITY_FIELDS`]; `updated_at` is its version time.
pub const STAMP_FIELDS: [FieldDecl; 2] = [
    FieldDecl::new("created_at", FieldType::Timestamp),
    FieldDecl::new("updated_at", FieldType::Timestamp),
];

/// Which time orders an entity's versions (the last-write-wins key, and
/// the `timestamp` of its changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// `created_at` and `updated_at` ([`STAMP_FIELDS`]); `updated_at` is
    /// the version time.
    Stamped,
    /// No `created_at`/`updated_at`: the entity's own (non-null
    /// timestamp) field of this name is the version time (`AuditLog`'s
    /// `timestamp`: an append-only row is never rewritten).
    OwnField(&'static str),
}

/// A natural key: values of `fields` that no two records of the entity
/// share (a breach is refused as `invalid`, naming the record that holds
/// the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NaturalKey {
    /// The fields, together.
    pub fields: &'static [&'static str],
    /// Whether only live records count (a tombstone frees the key).
    pub live_only: bool,
}

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
    /// Whether a replica's search finds records by this text (its
    /// [`search_terms`](crate::text::search_terms)); the first searchable
    /// field orders what a search finds.
    pub searchable: bool,
    /// A credential (a password hash): stored by the server, sent in a
    /// pull only to a replica entitled to it (others get
    /// [`LOCKED_CREDENTIAL`]), never taken from a push, never in an audit
    /// row.
    pub credential: bool,
    /// For text: the only values allowed (empty: any).
    pub one_of: &'static [&'static str],
    /// For integers: the smallest value allowed.
    pub min: Option<i64>,
    /// For text: stored upper-case and read back lower-case (the desktop
    /// app stores an enum member's name, `WHITE`, where the wire carries its
    /// value, `white`).
    pub stored_upper: bool,
    /// The stored value (an SQL literal) that rows of an older table take
    /// when an upgrade adds this required column.
    pub upgrade_default: Option<&'static str>,
    /// The name this field had in an earlier version of the schema (its
    /// column and its key in logged records): an upgrade renames it.
    pub formerly: Option<&'static str>,
}

/// What a replica not entitled to a credential receives in its place: a
/// value no password verifies against.
pub const LOCKED_CREDENTIAL: &str = "!";

impl FieldDecl {
    /// A required, non-unique, unindexed field.
    pub const fn new(name: &'static str, ty: FieldType) -> Self {
        FieldDecl {
            name,
            ty,
            nullable: false,
            unique: false,
            indexed: false,
            searchable: false,
            credential: false,
            one_of: &[],
            min: None,
            stored_upper: false,
            upgrade_default: None,
            formerly: None,
        }
    }

    /// This field, called `name` in an earlier version of the schema (see
    /// [`FieldDecl::formerly`]).
    pub const fn formerly(mut self, name: &'static str) -> Self {
        self.formerly = Some(name);
        self
    }

    /// This required field, added to an older table with `literal` in
    /// every row (see [`FieldDecl::upgrade_default`]).
    pub const fn upgrade_default(mut self, literal: &'static str) -> Self {
        self.upgrade_default = Some(literal);
        self
    }

    /// This text field, stored upper-case (see
    /// [`FieldDecl::stored_upper`]).
    pub const fn stored_upper(mut self) -> Self {
        self.stored_upper = true;
        self
    }

    /// How a value of this field is stored: upper-cased when
    /// [`FieldDecl::stored_upper`].
    pub fn to_stored(&self, text: &str) -> String {
        if self.stored_upper {
            text.to_uppercase()
        } else {
            text.to_owned()
        }
    }

    /// A stored value as it travels: lower-cased when
    /// [`FieldDecl::stored_upper`] (whatever case it was stored in).
    pub fn from_stored(&self, text: String) -> String {
        if self.stored_upper {
            text.to_lowercase()
        } else {
            text
        }
    }

    /// This field, a credential (see [`FieldDecl::credential`]).
    pub const fn credential(mut self) -> Self {
        self.credential = true;
        self
    }

    /// This text field, limited to `values`.
    pub const fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.one_of = values;
        self
    }

    /// This integer field, at least `min`.
    pub const fn min(mut self, min: i64) -> Self {
        self.min = Some(min);
        self
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

    /// This field, found by a replica's search (see
    /// [`FieldDecl::searchable`]).
    pub const fn searchable(mut self) -> Self {
        self.searchable = true;
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
    /// The record is its own scope (a pen: its id is its scope key).
    Own,
    /// The record has the scope of the record it names: an entity wire
    /// name in field `entity_type` and an id in field `entity_id`, looked
    /// up when the record is stored. A record it cannot place belongs to
    /// admins only ([`ADMIN_ONLY_SCOPE`]).
    Named {
        /// The text field naming the entity.
        entity_type: &'static str,
        /// The UUID field naming the record.
        entity_id: &'static str,
    },
    /// The record is a user who logs in: its scope is the pens the server's
    /// log-in of its user name lists (several scope keys), global when its
    /// role field holds the admin role, admins only when the server has no
    /// log-in with pens for it. Only admins write such records (a role is
    /// not something a user may give itself).
    Principal {
        /// The text field holding the user name its log-in is found by.
        username: &'static str,
        /// The text field holding its role.
        role: &'static str,
        /// The role whose records are global.
        admin: &'static str,
    },
}

/// The scope key of records only admins may see: no pen has this id.
pub const ADMIN_ONLY_SCOPE: uuid::Uuid = uuid::Uuid::max();

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
    /// The entity's own fields, beyond [`IDENTITY_FIELDS`] (and
    /// [`STAMP_FIELDS`] when [`Versioning::Stamped`]).
    pub fields: &'static [FieldDecl],
    /// Which time orders its versions.
    pub versioning: Versioning,
    /// Its natural keys.
    pub natural_keys: &'static [NaturalKey],
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
    /// The table this entity had in an earlier version of the schema: an
    /// upgrade copies its rows into [`EntityDecl::table`] and leaves it as
    /// it was.
    pub formerly: Option<&'static str>,
}

impl EntityDecl {
    /// A declaration with no fields, no references, global scope, placed by
    /// references. Fill the rest with struct-update syntax.
    pub const fn new(name: &'static str, table: &'static str) -> Self {
        EntityDecl {
            name,
            table,
            fields: &[],
            versioning: Versioning::Stamped,
            natural_keys: &[],
            references: &[],
            deleted_by: None,
            scope: ScopeDecl::Global,
            monotonic: &[],
            placement: Placement::ByReferences,
            append_only: false,
            owner_field: None,
            formerly: None,
        }
    }

    /// The common fields this entity carries: identity and tombstone,
    /// then `created_at`/`updated_at` when stamped.
    pub fn common_fields(&self) -> &'static [FieldDecl] {
        const STAMPED: [FieldDecl; 5] = [
            IDENTITY_FIELDS[0],
            IDENTITY_FIELDS[1],
            IDENTITY_FIELDS[2],
            STAMP_FIELDS[0],
            STAMP_FIELDS[1],
        ];
        match self.versioning {
            Versioning::Stamped => &STAMPED,
            Versioning::OwnField(_) => &IDENTITY_FIELDS,
        }
    }

    /// Every field: the common ones first, then the entity's own.
    pub fn all_fields(&self) -> impl Iterator<Item = &'static FieldDecl> + Clone {
        self.common_fields().iter().chain(self.fields.iter())
    }

    /// The number of fields, common ones included.
    pub fn field_count(&self) -> usize {
        self.common_fields().len() + self.fields.len()
    }

    /// The name of the field holding the version time.
    pub fn version_field(&self) -> &'static str {
        match self.versioning {
            Versioning::Stamped => "updated_at",
            Versioning::OwnField(field) => field,
        }
    }

    /// Whether records carry `created_at` and `updated_at`.
    pub fn is_stamped(&self) -> bool {
        self.versioning == Versioning::Stamped
    }

    /// The fields a replica's search finds records by, the one that
    /// orders them first.
    pub fn searchable_fields(&self) -> impl Iterator<Item = &'static FieldDecl> {
        self.fields.iter().filter(|field| field.searchable)
    }

    /// The credential fields.
    pub fn credential_fields(&self) -> impl Iterator<Item = &'static FieldDecl> {
        self.fields.iter().filter(|field| field.credential)
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
