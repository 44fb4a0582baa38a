//! The server side: push transactions and the change log.

use std::collections::HashMap;

use async_trait::async_trait;
use jcselect_store_sql::{self as sql, Dialect};
use jcselect_sync::record::Record;
use jcselect_sync::store::ParentCount;
use jcselect_sync::store::{
    LogEntry, LogPosition, LogQuery, Login, PushTransaction, RefreshSession, SeenOutcome,
    ServerStore, StationSeen, StoreError,
};
use jcselect_sync::wire::Operation;
use jcselect_sync::EntityDecl;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::codec::{backend, corrupt, parse_timestamp, parse_uuid, SqliteQuery};
use crate::config::SqliteStore;
use crate::tx::{begin_immediate, SqliteTx};

const DIALECT: Dialect = Dialect::Sqlite;

fn pens_text(pens: &[Uuid]) -> String {
    serde_json::to_string(pens).expect("UUIDs serialise")
}

fn parse_pens(table: &'static str, text: &str) -> Result<Vec<Uuid>, StoreError> {
    serde_json::from_str(text).map_err(|error| corrupt(table, format!("pens: {error}")))
}

/// A `sync_logins` row read by [`sql::select_logins`].
fn login_from_row(row: &SqliteRow) -> Result<Login, StoreError> {
    Ok(Login {
        username: row.get(0),
        user_id: parse_uuid("sync_logins", &row.get::<String, _>(1))?,
        password_hash: row.get(2),
        pens: parse_pens("sync_logins", &row.get::<String, _>(3))?,
    })
}

async fn read_head(conn: &mut SqliteConnection) -> Result<LogPosition, StoreError> {
    let row = sqlx::query(&sql::read_head(DIALECT))
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .ok_or_else(|| corrupt("sync_state", "no head row; was the store migrated?".into()))?;
    Ok(LogPosition {
        receive_seq: row.get(0),
        received_at: parse_timestamp("sync_state", &row.get::<String, _>(1))?,
    })
}

fn operation_text(operation: Operation) -> &'static str {
    match operation {
        Operation::Insert => "INSERT",
        Operation::Update => "UPDATE",
    }
}

fn bind_log_filter<'q>(mut query: SqliteQuery<'q>, log: &LogQuery) -> SqliteQuery<'q> {
    let pens = log.scope.pens().unwrap_or_default();
    for bind in sql::log_binds(scope_pens(log)) {
        query = match bind {
            sql::LogBind::After => query.bind(log.after_seq),
            sql::LogBind::UpTo => query.bind(log.up_to_seq),
            sql::LogBind::Pen(n) => query.bind(pens[n].to_string()),
        };
    }
    query
}

fn scope_pens(log: &LogQuery) -> Option<usize> {
    log.scope.pens().map(<[Uuid]>::len)
}

fn decode_log_row(row: &SqliteRow) -> Result<LogEntry, StoreError> {
    const TABLE: &str = "sync_log";
    let scope: Option<String> = row.get(6);
    Ok(LogEntry {
        receive_seq: row.get(0),
        received_at: parse_timestamp(TABLE, &row.get::<String, _>(1))?,
        change_id: parse_uuid(TABLE, &row.get::<String, _>(2))?,
        entity_type: row.get(3),
        entity_id: parse_uuid(TABLE, &row.get::<String, _>(4))?,
        operation: match row.get::<String, _>(5).as_str() {
            "INSERT" => Operation::Insert,
            _ => Operation::Update,
        },
        scope: scope.map(|text| parse_uuid(TABLE, &text)).transpose()?,
        data: row.get(7),
    })
}

#[async_trait]
impl ServerStore for SqliteStore {
    async fn migrate(&self, entities: &[&'static EntityDecl]) -> Result<(), StoreError> {
        self.migrate_schema(entities, false).await
    }

    async fn begin_push(&self) -> Result<Box<dyn PushTransaction>, StoreError> {
        let mut tx = begin_immediate(self).await?;
        tx.head = read_head(&mut tx.tx).await?;
        Ok(Box::new(tx))
    }

    async fn log_head(&self) -> Result<LogPosition, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        read_head(&mut conn).await
    }

    async fn read_log(&self, log: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        let text = sql::read_log(
            DIALECT,
            scope_pens(log),
            log.limit.min(i64::MAX as usize),
            log.offset,
            !log.with_superseded,
        );
        let rows = bind_log_filter(sqlx::query(&text), log)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(decode_log_row).collect()
    }

