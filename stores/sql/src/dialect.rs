//! What differs between the SQL dialects.

use jcselect_sync::{FieldDecl, FieldType};

/// A SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.35 or later.
    Sqlite,
    /// PostgreSQL 12 or later.
    Postgres,
    /// SQL Server 2016 or later (T-SQL).
    MsSql,
}

impl Dialect {
    /// The placeholder of the `n`th (1-based) bound value. Statements bind
    /// every value once, in order.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            // Anonymous: SQLite finds a numbered `?NNN` by walking a list,
            // which makes binding a 10,000-value statement quadratic.
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${n}"),
            Dialect::MsSql => format!("@P{n}"),
        }
    }

    /// The most values one statement may bind.
    pub fn max_parameters(self) -> usize {
        match self {
            Dialect::Sqlite => 32_766,
            Dialect::Postgres => 65_535,
            // SQL Server allows 2100 parameters per request.
            Dialect::MsSql => 2_000,
        }
    }

    /// The most rows one multi-row `VALUES` list may hold.
    pub fn max_rows(self) -> usize {
        match self {
            Dialect::MsSql => 1_000,
            Dialect::Sqlite | Dialect::Postgres => 5_000,
        }
    }

    /// Rows of `columns` values each that fit one statement.
    pub fn rows_per_statement(self, columns: usize) -> usize {
        (self.max_parameters() / columns.max(1)).clamp(1, self.max_rows())
    }

    /// The column type of a declared field.
    pub fn column_type(self, field: &FieldDecl) -> &'static str {
        let keyed = field.unique || field.indexed;
        match (self, field.ty) {
            // the jcselect desktop app's declared types (SQLAlchemy on
            // SQLite), so that a file this store creates is one the app
            // opens as its own
            (Dialect::Sqlite, FieldType::Uuid) => "CHAR(32)",
            (Dialect::Sqlite, FieldType::Text) => "VARCHAR",
            (Dialect::Sqlite, FieldType::Int) => "INTEGER",
            (Dialect::Sqlite, FieldType::Bool) => "BOOLEAN",
            (Dialect::Sqlite, FieldType::Timestamp) => "DATETIME",
            (Dialect::Sqlite, FieldType::Json) => "JSON",
            (Dialect::Postgres, FieldType::Uuid) => "UUID",
            (Dialect::Postgres, FieldType::Text) => "TEXT",
            (Dialect::Postgres, FieldType::Int) => "BIGINT",
            (Dialect::Postgres, FieldType::Bool) => "BOOLEAN",
            (Dialect::Postgres, FieldType::Timestamp) => "TIMESTAMPTZ",
            // json (not jsonb) keeps the text as sent, byte for byte
            (Dialect::Postgres, FieldType::Json) => "JSON",
            (Dialect::MsSql, FieldType::Uuid) => "UNIQUEIDENTIFIER",
            // index keys are limited to 900 bytes
            (Dialect::MsSql, FieldType::Text) if keyed => "NVARCHAR(450)",
            (Dialect::MsSql, FieldType::Text | FieldType::Json) => "NVARCHAR(MAX)",
            (Dialect::MsSql, FieldType::Int) => "BIGINT",
            (Dialect::MsSql, FieldType::Bool) => "BIT",
            (Dialect::MsSql, FieldType::Timestamp) => "DATETIME2(6)",
        }
    }

    /// A column type for support tables, by kind.
    pub fn support_type(self, kind: SupportType) -> &'static str {
        let field = |ty| FieldDecl::new("support", ty);
        match kind {
            SupportType::Uuid => self.column_type(&field(FieldType::Uuid)),
            SupportType::Timestamp => self.column_type(&field(FieldType::Timestamp)),
            SupportType::BigInt => match self {
                Dialect::Sqlite => "INTEGER",
                _ => "BIGINT",
            },
            SupportType::Key => match self {
                Dialect::MsSql => "NVARCHAR(200)",
                _ => "TEXT",
            },
            SupportType::LongText => self.column_type(&field(FieldType::Text)),
        }
    }

    /// `SELECT … LIMIT n OFFSET k` in this dialect, appended to an ordered
    /// query.
    pub fn limit_offset(self, limit: usize, offset: u64) -> String {
        match self {
            Dialect::MsSql => format!(" OFFSET {offset} ROWS FETCH NEXT {limit} ROWS ONLY"),
            _ if offset == 0 => format!(" LIMIT {limit}"),
            _ => format!(" LIMIT {limit} OFFSET {offset}"),
        }
    }
}

/// Column kinds of the support tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportType {
    /// A UUID.
    Uuid,
    /// A timestamp.
    Timestamp,
    /// A 64-bit integer.
    BigInt,
    /// Short indexed text.
    Key,
    /// Unbounded text.
    LongText,
}
