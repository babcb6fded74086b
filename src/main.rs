use std::process::ExitCode;

use clap::Parser;

/// Parses the command line, runs it, and maps the outcome to the exit code: 0 passed, 1 an audit
/// or threshold failed, 2 the command could not run, 130 interrupted.
fn main() -> ExitCode {
    let cli = tickbench::cli::Cli::parse();
    cli.init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(async {
        let signals = tickbench::cli::Signals::new();
        let mut stdout = std::io::stdout();
        tokio::select! {
            r = tickbench::cli::execute(cli, &signals, &mut stdout) => match r {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(tickbench::cli::exit::ERROR)
                }
            },
            _ = signals.abort.cancelled() => {
                eprintln!("aborted");
                ExitCode::from(tickbench::cli::exit::INTERRUPTED)
            }
        }
    });
    // An abort leaves tasks and producer threads behind: do not wait for them.
    runtime.shutdown_background();
    code
}
