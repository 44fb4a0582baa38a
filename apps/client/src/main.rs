//! `jcselect-client`: a polling station's replica on the command line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use jcselect_client::dao::Dao;
use jcselect_client::exit::{CliError, ExitStatus, EXIT_STATUS_HELP};
use jcselect_client::Replica;
use jcselect_entities::Voter;
use jcselect_sync::engine::{CycleOutcome, PullProgress, SyncReport, SyncSettings};
use jcselect_sync::store::{OutboxEntry, OutboxState};
use jcselect_sync::Timestamp;
use jcselect_transport_http::{HttpTransport, Timeouts};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// A polling station's offline-first replica: work locally, sync when the
/// link is up.
#[derive(Parser)]
#[command(name = "jcselect-client", version, about, long_about = None, after_help = EXIT_STATUS_HELP)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// The local database: a new file, this client's replica, or the
    /// jcselect desktop app's own file (set up in place; see the README,
    /// "Beside the jcselect desktop app"). [default:
    /// sqlite://jcselect-client.db in the working directory]
    #[arg(
        long = "database",
        env = "JCSELECT_CLIENT_DATABASE_URL",
        value_name = "URL",
        global = true
    )]
    database: Option<String>,
    /// The sync server (sync_api_url). [default: the server of the last
    /// `login`, else http://127.0.0.1:8000]
    #[arg(
        long = "server",
        env = "JCSELECT_SYNC_API_URL",
        value_name = "URL",
        global = true
    )]
    server: Option<String>,
    /// A TOML file of sync settings (the seed's SyncSettings names).
    #[arg(
        long,
        env = "JCSELECT_CLIENT_CONFIG",
        value_name = "FILE",
        global = true
    )]
    config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Log in and keep the token and the server. The password is asked for
    /// without echo on a terminal, else read from the first line of
    /// standard input or JCSELECT_PASSWORD.
    Login {
        /// The user name.
        #[arg(long)]
        username: String,
    },
    /// Run one sync cycle: push the outbox, pull what others did. Exits 3
    /// while changes are parked, 4 when the server cannot be reached.
    Sync,
    /// Sync every sync_interval_seconds until Ctrl-C, one line per cycle
    /// (backs off when the server is unreachable or busy; exits 3 if
    /// changes are parked when stopped).
    Run,
    /// Show the outbox by state, parked changes with their reasons, the last
    /// successful sync, the clock offset and the server.
    Status,
    /// Put parked changes back in the queue (all, or those named).
    Requeue {
        /// A parked change id (repeat for several; none: all).
        #[arg(long = "change-id", value_name = "UUID")]
        change_ids: Vec<Uuid>,
    },
    /// Search voters: exact number, then number prefix, then names.
    Search {
        /// A voter number or part of a name (Arabic spellings folded).
        query: String,
    },
    /// Mark a voter as voted.
    MarkVoted {
        #[command(flatten)]
        voter: VoterArg,
    },
    /// Soft-delete a voter (admins only); asks for confirmation.
    Delete {
        #[command(flatten)]
        voter: VoterArg,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// A voter, by the number on its card or by its id.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct VoterArg {
    /// The voter's number, as on its card (Arabic-Indic digits too).
    #[arg(long)]
    number: Option<String>,
    /// The voter's id.
    #[arg(long)]
    voter: Option<Uuid>,
}

impl VoterArg {
    async fn find(
        &self,
        dao: &jcselect_client::dao::Dao,
    ) -> Result<Voter, jcselect_client::dao::DaoError> {
        match (&self.number, self.voter) {
            (Some(number), _) => dao.voter_by_number(number).await,
            (None, Some(id)) => dao.voter(id).await,
            (None, None) => Err(jcselect_client::dao::DaoError::NotFound(
                "name the voter by --number or --voter".into(),
            )),
        }
    }
}

