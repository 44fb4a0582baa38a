//! The server side: push transactions and the change log.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use jcselect_store_sql as sql;
use jcselect_sync::record::Record;
use jcselect_sync::store::ParentCount;
use jcselect_sync::store::{
    LogEntry, LogPosition, LogQuery, Login, PushTransaction, RecordTransaction, RefreshSession,
    SeenOutcome, ServerStore, StationSeen, StoreError,
};
use jcselect_sync::wire::Operation;
use jcselect_sync::EntityDecl;
use tiberius::{Query, Row};
use uuid::Uuid;

use crate::codec::{backend, bind, bind_field, corrupt, datetime, decode_record, pool, timestamp};
use crate::config::{Connection, Manager, MssqlStore};
use crate::statements::{record_rows_per_statement, BEGIN, COMMIT, DIALECT, ROLLBACK_IF_OPEN};

fn pens_text(pens: &[Uuid]) -> String {
    serde_json::to_string(pens).expect("UUIDs serialise")
}

fn parse_pens(table: &'static str, text: &str) -> Result<Vec<Uuid>, StoreError> {
    serde_json::from_str(text).map_err(|error| corrupt(table, format!("pens: {error}")))
}

/// A `sync_logins` row read by [`sql::select_logins`].
fn login_from_row(row: &Row) -> Result<Login, StoreError> {
    let bad = |error: tiberius::error::Error| corrupt("sync_logins", error.to_string());
    let text = |index: usize| row.try_get::<&str, _>(index).map_err(bad);
    Ok(Login {
        username: text(0)?.unwrap_or_default().to_owned(),
        user_id: row
            .try_get::<Uuid, _>(1)
            .map_err(bad)?
            .ok_or_else(|| corrupt("sync_logins", "user_id is null".into()))?,
        password_hash: text(2)?.map(str::to_owned),
        pens: parse_pens("sync_logins", text(3)?.unwrap_or("[]"))?,
    })
}

async fn fetch(conn: &mut Connection, query: Query<'_>) -> Result<Vec<Row>, StoreError> {
    query
        .query(conn)
        .await
        .map_err(backend)?
        .into_first_result()
        .await
        .map_err(backend)
}

fn decode_head(rows: Vec<Row>) -> Result<LogPosition, StoreError> {
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| corrupt("sync_state", "no head row; was the store migrated?".into()))?;
    let bad = |error: tiberius::error::Error| corrupt("sync_state", error.to_string());
    Ok(LogPosition {
        receive_seq: row.try_get::<i64, _>(0).map_err(bad)?.unwrap_or(0),
        received_at: timestamp(
            "sync_state",
            row.try_get::<NaiveDateTime, _>(1)
                .map_err(bad)?
                .ok_or_else(|| corrupt("sync_state", "no time".into()))?,
        )?,
    })
}

async fn load(
    conn: &mut Connection,
    entity: &'static EntityDecl,
    ids: &[Uuid],
) -> Result<Vec<Record>, StoreError> {
    let mut records = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(DIALECT.max_parameters()) {
        let mut query = Query::new(sql::select_records(DIALECT, entity, chunk.len()).to_string());
        for id in chunk {
            query.bind(*id);
        }
        for row in fetch(conn, query).await? {
            records.push(decode_record(entity, &row)?);
        }
    }
    Ok(records)
}

fn log_query(log: &LogQuery, text: impl FnOnce(Option<usize>) -> String) -> Query<'static> {
    let pens = log.scope.pens().unwrap_or_default();
    let count = log.scope.pens().map(<[Uuid]>::len);
    let mut query = Query::new(text(count));
    for bind in sql::log_binds(count) {
        match bind {
            sql::LogBind::After => query.bind(log.after_seq),
            sql::LogBind::UpTo => query.bind(log.up_to_seq),
            sql::LogBind::Pen(n) => query.bind(pens[n]),
        }
    }
    query
}

