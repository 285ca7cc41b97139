//! The `livingwell` command line.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Parser, Subcommand};
use livingwell_core::api::Validate;
use livingwell_core::api::people::CreateUserRequest;
use livingwell_core::domain::{Role, UserId};

use crate::audit::checkpoint::{self, Anchoring, Checkpoint, CheckpointWriter};
use crate::audit::{self, Verification};
use crate::auth::key_ring::{self, KeyRingError};
use crate::auth::passwords;
use crate::auth::sealing::{self, KeyEncryptionKey};
use crate::clock::Clock;
use crate::demo;
use crate::http::{self, AppState, Settings};
use crate::service::idempotency;
use crate::service::messaging::{MessagingSettings, SendRate};
use crate::service::push::PushTarget;
use crate::service::referrals::{self, ReferralSettings};
use crate::service::webhooks::WebhookSettings;
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

// Parsed once at start-up: the size of `serve`'s options costs nothing worth boxing them for.
#[allow(clippy::large_enum_variant)]
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
        /// Messages one sender may send a minute, sustained, with a burst of as many; `0`
        /// turns the limit off (as when measured against a peer with its limits off).
        #[arg(long, env = "LIVINGWELL_MESSAGE_RATE_LIMIT", default_value_t = 60)]
        message_rate_limit: u32,
        /// An origin whose pages may call the API from a browser (a staff tool at
        /// `https://tool.example.nhs.uk`, say); repeat for each. None by default: browsers
        /// on other origins are refused.
        #[arg(long = "cors-origin")]
        cors_origins: Vec<http::cors::CorsOrigin>,
        /// Requests a minute each staff system may make, sustained, with a burst of as many,
        /// unless an admin gave it a budget of its own.
        #[arg(long, env = "LIVINGWELL_CLIENT_RATE_LIMIT",
              default_value_t = http::client_rate::DEFAULT_REQUESTS_PER_MINUTE)]
        client_rate_limit: NonZeroU32,
        /// Let staff systems' webhooks go to loopback, private (RFC 1918, ULA), link-local,
        /// shared (CGNAT) and other non-public addresses. Off by default: such targets are
        /// refused when subscribing and never connected to when delivering. Turn on only
        /// where the receiving systems live on this deployment's own network.
        #[arg(long, env = "LIVINGWELL_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
        webhook_allow_private_targets: bool,
        /// How hard a self-referral's proof of work is: the largest counter a challenge hides.
        /// The solver tries half as many SHA-256s on average; the default is about a second on
        /// a phone. Tests lower it.
        #[arg(long, env = "LIVINGWELL_REFERRAL_PROOF_DIFFICULTY",
              default_value_t = referrals::DEFAULT_PROOF_DIFFICULTY,
              value_parser = clap::value_parser!(u32).range(1..))]
        referral_proof_difficulty: u32,
        /// Self-referrals one address (an IPv6 /64) may send at once, before the hourly rate.
        #[arg(long, env = "LIVINGWELL_REFERRAL_RATE_BURST",
              default_value_t = ReferralSettings::default().per_address_burst)]
        referral_rate_burst: NonZeroU32,
        /// Self-referrals one address may send an hour, sustained, after its burst.
        #[arg(long, env = "LIVINGWELL_REFERRAL_RATE_PER_HOUR",
              default_value_t = ReferralSettings::default().per_address_per_hour)]
        referral_rate_per_hour: NonZeroU32,
        #[command(flatten)]
        audit_checkpoints: CheckpointArgs,
        /// Seconds between audit checkpoints (tests shorten it).
        #[arg(
            long,
            hide = true,
            default_value_t = checkpoint::DEFAULT_INTERVAL.as_secs(),
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        audit_checkpoint_interval_secs: u64,
        #[command(flatten)]
        key_encryption: KeyEncryptionArgs,
        /// Seconds between reloads of the token signing keys (tests shorten it).
        #[arg(
            long,
            hide = true,
            default_value_t = key_ring::DEFAULT_RELOAD_INTERVAL.as_secs(),
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        key_reload_interval_secs: u64,
        /// Seconds a keyed write holds its `Idempotency-Key` before a retry may run it again
        /// (the fault harness shortens it: it kills the server many times a minute).
        #[arg(
            long,
            hide = true,
            default_value_t = idempotency::LEASE.num_seconds(),
            value_parser = clap::value_parser!(i64).range(1..=3600)
        )]
        idempotency_lease_secs: i64,
        /// Seconds a request may take before it is answered 503 with `Retry-After` (event
        /// streams excepted), so a slow database never leaves a caller hanging.
        #[arg(long, env = "LIVINGWELL_REQUEST_TIMEOUT_SECS",
              default_value_t = http::DEFAULT_REQUEST_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..=600))]
        request_timeout_secs: u64,
        /// Seconds one database statement may run (Postgres `statement_timeout`) or wait for
        /// SQLite's write lock before it gives up and its request answers 503. Migrations are
        /// exempt.
        #[arg(long, env = "LIVINGWELL_STATEMENT_TIMEOUT_SECS",
              default_value_t = store::DEFAULT_STATEMENT_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..=600))]
        statement_timeout_secs: u64,
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
    /// Token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a signing key. Running servers sign with it within a minute; the keys it replaces
    /// verify until every token they signed has expired, then are retired.
    Rotate {
        #[command(flatten)]
        key_encryption: KeyEncryptionArgs,
    },
    /// List the signing keys, retired ones included: kid, created, retirement.
    List,
}