/// Sync settings from the TOML file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    sync_api_url: Option<String>,
    sync_interval_seconds: Option<u64>,
    sync_max_payload_size: Option<u64>,
    sync_enabled: Option<bool>,
    sync_pull_page_size: Option<u64>,
    sync_max_pull_pages: Option<u64>,
    sync_max_retries: Option<u64>,
    sync_backoff_base: Option<f64>,
    sync_backoff_max_seconds: Option<u64>,
    database_url: Option<String>,
}

/// An environment variable `JCSELECT_<NAME>` read as `T`, if set.
fn env<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(format!("JCSELECT_{}", name.to_uppercase())) {
        Err(_) => Ok(None),
        Ok(text) => text
            .parse()
            .map(Some)
            .map_err(|_| format!("JCSELECT_{}: cannot read {text:?}", name.to_uppercase())),
    }
}

/// Settings: flags, then environment, then file, then the seed's
/// defaults. The server is `None` when none of them names one (the
/// remembered server, then the default, is used).
fn settings(global: &Global) -> Result<(SyncSettings, Option<String>, String), String> {
    let file: FileSettings = match &global.config {
        None => FileSettings::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?
        }
    };
    let defaults = SyncSettings::default();
    let settings = SyncSettings {
        sync_api_url: global
            .server
            .clone()
            .or(file.sync_api_url.clone())
            .unwrap_or(defaults.sync_api_url),
        sync_interval_seconds: env("sync_interval_seconds")?
            .or(file.sync_interval_seconds)
            .unwrap_or(defaults.sync_interval_seconds),
        sync_max_payload_size: env("sync_max_payload_size")?
            .or(file.sync_max_payload_size)
            .unwrap_or(defaults.sync_max_payload_size),
        sync_enabled: env("sync_enabled")?
            .or(file.sync_enabled)
            .unwrap_or(defaults.sync_enabled),
        sync_pull_page_size: env("sync_pull_page_size")?
            .or(file.sync_pull_page_size)
            .unwrap_or(defaults.sync_pull_page_size),
        sync_max_pull_pages: env("sync_max_pull_pages")?
            .or(file.sync_max_pull_pages)
            .unwrap_or(defaults.sync_max_pull_pages),
        sync_max_retries: env("sync_max_retries")?
            .or(file.sync_max_retries)
            .unwrap_or(defaults.sync_max_retries),
        sync_backoff_base: env("sync_backoff_base")?
            .or(file.sync_backoff_base)
            .unwrap_or(defaults.sync_backoff_base),
        sync_backoff_max_seconds: env("sync_backoff_max_seconds")?
            .or(file.sync_backoff_max_seconds)
            .unwrap_or(defaults.sync_backoff_max_seconds),
    };
    settings.validate().map_err(|error| error.to_string())?;
    let database = global
        .database
        .clone()
        .or(file.database_url)
        .unwrap_or_else(|| "sqlite://jcselect-client.db".into());
    let server = global.server.clone().or(file.sync_api_url);
    Ok((settings, server, absolute_database_url(&database)?))
}

/// A `sqlite://` URL with a relative path made absolute once, against the
/// working directory, so that every message names the file really used.
fn absolute_database_url(url: &str) -> Result<String, String> {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return Ok(url.to_owned());
    };
    let (path, query) = rest
        .split_once('?')
        .map_or((rest, None), |(p, q)| (p, Some(q)));
    if path.is_empty() || path == ":memory:" || PathBuf::from(path).is_absolute() {
        return Ok(url.to_owned());
    }
    let cwd = std::env::current_dir()
        .map_err(|error| format!("cannot read the working directory: {error}"))?;
    let absolute = cwd.join(path);
    Ok(match query {
        Some(query) => format!("sqlite://{}?{query}", absolute.display()),
        None => format!("sqlite://{}", absolute.display()),
    })
}

/// The password: `JCSELECT_PASSWORD`, else asked without echo on a
/// terminal (finished by Enter), else the first line of standard input.
fn read_password() -> Result<String, CliError> {
    let password = if let Ok(password) = std::env::var("JCSELECT_PASSWORD") {
        password
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("password: ").map_err(|error| {
            CliError::failed("password", format!("reading the password: {error}"))
        })?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|error| {
            CliError::failed("password", format!("reading the password: {error}"))
        })?;
        line
    };
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(CliError::failed(
            "password",
            "no password given (type it at the prompt, pipe it on standard input, or set JCSELECT_PASSWORD)",
        ));
    }
    Ok(password)
}