fn decode_log_row(row: &Row) -> Result<LogEntry, StoreError> {
    const TABLE: &str = "sync_log";
    let bad = |error: tiberius::error::Error| corrupt(TABLE, error.to_string());
    let missing = |column: &str| corrupt(TABLE, format!("{column} is null"));
    Ok(LogEntry {
        receive_seq: row
            .try_get::<i64, _>(0)
            .map_err(bad)?
            .ok_or_else(|| missing("receive_seq"))?,
        received_at: timestamp(
            TABLE,
            row.try_get::<NaiveDateTime, _>(1)
                .map_err(bad)?
                .ok_or_else(|| missing("received_at"))?,
        )?,
        change_id: row
            .try_get::<Uuid, _>(2)
            .map_err(bad)?
            .ok_or_else(|| missing("change_id"))?,
        entity_type: row
            .try_get::<&str, _>(3)
            .map_err(bad)?
            .ok_or_else(|| missing("entity_type"))?
            .to_owned(),
        entity_id: row
            .try_get::<Uuid, _>(4)
            .map_err(bad)?
            .ok_or_else(|| missing("entity_id"))?,
        operation: match row.try_get::<&str, _>(5).map_err(bad)? {
            Some("INSERT") => Operation::Insert,
            _ => Operation::Update,
        },
        scope: row.try_get::<Uuid, _>(6).map_err(bad)?,
        data: row
            .try_get::<&str, _>(7)
            .map_err(bad)?
            .ok_or_else(|| missing("data"))?
            .to_owned(),
    })
}

/// One push transaction, holding the head row's update lock until it ends.
struct MssqlPush {
    conn: Option<bb8::PooledConnection<'static, Manager>>,
    head: LogPosition,
}

impl MssqlPush {
    fn conn(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("connection held until commit or drop")
    }
}

impl Drop for MssqlPush {
    fn drop(&mut self) {
        // Dropped without commit: roll back now, so the head's lock is not
        // held until the pool hands the connection out again.
        if let Some(mut conn) = self.conn.take() {
            tokio::spawn(async move {
                if let Err(error) = conn.execute(ROLLBACK_IF_OPEN, &[]).await {
                    tracing::warn!(%error, "rollback of an abandoned push failed");
                }
            });
        }
    }
}

