//! `jcselect-server import`: pens, parties, voters (and, in [`users`],
//! operators) from CSV or JSON lines files, matched by natural key so that a re-run changes only what
//! changed and creates nothing twice.
//!
//! Each file is read twice: a check of every row (its columns, values,
//! parents, duplicates inside the file, what it would add or change),
//! then — only when no row is bad, and not with `--dry-run` — the same
//! rows again in batches pushed through the server's own push (the checks,
//! the change log and the audit rows of any client). A file with a bad row
//! applies nothing. Memory holds one batch, the parents named, and a fixed
//! filter of the keys read (see [`duplicates`]).

mod duplicates;
mod kind;
mod plan;
mod source;
mod users;

use std::collections::HashMap;
use std::path::PathBuf;

use jcselect_entities::SyncAudit;
use jcselect_sync::auth::{Principal, Role};
use jcselect_sync::push::{apply_push, PushContext};
use jcselect_sync::store::ServerStore;
use jcselect_sync::wire::SyncPushRequest;
use jcselect_sync::{Registry, Timestamp};
use uuid::Uuid;

pub use kind::Kind;
pub use plan::Outcome;
pub use source::RowError;
pub use users::{UsersFile, UsersReport};

use crate::error::ServerError;
use plan::{Parents, Planner};

/// Rows read, checked and pushed together.
const BATCH: usize = 500;
/// Bad rows a report lists (the rest are counted).
const ERRORS_LISTED: usize = 100;
/// Rows a report describes per outcome (the rest are counted).
const EXAMPLES_LISTED: usize = 10;

/// One file to import.
#[derive(Debug, Clone)]
pub struct ImportFile {
    /// What its rows are.
    pub kind: Kind,
    /// Where it is.
    pub path: PathBuf,
}

/// What became of one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub file: ImportFile,
    /// Rows that add a record.
    pub added: u64,
    /// Rows that change a stored record.
    pub changed: u64,
    /// Rows equal to what is stored.
    pub unchanged: u64,
    /// The first rows of each outcome, described for a person.
    pub examples: Vec<(Outcome, String)>,
    /// The first bad rows.
    pub errors: Vec<RowError>,
    /// How many rows were bad.
    pub error_count: u64,
    /// Whether its changes were written (false on a dry run or a bad row).
    pub applied: bool,
}

/// How far the import is through a file.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The file.
    pub file: &'a ImportFile,
    /// `"checking"` or `"importing"`.
    pub phase: &'static str,
    /// Bytes read of `size`.
    pub bytes_read: u64,
    /// The file's size in bytes.
    pub size: u64,
    /// Rows read.
    pub rows: u64,
}

