use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
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
