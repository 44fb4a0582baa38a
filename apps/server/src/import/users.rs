//! The users file: operators and admins matched by `username`, their
//! `full_name`, `role`, `pens` (an operator's, as `TOWN/LABEL`, several
//! separated by `;`) and `is_active`. A user the file adds gets a generated
//! password, written to the passwords file for the deployer to hand out;
//! a user already there keeps theirs. Every write goes through the same
//! user commands as `jcselect-server user …` (the push, its checks, its
//! change log). Checked whole first: a bad row applies nothing.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use jcselect_entities::Role as UserRole;
use jcselect_sync::auth::Role;
use jcselect_sync::store::ServerStore;
use jcselect_sync::{FieldValue, Registry};
use serde_json::Value;
use uuid::Uuid;

use super::plan::Parents;
use super::source::{self, Row, RowError};
use super::Kind;
use crate::error::ServerError;
use crate::users::{self, NewUser};

/// The columns a users file may carry.
const COLUMNS: [&str; 5] = ["username", "full_name", "role", "pens", "is_active"];
/// The columns it must carry.
const REQUIRED: [&str; 2] = ["username", "role"];
/// Characters of a generated password: no look-alikes (0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY346789";
/// Length of a generated password (about 68 bits).
const PASSWORD_LENGTH: usize = 12;

/// One user as the file wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    line: u64,
    username: String,
    full_name: String,
    role: Role,
    pens: BTreeSet<Uuid>,
    active: bool,
}

/// What a row does to the user of its name.
#[derive(Debug, Clone)]
enum Plan {
    Add,
    Change(Vec<String>),
    Unchanged,
}

/// What became of a users file.
#[derive(Debug, Clone, Default)]
pub struct UsersReport {
    /// The file.
    pub path: PathBuf,
    /// User names added.
    pub added: Vec<String>,
    /// User names changed, each with what changed.
    pub changed: Vec<(String, Vec<String>)>,
    /// Users already as the file has them.
    pub unchanged: u64,
    /// Bad rows.
    pub errors: Vec<RowError>,
    /// Whether the changes were written.
    pub applied: bool,
    /// Where the new users' passwords were written.
    pub passwords: Option<PathBuf>,
}

/// A users file to import.
#[derive(Debug, Clone)]
pub struct UsersFile {
    /// Where it is.
    pub path: PathBuf,
    /// Where the passwords of the users it adds are written (a new file;
    /// required when it adds users and this is not a dry run).
    pub passwords: Option<PathBuf>,
}