/// Imports `files`, parents' kinds first (pens before voters), each all or
/// nothing. `dry_run` checks and reports without writing. `progress` is
/// called after every batch.
pub async fn import(
    store: &dyn ServerStore,
    registry: &Registry,
    files: Vec<ImportFile>,
    dry_run: bool,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Vec<FileReport>, ServerError> {
    Ok(
        import_with_users(store, registry, files, None, dry_run, progress)
            .await?
            .0,
    )
}

/// [`import`], then a users file (after the pens, whose names it uses;
/// not read when a file before it did not import).
pub async fn import_with_users(
    store: &dyn ServerStore,
    registry: &Registry,
    mut files: Vec<ImportFile>,
    users: Option<&UsersFile>,
    dry_run: bool,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<(Vec<FileReport>, Option<UsersReport>), ServerError> {
    files.sort_by_key(|file| file.kind);
    let mut parents = Parents::default();
    let mut reports = Vec::new();
    for file in files {
        let _span =
            tracing::info_span!("import", file = %file.path.display(), kind = file.kind.name())
                .entered();
        let mut report = run(
            store,
            registry,
            &file,
            Pass::Check { dry_run },
            &mut parents,
            progress,
        )
        .await?;
        if report.error_count == 0 && !dry_run {
            report = run(store, registry, &file, Pass::Apply, &mut parents, progress).await?;
            report.applied = true;
        }
        reports.push(report);
    }
    let users = match users {
        Some(file) if reports.iter().all(|report| report.error_count == 0) => {
            Some(users::import_users(store, registry, file, &mut parents, dry_run).await?)
        }
        _ => None,
    };
    Ok((reports, users))
}

/// One read of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Checks every row; on a dry run the records it would add stand as
    /// parents for the files after it.
    Check { dry_run: bool },
    /// Pushes the rows' records.
    Apply,
}

async fn run(
    store: &dyn ServerStore,
    registry: &Registry,
    file: &ImportFile,
    pass: Pass,
    parents: &mut Parents,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<FileReport, ServerError> {
    let mut rows = source::open(&file.path)?;
    let mut report = FileReport {
        file: file.clone(),
        added: 0,
        changed: 0,
        unchanged: 0,
        examples: Vec::new(),
        errors: Vec::new(),
        error_count: 0,
        applied: false,
    };
    let mut planner = Planner::new(file.kind);
    if let Some(columns) = &rows.columns {
        if let Err(message) = planner.check_columns(columns) {
            report.error_count = 1;
            report.errors.push(RowError { line: 1, message });
            return Ok(report);
        }
    }
    let phase = if pass == Pass::Apply {
        "importing"
    } else {
        "checking"
    };
    let now = Timestamp::now();
    let mut read = 0;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        let mut bad = Vec::new();
        for row in rows.by_ref().take(BATCH) {
            match row {
                Ok(row) => batch.push(row),
                Err(error) => bad.push(error),
            }
        }
        let done = batch.is_empty() && bad.is_empty();
        read += (batch.len() + bad.len()) as u64;
        let planned = planner.plan(store, parents, batch, now).await?;
        bad.extend(planned.errors);
        for error in bad {
            report.error_count += 1;
            if report.errors.len() < ERRORS_LISTED {
                report.errors.push(error);
            }
        }
        for (outcome, description) in &planned.described {
            let count = match outcome {
                Outcome::Added => &mut report.added,
                Outcome::Changed => &mut report.changed,
                Outcome::Unchanged => &mut report.unchanged,
            };
            *count += 1;
            let listed = report.examples.iter().filter(|(o, _)| o == outcome).count();
            if *outcome != Outcome::Unchanged && listed < EXAMPLES_LISTED {
                report.examples.push((*outcome, description.clone()));
            }
        }
        match pass {
            Pass::Apply => {
                push(store, registry, &planned.changes, now).await?;
                parents.learn(file.kind, &planned.keys);
            }
            Pass::Check { dry_run: true } => parents.learn(file.kind, &planned.keys),
            Pass::Check { dry_run: false } => {}
        }
        progress(Progress {
            file,
            phase,
            bytes_read: rows.bytes_read(),
            size: rows.size,
            rows: read,
        });
        if done {
            break;
        }
    }
    if matches!(pass, Pass::Check { .. }) && planner.has_suspects() {
        for error in find_repeated_keys(store, file, &mut planner, parents, now, progress).await? {
            report.error_count += 1;
            if report.errors.len() < ERRORS_LISTED {
                report.errors.push(error);
            }
        }
    }
    report.errors.sort_by_key(|error| error.line);
    Ok(report)
}

/// The second read of a file whose check saw keys that may repeat: every
/// line of each, and a bad row for each repeat.
async fn find_repeated_keys(
    store: &dyn ServerStore,
    file: &ImportFile,
    planner: &mut Planner,
    parents: &mut Parents,
    now: Timestamp,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Vec<RowError>, ServerError> {
    let mut confirmation = planner.suspects();
    let mut rows = source::open(&file.path)?;
    let mut read = 0;
    loop {
        let read_now: Vec<_> = rows.by_ref().take(BATCH).collect();
        if read_now.is_empty() {
            break;
        }
        read += read_now.len() as u64;
        let batch = read_now.into_iter().filter_map(Result::ok).collect();
        planner
            .confirm(store, parents, batch, now, &mut confirmation)
            .await?;
        progress(Progress {
            file,
            phase: "looking for repeated keys in",
            bytes_read: rows.bytes_read(),
            size: rows.size,
            rows: read,
        });
    }
    Ok(planner.duplicates(confirmation))
}

/// Pushes a batch's changes as the server itself; anything not processed
/// stops the import (the check found nothing wrong, so another writer
/// changed the same records meanwhile).
async fn push(
    store: &dyn ServerStore,
    registry: &Registry,
    changes: &[jcselect_sync::wire::EntityChange],
    now: Timestamp,
) -> Result<(), ServerError> {
    if changes.is_empty() {
        return Ok(());
    }
    let request = SyncPushRequest {
        client_id: "jcselect-server import".into(),
        changes: changes.to_vec(),
    };
    let context = PushContext {
        registry,
        audit: &SyncAudit,
        max_clock_skew_micros: 0,
        accept_credentials: false,
        new_logins: &[],
    };
    let server = Principal {
        user_id: Uuid::nil(),
        role: Role::Admin,
        pens: vec![],
    };
    let response = apply_push(store, &context, &server, &request, now).await?;
    if response.processed_count as usize == changes.len() {
        return Ok(());
    }
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for failed in &response.failed_changes {
        *reasons.entry(failed.message.clone()).or_default() += 1;
    }
    for _ in &response.conflicts {
        *reasons
            .entry("a newer version is stored".into())
            .or_default() += 1;
    }
    for _ in &response.dependency_conflicts {
        *reasons.entry("a parent is missing".into()).or_default() += 1;
    }
    let reasons: Vec<String> = reasons
        .into_iter()
        .map(|(reason, count)| format!("{count} × {reason}"))
        .collect();
    Err(ServerError::User(format!(
        "the server refused {} of {} changes while importing (another writer changed the same records since the check?): {}; run the import again",
        changes.len() - response.processed_count as usize,
        changes.len(),
        reasons.join("; ")
    )))
}

impl FileReport {
    /// The report as a person reads it: the counts, what is added and
    /// changed (the first few), and every bad row listed with its line.
    pub fn render(&self) -> String {
        let path = self.file.path.display();
        let mut out = String::new();
        if self.error_count > 0 {
            out.push_str(&format!(
                "{path}: {} bad row(s); nothing of this file was imported\n",
                self.error_count
            ));
            for error in &self.errors {
                out.push_str(&format!("  {path}:{}: {}\n", error.line, error.message));
            }
            if self.error_count > self.errors.len() as u64 {
                out.push_str(&format!(
                    "  … and {} more\n",
                    self.error_count - self.errors.len() as u64
                ));
            }
            return out;
        }
        let verb = if self.applied { "" } else { "would " };
        out.push_str(&format!(
            "{path} ({}): {verb}add {}, {verb}change {}, {verb}leave alone {}\n",
            self.file.kind.name(),
            self.added,
            self.changed,
            self.unchanged
        ));
        for outcome in [Outcome::Added, Outcome::Changed] {
            let total = match outcome {
                Outcome::Added => self.added,
                _ => self.changed,
            };
            let listed: Vec<&String> = self
                .examples
                .iter()
                .filter(|(o, _)| *o == outcome)
                .map(|(_, text)| text)
                .collect();
            for text in &listed {
                out.push_str(&format!("  {} {text}\n", outcome.word()));
            }
            if total > listed.len() as u64 {
                out.push_str(&format!(
                    "  … and {} more to {}\n",
                    total - listed.len() as u64,
                    outcome.word()
                ));
            }
        }
        out
    }
}
