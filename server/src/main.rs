use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // JSON lines for log collectors; readable text otherwise.
    if std::env::var("LIVINGWELL_LOG_FORMAT").is_ok_and(|format| format == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let cli = livingwell_server::cli::Cli::parse();
    match livingwell_server::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            // Chains of context only; no error here carries record contents.
            tracing::error!("{error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