/// Imports a users file; `pens` knows the pens stored and those the pens
/// files of this run add.
pub(super) async fn import_users(
    store: &dyn ServerStore,
    registry: &Registry,
    file: &UsersFile,
    pens: &mut Parents,
    dry_run: bool,
) -> Result<UsersReport, ServerError> {
    let (path, passwords) = (file.path.as_path(), file.passwords.as_deref());
    let mut report = UsersReport {
        path: path.to_owned(),
        ..UsersReport::default()
    };
    let mut rows = source::open(path)?;
    if let Some(columns) = &rows.columns {
        if let Some(message) = column_problem(columns) {
            report.errors.push(RowError { line: 1, message });
            return Ok(report);
        }
    }
    let mut wanted = Vec::new();
    let mut lines: HashMap<String, u64> = HashMap::new();
    for row in rows.by_ref() {
        let result = match row {
            Ok(row) => read_row(store, &row, pens).await?,
            Err(error) => Err(error),
        };
        match result {
            Ok(user) => match lines.get(&user.username) {
                Some(first) => report.errors.push(RowError {
                    line: user.line,
                    message: format!(
                        "user {:?} is already on line {first} of this file",
                        user.username
                    ),
                }),
                None => {
                    lines.insert(user.username.clone(), user.line);
                    wanted.push(user);
                }
            },
            Err(error) => report.errors.push(error),
        }
    }
    let mut plans = Vec::with_capacity(wanted.len());
    for user in &wanted {
        match plan(store, user).await {
            Ok(plan) => plans.push(plan),
            Err(message) => report.errors.push(RowError {
                line: user.line,
                message,
            }),
        }
    }
    let adds = plans
        .iter()
        .filter(|plan| matches!(plan, Plan::Add))
        .count();
    if adds > 0 && passwords.is_none() && !dry_run {
        report.errors.push(RowError {
            line: 1,
            message: format!(
                "this file adds {adds} user(s), who need passwords: give --passwords FILE (a new file, \
                 where each new user's generated password is written for you to hand out)"
            ),
        });
    }
    if !report.errors.is_empty() {
        report.errors.sort_by_key(|error| error.line);
        return Ok(report);
    }
    for (user, plan) in wanted.iter().zip(&plans) {
        match plan {
            Plan::Add => report.added.push(user.username.clone()),
            Plan::Change(what) => report.changed.push((user.username.clone(), what.clone())),
            Plan::Unchanged => report.unchanged += 1,
        }
    }
    if dry_run {
        return Ok(report);
    }
    let mut generated = Vec::new();
    if let Some(passwords) = passwords.filter(|_| adds > 0) {
        generated = wanted
            .iter()
            .zip(&plans)
            .filter(|(_, plan)| matches!(plan, Plan::Add))
            .map(|(user, _)| (user.username.clone(), generate_password()))
            .collect();
        write_passwords(passwords, &generated)?;
        report.passwords = Some(passwords.to_owned());
    }
    let mut passwords_by_user: HashMap<String, String> = generated.into_iter().collect();
    for (user, plan) in wanted.iter().zip(&plans) {
        match plan {
            Plan::Add => {
                let password = passwords_by_user.remove(&user.username).unwrap_or_default();
                let hash =
                    tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
                        .await
                        .map_err(|error| {
                            ServerError::User(format!("hashing a password: {error}"))
                        })?;
                let id = users::add_user(
                    store,
                    registry,
                    NewUser {
                        username: user.username.clone(),
                        full_name: Some(user.full_name.clone()),
                        role: user.role,
                        pens: user.pens.iter().copied().collect(),
                        password_hash: Some(hash),
                    },
                )
                .await?;
                if !user.active {
                    users::set_active(store, registry, &user.username, false).await?;
                }
                tracing::info!(username = user.username, %id, "user added");
            }
            Plan::Change(_) => apply_change(store, registry, user).await?,
            Plan::Unchanged => {}
        }
    }
    report.applied = true;
    Ok(report)
}

/// Why the header cannot be read as a users file, if it cannot.
fn column_problem(columns: &[String]) -> Option<String> {
    if let Some(unknown) = columns.iter().find(|c| !COLUMNS.contains(&c.as_str())) {
        return Some(format!(
            "column {unknown:?} is not a field of a user: a users file has {}",
            COLUMNS.join(", ")
        ));
    }
    REQUIRED
        .iter()
        .find(|required| !columns.iter().any(|c| c == *required))
        .map(|missing| format!("the header has no {missing} column, which every user needs"))
}

fn text(row: &Row, column: &str) -> Option<String> {
    match row.cells.get(column) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::Bool(flag)) => Some(flag.to_string()),
        _ => None,
    }
}

/// A row read and checked on its own (the pens it names held by the
/// server or added by this run).
async fn read_row(
    store: &dyn ServerStore,
    row: &Row,
    pens: &mut Parents,
) -> Result<Result<Wanted, RowError>, ServerError> {
    Ok(match read_row_cells(row) {
        Ok((mut wanted, names)) => {
            let mut problem = None;
            for (town, label) in names {
                match pens
                    .find(
                        store,
                        Kind::Pens,
                        vec![FieldValue::Text(town), FieldValue::Text(label)],
                    )
                    .await?
                {
                    Ok(id) => {
                        wanted.pens.insert(id);
                    }
                    Err(why) => {
                        problem.get_or_insert(RowError {
                            line: row.line,
                            message: why,
                        });
                    }
                }
            }
            match problem {
                Some(error) => Err(error),
                None => Ok(wanted),
            }
        }
        Err(error) => Err(error),
    })
}