#[async_trait]
impl ServerStore for MssqlStore {
    async fn migrate(&self, entities: &[&'static EntityDecl]) -> Result<(), StoreError> {
        self.migrate_schema(entities).await
    }

    async fn begin_push(&self) -> Result<Box<dyn PushTransaction>, StoreError> {
        let mut conn = self.pool.get_owned().await.map_err(pool)?;
        conn.execute(BEGIN, &[]).await.map_err(backend)?;
        let mut push = MssqlPush {
            conn: Some(conn),
            head: LogPosition {
                receive_seq: 0,
                received_at: jcselect_sync::Timestamp::MIN,
            },
        };
        let rows = fetch(push.conn(), Query::new(sql::lock_head(DIALECT))).await?;
        push.head = decode_head(rows)?;
        Ok(Box::new(push))
    }

    async fn log_head(&self) -> Result<LogPosition, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool)?;
        decode_head(fetch(&mut conn, Query::new(sql::read_head(DIALECT))).await?)
    }

    async fn read_log(&self, log: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        let limit = log.limit.min(i64::MAX as usize);
        let query = log_query(log, |pens| {
            sql::read_log(DIALECT, pens, limit, log.offset, !log.with_superseded)
        });
        let mut conn = self.pool.get().await.map_err(pool)?;
        fetch(&mut conn, query)
            .await?
            .iter()
            .map(decode_log_row)
            .collect()
    }

    async fn count_log(&self, log: &LogQuery, cap: u64) -> Result<u64, StoreError> {
        let query = log_query(log, |pens| {
            sql::count_log(DIALECT, pens, !log.with_superseded, cap)
        });
        let mut conn = self.pool.get().await.map_err(pool)?;
        let rows = fetch(&mut conn, query).await?;
        let count = rows
            .first()
            .and_then(|row| row.try_get::<i32, _>(0).ok().flatten())
            .unwrap_or(0);
        Ok(count.max(0) as u64)
    }

    async fn log_position_from(&self, receive_seq: i64) -> Result<Option<LogPosition>, StoreError> {
        let mut query = Query::new(sql::log_position_from(DIALECT));
        query.bind(receive_seq);
        let mut conn = self.pool.get().await.map_err(pool)?;
        let rows = fetch(&mut conn, query).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        decode_head(rows).map(Some)
    }

    async fn put_login(&self, login: &Login) -> Result<(), StoreError> {
        let mut query = Query::new(sql::upsert_login(DIALECT));
        query.bind(login.username.clone());
        query.bind(login.user_id);
        query.bind(login.password_hash.clone());
        query.bind(pens_text(&login.pens));
        let mut conn = self.pool.get().await.map_err(pool)?;
        query.execute(&mut *conn).await.map_err(backend)?;
        Ok(())
    }

    async fn login(&self, username: &str) -> Result<Option<Login>, StoreError> {
        let mut query = Query::new(sql::select_logins(DIALECT, true));
        query.bind(username.to_owned());
        let mut conn = self.pool.get().await.map_err(pool)?;
        let rows = fetch(&mut conn, query).await?;
        rows.first().map(login_from_row).transpose()
    }

    async fn logins(&self) -> Result<Vec<Login>, StoreError> {
        let query = Query::new(sql::select_logins(DIALECT, false));
        let mut conn = self.pool.get().await.map_err(pool)?;
        fetch(&mut conn, query)
            .await?
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
        let bad = |error: tiberius::error::Error| corrupt(entity.table, error.to_string());
        let mut conn = self.pool.get().await.map_err(pool)?;
        let mut counts = Vec::new();
        for parents in sql::parent_chunks(only) {
            let text = sql::count_per_parent(DIALECT, entity, parent, flag, parents.len())
                .map_err(|message| StoreError::Config {
                    store: "mssql",
                    message,
                })?;
            let mut query = Query::new(text);
            for id in parents {
                query.bind(*id);
            }
            for row in fetch(&mut conn, query).await? {
                counts.push(ParentCount {
                    parent: row
                        .try_get::<Uuid, _>(0)
                        .map_err(bad)?
                        .ok_or_else(|| corrupt(entity.table, "a null parent".into()))?,
                    records: row.try_get::<i64, _>(1).map_err(bad)?.unwrap_or(0).max(0) as u64,
                    flagged: row.try_get::<i64, _>(2).map_err(bad)?.unwrap_or(0).max(0) as u64,
                });
            }
        }
        Ok(counts)
    }

    async fn put_station(&self, station: &StationSeen) -> Result<(), StoreError> {
        let mut query = Query::new(sql::upsert_station(DIALECT));
        query.bind(station.report.client_id.clone());
        query.bind(station.user_id);
        query.bind(station.seen_at.unix_micros());
        query.bind(sql::station_report_text(station));
        let mut conn = self.pool.get().await.map_err(pool)?;
        query.execute(&mut *conn).await.map_err(backend)?;
        Ok(())
    }

    async fn stations(&self) -> Result<Vec<StationSeen>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool)?;
        let rows = fetch(&mut conn, Query::new(sql::SELECT_STATIONS)).await?;
        let bad = |error: tiberius::error::Error| corrupt("sync_stations", error.to_string());
        rows.iter()
            .map(|row| {
                let user_id = row
                    .try_get::<Uuid, _>(1)
                    .map_err(bad)?
                    .ok_or_else(|| corrupt("sync_stations", "user_id is null".into()))?;
                let seen = row
                    .try_get::<i64, _>(2)
                    .map_err(bad)?
                    .ok_or_else(|| corrupt("sync_stations", "seen_at_micros is null".into()))?;
                let report = row.try_get::<&str, _>(3).map_err(bad)?.unwrap_or("");
                sql::station_from_row("mssql", user_id, seen, report)
            })
            .collect()
    }

    async fn put_session(
        &self,
        session: &RefreshSession,
        now: jcselect_sync::Timestamp,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool)?;
        let mut forget = Query::new(sql::delete_expired_sessions(DIALECT));
        forget.bind(now.unix_micros());
        forget.execute(&mut *conn).await.map_err(backend)?;
        let mut keep = Query::new(sql::insert_session(DIALECT));
        keep.bind(session.token_hash.clone());
        keep.bind(session.username.clone());
        keep.bind(session.user_id);
        keep.bind(session.expires_at.unix_micros());
        keep.execute(&mut *conn).await.map_err(backend)?;
        Ok(())
    }

    async fn take_session(&self, token_hash: &str) -> Result<Option<RefreshSession>, StoreError> {
        let mut query = Query::new(sql::take_session(DIALECT));
        query.bind(token_hash.to_owned());
        let mut conn = self.pool.get().await.map_err(pool)?;
        let rows = fetch(&mut conn, query).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let bad = |error: tiberius::error::Error| corrupt("sync_sessions", error.to_string());
        let missing = |column: &str| corrupt("sync_sessions", format!("{column} is null"));
        Ok(Some(RefreshSession {
            token_hash: token_hash.to_owned(),
            username: row
                .try_get::<&str, _>(0)
                .map_err(bad)?
                .ok_or_else(|| missing("username"))?
                .to_owned(),
            user_id: row
                .try_get::<Uuid, _>(1)
                .map_err(bad)?
                .ok_or_else(|| missing("user_id"))?,
            expires_at: jcselect_sync::Timestamp::from_unix_micros(
                row.try_get::<i64, _>(2)
                    .map_err(bad)?
                    .ok_or_else(|| missing("expires_at_micros"))?,
            ),
        }))
    }

    async fn get_record(
        &self,
        entity: &'static EntityDecl,
        id: Uuid,
    ) -> Result<Option<Record>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool)?;
        Ok(load(&mut conn, entity, &[id]).await?.pop())
    }

    async fn records_after(
        &self,
        entity: &'static EntityDecl,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool)?;
        let mut query = Query::new(sql::select_records_after(
            DIALECT,
            entity,
            after.is_some(),
            limit,
        ));
        if let Some(after) = after {
            query.bind(after);
        }
        fetch(&mut conn, query)
            .await?
            .iter()
            .map(|row| decode_record(entity, row))
            .collect()
    }
}

