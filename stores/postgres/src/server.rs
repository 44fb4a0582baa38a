//! The server side: push transactions and the change log.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jcselect_store_sql::{self as sql, Dialect};
use jcselect_sync::record::Record;
use jcselect_sync::store::ParentCount;
use jcselect_sync::store::{
    LogEntry, LogPosition, LogQuery, Login, PushTransaction, RecordTransaction, RefreshSession,
    SeenOutcome, ServerStore, StationSeen, StoreError,
};
use jcselect_sync::wire::Operation;
use jcselect_sync::EntityDecl;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::codec::{
    backend, bind_array, column_array, column_arrays, corrupt, decode_record, timestamp, PgQuery,
};
use crate::config::PgStore;

const DIALECT: Dialect = Dialect::Postgres;

fn pens_text(pens: &[Uuid]) -> String {
    serde_json::to_string(pens).expect("UUIDs serialise")
}

fn parse_pens(table: &'static str, text: &str) -> Result<Vec<Uuid>, StoreError> {
    serde_json::from_str(text).map_err(|error| corrupt(table, format!("pens: {error}")))
}

/// A `sync_logins` row read by [`sql::select_logins`].
fn login_from_row(row: &PgRow) -> Result<Login, StoreError> {
    Ok(Login {
        username: row.get(0),
        user_id: row.get(1),
        password_hash: row.get(2),
        pens: parse_pens("sync_logins", &row.get::<String, _>(3))?,
    })
}

fn decode_head(row: Option<PgRow>) -> Result<LogPosition, StoreError> {
    let row =
        row.ok_or_else(|| corrupt("sync_state", "no head row; was the store migrated?".into()))?;
    Ok(LogPosition {
        receive_seq: row.get(0),
        received_at: timestamp("sync_state", row.get(1))?,
    })
}

async fn load(
    conn: &mut PgConnection,
    entity: &'static EntityDecl,
    ids: &[Uuid],
) -> Result<Vec<Record>, StoreError> {
    let text = sql::postgres::select_records(entity);
    sqlx::query(&text)
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| decode_record(entity, row))
        .collect()
}

fn bind_log_filter<'q>(mut query: PgQuery<'q>, log: &LogQuery) -> PgQuery<'q> {
    let pens = log.scope.pens().unwrap_or_default();
    for bind in sql::log_binds(scope_pens(log)) {
        query = match bind {
            sql::LogBind::After => query.bind(log.after_seq),
            sql::LogBind::UpTo => query.bind(log.up_to_seq),
            sql::LogBind::Pen(n) => query.bind(pens[n]),
        };
    }
    query
}

fn scope_pens(log: &LogQuery) -> Option<usize> {
    log.scope.pens().map(<[Uuid]>::len)
}

fn decode_log_row(row: &PgRow) -> Result<LogEntry, StoreError> {
    Ok(LogEntry {
        receive_seq: row.get(0),
        received_at: timestamp("sync_log", row.get::<DateTime<Utc>, _>(1))?,
        change_id: row.get(2),
        entity_type: row.get(3),
        entity_id: row.get(4),
        operation: match row.get::<String, _>(5).as_str() {
            "INSERT" => Operation::Insert,
            _ => Operation::Update,
        },
        scope: row.get(6),
        data: row.get(7),
    })
}

/// One push transaction, holding the head row's lock until it ends.
struct PgPush {
    tx: Transaction<'static, Postgres>,
    head: LogPosition,
}

#[async_trait]
impl ServerStore for PgStore {
    async fn migrate(&self, entities: &[&'static EntityDecl]) -> Result<(), StoreError> {
        self.migrate_schema(entities).await
    }

    async fn begin_push(&self) -> Result<Box<dyn PushTransaction>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let head = decode_head(
            sqlx::query(&sql::lock_head(DIALECT))
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?,
        )?;
        Ok(Box::new(PgPush { tx, head }))
    }

