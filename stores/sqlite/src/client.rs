//! The client side: the local replica's outbox and settings.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jcselect_sync::record::{FieldValue, Record};
use jcselect_sync::store::{
    ClientStore, ClientTransaction, OutboxEntry, OutboxState, OutboxSummary, StoreError,
};
use jcselect_sync::wire::Operation;
use jcselect_sync::{EntityDecl, Timestamp};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use crate::codec::app_uuid;
use crate::codec::{backend, corrupt, parse_timestamp, parse_uuid};
use crate::config::SqliteStore;
use crate::tx::{begin_client, SqliteTx};

const OUTBOX_COLUMNS: &str = "change_id, entity_type, entity_id, operation, queued_seq, state, \
                              attempts, next_attempt_at, last_error";

impl SqliteStore {
    fn decode_outbox(&self, row: &SqliteRow) -> Result<OutboxEntry, StoreError> {
        const TABLE: &str = "sync_outbox";
        let entity = self.entity(&row.get::<String, _>(1))?;
        let next: Option<String> = row.get(7);
        Ok(OutboxEntry {
            change_id: parse_uuid(TABLE, &row.get::<String, _>(0))?,
            entity_type: entity.name,
            entity_id: parse_uuid(TABLE, &row.get::<String, _>(2))?,
            operation: match row.get::<String, _>(3).as_str() {
                "INSERT" => Operation::Insert,
                _ => Operation::Update,
            },
            queued_seq: row.get(4),
            state: OutboxState::from_code(&row.get::<String, _>(5))
                .ok_or_else(|| corrupt(TABLE, "unknown outbox state".into()))?,
            attempts: row.get::<i64, _>(6).clamp(0, u32::MAX as i64) as u32,
            next_attempt_at: next.map(|text| parse_timestamp(TABLE, &text)).transpose()?,
            last_error: row.get(8),
        })
    }

    /// `CASE entity_type WHEN … END`: the dependency rank of an outbox row.
    fn rank_expression(&self) -> String {
        let entities = self.entities.read().expect("entity list lock");
        let arms: String = entities
            .iter()
            .enumerate()
            .map(|(rank, decl)| format!(" WHEN '{}' THEN {rank}", decl.name.replace('\'', "''")))
            .collect();
        format!("CASE entity_type{arms} ELSE {} END", entities.len())
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn migrate(&self, entities: &[&'static EntityDecl]) -> Result<(), StoreError> {
        self.migrate_schema(entities, true).await?;
        for entity in entities {
            self.refresh_search(entity).await?;
        }
        Ok(())
    }

    async fn search(
        &self,
        entity: &'static EntityDecl,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.search_records(entity, query, limit).await
    }

    async fn begin(&self) -> Result<Box<dyn ClientTransaction>, StoreError> {
        Ok(Box::new(begin_client(self).await?))
    }

    async fn outbox_ready(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(OutboxEntry, Record)>, StoreError> {
        let text = format!(
            "SELECT {OUTBOX_COLUMNS} FROM sync_outbox \
             WHERE state = 'pending' OR (state = 'retry' AND next_attempt_at <= ?1) \
             ORDER BY {}, queued_seq LIMIT ?2",
            self.rank_expression()
        );
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let entries: Vec<OutboxEntry> = sqlx::query(&text)
            .bind(now.to_string())
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| self.decode_outbox(row))
            .collect::<Result<_, _>>()?;
        let mut by_entity: BTreeMap<&'static str, Vec<Uuid>> = BTreeMap::new();
        for entry in &entries {
            by_entity
                .entry(entry.entity_type)
                .or_default()
                .push(entry.entity_id);
        }
        let mut reader = SqliteTx {
            tx,
            store: self.clone(),
            head: jcselect_sync::store::LogPosition {
                receive_seq: 0,
                received_at: Timestamp::MIN,
            },
            resume_capture: false,
        };
        let mut records: BTreeMap<(&'static str, Uuid), Record> = BTreeMap::new();
        for (entity, ids) in by_entity {
            for record in reader.load(self.entity(entity)?, &ids).await? {
                records.insert((entity, record.id()), record);
            }
        }
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let record = records.remove(&(entry.entity_type, entry.entity_id));
                if record.is_none() {
                    tracing::warn!(entity = entry.entity_type, id = %entry.entity_id, "outbox entry without a local record");
                }
                record.map(|record| (entry, record))
            })
            .collect())
    }