/// Where the key that seals the token signing keys is kept.
#[derive(Debug, Args)]
struct KeyEncryptionArgs {
    /// The key-encryption key that seals the token signing keys in the database: a file of
    /// exactly 32 random bytes (`head -c 32 /dev/urandom`). Keep it off the database host and
    /// out of the database's backups. Default: `livingwell.kek` in the data directory, which
    /// `serve` creates there when it is missing and the database holds no sealed key.
    #[arg(long, env = "LIVINGWELL_KEY_ENCRYPTION_KEY_FILE")]
    key_encryption_key_file: Option<PathBuf>,
    /// The directory for the server's own files: the key-encryption key, unless named. The
    /// default SQLite database lives here too.
    #[arg(long, env = "LIVINGWELL_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

impl KeyEncryptionArgs {
    /// Reads the key-encryption key. Only `serve`, and only at the default path, creates one:
    /// a file that was named is expected to exist, and a database whose keys are sealed
    /// already needs the key they were sealed with, not a new one.
    async fn load(&self, store: &dyn Store, may_create: bool) -> anyhow::Result<KeyEncryptionKey> {
        let path = self
            .key_encryption_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(sealing::KEK_FILE_NAME));
        if let Some(kek) = KeyEncryptionKey::read(&path)? {
            return Ok(kek);
        }
        if !may_create || self.key_encryption_key_file.is_some() {
            bail!(
                "there is no key-encryption key file at {}: name the file the signing keys were \
                 sealed with or, for a new database, make one (`head -c 32 /dev/urandom > FILE`, \
                 mode 0600)",
                path.display()
            );
        }
        if key_ring::holds_sealed_keys(store).await? {
            bail!(
                "the signing keys in this database are sealed, but there is no key-encryption \
                 key file at {}; name the one they were sealed with (--key-encryption-key-file)",
                path.display()
            );
        }
        let kek = KeyEncryptionKey::create(&path)?;
        tracing::warn!(
            path = %path.display(),
            "created the key-encryption key that seals the token signing keys; back it up \
             apart from the database and keep it off the database host: without it no stored \
             key opens"
        );
        Ok(kek)
    }
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and report the first broken link; with a checkpoint directory,
    /// also report entries missing or changed since a checkpoint (exit code 1 if any).
    Verify {
        #[command(flatten)]
        audit_checkpoints: CheckpointArgs,
    },
}

/// Where the signed checkpoints of the audit log's head are kept.
#[derive(Debug, Args)]
struct CheckpointArgs {
    /// A directory for signed checkpoints of the audit log's head, out of the database's reach:
    /// `serve` writes one every minute and on shutdown, `audit verify` compares the log with them.
    #[arg(long, env = "LIVINGWELL_AUDIT_CHECKPOINT_DIR")]
    audit_checkpoint_dir: Option<PathBuf>,
    /// The key that signs checkpoints (Ed25519, PKCS#8 PEM; `serve` creates it, mode 0600, when
    /// missing). Default: `checkpoint.key` in the checkpoint directory.
    #[arg(
        long,
        env = "LIVINGWELL_AUDIT_CHECKPOINT_KEY",
        requires = "audit_checkpoint_dir"
    )]
    audit_checkpoint_key: Option<PathBuf>,
}

