//! `jcselect-server`: parses the command line, wires the library, runs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jcselect_server::settings::{database_url, FileSettings, Overrides, Settings};
use jcselect_server::{auth, database, http, secret, users, ServerError};
use jcselect_sync::auth::Role;
use jcselect_sync::Syncable;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// The jcselect sync server: polling-station desktops push what they did
/// and pull what others did through it.
#[derive(Parser)]
#[command(name = "jcselect-server", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the sync API (push, pull, log-in, health, metrics, OpenAPI).
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Print a JWT for a user, and nothing else.
    MintToken(MintArgs),
    /// Load pens, parties and voters from CSV (UTF-8, a header row of the
    /// desktop app's field names) or JSON lines (.jsonl) files. Rows are
    /// matched by natural key (a pen by town_name + label, a party by name,
    /// a voter by its pen + voter_number): a re-run changes only what
    /// changed and creates nothing twice. A file with a bad row imports
    /// nothing; every bad row is listed with its file and line.
    Import(ImportArgs),
    /// Write records as CSV: pens, parties and voters in the columns import
    /// takes (what was imported round-trips), who voted per pen
    /// (turnout), or the audit rows of one pen.
    Export(ExportArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportWhat {
    /// Live pens: town_name, label.
    Pens,
    /// Live parties: name, short_code, display_order, is_active.
    Parties,
    /// Live voters, their pen by town_name and label.
    Voters,
    /// Per pen: voters, voted, turnout in percent.
    Turnout,
    /// The audit rows of the pen named by --town and --label, oldest first.
    Audit,
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    common: Common,
    /// What to export.
    #[arg(value_enum)]
    what: ExportWhat,
    /// The pen's town (audit).
    #[arg(long, required_if_eq("what", "audit"))]
    town: Option<String>,
    /// The pen's label (audit).
    #[arg(long, required_if_eq("what", "audit"))]
    label: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    common: Common,
    /// A file of pens (columns town_name, label). Repeat for several.
    #[arg(long = "pens", value_name = "FILE")]
    pens: Vec<PathBuf>,
    /// A file of parties (columns name, short_code, display_order,
    /// is_active; only name is required).
    #[arg(long = "parties", value_name = "FILE")]
    parties: Vec<PathBuf>,
    /// A file of voters (columns town_name and label naming the pen, or
    /// pen_id; voter_number, full_name; optional father_name, mother_name,
    /// birth_year, gender). Pens are imported before voters.
    #[arg(long = "voters", value_name = "FILE")]
    voters: Vec<PathBuf>,
    /// A file of users (columns username, role — admin or operator —
    /// full_name, pens — an operator's, TOWN/LABEL;TOWN/LABEL — and
    /// is_active), imported after the pens. Matched by username: a re-run
    /// changes names, roles, pens and active, and never a password.
    #[arg(long = "users", value_name = "FILE")]
    users: Option<PathBuf>,
    /// Where the generated passwords of the users the users file adds are
    /// written (a new file, readable by you only: hand each person theirs).
    #[arg(long = "passwords", value_name = "FILE")]
    passwords: Option<PathBuf>,
    /// Check every row and print what would be added, changed and left
    /// alone, writing nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct Common {
    /// Database: sqlite://PATH (created when missing), postgres://… or
    /// mssql://user:password@host:port/database.
    /// [default: sqlite://jcselect-server.db]
    #[arg(long = "database", env = "JCSELECT_DATABASE_URL", value_name = "URL")]
    database: Option<String>,
    /// A TOML file of settings (keys as the long flags, with underscores).
    #[arg(long, env = "JCSELECT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl Common {
    fn file(&self) -> Result<FileSettings, ServerError> {
        self.config
            .as_deref()
            .map_or_else(|| Ok(FileSettings::default()), FileSettings::read)
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Address to listen on; port 0 picks a free one. [default: 127.0.0.1:8000]
    #[arg(long, env = "JCSELECT_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// Lifetime of tokens from /auth/login, seconds (60–604800). [default: 43200]
    #[arg(long, env = "JCSELECT_TOKEN_TTL_SECONDS")]
    token_ttl_seconds: Option<u64>,
    /// Largest request body, bytes (1024–104857600). [default: 10485760]
    #[arg(long, env = "JCSELECT_MAX_PAYLOAD_SIZE")]
    max_payload_size: Option<u64>,
    /// Longest a request may take, seconds (1–600). [default: 60]
    #[arg(long, env = "JCSELECT_REQUEST_TIMEOUT_SECONDS")]
    request_timeout_seconds: Option<u64>,
    /// How far ahead of the server's clock a change may be stamped,
    /// seconds (1–86400). [default: 300]
    #[arg(long, env = "JCSELECT_MAX_CLOCK_SKEW_SECONDS")]
    max_clock_skew_seconds: Option<u64>,
    /// How long repeated wrong passwords lock a user name (10 failures) or
    /// an address (50) out, seconds (1–86400). [default: 900]
    #[arg(long, env = "JCSELECT_LOGIN_LOCKOUT_SECONDS")]
    login_lockout_seconds: Option<u64>,
    /// How long a log-in's session lasts without the password: clients
    /// renew their token with a refresh token until then, seconds
    /// (3600–2592000). [default: 259200, three days]
    #[arg(long, env = "JCSELECT_REFRESH_TTL_SECONDS")]
    refresh_ttl_seconds: Option<u64>,
    /// The control room at /admin: a station not heard from for this long,
    /// or holding changes this old, turns amber, seconds (10–86400).
    /// [default: 600]
    #[arg(long, env = "JCSELECT_STATION_AMBER_SECONDS")]
    station_amber_seconds: Option<u64>,
    /// … and red (as does any parked change), seconds (20–604800, not
    /// less than the amber threshold). [default: 1800]
    #[arg(long, env = "JCSELECT_STATION_RED_SECONDS")]
    station_red_seconds: Option<u64>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print its id. Its User record syncs to every
    /// replica; its password hash stays on the server.
    Add(UserAddArgs),
    /// Set the pens an operator works at. Its stations' next pull brings
    /// the records of the pens it gains; those of pens it loses stop
    /// coming.
    Pens(UserPensArgs),
    /// List every user: name, role, active or disabled or removed, pens.
    List(UserListArgs),
    /// Disable a user: its tokens are refused at their next request and it
    /// cannot log in, until enabled again.
    Disable(UserNameArgs),
    /// Enable a disabled user.
    Enable(UserNameArgs),
    /// Set a user's password, read from standard input.
    Passwd(UserNameArgs),
    /// Remove a user for good (its record becomes a tombstone that syncs;
    /// its tokens are refused at their next request; its name is never
    /// given again).
    Remove(UserNameArgs),
}

#[derive(Args)]
struct UserListArgs {
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct UserNameArgs {
    #[command(flatten)]
    common: Common,
    /// The user's log-in name.
    #[arg(long)]
    username: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    /// May write anything, including soft deletes.
    Admin,
    /// May write the records of its pens only, never delete.
    Operator,
}

#[derive(Args)]
struct UserAddArgs {
    #[command(flatten)]
    common: Common,
    /// Log-in name (unique).
    #[arg(long)]
    username: String,
    /// Role.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// A pen the operator may touch, as "TOWN/LABEL" or its id (repeat for
    /// several).
    #[arg(long = "pen", value_name = "PEN")]
    pens: Vec<String>,
    /// Read the password from standard input (without it the user can only
    /// be given tokens by mint-token).
    #[arg(long)]
    password_stdin: bool,
    /// Display name. [default: the user name]
    #[arg(long)]
    full_name: Option<String>,
}

#[derive(Args)]
struct UserPensArgs {
    #[command(flatten)]
    common: Common,
    /// The operator's log-in name.
    #[arg(long)]
    username: String,
    /// A pen it works at, as "TOWN/LABEL" or its id (repeat for several;
    /// the list replaces the one it had).
    #[arg(long = "pen", value_name = "PEN", required = true)]
    pens: Vec<String>,
}

#[derive(Args)]
struct MintArgs {
    #[command(flatten)]
    common: Common,
    /// The user to mint a token for.
    #[arg(long)]
    username: String,
    /// Lifetime of the token, seconds (60–604800). [default: 43200]
    #[arg(long)]
    ttl_seconds: Option<u64>,
}

fn jwt_secret(database_url: &str) -> Result<secret::JwtSecret, ServerError> {
    let variable = std::env::var(secret::SECRET_VARIABLE).ok();
    secret::resolve(variable, database::sqlite_file(database_url).as_deref())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing requests in flight");
}

async fn serve(args: ServeArgs) -> Result<(), ServerError> {
    let overrides = Overrides {
        listen: args.listen,
        database_url: args.common.database.clone(),
        token_ttl_seconds: args.token_ttl_seconds,
        max_payload_size: args.max_payload_size,
        request_timeout_seconds: args.request_timeout_seconds,
        max_clock_skew_seconds: args.max_clock_skew_seconds,
        login_lockout_seconds: args.login_lockout_seconds,
        refresh_ttl_seconds: args.refresh_ttl_seconds,
        station_amber_seconds: args.station_amber_seconds,
        station_red_seconds: args.station_red_seconds,
    };
    let settings = Settings::resolve(overrides, args.common.file()?)?;
    let secret = jwt_secret(&settings.database_url)?;
    let router = jcselect_server::app(&settings, &secret).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|error| ServerError::io(format!("listening on {}", settings.listen), error))?;
    let address = listener
        .local_addr()
        .map_err(|error| ServerError::io("reading the bound address", error))?;
    println!("listening on http://{address}");
    let _ = std::io::stdout().flush();
    http::run(listener, router, shutdown_signal())
        .await
        .map_err(|error| ServerError::io("serving", error))
}

/// A password read from standard input (one line), hashed.
async fn password_from_stdin() -> Result<String, ServerError> {
    let mut password = String::new();
    tokio::io::stdin()
        .read_to_string(&mut password)
        .await
        .map_err(|error| ServerError::io("reading the password from standard input", error))?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(ServerError::User(
            "the password read from standard input is empty".into(),
        ));
    }
    Ok(auth::hash_password(password))
}

/// Opens the store a command's `--database`/`--config` name.
async fn open(
    common: &Common,
) -> Result<
    (
        std::sync::Arc<dyn jcselect_sync::store::ServerStore>,
        &'static jcselect_sync::Registry,
    ),
    ServerError,
> {
    let url = database_url(common.database.clone(), common.file()?.database_url);
    let registry = jcselect_server::registry()?;
    Ok((database::open_store(&url, registry).await?, registry))
}

/// `user list|disable|enable|passwd|remove`.
async fn manage_user(command: UserCommand) -> Result<(), ServerError> {
    match command {
        UserCommand::List(args) => {
            let (store, _) = open(&args.common).await?;
            let users = users::list_users(store.as_ref()).await?;
            println!(
                "{:<20} {:<24} {:<9} {:<9} {:<18} pens",
                "username", "full name", "role", "state", "last seen"
            );
            let now = jcselect_sync::Timestamp::now();
            for user in users {
                let state = if user.removed {
                    "removed"
                } else if user.active {
                    "active"
                } else {
                    "disabled"
                };
                let role = match user.role {
                    Role::Admin => "admin",
                    Role::Operator => "operator",
                };
                let pens = if user.role == Role::Admin {
                    "every pen".to_owned()
                } else {
                    pen_names(store.as_ref(), &user.pens).await
                };
                let last_seen = user
                    .last_seen
                    .map_or_else(|| "never".to_owned(), |at| ago(now, at));
                println!(
                    "{:<20} {:<24} {role:<9} {state:<9} {last_seen:<18} {pens}",
                    user.username, user.full_name
                );
            }
        }
        UserCommand::Disable(args) => {
            let (store, registry) = open(&args.common).await?;
            users::set_active(store.as_ref(), registry, &args.username, false).await?;
            println!(
                "{}: disabled; its tokens are refused from their next request",
                args.username
            );
        }
        UserCommand::Enable(args) => {
            let (store, registry) = open(&args.common).await?;
            users::set_active(store.as_ref(), registry, &args.username, true).await?;
            println!("{}: enabled", args.username);
        }
        UserCommand::Passwd(args) => {
            let hash = password_from_stdin().await?;
            let (store, registry) = open(&args.common).await?;
            users::set_password(store.as_ref(), registry, &args.username, hash).await?;
            println!("{}: password set", args.username);
        }
        UserCommand::Remove(args) => {
            let (store, registry) = open(&args.common).await?;
            users::remove_user(store.as_ref(), registry, &args.username).await?;
            println!(
                "{}: removed; its tokens are refused from their next request",
                args.username
            );
        }
        UserCommand::Add(args) => return add_user(args).await,
        UserCommand::Pens(args) => return set_pens(args).await,
    }
    Ok(())
}

async fn add_user(args: UserAddArgs) -> Result<(), ServerError> {
    let url = database_url(
        args.common.database.clone(),
        args.common.file()?.database_url,
    );
    let registry = jcselect_server::registry()?;
    let store = database::open_store(&url, registry).await?;
    let password_hash = if args.password_stdin {
        Some(password_from_stdin().await?)
    } else {
        None
    };
    let role = match args.role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Operator => Role::Operator,
    };
    let pens = pen_ids(store.as_ref(), &args.pens).await?;
    if let Some(warning) = users::check_new_user_pens(store.as_ref(), role, &pens).await? {
        eprintln!("warning: {warning}");
    }
    let pens = if role == Role::Admin {
        Vec::new()
    } else {
        pens
    };
    let id = users::add_user(
        store.as_ref(),
        registry,
        users::NewUser {
            username: args.username,
            full_name: args.full_name,
            role,
            pens,
            password_hash,
        },
    )
    .await?;
    println!("{id}");
    Ok(())
}

