//! The `ltiscope` binary: parses the command line, resolves settings once, runs a command, and
//! is the only place that decides exit codes (0 success, 1 failure, 2 usage error from clap).
//! Quarantined events are not failures: they are reported in the summary.

mod args;
mod commands;
mod settings;

use clap::Parser;

/// mimalloc instead of the system allocator: parsing and redaction allocate many small values
/// on several threads at once, and glibc's malloc spent about a fifth of an import's CPU time
/// in its own bookkeeping (perf, 100,000 events). The workspace builds it with `override`, so
/// it is the process's `malloc` as well and DuckDB's C++ allocates through it too (with glibc
/// under DuckDB an import took more page faults, and its rollup refresh more time;
/// `tests/allocator.rs`), and with `no_thp`, so that DuckDB's large buffers are not faulted in
/// as transparent huge pages (the workspace's `Cargo.toml` says what each cost).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LTISCOPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = settings::Settings::from_process(&cli.global)
        .and_then(|settings| commands::run(cli.command, &settings));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