/// A row's cells checked; the pens it names, by town and label.
#[allow(clippy::type_complexity)]
fn read_row_cells(row: &Row) -> Result<(Wanted, Vec<(String, String)>), RowError> {
    let bad = |message: String| RowError {
        line: row.line,
        message,
    };
    if let Some(unknown) = row.cells.keys().find(|c| !COLUMNS.contains(&c.as_str())) {
        return Err(bad(format!(
            "{unknown:?} is not a field of a user: a users file has {}",
            COLUMNS.join(", ")
        )));
    }
    let username = text(row, "username").ok_or_else(|| bad("the user name is empty".into()))?;
    let role = match text(row, "role").as_deref() {
        Some("admin") => Role::Admin,
        Some("operator") => Role::Operator,
        other => {
            return Err(bad(format!(
                "role {:?} is neither admin nor operator",
                other.unwrap_or("")
            )))
        }
    };
    let active = match text(row, "is_active").as_deref() {
        None | Some("true" | "1" | "yes") => true,
        Some("false" | "0" | "no") => false,
        Some(other) => {
            return Err(bad(format!(
                "is_active {other:?} is neither true nor false"
            )))
        }
    };
    let mut names = Vec::new();
    for name in text(row, "pens")
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let (town, label) = name.split_once('/').ok_or_else(|| {
            bad(format!(
                "pen {name:?} is not TOWN/LABEL (several are separated by ;)"
            ))
        })?;
        names.push((town.trim().to_owned(), label.trim().to_owned()));
    }
    match role {
        Role::Operator if names.is_empty() => {
            return Err(bad(format!(
                "operator {username:?} has no pen: an operator works at one pen at least (pens: TOWN/LABEL;…)"
            )))
        }
        Role::Admin if !names.is_empty() => {
            return Err(bad(format!(
                "admin {username:?} is given pens: an admin reaches every pen, leave pens empty"
            )))
        }
        _ => {}
    }
    Ok((
        Wanted {
            line: row.line,
            full_name: text(row, "full_name").unwrap_or_else(|| username.clone()),
            username,
            role,
            pens: BTreeSet::new(),
            active,
        },
        names,
    ))
}

/// What the row does to the stored user of its name; an error (for a
/// person) when it cannot be done.
async fn plan(store: &dyn ServerStore, wanted: &Wanted) -> Result<Plan, String> {
    let Some(login) = store
        .login(&wanted.username)
        .await
        .map_err(|error| error.to_string())?
    else {
        return Ok(Plan::Add);
    };
    let (_, user) = users::find_user(store, &login.username)
        .await
        .map_err(|error| error.to_string())?;
    if user.deleted_at.is_some() {
        return Err(format!(
            "user {:?} was removed; a removed user stays removed: give the person another user name",
            wanted.username
        ));
    }
    let role = match user.role {
        UserRole::Admin => Role::Admin,
        UserRole::Operator => Role::Operator,
    };
    let mut what = Vec::new();
    if user.full_name != wanted.full_name {
        what.push(format!(
            "full_name {:?} → {:?}",
            user.full_name, wanted.full_name
        ));
    }
    if role != wanted.role {
        what.push(format!(
            "role {} → {}",
            role_name(role),
            role_name(wanted.role)
        ));
    }
    if user.is_active != wanted.active {
        what.push(if wanted.active {
            "enabled".into()
        } else {
            "disabled".into()
        });
    }
    let stored: BTreeSet<Uuid> = login.pens.iter().copied().collect();
    if wanted.role == Role::Operator && stored != wanted.pens {
        what.push(format!("pens: {} → {}", stored.len(), wanted.pens.len()));
    }
    Ok(if what.is_empty() {
        Plan::Unchanged
    } else {
        Plan::Change(what)
    })
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Operator => "operator",
    }
}