    async fn count_log(&self, log: &LogQuery, cap: u64) -> Result<u64, StoreError> {
        let text = sql::count_log(DIALECT, scope_pens(log), !log.with_superseded, cap);
        let count: i64 = bind_log_filter(sqlx::query(&text), log)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?
            .get(0);
        Ok(count.max(0) as u64)
    }

    async fn log_position_from(&self, receive_seq: i64) -> Result<Option<LogPosition>, StoreError> {
        let row = sqlx::query(&sql::log_position_from(DIALECT))
            .bind(receive_seq)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(LogPosition {
                receive_seq: row.get(0),
                received_at: parse_timestamp("sync_log", &row.get::<String, _>(1))?,
            })
        })
        .transpose()
    }

    async fn put_login(&self, login: &Login) -> Result<(), StoreError> {
        sqlx::query(&sql::upsert_login(DIALECT))
            .bind(login.username.clone())
            .bind(login.user_id.to_string())
            .bind(login.password_hash.clone())
            .bind(pens_text(&login.pens))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn login(&self, username: &str) -> Result<Option<Login>, StoreError> {
        let row = sqlx::query(&sql::select_logins(DIALECT, true))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(login_from_row).transpose()
    }

    async fn logins(&self) -> Result<Vec<Login>, StoreError> {
        sqlx::query(&sql::select_logins(DIALECT, false))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(login_from_row)
            .collect()
    }

    async fn count_per_parent(
        &self,
        entity: &'static EntityDecl,
        parent: &str,
        flag: &str,
        only: Option<&[Uuid]>,
    ) -> Result<Vec<ParentCount>, StoreError> {
        let mut counts = Vec::new();
        for parents in sql::parent_chunks(only) {
            let text = sql::count_per_parent(DIALECT, entity, parent, flag, parents.len())
                .map_err(|message| StoreError::Config {
                    store: "sqlite",
                    message,
                })?;
            let mut query = sqlx::query(&text);
            for id in parents {
                query = query.bind(crate::codec::app_uuid(id));
            }
            for row in query.fetch_all(&self.pool).await.map_err(backend)? {
                counts.push(ParentCount {
                    parent: parse_uuid(entity.table, &row.get::<String, _>(0))?,
                    records: row.get::<i64, _>(1).max(0) as u64,
                    flagged: row.get::<Option<i64>, _>(2).unwrap_or(0).max(0) as u64,
                });
            }
        }
        Ok(counts)
    }

    async fn put_station(&self, station: &StationSeen) -> Result<(), StoreError> {
        sqlx::query(&sql::upsert_station(DIALECT))
            .bind(station.report.client_id.clone())
            .bind(station.user_id.to_string())
            .bind(station.seen_at.unix_micros())
            .bind(sql::station_report_text(station))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn stations(&self) -> Result<Vec<StationSeen>, StoreError> {
        sqlx::query(sql::SELECT_STATIONS)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                sql::station_from_row(
                    "sqlite",
                    parse_uuid("sync_stations", &row.get::<String, _>(1))?,
                    row.get(2),
                    &row.get::<String, _>(3),
                )
            })
            .collect()
    }

    async fn put_session(
        &self,
        session: &RefreshSession,
        now: jcselect_sync::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query(&sql::delete_expired_sessions(DIALECT))
            .bind(now.unix_micros())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(&sql::insert_session(DIALECT))
            .bind(session.token_hash.clone())
            .bind(session.username.clone())
            .bind(session.user_id.to_string())
            .bind(session.expires_at.unix_micros())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn take_session(&self, token_hash: &str) -> Result<Option<RefreshSession>, StoreError> {
        let row = sqlx::query(&sql::take_session(DIALECT))
            .bind(token_hash)
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(RefreshSession {
                token_hash: token_hash.to_owned(),
                username: row.get(0),
                user_id: parse_uuid("sync_sessions", &row.get::<String, _>(1))?,
                expires_at: jcselect_sync::Timestamp::from_unix_micros(row.get(2)),
            })
        })
        .transpose()
    }

    async fn get_record(
        &self,
        entity: &'static EntityDecl,
        id: Uuid,
    ) -> Result<Option<Record>, StoreError> {
        let mut tx = SqliteTx {
            tx: self.pool.begin().await.map_err(backend)?,
            store: self.clone(),
            head: LogPosition {
                receive_seq: 0,
                received_at: jcselect_sync::Timestamp::MIN,
            },
            resume_capture: false,
        };
        Ok(tx.load(entity, &[id]).await?.pop())
    }

    async fn records_after(
        &self,
        entity: &'static EntityDecl,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let text = sql::select_records_after(DIALECT, entity, after.is_some(), limit);
        let mut query = sqlx::query(&text);
        if let Some(after) = &after {
            query = query.bind(crate::codec::app_uuid(after));
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter()
            .map(|row| crate::codec::decode_record(entity, row))
            .collect()
    }
}

