//! The raw rate of a database for the work the sync does: multi-row
//! upserts of voter rows (UNNEST on PostgreSQL) and keyset reads encoded as
//! JSON, on a table with the store's own columns and indexes.

use jcselect_entities::Voter;
use jcselect_store_sql::Dialect;
use jcselect_sync::{FieldValue, Syncable};

use crate::{rate, timed};

const ROWS: usize = 1000;

/// Upserts and reads `voters` in a fresh `bench_voters` table of the
/// SQLite file at `url`; returns (upserts/s, rows read and encoded/s).
pub async fn sqlite(url: &str, voters: &[Voter]) -> (f64, f64) {
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
        .unwrap()
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let mut ddl = vec![jcselect_store_sql::create_entity_table(
        Dialect::Sqlite,
        Voter::DECL,
    )];
    ddl.extend(jcselect_store_sql::create_indexes(
        Dialect::Sqlite,
        Voter::DECL,
    ));
    sqlx::query("DROP TABLE IF EXISTS bench_voters")
        .execute(&pool)
        .await
        .unwrap();
    for statement in ddl {
        sqlx::query(&statement.replace("voters", "bench_voters"))
            .execute(&pool)
            .await
            .unwrap();
    }
    let records: Vec<_> = voters.iter().map(|v| v.to_record().unwrap()).collect();
    let columns: Vec<&str> = Voter::DECL.all_fields().map(|f| f.name).collect();
    let updates: Vec<String> = columns
        .iter()
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let (_, write) = timed(async {
        for chunk in records.chunks(ROWS) {
            let values =
                vec![format!("({})", vec!["?"; columns.len()].join(", ")); chunk.len()].join(", ");
            let text = format!(
                "INSERT INTO bench_voters ({}) VALUES {values} ON CONFLICT (id) DO UPDATE SET {}",
                columns.join(", "),
                updates.join(", ")
            );
            let mut tx = pool.begin().await.unwrap();
            let mut query = sqlx::query(&text);
            for record in chunk {
                for value in record.values() {
                    query = match value {
                        FieldValue::Null => query.bind(None::<String>),
                        FieldValue::Int(n) => query.bind(*n),
                        FieldValue::Bool(b) => query.bind(*b),
                        other => query.bind(
                            other
                                .to_json()
                                .as_str()
                                .map(str::to_owned)
                                .unwrap_or_default(),
                        ),
                    };
                }
            }
            query.execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }
    })
    .await;
    let (read_rows, read) = timed(async {
        use sqlx::{Column, Row, ValueRef};
        let mut last = String::new();
        let mut count = 0;
        loop {
            let rows =
                sqlx::query("SELECT * FROM bench_voters WHERE id > ? ORDER BY id LIMIT 1000")
                    .bind(&last)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            if rows.is_empty() {
                return count;
            }
            count += rows.len();
            let mut page = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut object = serde_json::Map::new();
                for (index, column) in row.columns().iter().enumerate() {
                    let raw = row.try_get_raw(index).unwrap();
                    let value = if raw.is_null() {
                        serde_json::Value::Null
                    } else if let Ok(text) = row.try_get::<String, _>(index) {
                        serde_json::Value::String(text)
                    } else {
                        serde_json::Value::from(row.get::<i64, _>(index))
                    };
                    object.insert(column.name().to_owned(), value);
                }
                page.push(object);
            }
            std::hint::black_box(serde_json::to_vec(&page).unwrap());
            last = sqlx::Row::get::<String, _>(rows.last().unwrap(), "id");
        }
    })
    .await;
    sqlx::query("DROP TABLE bench_voters")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    (rate(voters.len(), write), rate(read_rows, read))
}

/// The same on PostgreSQL, in `schema` (a copy of its `voters` table):
/// UNNEST upserts and keyset reads with `to_json`.
pub async fn postgres(url: &str, schema: &str, voters: &[Voter]) -> (f64, f64) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP TABLE IF EXISTS {schema}.bench_voters"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "CREATE TABLE {schema}.bench_voters (LIKE {schema}.voters INCLUDING ALL)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let (_, write) = timed(async {
        for chunk in voters.chunks(ROWS) {
            let ids: Vec<uuid::Uuid> = chunk.iter().map(|v| v.id).collect();
            let pens: Vec<uuid::Uuid> = chunk.iter().map(|v| v.pen_id).collect();
            let numbers: Vec<String> = chunk.iter().map(|v| v.voter_number.clone()).collect();
            let names: Vec<String> = chunk.iter().map(|v| v.full_name.clone()).collect();
            let times: Vec<_> = chunk.iter().map(|v| v.updated_at.to_datetime()).collect();
            sqlx::query(&format!(
                "INSERT INTO {schema}.bench_voters (id, created_at, updated_at, pen_id, voter_number, full_name, has_voted) \
                 SELECT id, t, t, pen, num, name, false FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[]) \
                 AS u(id, t, pen, num, name) \
                 ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, updated_at = excluded.updated_at"
            ))
            .bind(&ids)
            .bind(&times)
            .bind(&pens)
            .bind(&numbers)
            .bind(&names)
            .execute(&pool)
            .await
            .unwrap();
        }
    })
    .await;
    let (read_rows, read) = timed(async {
        let mut last = uuid::Uuid::nil();
        let mut count = 0;
        loop {
            let rows: Vec<(serde_json::Value, uuid::Uuid)> = sqlx::query_as(&format!(
                "SELECT to_json(b), id FROM {schema}.bench_voters b WHERE id > $1 ORDER BY id LIMIT 1000"
            ))
            .bind(last)
            .fetch_all(&pool)
            .await
            .unwrap();
            if rows.is_empty() {
                return count;
            }
            count += rows.len();
            let page: Vec<&serde_json::Value> = rows.iter().map(|(json, _)| json).collect();
            std::hint::black_box(serde_json::to_vec(&page).unwrap());
            last = rows.last().unwrap().1;
        }
    })
    .await;
    sqlx::query(&format!("DROP TABLE {schema}.bench_voters"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    (rate(voters.len(), write), rate(read_rows, read))
}
