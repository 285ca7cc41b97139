//! The `livingwell` command line.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use livingwell_core::api::Validate;
use livingwell_core::api::people::CreateUserRequest;
use livingwell_core::domain::{Role, UserId};

use crate::audit::{self, Verification};
use crate::auth::passwords;
use crate::demo;
use crate::http::{self, AppState, Settings};
use crate::store::{self, Store, UserRecord};

/// The embedded default: a SQLite file beside where the server runs.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/livingwell.db";

#[derive(Debug, Parser)]
#[command(name = "livingwell", version, about = "The Living Well server")]
pub struct Cli {
    /// `postgres://…` or `sqlite://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (migrating the database first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "LIVINGWELL_BIND", default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Create the demo people on an empty database and print their sign-ins.
        #[arg(long)]
        demo: bool,
        /// Password for every demo account.
        #[arg(long, default_value = demo::DEFAULT_PASSWORD)]
        demo_password: String,
        /// The `iss` of access tokens (the public URL of this deployment).
        #[arg(long, env = "LIVINGWELL_ISSUER", default_value = "urn:livingwell")]
        issuer: String,
        /// A JSON file naming the outcome-rating domains as this deployment words them,
        /// `{"work": "Work and volunteering", ...}`; domains it leaves out keep the defaults.
        #[arg(long, env = "LIVINGWELL_OUTCOME_LABELS")]
        outcome_labels: Option<std::path::PathBuf>,
        /// A crisis line for out-of-hours notices, `NAME=CONTACT` (repeat for each); without
        /// any, the UK default: Samaritans 116 123, NHS 111 option 2, 999.
        #[arg(long = "crisis-line", value_parser = parse_crisis_line)]
        crisis_lines: Vec<livingwell_core::domain::message::CrisisLine>,
        /// The push gateway each push notification (ids only) is POSTed to; logged when unset.
        #[arg(long, env = "LIVINGWELL_PUSH_WEBHOOK")]
        push_webhook: Option<String>,
    },
    /// Run database migrations and exit.
    Migrate,
    /// Audit-log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Account tools.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and report the first broken link (exit code 1 if any).
    Verify,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (e.g. the first admin). The password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// admin, practitioner, peer_worker or carer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        display_name: String,
    },
}

fn parse_crisis_line(value: &str) -> Result<livingwell_core::domain::message::CrisisLine, String> {
    let (name, contact) = value
        .split_once('=')
        .ok_or("expected NAME=CONTACT, e.g. \"Samaritans=116 123\"")?;
    let line = livingwell_core::domain::message::CrisisLine::new(name.trim(), contact.trim(), None);
    match line.field_errors("crisis_line").first() {
        None => Ok(line),
        Some(error) => Err(format!("{}: {}", error.field, error.code)),
    }
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| format!("unknown role {value:?}"))
}

/// Writes a line for the operator. The CLI's stdout is its interface.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let store = store::connect(&cli.database_url)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    match cli.command {
        Command::Migrate => say("migrations applied"),
        Command::Serve {
            bind,
            demo,
            demo_password,
            issuer,
            outcome_labels,
            crisis_lines,
            push_webhook,
        } => {
            let outcome_labels = load_outcome_labels(outcome_labels.as_deref())?;
            if demo {
                seed_demo(store.as_ref(), &demo_password).await?;
            }
            serve(
                store,
                bind,
                Settings {
                    issuer,
                    outcome_labels,
                    messaging: http::MessagingSettings {
                        crisis_lines: if crisis_lines.is_empty() {
                            livingwell_core::domain::message::default_crisis_lines()
                        } else {
                            crisis_lines
                        },
                        push: push_webhook.map_or(http::PushTarget::Log, http::PushTarget::Webhook),
                        ..http::MessagingSettings::default()
                    },
                    ..Settings::default()
                },
            )
            .await?;
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => match audit::verify(store.as_ref()).await? {
            Verification::Intact { entries } => {
                say(&format!("audit log intact: {entries} entries"));
            }
            Verification::Broken { seq, reason } => {
                say(&format!("audit log broken at entry {seq}: {reason}"));
                return Ok(std::process::ExitCode::FAILURE);
            }
        },
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    display_name,
                },
        } => {
            add_user(store.as_ref(), username, role, display_name).await?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The default outcome-domain labels, with a deployment's own wording laid over them.
fn load_outcome_labels(
    path: Option<&std::path::Path>,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut labels = livingwell_core::domain::plan::default_outcome_labels();
    let Some(path) = path else { return Ok(labels) };
    let text = std::fs::read_to_string(path).context("reading the outcome labels file")?;
    let own: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&text).context("the outcome labels file must be a JSON object")?;
    for (domain, label) in own {
        if !labels.contains_key(&domain) {
            bail!("unknown outcome domain {domain:?} in the labels file");
        }
        livingwell_core::domain::text::check_name("label", &label)
            .map_err(|_| anyhow::anyhow!("the label for {domain:?} is empty or not plain text"))?;
        labels.insert(domain, label);
    }
    Ok(labels)
}

async fn seed_demo(store: &dyn Store, password: &str) -> anyhow::Result<()> {
    match demo::seed(store, password).await? {
        demo::Seeded::Created => say("Demo data created. Sign in with any of:"),
        demo::Seeded::AlreadyThere => say("Demo data already present. Sign in with any of:"),
    }
    for account in demo::ACCOUNTS {
        say(&format!(
            "  {:<8} password {password:<18} {} ({})",
            account.username,
            account.role.as_str(),
            account.about
        ));
    }
    say(&format!(
        "  staff system: client_id {} client_secret {}",
        demo::CLIENT_ID,
        demo::CLIENT_SECRET
    ));
    Ok(())
}

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
pub async fn serve(
    store: Arc<dyn Store>,
    bind: SocketAddr,
    settings: Settings,
) -> anyhow::Result<()> {
    let state = AppState::new(store, &settings).await?;
    let shutdown = state.shutdown.clone();
    tokio::spawn(pass_on_lapsed_offers(state.clone()));
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .context("binding the address")?;
    say(&format!(
        "Living Well listening on http://{}",
        listener.local_addr()?
    ));
    say(&format!("API docs: http://{}/docs", listener.local_addr()?));
    axum::serve(
        listener,
        http::app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // End event streams, which would otherwise hold the graceful shutdown open forever.
        shutdown.cancel();
    })
    .await?;
    Ok(())
}

/// Offers of a freed workshop place last a limited time; once a minute, lapsed ones pass to the
/// next person waiting (and they are told), even if nobody touches the programme.
async fn pass_on_lapsed_offers(state: AppState) {
    let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = every_minute.tick() => {}
        }
        if let Err(error) = http::appointments::settle_lapsed_offers(&state).await {
            tracing::warn!(%error, "passing on lapsed waitlist offers failed; retrying in a minute");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn add_user(
    store: &dyn Store,
    username: String,
    role: Role,
    display_name: String,
) -> anyhow::Result<()> {
    if role == Role::ServiceUser {
        bail!("service users are created with their person record (POST /v1/people)");
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let request = CreateUserRequest {
        username,
        password,
        role,
        display_name,
        person_id: None,
    };
    let errors = request.field_errors();
    if !errors.is_empty() {
        let fields: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.code))
            .collect();
        bail!("not created: {}", fields.join(", "));
    }
    let user = UserRecord {
        id: UserId::new(),
        username: request.username,
        password_hash: passwords::hash(request.password).await?,
        role,
        display_name: request.display_name,
        person_id: None,
    };
    store.create_user(&user, store::now()).await?;
    say(&format!("created {} ({})", user.username, role.as_str()));
    Ok(())
}
