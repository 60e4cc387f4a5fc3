//! `ourvidz-worker`: the reference worker's command line. Flags and
//! environment are described by `--help` (see `options.rs`); SIGTERM or
//! Ctrl-C stops claiming, lets the jobs in hand finish within the grace
//! period and exits 0.

use clap::Parser;
use ourvidz_worker::Options;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    eprintln!("worker: {} claiming from {} (concurrency {})", options.worker_id(), options.api_base(), options.concurrency);
    match ourvidz_worker::run(&options, shutdown_signal()).await {
        Ok(summary) => {
            eprintln!("worker: stopped: {summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("worker: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM. A signal that cannot be installed never
/// resolves rather than stopping the worker at once.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("worker: cannot listen for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                eprintln!("worker: cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    eprintln!("worker: shutting down");
}