    async fn outbox_entries(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let text = format!("SELECT {OUTBOX_COLUMNS} FROM sync_outbox ORDER BY queued_seq");
        sqlx::query(&text)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| self.decode_outbox(row))
            .collect()
    }

    async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM sync_outbox GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut summary = OutboxSummary::default();
        for row in rows {
            let count = row.get::<i64, _>(1).max(0) as u64;
            match OutboxState::from_code(&row.get::<String, _>(0)) {
                Some(OutboxState::Pending) => summary.pending = count,
                Some(OutboxState::Retry) => summary.retry = count,
                Some(OutboxState::Parked) => summary.parked = count,
                None => return Err(corrupt("sync_outbox", "unknown outbox state".into())),
            }
        }
        let entities = self.entities.read().expect("entity list lock").clone();
        for entity in entities {
            let oldest: Option<String> = sqlx::query_scalar(&format!(
                "SELECT MIN(record.{version}) FROM sync_outbox AS entry \
                 JOIN {table} AS record ON record.id = entry.entity_id WHERE entry.entity_type = ?1",
                version = entity.version_field(),
                table = entity.table
            ))
            .bind(entity.name)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
            if let Some(text) = oldest {
                let at = parse_timestamp(entity.table, &text)?;
                summary.oldest_unsent_at = Some(summary.oldest_unsent_at.map_or(at, |o| o.min(at)));
            }
        }
        Ok(summary)
    }

    async fn get_record(
        &self,
        entity: &'static EntityDecl,
        id: Uuid,
    ) -> Result<Option<Record>, StoreError> {
        jcselect_sync::store::ServerStore::get_record(self, entity, id).await
    }

    async fn find_records(
        &self,
        entity: &'static EntityDecl,
        equal: &[(&str, FieldValue)],
        include_deleted: bool,
    ) -> Result<Vec<Record>, StoreError> {
        let mut conditions = Vec::new();
        for (field, _) in equal {
            // only declared names reach the SQL text
            let declared = entity
                .all_fields()
                .find(|f| f.name == *field)
                .ok_or_else(|| {
                    StoreError::Record(jcselect_sync::Error::BadDeclaration {
                        entity: entity.name,
                        problem: format!("no field `{field}` to filter on"),
                    })
                })?;
            conditions.push(format!("{} = ?", declared.name));
        }
        if !include_deleted {
            conditions.push("deleted_at IS NULL".to_owned());
        }
        let columns: Vec<&str> = entity.all_fields().map(|field| field.name).collect();
        let mut text = format!("SELECT {} FROM {}", columns.join(", "), entity.table);
        if !conditions.is_empty() {
            text.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
        let mut query = sqlx::query(&text);
        for (_, value) in equal {
            query = crate::codec::bind(query, value);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| crate::codec::decode_record(entity, row))
            .collect()
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT value FROM sync_settings WHERE name = ?1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
            .map(|row| row.map(|row| row.get(0)))
    }
}

#[async_trait]
impl ClientTransaction for SqliteTx {
    async fn load_outbox(
        &mut self,
        entity: &'static EntityDecl,
        ids: &[Uuid],
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut entries = Vec::new();
        for chunk in ids.chunks(30_000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let text = format!(
                "SELECT {OUTBOX_COLUMNS} FROM sync_outbox WHERE entity_type = ? AND entity_id IN ({marks})"
            );
            let mut query = sqlx::query(&text).bind(entity.name);
            for id in chunk {
                query = query.bind(app_uuid(id));
            }
            for row in query.fetch_all(&mut *self.tx).await.map_err(backend)? {
                entries.push(self.store.decode_outbox(&row)?);
            }
        }
        Ok(entries)
    }

    async fn enqueue(
        &mut self,
        entity: &'static EntityDecl,
        id: Uuid,
        operation: Operation,
    ) -> Result<Uuid, StoreError> {
        let change_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO sync_outbox (entity_type, entity_id, change_id, operation, queued_seq, state, attempts) \
             VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(queued_seq), 0) + 1 FROM sync_outbox), 'pending', 0) \
             ON CONFLICT (entity_type, entity_id) DO UPDATE SET change_id = excluded.change_id, \
             operation = CASE WHEN sync_outbox.operation = 'INSERT' THEN 'INSERT' ELSE excluded.operation END, \
             state = 'pending', attempts = 0, next_attempt_at = NULL, last_error = NULL",
        )
        .bind(entity.name)
        .bind(app_uuid(&id))
        .bind(change_id.to_string())
        .bind(match operation {
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
        })
        .execute(&mut *self.tx)
        .await
        .map_err(backend)?;
        Ok(change_id)
    }

    async fn remove_outbox(&mut self, change_ids: &[Uuid]) -> Result<(), StoreError> {
        for chunk in change_ids.chunks(30_000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let text = format!("DELETE FROM sync_outbox WHERE change_id IN ({marks})");
            let mut query = sqlx::query(&text);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query.execute(&mut *self.tx).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn update_outbox(&mut self, entry: &OutboxEntry) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sync_outbox SET state = ?1, attempts = ?2, next_attempt_at = ?3, last_error = ?4 \
             WHERE change_id = ?5",
        )
        .bind(entry.state.code())
        .bind(i64::from(entry.attempts))
        .bind(entry.next_attempt_at.map(|ts| ts.to_string()))
        .bind(entry.last_error.clone())
        .bind(entry.change_id.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn requeue_parked(&mut self, change_ids: Option<&[Uuid]>) -> Result<u64, StoreError> {
        const REQUEUE: &str = "UPDATE sync_outbox SET state = 'pending', attempts = 0, \
                               next_attempt_at = NULL WHERE state = 'parked'";
        let result = match change_ids {
            None => sqlx::query(REQUEUE).execute(&mut *self.tx).await,
            Some(ids) => {
                let marks = vec!["?"; ids.len()].join(", ");
                let text = format!("{REQUEUE} AND change_id IN ({marks})");
                let mut query = sqlx::query(&text);
                for id in ids {
                    query = query.bind(id.to_string());
                }
                query.execute(&mut *self.tx).await
            }
        };
        Ok(result.map_err(backend)?.rows_affected())
    }

    async fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sync_settings (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *self.tx)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        SqliteTx::commit(*self).await
    }
}
