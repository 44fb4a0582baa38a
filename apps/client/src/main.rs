//! `jcselect-client`: a polling station's replica on the command line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use jcselect_client::dao::DaoError;
use jcselect_client::Replica;
use jcselect_entities::Voter;
use jcselect_sync::engine::{PullProgress, SyncSettings};
use jcselect_sync::store::OutboxState;
use jcselect_transport_http::{HttpTransport, Timeouts};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// A polling station's offline-first replica: work locally, sync when the
/// link is up.
#[derive(Parser)]
#[command(name = "jcselect-client", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// The local database. [default: sqlite://jcselect-client.db]
    #[arg(
        long = "database",
        env = "JCSELECT_CLIENT_DATABASE_URL",
        value_name = "URL",
        global = true
    )]
    database: Option<String>,
    /// The sync server (sync_api_url). [default: http://127.0.0.1:8000]
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
    /// Log in and keep the token (password from standard input, or
    /// JCSELECT_PASSWORD).
    Login {
        /// The user name.
        #[arg(long)]
        username: String,
    },
    /// Run one sync cycle: push the outbox, pull what others did.
    Sync,
    /// Sync every sync_interval_seconds until Ctrl-C (backs off when the
    /// server is unreachable).
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
        /// The voter's id.
        #[arg(long)]
        voter: Uuid,
    },
    /// Soft-delete a voter (admins only); asks for confirmation.
    Delete {
        /// The voter's id.
        #[arg(long)]
        voter: Uuid,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
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

/// Settings: flags, then environment, then file, then the seed's defaults.
fn settings(global: &Global) -> Result<(SyncSettings, String), String> {
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
            .or(file.sync_api_url)
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
    Ok((settings, database))
}

async fn read_password() -> Result<String, String> {
    if let Ok(password) = std::env::var("JCSELECT_PASSWORD") {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        eprint!("password: ");
        let _ = std::io::stderr().flush();
    }
    let mut password = String::new();
    tokio::io::stdin()
        .read_to_string(&mut password)
        .await
        .map_err(|error| format!("reading the password: {error}"))?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("no password given (standard input or JCSELECT_PASSWORD)".into());
    }
    Ok(password)
}

fn voter_json(voter: &Voter) -> serde_json::Value {
    serde_json::to_value(voter).unwrap_or_default()
}

fn voter_line(voter: &Voter) -> String {
    format!(
        "{}  {}  {}{}  {}",
        voter.voter_number,
        voter.full_name,
        voter
            .father_name
            .as_deref()
            .map_or(String::new(), |name| format!("({name}) ")),
        voter.id,
        if voter.has_voted {
            "voted"
        } else {
            "not voted"
        }
    )
}

