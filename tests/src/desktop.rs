//! jcselect desktop databases as the app's alembic chain leaves them
//! (`../shared/jcselect-desktop-db.md`), written here from the facts: the
//! tables at the newest revision (`19ee681d4f77`), and rows in the app's
//! storage format (UUIDs as 32 hex digits, naive UTC times, booleans 0/1,
//! `ballot_type` as the enum member's name).

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use uuid::Uuid;

/// The newest revision of the app's chain.
pub const NEWEST_REVISION: &str = "19ee681d4f77";

/// The app's DDL at its newest revision.
pub const NEWEST_DDL: &[&str] = &[
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
    "CREATE TABLE users (created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, id CHAR(32) NOT NULL, \
     username VARCHAR NOT NULL, password_hash VARCHAR NOT NULL, full_name VARCHAR NOT NULL, role VARCHAR NOT NULL, \
     is_active BOOLEAN NOT NULL, deleted_at DATETIME, deleted_by CHAR(32), PRIMARY KEY (id), UNIQUE (id))",
    "CREATE UNIQUE INDEX ix_users_username ON users (username)",
    "CREATE INDEX ix_users_deleted_at ON users (deleted_at)",
    "CREATE TABLE parties (created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, id CHAR(32) NOT NULL, \
     name VARCHAR NOT NULL, short_code VARCHAR, display_order INTEGER NOT NULL, is_active BOOLEAN NOT NULL, \
     deleted_at DATETIME, deleted_by CHAR(32), PRIMARY KEY (id), UNIQUE (id))",
    "CREATE UNIQUE INDEX ix_parties_name ON parties (name)",
    "CREATE TABLE pens (created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, id CHAR(32) NOT NULL, \
     town_name VARCHAR NOT NULL, label VARCHAR NOT NULL, PRIMARY KEY (id), UNIQUE (id))",
    "CREATE INDEX ix_pens_town_name ON pens (town_name)",
    "CREATE TABLE tally_sessions (created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, id CHAR(32) NOT NULL, \
     pen_id CHAR(32) NOT NULL, operator_id CHAR(32) NOT NULL, session_name VARCHAR NOT NULL, started_at DATETIME NOT NULL, \
     completed_at DATETIME, total_votes_counted INTEGER NOT NULL, notes VARCHAR, deleted_at DATETIME, deleted_by CHAR(32), \
     ballot_number INTEGER DEFAULT '0' NOT NULL, recounted_at DATETIME, recount_operator_id CHAR(32), \
     PRIMARY KEY (id), FOREIGN KEY(pen_id) REFERENCES pens (id), FOREIGN KEY(operator_id) REFERENCES users (id), UNIQUE (id))",
    "CREATE TABLE voters (created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, id CHAR(32) NOT NULL, \
     pen_id CHAR(32) NOT NULL, voted_by_operator_id CHAR(32), voter_number VARCHAR NOT NULL, full_name VARCHAR NOT NULL, \
     father_name VARCHAR, mother_name VARCHAR, birth_year INTEGER, gender VARCHAR, has_voted BOOLEAN NOT NULL, \
     voted_at DATETIME, deleted_at DATETIME, deleted_by CHAR(32), PRIMARY KEY (id), \
     FOREIGN KEY(voted_by_operator_id) REFERENCES users (id), FOREIGN KEY(pen_id) REFERENCES pens (id), UNIQUE (id))",
    "CREATE INDEX ix_voters_voter_number ON voters (voter_number)",
    "CREATE INDEX ix_voters_pen_id ON voters (pen_id)",
    "CREATE TABLE tally_lines (created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, id CHAR(32) NOT NULL, \
     tally_session_id CHAR(32) NOT NULL, party_id CHAR(32) NOT NULL, vote_count INTEGER NOT NULL, \
     deleted_at DATETIME, deleted_by CHAR(32), ballot_type VARCHAR(20) DEFAULT 'normal' NOT NULL, \
     ballot_number INTEGER, candidate_id CHAR(32), PRIMARY KEY (id), \
     FOREIGN KEY(tally_session_id) REFERENCES tally_sessions (id), FOREIGN KEY(party_id) REFERENCES parties (id), \
     UNIQUE (id), CONSTRAINT uq_tally_session_party UNIQUE (tally_session_id, party_id))",
    "CREATE TABLE audit_logs (id CHAR(32) NOT NULL, operator_id CHAR(32) NOT NULL, action VARCHAR NOT NULL, \
     entity_type VARCHAR NOT NULL, entity_id CHAR(32) NOT NULL, old_values JSON, new_values JSON, \
     timestamp DATETIME NOT NULL, ip_address VARCHAR, user_agent VARCHAR, deleted_at DATETIME, deleted_by CHAR(32), \
     PRIMARY KEY (id), FOREIGN KEY(operator_id) REFERENCES users (id), UNIQUE (id))",
];

