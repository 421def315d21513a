//! The `warren` binary.

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use warren_server::{Cli, Config, RunningServer};

/// The memory alarm watches the resident set, so freed memory must leave it: the C library's
/// allocator keeps the pages of a drained backlog resident for good (the alarm would then hold
/// publishers forever), mimalloc gives them back once they have been free for a while.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option, read from the environment before `main` runs: how long (ms) freed pages
/// wait before they are given back. Its default (1 s) is only acted on when the thread that
/// owns the pages allocates again, which an idle broker whose publishers are blocked never
/// does; 100 ms gives them back while the consumers drain.
const PURGE_DELAY: (&str, &str) = ("MIMALLOC_PURGE_DELAY", "100");

fn main() -> anyhow::Result<()> {
    set_allocator_options();
    // tokio's defaults, LIFO slot included: a task woken by a quiet connection runs next on
    // the same worker; the connection driver hands it to the others after a busy step (ADR
    // 0012).
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

/// Starts the binary again with [`PURGE_DELAY`] in its environment, unless it is already set
/// (also by the user, whose value wins). If that fails the broker runs with the defaults.
fn set_allocator_options() {
    use std::os::unix::process::CommandExt;
    let (key, value) = PURGE_DELAY;
    if std::env::var_os(key).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    // exec returns only when it failed.
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(key, value)
        .exec();
    eprintln!("warren: cannot restart with {key}={value} ({err}); freed memory may stay resident");
}

async fn run() -> anyhow::Result<()> {
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