    async fn log_head(&self) -> Result<LogPosition, StoreError> {
        decode_head(
            sqlx::query(&sql::read_head(DIALECT))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?,
        )
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
                received_at: timestamp("sync_log", row.get::<DateTime<Utc>, _>(1))?,
            })
        })
        .transpose()
    }

    async fn put_login(&self, login: &Login) -> Result<(), StoreError> {
        sqlx::query(&sql::upsert_login(DIALECT))
            .bind(login.username.clone())
            .bind(login.user_id)
            .bind(login.password_hash.clone())
            .bind(pens_text(&login.pens))
            .execute(&self.pool)
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
                    store: "postgres",
                    message,
                })?;
            let mut query = sqlx::query(&text);
            for id in parents {
                query = query.bind(*id);
            }
            let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
            counts.extend(rows.iter().map(|row| ParentCount {
                parent: row.get(0),
                records: row.get::<i64, _>(1).max(0) as u64,
                flagged: row.get::<Option<i64>, _>(2).unwrap_or(0).max(0) as u64,
            }));
        }
        Ok(counts)
    }

    async fn put_station(&self, station: &StationSeen) -> Result<(), StoreError> {
        sqlx::query(&sql::upsert_station(DIALECT))
            .bind(station.report.client_id.clone())
            .bind(station.user_id)
            .bind(station.seen_at.unix_micros())
            .bind(sql::station_report_text(station))
            .execute(&self.pool)
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
                sql::station_from_row("postgres", row.get(1), row.get(2), &row.get::<String, _>(3))
            })
            .collect()
    }

    async fn put_session(
        &self,
        session: &RefreshSession,
        now: jcselect_sync::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(&sql::delete_expired_sessions(DIALECT))
            .bind(now.unix_micros())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(&sql::insert_session(DIALECT))
            .bind(session.token_hash.clone())
            .bind(session.username.clone())
            .bind(session.user_id)
            .bind(session.expires_at.unix_micros())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn take_session(&self, token_hash: &str) -> Result<Option<RefreshSession>, StoreError> {
        let row = sqlx::query(&sql::take_session(DIALECT))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.map(|row| RefreshSession {
            token_hash: token_hash.to_owned(),
            username: row.get(0),
            user_id: row.get(1),
            expires_at: jcselect_sync::Timestamp::from_unix_micros(row.get(2)),
        }))
    }

    async fn get_record(
        &self,
        entity: &'static EntityDecl,
        id: Uuid,
    ) -> Result<Option<Record>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        Ok(load(&mut conn, entity, &[id]).await?.pop())
    }

    async fn records_after(
        &self,
        entity: &'static EntityDecl,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let text = sql::select_records_after(DIALECT, entity, after.is_some(), limit);
        let mut query = sqlx::query(&text);
        if let Some(after) = after {
            query = query.bind(after);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(|row| decode_record(entity, row)).collect()
    }
}

#[async_trait]
impl PushTransaction for PgPush {
    fn head(&self) -> LogPosition {
        self.head
    }

    async fn seen_changes(
        &mut self,
        ids: &[Uuid],
        stored_records: &[Uuid],
    ) -> Result<HashMap<Uuid, SeenOutcome>, StoreError> {
        let mut seen = HashMap::new();
        if !stored_records.is_empty() {
            let logged = sqlx::query_scalar::<_, Uuid>(sql::postgres::select_logged_changes())
                .bind(stored_records)
                .bind(ids)
                .fetch_all(&mut *self.tx)
                .await
                .map_err(backend)?;
            seen.extend(logged.into_iter().map(|id| (id, SeenOutcome::Processed)));
        }
        let rows = sqlx::query(sql::postgres::select_seen())
            .bind(ids)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(backend)?;
        for row in rows {
            let outcome = SeenOutcome::from_code(i64::from(row.get::<i16, _>(1)))
                .ok_or_else(|| corrupt("sync_seen_changes", "unknown outcome".into()))?;
            seen.insert(row.get::<Uuid, _>(0), outcome);
        }
        Ok(seen)
    }