/// A pool on the desktop file, as the app would hold it (no foreign-key
/// enforcement, a 5 s busy timeout like Python's sqlite3).
pub async fn open(path: &std::path::Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(std::time::Duration::from_secs(5))
        .foreign_keys(false);
    SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap()
}

/// Ids of what [`create_newest`] puts in the file.
#[derive(Debug, Clone)]
pub struct DesktopRows {
    /// The admin user.
    pub admin: Uuid,
    /// The operator user.
    pub operator: Uuid,
    /// The pen.
    pub pen: Uuid,
    /// The party.
    pub party: Uuid,
    /// The voters, numbered 1…n.
    pub voters: Vec<Uuid>,
}

/// The app's initial revision.
pub const INITIAL_REVISION: &str = "52569a9164c7";

/// The columns later revisions added (and the indexes on them): what the
/// initial revision's tables lack.
const LATER_COLUMNS: [&str; 6] = [
    ", deleted_at DATETIME, deleted_by CHAR(32)",
    ", ballot_number INTEGER DEFAULT '0' NOT NULL, recounted_at DATETIME, recount_operator_id CHAR(32)",
    ", ballot_type VARCHAR(20) DEFAULT 'normal' NOT NULL, ballot_number INTEGER, candidate_id CHAR(32)",
    "deleted_at DATETIME, deleted_by CHAR(32), ",
    "CREATE INDEX ix_users_deleted_at ON users (deleted_at)",
    "",
];

/// The app's DDL at its initial revision: the newest without what later
/// revisions added.
pub fn initial_ddl() -> Vec<String> {
    NEWEST_DDL
        .iter()
        .filter(|statement| **statement != LATER_COLUMNS[4])
        .map(|statement| {
            LATER_COLUMNS[..4]
                .iter()
                .fold((*statement).to_owned(), |ddl, later| ddl.replace(later, ""))
        })
        .collect()
}

/// A desktop file at the newest revision with an admin, an operator, a
/// pen, a party and `voters` voters (a fifth of them voted, as the app's
/// demo data, some without details).
pub async fn create_newest(
    path: &std::path::Path,
    admin_hash: &str,
    operator_hash: &str,
    voters: usize,
) -> DesktopRows {
    let ddl: Vec<String> = NEWEST_DDL.iter().map(|s| (*s).to_owned()).collect();
    create(
        path,
        &ddl,
        NEWEST_REVISION,
        admin_hash,
        operator_hash,
        voters,
    )
    .await
}

/// A desktop file at the initial revision, with the same rows.
pub async fn create_initial(path: &std::path::Path, voters: usize) -> DesktopRows {
    create(path, &initial_ddl(), INITIAL_REVISION, "!", "!", voters).await
}

