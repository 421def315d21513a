//! The `warren` binary.

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use warren_server::{Cli, Config, RunningServer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config()?;
    init_logging(&config);
    let server = RunningServer::start(&config)
        .await
        .context("cannot start")?;
    for (protocol, addr) in server.listening() {
        // Scripts and tests read these lines to learn the real ports.
        println!("warren listening {protocol} {addr}");
        tracing::info!(protocol, %addr, "listening");
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log.level.as_str()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