#[async_trait]
impl PushTransaction for MssqlPush {
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
                let mut query = Query::new(text.to_string());
                for id in records.iter().chain(changes) {
                    query.bind(*id);
                }
                for row in fetch(self.conn(), query).await? {
                    if let Some(id) = row.try_get::<Uuid, _>(0).map_err(backend)? {
                        seen.insert(id, SeenOutcome::Processed);
                    }
                }
            }
        }
        for chunk in ids.chunks(DIALECT.max_parameters()) {
            let mut query = Query::new(sql::select_seen(DIALECT, chunk.len()).to_string());
            for id in chunk {
                query.bind(*id);
            }
            for row in fetch(self.conn(), query).await? {
                let id = row.try_get::<Uuid, _>(0).map_err(backend)?;
                let outcome = row
                    .try_get::<i16, _>(1)
                    .map_err(backend)?
                    .and_then(|code| SeenOutcome::from_code(i64::from(code)));
                if let (Some(id), Some(outcome)) = (id, outcome) {
                    seen.insert(id, outcome);
                }
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
            let mut query = Query::new(sql::supersede_log(
                DIALECT,
                chunk.len(),
                only_scope.is_some(),
            ));
            query.bind(entity_type.to_owned());
            for id in chunk {
                query.bind(*id);
            }
            if let Some(scope) = only_scope {
                query.bind(scope);
            }
            query.execute(self.conn()).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn append_log(&mut self, entries: &[LogEntry]) -> Result<(), StoreError> {
        for chunk in entries.chunks(sql::log_rows_per_statement(DIALECT)) {
            let mut query = Query::new(sql::insert_log(DIALECT, chunk.len()).to_string());
            for entry in chunk {
                query.bind(entry.receive_seq);
                query.bind(datetime(entry.received_at));
                query.bind(entry.change_id);
                query.bind(entry.entity_type.clone());
                query.bind(entry.entity_id);
                query.bind(match entry.operation {
                    Operation::Insert => "INSERT",
                    Operation::Update => "UPDATE",
                });
                query.bind(entry.scope);
                query.bind(entry.data.clone());
            }
            query.execute(self.conn()).await.map_err(backend)?;
        }
        if let Some(last) = entries.last() {
            let mut query = Query::new(sql::update_head(DIALECT));
            query.bind(last.receive_seq);
            query.bind(datetime(last.received_at));
            query.execute(self.conn()).await.map_err(backend)?;
            self.head = LogPosition {
                receive_seq: last.receive_seq,
                received_at: last.received_at,
            };
        }
        Ok(())
    }

    async fn remember_changes(&mut self, seen: &[(Uuid, SeenOutcome)]) -> Result<(), StoreError> {
        for chunk in seen.chunks(DIALECT.rows_per_statement(2)) {
            let mut query = Query::new(sql::insert_seen(DIALECT, chunk.len()).to_string());
            for (id, outcome) in chunk {
                query.bind(*id);
                query.bind(outcome.code());
            }
            query.execute(self.conn()).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let mut conn = self.conn.take().expect("connection held until commit");
        conn.execute(COMMIT, &[]).await.map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl RecordTransaction for MssqlPush {
    async fn load_records(
        &mut self,
        entity: &'static EntityDecl,
        ids: &[Uuid],
    ) -> Result<Vec<Record>, StoreError> {
        load(self.conn(), entity, ids).await
    }

    async fn upsert_records(
        &mut self,
        entity: &'static EntityDecl,
        records: &[Record],
    ) -> Result<(), StoreError> {
        for chunk in records.chunks(record_rows_per_statement(entity)) {
            let mut query =
                Query::new(sql::upsert_records(DIALECT, entity, chunk.len()).to_string());
            for record in chunk {
                for (value, field) in record.values().iter().zip(entity.all_fields()) {
                    bind_field(&mut query, field, value);
                }
            }
            query.execute(self.conn()).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn find_matching(
        &mut self,
        entity: &'static EntityDecl,
        conditions: &[jcselect_sync::store::FieldIn<'_>],
    ) -> Result<Vec<Record>, StoreError> {
        let Some((last, fixed)) = conditions.split_last() else {
            return Ok(Vec::new());
        };
        let type_of = |field: &str| {
            entity
                .all_fields()
                .find(|declared| declared.name == field)
                .map(|declared| declared.ty)
        };
        let fixed_values: usize = fixed.iter().map(|c| c.values.len()).sum();
        let room = DIALECT.max_parameters().saturating_sub(fixed_values).max(1);
        let mut records = Vec::new();
        for chunk in last.values.chunks(room) {
            let shape: Vec<(&'static str, usize)> = fixed
                .iter()
                .map(|c| (c.field, c.values.len()))
                .chain(std::iter::once((last.field, chunk.len())))
                .collect();
            let mut query = Query::new(sql::select_matching(DIALECT, entity, &shape));
            let bound = fixed
                .iter()
                .flat_map(|c| c.values.iter().map(move |value| (c.field, value)))
                .chain(chunk.iter().map(|value| (last.field, value)));
            for (field, value) in bound {
                let Some(ty) = type_of(field) else {
                    return Ok(Vec::new());
                };
                bind(&mut query, value, ty);
            }
            for row in fetch(self.conn(), query).await? {
                records.push(decode_record(entity, &row)?);
            }
        }
        Ok(records)
    }
}