    async fn supersede_log(
        &mut self,
        entity_type: &str,
        ids: &[Uuid],
        only_scope: Option<Uuid>,
    ) -> Result<(), StoreError> {
        if !ids.is_empty() {
            sqlx::query(sql::postgres::SUPERSEDE_LOG)
                .bind(entity_type)
                .bind(ids)
                .bind(only_scope)
                .execute(&mut *self.tx)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn append_log(&mut self, entries: &[LogEntry]) -> Result<(), StoreError> {
        if !entries.is_empty() {
            let column = |value: fn(&LogEntry) -> _| entries.iter().map(value).collect::<Vec<_>>();
            sqlx::query(&sql::postgres::insert_log())
                .bind(entries.iter().map(|e| e.receive_seq).collect::<Vec<i64>>())
                .bind(
                    entries
                        .iter()
                        .map(|e| e.received_at.to_datetime())
                        .collect::<Vec<_>>(),
                )
                .bind(entries.iter().map(|e| e.change_id).collect::<Vec<Uuid>>())
                .bind(column(|e| e.entity_type.clone()))
                .bind(entries.iter().map(|e| e.entity_id).collect::<Vec<Uuid>>())
                .bind(
                    entries
                        .iter()
                        .map(|e| match e.operation {
                            Operation::Insert => "INSERT",
                            Operation::Update => "UPDATE",
                        })
                        .collect::<Vec<&str>>(),
                )
                .bind(
                    entries
                        .iter()
                        .map(|e| e.scope)
                        .collect::<Vec<Option<Uuid>>>(),
                )
                .bind(column(|e| e.data.clone()))
                .execute(&mut *self.tx)
                .await
                .map_err(backend)?;
        }
        if let Some(last) = entries.last() {
            sqlx::query(&sql::update_head(DIALECT))
                .bind(last.receive_seq)
                .bind(last.received_at.to_datetime())
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
        if seen.is_empty() {
            return Ok(());
        }
        let outcomes: Vec<i16> = seen.iter().map(|(_, outcome)| outcome.code()).collect();
        sqlx::query(sql::postgres::insert_seen())
            .bind(seen.iter().map(|(id, _)| *id).collect::<Vec<Uuid>>())
            .bind(outcomes)
            .execute(&mut *self.tx)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(backend)
    }
}

#[async_trait]
impl RecordTransaction for PgPush {
    async fn load_records(
        &mut self,
        entity: &'static EntityDecl,
        ids: &[Uuid],
    ) -> Result<Vec<Record>, StoreError> {
        load(&mut self.tx, entity, ids).await
    }

    async fn upsert_records(
        &mut self,
        entity: &'static EntityDecl,
        records: &[Record],
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let text = sql::postgres::upsert_records(entity);
        let mut query = sqlx::query(&text);
        for column in column_arrays(entity, records) {
            query = bind_array(query, column);
        }
        query.execute(&mut *self.tx).await.map_err(backend)?;
        Ok(())
    }

    async fn find_matching(
        &mut self,
        entity: &'static EntityDecl,
        conditions: &[jcselect_sync::store::FieldIn<'_>],
    ) -> Result<Vec<Record>, StoreError> {
        let fields: Vec<&'static str> = conditions.iter().map(|c| c.field).collect();
        let text = sql::postgres::select_matching(entity, &fields);
        let mut query = sqlx::query(&text);
        for condition in conditions {
            let Some(declared) = entity
                .all_fields()
                .find(|declared| declared.name == condition.field)
            else {
                return Ok(Vec::new());
            };
            query = bind_array(query, column_array(declared.ty, condition.values.iter()));
        }
        query
            .fetch_all(&mut *self.tx)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| decode_record(entity, row))
            .collect()
    }
}