fn voter_json(voter: &Voter) -> serde_json::Value {
    serde_json::to_value(voter).unwrap_or_default()
}

/// A voter as the operator reads them: number, name, father's name, pen,
/// whether they voted.
async fn voter_line(dao: &Dao, voter: &Voter) -> Result<String, CliError> {
    Ok(format!(
        "{}  {}  {}{}  {}",
        voter.voter_number,
        voter.full_name,
        voter
            .father_name
            .as_deref()
            .map_or(String::new(), |name| format!("({name}) ")),
        dao.pen_name(voter.pen_id).await?,
        if voter.has_voted {
            "voted"
        } else {
            "not voted"
        }
    ))
}

/// Writes one line to standard output. A reader that went away (`| head`)
/// ends the program quietly instead of a panic.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(error) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

fn print(json_mode: bool, value: serde_json::Value, text: String) {
    if json_mode {
        say(&value.to_string());
    } else {
        say(&text);
    }
}

fn progress_line(json_mode: bool) -> impl Fn(PullProgress) + Sync {
    let show = !json_mode && std::io::stderr().is_terminal();
    move |progress: PullProgress| {
        if show {
            let remaining = progress
                .remaining
                .map_or_else(String::new, |left| format!(", {left} to go"));
            eprint!(
                "\rpulled {} changes in {} pages{remaining}   ",
                progress.pulled, progress.pages
            );
            let _ = std::io::stderr().flush();
        }
    }
}

fn report_json(report: &SyncReport) -> serde_json::Value {
    json!({
        "pushed": report.pushed, "conflicts": report.conflicts, "waiting": report.waiting,
        "parked": report.parked_total, "newly_parked": report.parked, "revived": report.revived,
        "unsent": report.unsent, "restamped": report.restamped, "pulled": report.pulled,
        "pages": report.pages, "more_to_pull": report.more_to_pull,
        "local_conflicts": report.local_conflicts,
    })
}

fn report_line(report: &SyncReport) -> String {
    let mut line = format!(
        "pushed {}, in conflict {}, waiting for a parent {}; pulled {} in {} pages{}; parked {}",
        report.pushed,
        report.conflicts + report.local_conflicts,
        report.waiting,
        report.pulled,
        report.pages,
        if report.more_to_pull {
            " (more on the next cycle)"
        } else {
            ""
        },
        report.parked_total,
    );
    if report.parked_total > 0 {
        line.push_str(" (refused by the server, not at the centre: see `jcselect-client status`)");
    }
    line
}

