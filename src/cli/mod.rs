//! The command line: one file per subcommand, each with its clap `Args` and a
//! `run`. Data goes to stdout; logs, progress and warnings go to stderr.

/// `println!` for data on stdout that returns the error of a closed pipe
/// (`healthscore models list | head -0`) instead of panicking; `main` ends
/// such a run quietly with exit code 0.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}

/// `print!` that returns a closed pipe's error, as [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($t)*)?
    }};
}

pub mod bench;
pub mod demo;
pub mod explain;
pub mod export;
pub mod generate;
pub mod init;
pub mod models;
pub mod promote;
pub mod report;
pub mod retrain;
pub mod rules;
pub mod score;
pub mod train;
pub mod validate;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};

/// Churn risk and upsell scores for SaaS accounts: trained on your account
/// history, versioned, explained feature by feature, and validated against the
/// renewals that really happened.
#[derive(Debug, Parser)]
#[command(name = "healthscore", version, about, long_about = None)]
pub struct Cli {
    /// Print only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(about = "Time the main steps at scale (reading, fitting, scoring, TreeSHAP) with peak memory")]
    Bench(bench::Args),
    #[command(about = "Run the quarterly loop on the bundled sample: train, score, validate, report")]
    Demo(demo::Args),
    #[command(about = "Generate a synthetic SaaS account history with known ground truth")]
    Generate(generate::Args),
    #[command(about = "Draft a spec from your table: roles, features and categories, commented")]
    Init(init::Args),
    #[command(about = "Train the risk and upsell models and save them as a new version")]
    Train(train::Args),
    #[command(about = "Train a challenger and backtest it against the version in use")]
    Retrain(retrain::Args),
    #[command(about = "Score live accounts: risk, upsell, health, band, action, drivers, alerts")]
    Score(score::Args),
    #[command(about = "Validate scores against what happened: the score-to-renewal report")]
    Validate(validate::Args),
    #[command(about = "The portfolio page: ARR at risk by band, segment and action, the account map, drivers, migration")]
    Report(report::Args),
    #[command(about = "The hand-built weighted health score on its own")]
    Rules(rules::Args),
    #[command(about = "Show why one account scores as it does")]
    Explain(explain::Args),
    #[command(about = "Make a version the one in use (logged)")]
    Promote(promote::Args),
    #[command(about = "Put the previously used version back in use (logged)")]
    Rollback(promote::RollbackArgs),
    /// List and inspect model versions.
    #[command(subcommand)]
    Models(models::Command),
    /// A version as SQL the warehouse runs.
    #[command(subcommand)]
    Export(export::Command),
}

/// How a successful run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The command ran, but a check the user asked for failed (exit code 1).
    CheckFailed,
}

/// Where messages go: stderr, filtered by `--quiet` / `-v`.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub quiet: bool,
    pub verbose: u8,
}

impl Log {
    /// A normal message (hidden by `--quiet`).
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }
    /// A warning (always shown).
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }
    /// Detail shown with `-v`.
    pub fn debug(&self, msg: impl AsRef<str>) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }
    /// A spinner for a step that may take a while; hidden when stderr is not a terminal.
    pub fn spinner(&self) -> indicatif::ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
            pb.set_style(style);
        }
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let log = Log {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Bench(a) => bench::run(a, log),
        Command::Demo(a) => demo::run(a, log),
        Command::Generate(a) => generate::run(a, log),
        Command::Init(a) => init::run(a, log),
        Command::Train(a) => train::run(a, log),
        Command::Score(a) => score::run(a, log),
        Command::Retrain(a) => retrain::run(a, log),
        Command::Explain(a) => explain::run(a, log),
        Command::Validate(a) => validate::run(a, log),
        Command::Report(a) => report::run(a, log),
        Command::Rules(a) => rules::run(a, log),
        Command::Promote(a) => promote::run(a, log),
        Command::Rollback(a) => promote::rollback(a, log),
        Command::Models(c) => models::run(c, log),
        Command::Export(c) => export::run(c, log),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
