//! `jcselect-server export`: the records `import` takes, in the same
//! shapes (so that what was imported round-trips), who voted per pen, and
//! the audit rows of one pen — as CSV, a page of records at a time.

use std::collections::HashMap;
use std::io::Write;

use jcselect_entities::{AuditLog, Party, Pen, User, Voter};
use jcselect_sync::auth::ScopeFilter;
use jcselect_sync::decl::EntityDecl;
use jcselect_sync::store::{LogPages, ServerStore, StoreError};
use jcselect_sync::{Record, Syncable};
use uuid::Uuid;

use crate::error::ServerError;

/// Records read per page.
const PAGE: usize = 1000;

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// Live pens: `town_name`, `label`.
    Pens,
    /// Live parties: `name`, `short_code`, `display_order`, `is_active`.
    Parties,
    /// Live voters with their pen's `town_name` and `label`, in the
    /// columns `import --voters` takes.
    Voters,
    /// Per live pen: its voters, how many voted, the turnout in percent.
    Turnout,
    /// The audit rows of one pen (its voters', sessions', lines' and its
    /// own), oldest first, operators by user name.
    Audit {
        /// The pen.
        pen: Uuid,
    },
}

/// Calls `each` with every stored record of `entity` (tombstones
/// included), a page at a time.
async fn each_record(
    store: &dyn ServerStore,
    entity: &'static EntityDecl,
    mut each: impl FnMut(Record) -> Result<(), ServerError>,
) -> Result<(), ServerError> {
    let mut after = None;
    loop {
        let page = store.records_after(entity, after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.id());
        for record in page {
            each(record)?;
        }
    }
}

