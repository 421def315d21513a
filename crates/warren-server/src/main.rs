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
    wait_for_signal(&server).await?;
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

/// Waits for SIGINT or SIGTERM; SIGHUP reloads the TLS certificates meanwhile.
async fn wait_for_signal(server: &RunningServer) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => return Ok(result?),
            _ = terminate.recv() => return Ok(()),
            // reload_tls logs each listener's outcome; a failure keeps the old certificates.
            _ = hangup.recv() => { let _ = server.reload_tls(); }
        }
    }
}
