//! `stoop`: read and post neighborhood alerts, and moderate, from the
//! command line. Talks to a running `stoopd` through its local API.
//!
//! Exit codes: 0 ok, 1 other failure, 2 bad usage, 3 node unreachable,
//! 4 unauthorized, 5 rejected (with the named reason), 6 not found.
//!
//! # Layout
//! - [`args`]: the flags and subcommands (clap).
//! - [`commands`]: what each subcommand asks the node and prints.
//! - [`render`]: tables, text views, JSON and ages.

mod args;
mod commands;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stoop: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