#[async_trait]
impl PushTransaction for SqliteTx {
    fn head(&self) -> LogPosition {
        self.head
    }

    async fn seen_changes(
        &mut self,
        ids: &[Uuid],
        stored_records: &[Uuid],
    ) -> Result<HashMap<Uuid, SeenOutcome>, StoreError> {
        let mut seen = HashMap::new();
        let half = DIALECT.max_parameters() / 2;
        for records in stored_records.chunks(half) {
            for changes in ids.chunks(half) {
                let text = sql::select_logged_changes(DIALECT, records.len(), changes.len());
                let mut query = sqlx::query(&text);
                for id in records.iter().chain(changes) {
                    query = query.bind(id.to_string());
                }
                for row in query.fetch_all(&mut *self.tx).await.map_err(backend)? {
                    let id = parse_uuid("sync_log", &row.get::<String, _>(0))?;
                    seen.insert(id, SeenOutcome::Processed);
                }
            }
        }
        for chunk in ids.chunks(DIALECT.max_parameters()) {
            let text = sql::select_seen(DIALECT, chunk.len());
            let mut query = sqlx::query(&text);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&mut *self.tx).await.map_err(backend)? {
                let id = parse_uuid("sync_seen_changes", &row.get::<String, _>(0))?;
                let outcome = SeenOutcome::from_code(row.get(1))
                    .ok_or_else(|| corrupt("sync_seen_changes", "unknown outcome".into()))?;
                seen.insert(id, outcome);
            }
        }
        Ok(seen)
    }

    async fn supersede_log(
        &mut self,
        entity_type: &str,
        ids: &[Uuid],
        only_scope: Option<Uuid>,
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(DIALECT.max_parameters() - 2) {
            let text = sql::supersede_log(DIALECT, chunk.len(), only_scope.is_some());
            let mut query = sqlx::query(&text).bind(entity_type.to_owned());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            if let Some(scope) = only_scope {
                query = query.bind(scope.to_string());
            }
            query.execute(&mut *self.tx).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn append_log(&mut self, entries: &[LogEntry]) -> Result<(), StoreError> {
        for chunk in entries.chunks(sql::log_rows_per_statement(DIALECT)) {
            let text = sql::insert_log(DIALECT, chunk.len());
            let mut query = sqlx::query(&text);
            for entry in chunk {
                query = query
                    .bind(entry.receive_seq)
                    .bind(entry.received_at.to_string())
                    .bind(entry.change_id.to_string())
                    .bind(entry.entity_type.clone())
                    .bind(entry.entity_id.to_string())
                    .bind(operation_text(entry.operation))
                    .bind(entry.scope.map(|pen| pen.to_string()))
                    .bind(entry.data.clone());
            }
            query.execute(&mut *self.tx).await.map_err(backend)?;
        }
        if let Some(last) = entries.last() {
            sqlx::query(&sql::update_head(DIALECT))
                .bind(last.receive_seq)
                .bind(last.received_at.to_string())
                .execute(&mut *self.tx)
                .await
                .map_err(backend)?;
            self.head = LogPosition {
                receive_seq: last.receive_seq,
                received_at: last.received_at,
            };
        }
        Ok(())
    }

    async fn remember_changes(&mut self, seen: &[(Uuid, SeenOutcome)]) -> Result<(), StoreError> {
        for chunk in seen.chunks(DIALECT.rows_per_statement(2)) {
            let text = sql::insert_seen(DIALECT, chunk.len());
            let mut query = sqlx::query(&text);
            for (id, outcome) in chunk {
                query = query.bind(id.to_string()).bind(outcome.code());
            }
            query.execute(&mut *self.tx).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        SqliteTx::commit(*self).await
    }
}