/// Brings a stored user to what the file wants: the record's fields in one
/// new version, then an operator's pens.
async fn apply_change(
    store: &dyn ServerStore,
    registry: &Registry,
    wanted: &Wanted,
) -> Result<(), ServerError> {
    let (login, user) = users::find_user(store, &wanted.username).await?;
    let role = match wanted.role {
        Role::Admin => UserRole::Admin,
        Role::Operator => UserRole::Operator,
    };
    if user.full_name != wanted.full_name || user.role != role || user.is_active != wanted.active {
        users::edit_user(
            store,
            registry,
            &wanted.username,
            "jcselect-server import --users",
            |user| {
                user.full_name = wanted.full_name.clone();
                user.role = role;
                user.is_active = wanted.active;
                Ok(())
            },
        )
        .await?;
    }
    let stored: BTreeSet<Uuid> = login.pens.iter().copied().collect();
    if wanted.role == Role::Operator && stored != wanted.pens {
        users::set_pens(
            store,
            registry,
            &wanted.username,
            wanted.pens.iter().copied().collect(),
        )
        .await?;
    }
    Ok(())
}

/// A password a person can type: [`PASSWORD_LENGTH`] characters of
/// [`PASSWORD_ALPHABET`], from the system's random source.
fn generate_password() -> String {
    let bytes: Vec<u8> = [Uuid::new_v4(), Uuid::new_v4()]
        .iter()
        .flat_map(|id| id.into_bytes())
        .collect();
    bytes
        .iter()
        .take(PASSWORD_LENGTH)
        .map(|byte| PASSWORD_ALPHABET[*byte as usize % PASSWORD_ALPHABET.len()] as char)
        .collect()
}

/// Writes `username,password` rows to a new file (never over an existing
/// one), readable by its owner only.
fn write_passwords(path: &Path, passwords: &[(String, String)]) -> Result<(), ServerError> {
    let context = || format!("writing the passwords file {}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            ServerError::User(format!(
                "{} already exists: the passwords file must be a new file (nothing was imported)",
                path.display()
            ))
        } else {
            ServerError::io(context(), error)
        }
    })?;
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
    writer
        .write_record(["username", "password"])
        .and_then(|_| {
            passwords
                .iter()
                .try_for_each(|(user, password)| writer.write_record([user, password]))
        })
        .map_err(|error| ServerError::User(format!("{}: {error}", context())))?;
    writer
        .into_inner()
        .map_err(|error| ServerError::User(format!("{}: {error}", context())))?
        .flush()
        .map_err(|error| ServerError::io(context(), error))
}

impl UsersReport {
    /// The report as a person reads it.
    pub fn render(&self) -> String {
        let path = self.path.display();
        let mut out = String::new();
        if !self.errors.is_empty() {
            out.push_str(&format!(
                "{path}: {} bad row(s); nothing of this file was imported\n",
                self.errors.len()
            ));
            for error in &self.errors {
                out.push_str(&format!("  {path}:{}: {}\n", error.line, error.message));
            }
            return out;
        }
        let verb = if self.applied { "" } else { "would " };
        out.push_str(&format!(
            "{path} (users): {verb}add {}, {verb}change {}, {verb}leave alone {}\n",
            self.added.len(),
            self.changed.len(),
            self.unchanged
        ));
        for name in &self.added {
            out.push_str(&format!("  add {name}\n"));
        }
        for (name, what) in &self.changed {
            out.push_str(&format!("  change {name}: {}\n", what.join(", ")));
        }
        if let Some(passwords) = &self.passwords {
            out.push_str(&format!(
                "  the new users' passwords are in {} (readable by you only): hand each its own, then delete the file\n",
                passwords.display()
            ));
        }
        out
    }
}