/// Every live record of `T`.
pub(crate) async fn live<T: Syncable>(store: &dyn ServerStore) -> Result<Vec<T>, ServerError> {
    let mut out = Vec::new();
    each_record(store, T::DECL, |record| {
        if !record.is_tombstone() {
            out.push(T::from_record(&record).map_err(StoreError::from)?);
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// A pen's `town_name` and `label` by id (tombstones too, so that a
/// voter of a deleted pen still names it).
async fn pen_names(
    store: &dyn ServerStore,
) -> Result<HashMap<Uuid, (String, String)>, ServerError> {
    let mut names = HashMap::new();
    each_record(store, Pen::DECL, |record| {
        let pen = Pen::from_record(&record).map_err(StoreError::from)?;
        names.insert(pen.id, (pen.town_name, pen.label));
        Ok(())
    })
    .await?;
    Ok(names)
}

fn csv_error(error: csv::Error) -> ServerError {
    ServerError::io("writing the export", std::io::Error::other(error))
}

fn text(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// Writes `what` as CSV (a header row, then one row per record) to `out`;
/// returns how many rows.
pub async fn export(
    store: &dyn ServerStore,
    what: Export,
    out: impl Write,
) -> Result<u64, ServerError> {
    let mut sheet = Sheet {
        csv: csv::Writer::from_writer(out),
        rows: 0,
    };
    match what {
        Export::Pens => {
            sheet.header(&["town_name", "label"])?;
            let mut pens = live::<Pen>(store).await?;
            pens.sort_by(|a, b| (&a.town_name, &a.label).cmp(&(&b.town_name, &b.label)));
            for pen in pens {
                sheet.row(vec![pen.town_name, pen.label])?;
            }
        }
        Export::Parties => {
            sheet.header(&["name", "short_code", "display_order", "is_active"])?;
            let mut parties = live::<Party>(store).await?;
            parties.sort_by(|a, b| (a.display_order, &a.name).cmp(&(b.display_order, &b.name)));
            for party in parties {
                sheet.row(vec![
                    party.name,
                    text(party.short_code),
                    party.display_order.to_string(),
                    party.is_active.to_string(),
                ])?;
            }
        }
        Export::Voters => {
            sheet.header(&[
                "town_name",
                "label",
                "voter_number",
                "full_name",
                "father_name",
                "mother_name",
                "birth_year",
                "gender",
            ])?;
            let pens = pen_names(store).await?;
            let mut failed = None;
            each_record(store, Voter::DECL, |record| {
                if record.is_tombstone() {
                    return Ok(());
                }
                let voter = Voter::from_record(&record).map_err(StoreError::from)?;
                let Some((town, label)) = pens.get(&voter.pen_id) else {
                    failed = Some(voter.pen_id);
                    return Ok(());
                };
                sheet.row(vec![
                    town.clone(),
                    label.clone(),
                    voter.voter_number,
                    voter.full_name,
                    text(voter.father_name),
                    text(voter.mother_name),
                    text(voter.birth_year),
                    text(voter.gender),
                ])
            })
            .await?;
            if let Some(pen) = failed {
                return Err(ServerError::User(format!(
                    "a voter names pen {pen}, which this server does not hold"
                )));
            }
        }
        Export::Turnout => {
            sheet.header(&["town_name", "label", "voters", "voted", "turnout_percent"])?;
            let mut counts: HashMap<Uuid, (u64, u64)> = HashMap::new();
            each_record(store, Voter::DECL, |record| {
                if !record.is_tombstone() {
                    let voter = Voter::from_record(&record).map_err(StoreError::from)?;
                    let count = counts.entry(voter.pen_id).or_default();
                    count.0 += 1;
                    count.1 += u64::from(voter.has_voted);
                }
                Ok(())
            })
            .await?;
            let mut pens = live::<Pen>(store).await?;
            pens.sort_by(|a, b| (&a.town_name, &a.label).cmp(&(&b.town_name, &b.label)));
            for pen in pens {
                let (voters, voted) = counts.get(&pen.id).copied().unwrap_or_default();
                let percent = if voters == 0 {
                    String::new()
                } else {
                    format!("{:.1}", voted as f64 * 100.0 / voters as f64)
                };
                sheet.row(vec![
                    pen.town_name,
                    pen.label,
                    voters.to_string(),
                    voted.to_string(),
                    percent,
                ])?;
            }
        }
        Export::Audit { pen } => {
            if store.get_record(Pen::DECL, pen).await?.is_none() {
                return Err(ServerError::User(format!(
                    "there is no pen {pen} on this server"
                )));
            }
            sheet.header(&[
                "timestamp",
                "action",
                "entity_type",
                "entity_id",
                "operator",
                "old_values",
                "new_values",
            ])?;
            let usernames: HashMap<Uuid, String> = live::<User>(store)
                .await?
                .into_iter()
                .map(|user| (user.id, user.username))
                .collect();
            let mut audits = pen_audit_rows(store, pen).await?;
            audits.sort_by_key(|audit| audit.timestamp);
            for audit in audits {
                sheet.row(vec![
                    audit.timestamp.to_string(),
                    audit.action,
                    audit.entity_type,
                    audit.entity_id.to_string(),
                    audit
                        .operator_id
                        .map(|id| {
                            usernames
                                .get(&id)
                                .cloned()
                                .unwrap_or_else(|| id.to_string())
                        })
                        .unwrap_or_default(),
                    text(audit.old_values),
                    text(audit.new_values),
                ])?;
            }
        }
    }
    sheet
        .csv
        .flush()
        .map_err(|error| ServerError::io("writing the export", error))?;
    Ok(sheet.rows)
}

/// The CSV being written and its rows so far (the header not counted).
struct Sheet<W: Write> {
    csv: csv::Writer<W>,
    rows: u64,
}

impl<W: Write> Sheet<W> {
    fn header(&mut self, columns: &[&str]) -> Result<(), ServerError> {
        self.csv.write_record(columns).map_err(csv_error)
    }

    fn row(&mut self, fields: Vec<String>) -> Result<(), ServerError> {
        self.rows += 1;
        self.csv.write_record(&fields).map_err(csv_error)
    }
}

/// The live audit rows logged in `pen`'s scope, read through the scope
/// index of the change log.
async fn pen_audit_rows(store: &dyn ServerStore, pen: Uuid) -> Result<Vec<AuditLog>, ServerError> {
    let head = store.log_head().await?.receive_seq;
    let mut pages = LogPages::new(store, 0, head, ScopeFilter::GlobalAnd(vec![pen]), PAGE);
    let mut audits = Vec::new();
    while let Some(page) = pages.next_page().await? {
        for entry in page {
            if entry.scope == Some(pen) && entry.entity_type == AuditLog::DECL.name {
                let record =
                    Record::from_json_str(AuditLog::DECL, &entry.data).map_err(StoreError::from)?;
                if !record.is_tombstone() {
                    audits.push(AuditLog::from_record(&record).map_err(StoreError::from)?);
                }
            }
        }
    }
    Ok(audits)
}

/// The live pen of this town and label.
pub async fn find_pen(
    store: &dyn ServerStore,
    town: &str,
    label: &str,
) -> Result<Uuid, ServerError> {
    live::<Pen>(store)
        .await?
        .into_iter()
        .find(|pen| pen.town_name == town && pen.label == label)
        .map(|pen| pen.id)
        .ok_or_else(|| {
            ServerError::User(format!("there is no pen {town} / {label} on this server"))
        })
}