impl CheckpointArgs {
    /// The directory and the key's path, when checkpoints are kept.
    fn location(self) -> Option<(PathBuf, PathBuf)> {
        let dir = self.audit_checkpoint_dir?;
        let key = self
            .audit_checkpoint_key
            .unwrap_or_else(|| dir.join(checkpoint::KEY_FILE_NAME));
        Some((dir, key))
    }
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

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The server's statements have a short deadline; the operator's commands (an audit
    // verification of years of entries, page by page, say) a generous one.
    let statement_timeout = match &cli.command {
        Command::Serve {
            statement_timeout_secs,
            ..
        } => Duration::from_secs(*statement_timeout_secs),
        _ => Duration::from_secs(10 * 60),
    };
    let store = store::connect_with(
        &cli.database_url,
        store::StoreSettings { statement_timeout },
    )
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
            message_rate_limit,
            cors_origins,
            client_rate_limit,
            webhook_allow_private_targets,
            referral_proof_difficulty,
            referral_rate_burst,
            referral_rate_per_hour,
            audit_checkpoints,
            audit_checkpoint_interval_secs,
            key_encryption,
            key_reload_interval_secs,
            idempotency_lease_secs,
            request_timeout_secs,
            statement_timeout_secs: _,
        } => {
            let outcome_labels = load_outcome_labels(outcome_labels.as_deref())?;
            let key_encryption_key = key_encryption.load(store.as_ref(), true).await?;
            let checkpoints = match audit_checkpoints.location() {
                Some((dir, key)) => Some(CheckpointWriter::open(
                    store.clone(),
                    dir,
                    &key,
                    Duration::from_secs(audit_checkpoint_interval_secs),
                )?),
                None => {
                    tracing::warn!(
                        "no --audit-checkpoint-dir: entries deleted from the end of the audit log \
                         would go unnoticed"
                    );
                    None
                }
            };
            if demo {
                seed_demo(store.as_ref(), &demo_password, Clock::System.now()).await?;
            }
            serve(
                store,
                bind,
                checkpoints,
                Settings {
                    issuer,
                    key_encryption_key,
                    key_reload_interval: Duration::from_secs(key_reload_interval_secs),
                    outcome_labels,
                    messaging: MessagingSettings {
                        crisis_lines: if crisis_lines.is_empty() {
                            livingwell_core::domain::message::default_crisis_lines()
                        } else {
                            crisis_lines
                        },
                        push: push_webhook.map_or(PushTarget::Log, PushTarget::Webhook),
                        send_rate: NonZeroU32::new(message_rate_limit).map(SendRate::per_minute),
                    },
                    cors_origins,
                    client_requests_per_minute: client_rate_limit,
                    webhooks: WebhookSettings {
                        allow_private_targets: webhook_allow_private_targets,
                        ..WebhookSettings::default()
                    },
                    idempotency_lease: chrono::Duration::seconds(idempotency_lease_secs),
                    request_timeout: Duration::from_secs(request_timeout_secs),
                    referrals: ReferralSettings {
                        proof_difficulty: referral_proof_difficulty,
                        per_address_burst: referral_rate_burst,
                        per_address_per_hour: referral_rate_per_hour,
                    },
                    ..Settings::default()
                },
            )
            .await?;
        }
        Command::Audit {
            command: AuditCommand::Verify { audit_checkpoints },
        } => return verify_audit(store.as_ref(), audit_checkpoints).await,
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
        Command::Keys {
            command: KeysCommand::Rotate { key_encryption },
        } => {
            let kek = key_encryption.load(store.as_ref(), false).await?;
            rotate_keys(store.as_ref(), &kek).await?;
        }
        Command::Keys {
            command: KeysCommand::List,
        } => list_keys(store.as_ref()).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate_keys(store: &dyn Store, kek: &KeyEncryptionKey) -> anyhow::Result<()> {
    let rotation = key_ring::rotate(store, kek, Clock::System.now())
        .await
        .map_err(|error| match error {
            KeyRingError::Unreadable { .. } => anyhow::Error::new(error)
                .context("not rotated: the stored keys do not open with this key-encryption key"),
            error => anyhow::Error::new(error).context("not rotated"),
        })?;
    say(&format!(
        "signing key {} added: running servers sign new tokens with it within a minute",
        rotation.kid
    ));
    for (kid, retire_after) in rotation.retiring {
        say(&format!(
            "signing key {kid} verifies until {}, when every token it signed has expired; then \
             it is retired",
            timestamp(retire_after)
        ));
    }
    Ok(())
}

async fn list_keys(store: &dyn Store) -> anyhow::Result<()> {
    let keys = store.signing_key_history().await?;
    if keys.is_empty() {
        say("no signing keys yet: `serve` creates the first");
    }
    let mut signing_seen = false;
    for key in keys {
        let state = match (key.retired_at, key.retire_after) {
            (Some(at), _) => format!("retired {}", timestamp(at)),
            (None, Some(after)) => format!("verifies until {}", timestamp(after)),
            // The newest key in use signs; an older one without a retirement time (two
            // processes created a first key at once) only verifies.
            (None, None) if !signing_seen => {
                signing_seen = true;
                "signs".to_owned()
            }
            (None, None) => "verifies".to_owned(),
        };
        say(&format!(
            "{}  created {}  {state}",
            key.kid,
            timestamp(key.created_at)
        ));
    }
    Ok(())
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Checks the chain, then compares it with the checkpoints; every finding is said, and any
/// failure makes the exit code 1.
async fn verify_audit(store: &dyn Store, checkpoints: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let mut intact = match audit::verify(store).await? {
        Verification::Intact { entries } => {
            say(&format!("audit log intact: {entries} entries"));
            true
        }
        Verification::Broken { seq, reason } => {
            say(&format!("audit log broken at entry {seq}: {reason}"));
            false
        }
    };
    if let Some((dir, key)) = checkpoints.location() {
        let history = checkpoint::read_history(&dir, &key)?;
        for (file, reason) in &history.invalid {
            say(&format!(
                "audit checkpoint {} refused: {reason}",
                file.display()
            ));
            intact = false;
        }
        match checkpoint::compare(store, &history.valid).await? {
            Anchoring::NoCheckpoints => {
                if history.invalid.is_empty() {
                    say(&format!(
                        "no audit checkpoints in {} yet: nothing to compare the log with",
                        dir.display()
                    ));
                }
            }
            Anchoring::Anchored { newest } => say(&format!(
                "audit log matches its newest checkpoint ({})",
                describe(&newest)
            )),
            Anchoring::Truncated {
                checkpoint,
                database_ends_at,
            } => {
                let first_missing = database_ends_at + 1;
                let missing = if first_missing == checkpoint.seq {
                    format!("entry {first_missing} is missing")
                } else {
                    format!(
                        "entries {first_missing}\u{2013}{} are missing",
                        checkpoint.seq
                    )
                };
                let database_end = if database_ends_at == 0 {
                    "the database holds no entries".to_owned()
                } else {
                    format!("the database ends at {database_ends_at}")
                };
                say(&format!(
                    "audit log truncated: {missing} (last {}); {database_end}",
                    describe(&checkpoint)
                ));
                intact = false;
            }
            Anchoring::Rewritten {
                checkpoint,
                last_matching,
            } => {
                let since = last_matching.map_or_else(
                    || "no checkpoint matches the database".to_owned(),
                    |matching| format!("the log still matches the {}", describe(&matching)),
                );
                say(&format!(
                    "audit log rewritten: entry {} is not the one in the {}; {since}",
                    checkpoint.seq,
                    describe(&checkpoint)
                ));
                intact = false;
            }
        }
    }
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// "checkpoint at seq 120, taken 2026-12-02T15:01:00Z"
fn describe(checkpoint: &Checkpoint) -> String {
    format!(
        "checkpoint at seq {}, taken {}",
        checkpoint.seq,
        checkpoint
            .taken_at
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    )
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

async fn seed_demo(store: &dyn Store, password: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    match demo::seed_with_history(store, password, now).await? {
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

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests and, when checkpoints are
/// kept, checkpoints the audit log's final head.
pub async fn serve(
    store: Arc<dyn Store>,
    bind: SocketAddr,
    checkpoints: Option<CheckpointWriter>,
    settings: Settings,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    outlive_file_size_limit()?;
    let state = AppState::new(store, &settings).await?;
    let shutdown = state.shutdown.clone();
    let checkpoints = checkpoints.map(|writer| {
        let writer = Arc::new(writer);
        let periodic = tokio::spawn(writer.clone().run(shutdown.clone()));
        (writer, periodic)
    });
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .context("binding the address")?;
    say(&format!(
        "Living Well listening on http://{}",
        listener.local_addr()?
    ));
    say(&format!("API docs: http://{}/docs", listener.local_addr()?));
    http::serve_until(listener, state, shutdown_signal()).await?;
    if let Some((writer, periodic)) = checkpoints {
        // Cancelled already on a signal; this also covers the server stopping on its own.
        shutdown.cancel();
        // A periodic checkpoint in flight finishes first; then the final head, now that every
        // request has been answered.
        periodic.await.context("the audit checkpoint task failed")?;
        if let Some(seq) = writer
            .checkpoint()
            .await
            .context("the final audit checkpoint was not written")?
        {
            tracing::info!(seq, "audit log checkpointed on shutdown");
        }
    }
    Ok(())
}

/// A write past a file size limit (`ulimit -f`, systemd's `LimitFSIZE=`) sends the process
/// `SIGXFSZ`, whose default action ends it there and then, mid-request. With a handler installed
/// the write fails with `EFBIG` instead: the store answers it as full storage (503
/// `storage_full`), reads that need no room go on, and the server carries on once the limit is
/// raised. Tokio keeps a handler for the life of the process, so the stream is not read.
#[cfg(unix)]
fn outlive_file_size_limit() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let _never_read = signal(SignalKind::from_raw(libc::SIGXFSZ)).context("handling SIGXFSZ")?;
    Ok(())
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
    store.create_user(&user, Clock::System.now()).await?;
    say(&format!("created {} ({})", user.username, role.as_str()));
    Ok(())
}