fn print(json_mode: bool, value: serde_json::Value, text: String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{text}");
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

async fn execute(cli: Cli) -> Result<(), String> {
    let (settings, database) = settings(&cli.global)?;
    let transport = HttpTransport::new(&settings.sync_api_url, Timeouts::default())
        .map_err(|error| error.to_string())?;
    let server = settings.sync_api_url.clone();
    let replica = Replica::open(&database, Arc::new(transport), settings)
        .await
        .map_err(|error| error.to_string())?;
    let json_mode = cli.global.json;
    let dao_error = |error: DaoError| error.to_string();
    match cli.command {
        Command::Login { username } => {
            let password = read_password().await?;
            replica
                .engine
                .login(&username, &password)
                .await
                .map_err(|e| e.to_string())?;
            let login = replica
                .engine
                .state()
                .login()
                .await
                .map_err(|e| e.to_string())?
                .expect("just logged in");
            print(
                json_mode,
                json!({"username": login.username, "user_id": login.user_id, "role": login.role, "expires_at": login.expires_at}),
                format!(
                    "logged in as {} ({}), token valid until {}",
                    login.username, login.role, login.expires_at
                ),
            );
        }
        Command::Sync => {
            let password = std::env::var("JCSELECT_PASSWORD").ok();
            let report = replica
                .engine
                .sync_once_with(password.as_deref(), &progress_line(json_mode))
                .await
                .map_err(|error| error.to_string())?;
            if !json_mode && std::io::stderr().is_terminal() && report.pages > 0 {
                eprintln!();
            }
            print(
                json_mode,
                json!({
                    "pushed": report.pushed, "conflicts": report.conflicts, "waiting": report.waiting,
                    "parked": report.parked, "restamped": report.restamped, "pulled": report.pulled,
                    "pages": report.pages, "more_to_pull": report.more_to_pull,
                    "local_conflicts": report.local_conflicts,
                }),
                format!(
                    "pushed {}, in conflict {}, waiting for a parent {}, parked {}; pulled {} in {} pages{}",
                    report.pushed,
                    report.conflicts + report.local_conflicts,
                    report.waiting,
                    report.parked,
                    report.pulled,
                    report.pages,
                    if report.more_to_pull { " (more on the next cycle)" } else { "" }
                ),
            );
        }
        Command::Run => {
            let password = std::env::var("JCSELECT_PASSWORD").ok();
            tracing::info!(%server, "sync loop started; Ctrl-C stops it");
            replica
                .engine
                .run(password.as_deref(), async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await;
        }
        Command::Status => {
            let summary = replica
                .store
                .outbox_summary()
                .await
                .map_err(|e| e.to_string())?;
            let parked: Vec<_> = replica
                .store
                .outbox_entries()
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|entry| entry.state == OutboxState::Parked)
                .collect();
            let state = replica.engine.state();
            let last_sync = state.last_sync().await.map_err(|e| e.to_string())?;
            let clock = state.hybrid_clock().await.map_err(|e| e.to_string())?;
            let login = state.login().await.map_err(|e| e.to_string())?;
            let parked_json: Vec<_> = parked
                .iter()
                .map(|entry| json!({"change_id": entry.change_id, "entity_type": entry.entity_type,
                    "entity_id": entry.entity_id, "attempts": entry.attempts, "reason": entry.last_error}))
                .collect();
            let mut text = format!(
                "server {server}\nlogged in: {}\noutbox: {} pending, {} waiting to retry, {} parked\nlast successful sync: {}\nclock offset: {:.3} s",
                login.as_ref().map_or_else(|| "no".into(), |login| format!("{} ({})", login.username, login.role)),
                summary.pending,
                summary.retry,
                summary.parked,
                last_sync.map_or_else(|| "never".into(), |at| at.to_string()),
                clock.offset_micros() as f64 / 1e6,
            );
            for entry in &parked {
                text.push_str(&format!(
                    "\nparked {} {} {}: {}",
                    entry.change_id,
                    entry.entity_type,
                    entry.entity_id,
                    entry.last_error.as_deref().unwrap_or("-")
                ));
            }
            print(
                json_mode,
                json!({"server": server, "pending": summary.pending, "retry": summary.retry,
                    "parked": summary.parked, "parked_changes": parked_json, "last_sync": last_sync,
                    "clock_offset_micros": clock.offset_micros(),
                    "logged_in_as": login.map(|login| login.username)}),
                text,
            );
        }
        Command::Requeue { change_ids } => {
            let ids = (!change_ids.is_empty()).then_some(change_ids.as_slice());
            let count = replica
                .engine
                .requeue(ids)
                .await
                .map_err(|e| e.to_string())?;
            print(
                json_mode,
                json!({"requeued": count}),
                format!("re-queued {count} parked changes"),
            );
        }
        Command::Search { query } => {
            let voters = replica.dao.search_voters(&query).await.map_err(dao_error)?;
            let text = if voters.is_empty() {
                "no voter found".to_owned()
            } else {
                voters.iter().map(voter_line).collect::<Vec<_>>().join("\n")
            };
            print(
                json_mode,
                json!(voters.iter().map(voter_json).collect::<Vec<_>>()),
                text,
            );
        }
        Command::MarkVoted { voter } => {
            let actor = replica
                .actor()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("log in first")?;
            let voter = replica
                .dao
                .mark_voted(voter, actor)
                .await
                .map_err(dao_error)?;
            print(
                json_mode,
                voter_json(&voter),
                format!("marked as voted: {}", voter_line(&voter)),
            );
        }
        Command::Delete { voter, yes } => {
            let actor = replica
                .actor()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("log in first")?;
            if !actor.is_admin {
                return Err("only an admin may delete a voter".into());
            }
            let shown = replica.dao.voter(voter).await.map_err(dao_error)?;
            if !yes {
                eprint!("delete voter {}? [y/N] ", voter_line(&shown));
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin()
                    .read_line(&mut answer)
                    .map_err(|error| error.to_string())?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return Err("not deleted".into());
                }
            }
            let deleted = replica
                .dao
                .soft_delete_voter(voter, actor)
                .await
                .map_err(dao_error)?;
            print(
                json_mode,
                voter_json(&deleted),
                format!("deleted: {}", voter_line(&deleted)),
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JCSELECT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