/// Pens given as an id or as "TOWN/LABEL" (split at the last `/`), as ids.
async fn pen_ids(
    store: &dyn jcselect_sync::store::ServerStore,
    pens: &[String],
) -> Result<Vec<Uuid>, ServerError> {
    let mut ids = Vec::with_capacity(pens.len());
    for pen in pens {
        let id = match (pen.parse::<Uuid>(), pen.rsplit_once('/')) {
            (Ok(id), _) => id,
            (Err(_), Some((town, label))) => {
                jcselect_server::export::find_pen(store, town.trim(), label.trim()).await?
            }
            (Err(_), None) => {
                return Err(ServerError::User(format!(
                    "--pen {pen:?}: give the pen as TOWN/LABEL or as its id"
                )))
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// Pens by town and label, for people ("none" for no pen).
async fn pen_names(store: &dyn jcselect_sync::store::ServerStore, pens: &[Uuid]) -> String {
    let mut names = Vec::new();
    for pen in pens {
        let name = match store.get_record(jcselect_entities::Pen::DECL, *pen).await {
            Ok(Some(record)) => jcselect_entities::Pen::from_record(&record)
                .map(|pen| format!("{} / {}", pen.town_name, pen.label))
                .unwrap_or_else(|_| pen.to_string()),
            _ => pen.to_string(),
        };
        names.push(name);
    }
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

async fn set_pens(args: UserPensArgs) -> Result<(), ServerError> {
    let url = database_url(
        args.common.database.clone(),
        args.common.file()?.database_url,
    );
    let registry = jcselect_server::registry()?;
    let store = database::open_store(&url, registry).await?;
    let pens = pen_ids(store.as_ref(), &args.pens).await?;
    let changed = users::set_pens(store.as_ref(), registry, &args.username, pens).await?;
    println!(
        "{}: pens added: {}; pens removed: {}; {} records of the added pens logged again for its stations",
        args.username,
        pen_names(store.as_ref(), &changed.added).await,
        pen_names(store.as_ref(), &changed.removed).await,
        changed.relogged
    );
    Ok(())
}

async fn mint_token(args: MintArgs) -> Result<(), ServerError> {
    let file = args.common.file()?;
    let overrides = Overrides {
        database_url: args.common.database.clone(),
        token_ttl_seconds: args.ttl_seconds,
        ..Overrides::default()
    };
    let settings = Settings::resolve(overrides, file)?;
    let secret = jwt_secret(&settings.database_url)?;
    let store = database::open_store(&settings.database_url, jcselect_server::registry()?).await?;
    let token = users::mint_for(
        store.as_ref(),
        &auth::Tokens::new(&secret),
        &args.username,
        settings.token_ttl_seconds,
    )
    .await?;
    println!("{token}");
    Ok(())
}

/// How long before `now` a time was, as a person says it.
fn ago(now: jcselect_sync::Timestamp, at: jcselect_sync::Timestamp) -> String {
    let seconds = (now.unix_micros() - at.unix_micros()).max(0) / 1_000_000;
    match seconds {
        0..=59 => format!("{seconds} s ago"),
        60..=3_599 => format!("{} min ago", seconds / 60),
        3_600..=86_399 => format!("{} h {} min ago", seconds / 3_600, seconds % 3_600 / 60),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

async fn import(args: ImportArgs) -> Result<(), ServerError> {
    use jcselect_server::import::{self, ImportFile, Kind};
    let files: Vec<ImportFile> = [
        (Kind::Pens, args.pens),
        (Kind::Parties, args.parties),
        (Kind::Voters, args.voters),
    ]
    .into_iter()
    .flat_map(|(kind, paths)| paths.into_iter().map(move |path| ImportFile { kind, path }))
    .collect();
    if files.is_empty() && args.users.is_none() {
        return Err(ServerError::User(
            "nothing to import: give --pens, --parties, --voters or --users FILE".into(),
        ));
    }
    let url = database_url(
        args.common.database.clone(),
        args.common.file()?.database_url,
    );
    let registry = jcselect_server::registry()?;
    let store = database::open_store(&url, registry).await?;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = |at: import::Progress<'_>| {
        if terminal {
            let percent = (at.bytes_read * 100).checked_div(at.size).unwrap_or(100);
            eprint!(
                "\r{} {}: {percent:>3} % ({} rows)",
                at.phase,
                at.file.path.display(),
                at.rows
            );
        }
    };
    let users = args.users.map(|path| import::UsersFile {
        path,
        passwords: args.passwords,
    });
    let (reports, users_report) = import::import_with_users(
        store.as_ref(),
        registry,
        files,
        users.as_ref(),
        args.dry_run,
        &mut progress,
    )
    .await?;
    if terminal {
        eprintln!();
    }
    let mut bad = 0;
    for report in &reports {
        print!("{}", report.render());
        bad += report.error_count;
    }
    match (&users, users_report) {
        (_, Some(report)) => {
            print!("{}", report.render());
            bad += report.errors.len() as u64;
        }
        (Some(users), None) => println!(
            "{}: not read, as the files before it did not import",
            users.path.display()
        ),
        (None, None) => {}
    }
    if bad > 0 {
        return Err(ServerError::User(format!(
            "{bad} bad row(s): the files that hold them were not imported; fix them and run again"
        )));
    }
    Ok(())
}

async fn export(args: ExportArgs) -> Result<(), ServerError> {
    use jcselect_server::export::{self, Export};
    let (store, _) = open(&args.common).await?;
    let what = match args.what {
        ExportWhat::Pens => Export::Pens,
        ExportWhat::Parties => Export::Parties,
        ExportWhat::Voters => Export::Voters,
        ExportWhat::Turnout => Export::Turnout,
        ExportWhat::Audit => {
            let (town, label) = (
                args.town.unwrap_or_default(),
                args.label.unwrap_or_default(),
            );
            Export::Audit {
                pen: export::find_pen(store.as_ref(), &town, &label).await?,
            }
        }
    };
    let rows = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|error| ServerError::io(format!("creating {}", path.display()), error))?;
            export::export(store.as_ref(), what, std::io::BufWriter::new(file)).await?
        }
        None => export::export(store.as_ref(), what, std::io::stdout().lock()).await?,
    };
    tracing::info!(rows, "exported");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JCSELECT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::User(command) => manage_user(command).await,
            Command::MintToken(args) => mint_token(args).await,
            Command::Import(args) => import(args).await,
            Command::Export(args) => export(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