async fn create(
    path: &std::path::Path,
    ddl: &[String],
    revision: &str,
    admin_hash: &str,
    operator_hash: &str,
    voters: usize,
) -> DesktopRows {
    let pool = open(path).await;
    for statement in ddl {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    sqlx::query("INSERT INTO alembic_version VALUES (?1)")
        .bind(revision)
        .execute(&pool)
        .await
        .unwrap();
    let hex = |id: Uuid| id.simple().to_string();
    let rows = DesktopRows {
        admin: Uuid::new_v4(),
        operator: Uuid::new_v4(),
        pen: Uuid::new_v4(),
        party: Uuid::new_v4(),
        voters: (0..voters).map(|_| Uuid::new_v4()).collect(),
    };
    for (id, name, hash, role) in [
        (rows.admin, "admin", admin_hash, "admin"),
        (rows.operator, "operator", operator_hash, "operator"),
    ] {
        sqlx::query(
            "INSERT INTO users (created_at, updated_at, id, username, password_hash, full_name, role, is_active) \
             VALUES ('2025-05-29 08:00:00.287186', '2025-05-29 08:00:00', ?1, ?2, ?3, ?4, ?5, 1)",
        )
        .bind(hex(id))
        .bind(name)
        .bind(hash)
        .bind(format!("{name} الاسم"))
        .bind(role)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO pens VALUES ('2025-05-29 08:00:01.000001', '2025-05-29 08:00:01.000001', ?1, 'طرابلس', 'قلم ١')")
        .bind(hex(rows.pen))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO parties (created_at, updated_at, id, name, short_code, display_order, is_active) \
                 VALUES ('2025-05-29 08:00:02', '2025-05-29 08:00:02', ?1, 'حزب الغد', 'غد', 1, 1)")
        .bind(hex(rows.party))
        .execute(&pool)
        .await
        .unwrap();
    for (n, id) in rows.voters.iter().enumerate() {
        let voted = n % 5 == 0;
        let detailed = voted && n % 10 == 0;
        sqlx::query(
            "INSERT INTO voters (created_at, updated_at, id, pen_id, voted_by_operator_id, voter_number, \
             full_name, father_name, mother_name, birth_year, gender, has_voted, voted_at) \
             VALUES ('2025-05-29 08:01:00.100000', '2025-05-29 08:01:00', ?1, ?2, ?3, ?4, ?5, \
             'خليل', NULL, 1980, ?6, ?7, ?8)",
        )
        .bind(hex(*id))
        .bind(hex(rows.pen))
        .bind(detailed.then(|| hex(rows.operator)))
        .bind((n + 1).to_string())
        .bind(format!("ناخب {}", n + 1))
        .bind(if n % 2 == 0 { "M" } else { "F" })
        .bind(voted)
        .bind(detailed.then_some("2025-05-29 09:05:00.412054"))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    rows
}

/// Marks a voter the way the app's `mark_voted` does: `has_voted`,
/// `voted_at` (Python's UTC now), `voted_by_operator_id`, SQLite's
/// `CURRENT_TIMESTAMP` for `updated_at`, and a `VOTER_MARKED` audit row, in
/// one transaction.
pub async fn app_marks_voter(pool: &SqlitePool, voter: Uuid, operator: Uuid) {
    let now = chrono_like_now();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE voters SET has_voted = 1, voted_at = ?1, voted_by_operator_id = ?2, \
         updated_at = CURRENT_TIMESTAMP WHERE id = ?3",
    )
    .bind(&now)
    .bind(operator.simple().to_string())
    .bind(voter.simple().to_string())
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO audit_logs (id, operator_id, action, entity_type, entity_id, old_values, new_values, timestamp) \
         VALUES (?1, ?2, 'VOTER_MARKED', 'Voter', ?3, ?4, ?5, ?6)",
    )
    .bind(Uuid::new_v4().simple().to_string())
    .bind(operator.simple().to_string())
    .bind(voter.simple().to_string())
    .bind(r#"{"has_voted": false}"#)
    .bind(format!(r#"{{"has_voted": true, "voted_at": "{}"}}"#, now.replace(' ', "T")))
    .bind(&now)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Python's `datetime.utcnow()` as SQLAlchemy stores it.
pub fn chrono_like_now() -> String {
    let canonical = jcselect_sync::Timestamp::now().to_string();
    format!("{} {}", &canonical[..10], &canonical[11..26])
}
