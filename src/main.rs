//! The `healthscore` command: parses arguments, runs the library, maps the
//! outcome to an exit code (0 ok, 1 a check you asked for failed, 2 error).

use std::process::ExitCode;

use clap::Parser;
use healthscore::cli::{Cli, Outcome};

/// mimalloc keeps freed blocks for reuse across threads, where the system
/// allocator maps and unmaps large blocks (page faults, TLB shootdowns) on
/// every scoring block.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match healthscore::cli::run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