/// How long ago, in words.
fn age(since: Timestamp, now: Timestamp) -> String {
    let seconds = (now.unix_micros() - since.unix_micros()).max(0) / 1_000_000;
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min", seconds / 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

/// When an outbox entry was queued: its change id is a UUIDv7, whose first
/// 48 bits are the Unix time in milliseconds.
fn queued_at(entry: &OutboxEntry) -> Option<Timestamp> {
    (entry.change_id.get_version_num() == 7).then(|| {
        let millis = (entry.change_id.as_u128() >> 80) as i64;
        Timestamp::from_unix_micros(millis * 1000)
    })
}

fn cycle_line(outcome: &CycleOutcome<'_>) -> (serde_json::Value, String) {
    let now = Timestamp::now();
    let next = format!("next cycle in {:.0} s", outcome.next_in_seconds);
    match outcome.result {
        Ok(report) => {
            let mut value = report_json(report);
            value["at"] = json!(now);
            value["next_in_seconds"] = json!(outcome.next_in_seconds);
            (value, format!("{now}  {}; {next}", report_line(report)))
        }
        Err(error) => {
            let error = CliError::from(error);
            let mut value = error.to_json();
            value["at"] = json!(now);
            value["next_in_seconds"] = json!(outcome.next_in_seconds);
            (
                value,
                format!("{now}  sync failed: {}; {next}", error.message),
            )
        }
    }
}

async fn execute(cli: Cli) -> Result<ExitStatus, CliError> {
    let (mut settings, server_given, database) =
        settings(&cli.global).map_err(|message| CliError::failed("settings", message))?;
    let store = Replica::open_store(&database).await?;
    if server_given.is_none() {
        let state = jcselect_sync::engine::ClientState::new(store.clone());
        if let Some(remembered) = state.server_url().await? {
            settings.sync_api_url = remembered;
        }
    }
    let transport = HttpTransport::new(&settings.sync_api_url, Timeouts::default())
        .map_err(|error| CliError::failed("settings", format!("server URL: {error}")))?;
    let server = settings.sync_api_url.clone();
    let replica = Replica::over(store, Arc::new(transport), settings);
    let json_mode = cli.global.json;
    match cli.command {
        Command::Login { username } => {
            let password = read_password()?;
            replica.engine.login(&username, &password).await?;
            let state = replica.engine.state();
            let login = state.login().await?.expect("just logged in");
            let session_ends = state.session_ends_at().await?.unwrap_or(login.expires_at);
            print(
                json_mode,
                json!({"username": login.username, "user_id": login.user_id, "role": login.role,
                    "expires_at": login.expires_at, "session_ends_at": session_ends, "server": server}),
                format!(
                    "logged in to {server} as {} ({}); the session lasts until {session_ends} without the password",
                    login.username, login.role
                ),
            );
        }
        Command::Sync => {
            let password = std::env::var("JCSELECT_PASSWORD").ok();
            let report = replica
                .engine
                .sync_once_with(password.as_deref(), &progress_line(json_mode))
                .await?;
            if !json_mode && std::io::stderr().is_terminal() && report.pages > 0 {
                eprintln!();
            }
            print(json_mode, report_json(&report), report_line(&report));
            if report.parked_total > 0 {
                return Ok(ExitStatus::Parked);
            }
        }
        Command::Run => {
            let password = std::env::var("JCSELECT_PASSWORD").ok();
            // listen for Ctrl-C before the first cycle, so that an interrupt
            // during it stops the loop instead of killing the process
            let (interrupted, on_interrupt) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = interrupted.send(());
                }
            });
            tokio::task::yield_now().await;
            tracing::info!(%server, %database, "sync loop started; Ctrl-C stops it");
            replica
                .engine
                .run(
                    password.as_deref(),
                    &|outcome| {
                        let (value, text) = cycle_line(&outcome);
                        print(json_mode, value, text);
                    },
                    async {
                        let _ = on_interrupt.await;
                    },
                )
                .await;
            if replica.store.outbox_summary().await?.parked > 0 {
                return Ok(ExitStatus::Parked);
            }
        }
        Command::Status => {
            let summary = replica.store.outbox_summary().await?;
            let parked: Vec<_> = replica
                .store
                .outbox_entries()
                .await?
                .into_iter()
                .filter(|entry| entry.state == OutboxState::Parked)
                .collect();
            let state = replica.engine.state();
            let last_sync = state.last_sync().await?;
            let clock = state.hybrid_clock().await?;
            let login = state.login().await?;
            let session_ends = state.session_ends_at().await?;
            let now = Timestamp::now();
            let parked_json: Vec<_> = parked
                .iter()
                .map(|entry| json!({"change_id": entry.change_id, "entity_type": entry.entity_type,
                    "entity_id": entry.entity_id, "attempts": entry.attempts, "reason": entry.last_error,
                    "queued_at": queued_at(entry), "next_retry_at": entry.next_attempt_at}))
                .collect();
            let mut text = format!(
                "database {database}\nserver {server}\nlogged in: {}\noutbox: {} pending, {} waiting to retry, {} parked\nlast successful sync: {}\nclock offset: {:.3} s",
                login.as_ref().map_or_else(
                    || "no".into(),
                    |login| format!(
                        "{} ({}), session ends {} (access token renewed by itself until then)",
                        login.username,
                        login.role,
                        session_ends.unwrap_or(login.expires_at)
                    )
                ),
                summary.pending,
                summary.retry,
                summary.parked,
                last_sync.map_or_else(|| "never".into(), |at| at.to_string()),
                clock.offset_micros() as f64 / 1e6,
            );
            for entry in &parked {
                text.push_str(&format!(
                    "\nparked {} {} {}{}: {}",
                    entry.entity_type,
                    entry.entity_id,
                    queued_at(entry)
                        .map_or_else(String::new, |at| format!("(queued {} ago) ", age(at, now))),
                    entry.change_id,
                    entry.last_error.as_deref().unwrap_or("-")
                ));
            }
            print(
                json_mode,
                json!({"database": database, "server": server, "pending": summary.pending, "retry": summary.retry,
                    "parked": summary.parked, "parked_changes": parked_json, "last_sync": last_sync,
                    "clock_offset_micros": clock.offset_micros(),
                    "session_ends_at": session_ends,
                    "logged_in_as": login.map(|login| login.username)}),
                text,
            );
        }
        Command::Requeue { change_ids } => {
            let ids = (!change_ids.is_empty()).then_some(change_ids.as_slice());
            let count = replica.engine.requeue(ids).await?;
            print(
                json_mode,
                json!({"requeued": count}),
                format!("re-queued {count} parked changes"),
            );
        }
        Command::Search { query } => {
            let voters = replica.dao.search_voters(&query).await?;
            let text = if voters.is_empty() {
                "no voter found".to_owned()
            } else {
                let mut lines = Vec::with_capacity(voters.len());
                for voter in &voters {
                    lines.push(voter_line(&replica.dao, voter).await?);
                }
                lines.join("\n")
            };
            print(
                json_mode,
                json!(voters.iter().map(voter_json).collect::<Vec<_>>()),
                text,
            );
        }
        Command::MarkVoted { voter } => {
            let actor = replica.actor().await?.ok_or_else(not_logged_in)?;
            let voter = voter.find(&replica.dao).await?;
            let voter = replica.dao.mark_voted(voter.id, actor).await?;
            print(
                json_mode,
                voter_json(&voter),
                format!(
                    "marked as voted: {}",
                    voter_line(&replica.dao, &voter).await?
                ),
            );
        }
        Command::Delete { voter, yes } => {
            let actor = replica.actor().await?.ok_or_else(not_logged_in)?;
            if !actor.is_admin {
                return Err(CliError::failed(
                    "forbidden",
                    "only an admin may delete a voter",
                ));
            }
            let shown = voter.find(&replica.dao).await?;
            if !yes {
                eprint!(
                    "delete voter {}? [y/N] ",
                    voter_line(&replica.dao, &shown).await?
                );
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin()
                    .read_line(&mut answer)
                    .map_err(|error| CliError::failed("input", error.to_string()))?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return Err(CliError::failed("cancelled", "not deleted"));
                }
            }
            let deleted = replica.dao.soft_delete_voter(shown.id, actor).await?;
            print(
                json_mode,
                voter_json(&deleted),
                format!("deleted: {}", voter_line(&replica.dao, &deleted).await?),
            );
        }
    }
    Ok(ExitStatus::Success)
}

fn not_logged_in() -> CliError {
    CliError {
        code: "not_logged_in",
        message: "log in first: jcselect-client login --username NAME".into(),
        status: ExitStatus::NotLoggedIn,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_mode = cli.global.json;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JCSELECT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(execute(cli)),
        Err(error) => Err(CliError::failed(
            "runtime",
            format!("cannot start the runtime: {error}"),
        )),
    };
    match result {
        Ok(status) => status.code(),
        Err(error) => {
            if json_mode {
                say(&error.to_json().to_string());
            } else {
                eprintln!("error: {}", error.message);
            }
            error.status.code()
        }
    }
}
