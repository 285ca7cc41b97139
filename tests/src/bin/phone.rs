//! A phone for the crash-safety journey (`tests/tests/engine_crash.rs`): one engine on one
//! store, which the journey SIGKILLs at random points and starts again on the same store.
//!
//! It opens the engine (signing in only when no session is kept), queues the writes of its
//! plan one by one — printing `queued <tag>` only once `send_message` has returned, so every
//! such line names a write the store holds durably — messages and comments on the person's plan, with a send or a "network is back"
//! between some of them, and then drains until the outbox is empty, printing its progress.
//!
//! What it prints is the journey's record of what was promised, so it is read line by line:
//! tags, counts and outcomes only. The text of a write is never printed, and failures go to
//! stderr as the engine's errors, which carry no text either.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use livingwell_core::api::plans::CommentRequest;
use livingwell_core::domain::plan::PlanSection;
use livingwell_engine::engine::{Engine, EngineConfig};
use livingwell_engine::outbox::Drained;
use livingwell_engine::secrets::FileSecretStore;
use livingwell_engine::store::WriteState;
use livingwell_engine::{EngineError, PublicError};
use livingwell_tests::PASSWORD;
use livingwell_tests::crash::{body_of, tag_of};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How often a waiting drain asks again: short, so a restarted server is found quickly.
const DRAIN_PAUSE: Duration = Duration::from_millis(40);

#[derive(Parser)]
struct Args {
    /// The engine's store directory (the same across restarts).
    #[arg(long)]
    store: PathBuf,
    /// Where the session and the store's key are kept (the same across restarts).
    #[arg(long)]
    secrets: PathBuf,
    #[arg(long)]
    server: String,
    #[arg(long)]
    conversation: String,
    /// The person whose Enablement Plan some writes comment on (the signed-in person's own).
    #[arg(long)]
    person: String,
    #[arg(long, default_value = "alex")]
    username: String,
    /// This start's number: its writes are tagged `crash-<run>-<j>`.
    #[arg(long)]
    run: u32,
    /// How many writes to queue, `j` from 0.
    #[arg(long)]
    writes: u32,
    /// Chooses where sends fall between the writes.
    #[arg(long)]
    seed: u64,
}

/// Prints one line of the record, at once: the journey may kill us right after.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means the journey stopped listening; nothing is left to tell it.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn report(drained: &Drained, engine: &Engine) -> Result<(), EngineError> {
    let left = engine.store().queued()?.len();
    say(&format!(
        "sent n={} postponed={} left={left}",
        drained.sent, drained.postponed
    ));
    Ok(())
}

/// Signs in again when the session is gone (never kept, or ended by the server); offline,
/// the next round tries again.
async fn ensure_signed_in(engine: &Engine, username: &str) {
    if engine.session().user().await.is_some() {
        return;
    }
    match engine.sign_in(username, PASSWORD).await {
        Ok(_) => say("signed-in"),
        Err(error) => say(&format!("sign-in-failed {:?}", PublicError::from(&error))),
    }
}

/// The network is back, as the platform would say after a restart or a flap: what is queued
/// goes, then the store catches up. Offline is an outcome here, not a failure.
async fn network_is_back(engine: &Engine) -> Result<(), EngineError> {
    say("sending");
    match engine.network_is_back().await {
        Ok(drained) => report(&drained, engine),
        Err(error @ EngineError::Store(_)) => Err(error),
        Err(error) => {
            say(&format!("offline {:?}", PublicError::from(&error)));
            Ok(())
        }
    }
}

async fn send_queued(engine: &Engine) -> Result<(), EngineError> {
    say("sending");
    let drained = engine.send_queued().await?;
    report(&drained, engine)
}

async fn run(args: Args) -> Result<ExitCode, EngineError> {
    let secrets =
        Arc::new(
            FileSecretStore::new(&args.secrets).map_err(|e| EngineError::Config {
                reason: e.to_string(),
            })?,
        );
    let config = EngineConfig::new(args.store.clone(), args.server.clone());
    let engine = Engine::open(config, secrets)?;
    let conversation = args.conversation.parse().map_err(|_| EngineError::Config {
        reason: "the conversation is not an id".into(),
    })?;
    let person = args.person.parse().map_err(|_| EngineError::Config {
        reason: "the person is not an id".into(),
    })?;
    say(&format!("opened queued={}", engine.store().queued()?.len()));
    let mut rng = StdRng::seed_from_u64(args.seed);

    say("phase queueing");
    ensure_signed_in(&engine, &args.username).await;
    for j in 0..args.writes {
        let tag = tag_of(args.run, j);
        // Mostly messages (sent by the server's group commit), some plan comments (written in
        // the request itself, so a kill mid-request can leave the server's idempotency key
        // marked applied with no answer kept): two queues, two paths on the server.
        if rng.gen_range(0..4) == 0 {
            let comment = CommentRequest {
                section: PlanSection::Goals,
                body: body_of(&tag),
                disagree: false,
            };
            engine.comment_on_plan(person, &comment)?;
        } else {
            engine.send_message(conversation, &body_of(&tag))?;
        }
        // Only now is the write the store's: this line is the promise the journey checks.
        say(&format!("queued {tag}"));
        match rng.gen_range(0..6) {
            0 => send_queued(&engine).await?,
            1 => network_is_back(&engine).await?,
            _ => {}
        }
    }

    say("phase draining");
    loop {
        ensure_signed_in(&engine, &args.username).await;
        network_is_back(&engine).await?;
        let queued = engine.store().queued()?;
        if queued.is_empty() {
            say("empty");
            return Ok(ExitCode::SUCCESS);
        }
        // A refused write would hold the queue for ever: the journey must hear of it, not wait.
        if let Some(wedged) = queued.iter().find(|w| w.state != WriteState::Queued) {
            say(&format!("stuck {:?}", wedged.state));
            return Ok(ExitCode::from(3));
        }
        tokio::time::sleep(DRAIN_PAUSE).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("phone: {error}");
            ExitCode::FAILURE
        }
    }
}
