//! `cargo xtask`: project automation for `modem-upgrade`.
//!
//! std only and deliberately dependency-free (everything goes through `std::process::Command`) so
//! that CI does not have to compile anything extra before it can start checking the library.
//!
//! Commands:
//! - `cargo xtask ci`: the full CI pipeline (fmt, clippy matrix, tests, no_std cross build, docs).
//! - `cargo xtask bench [--json]`: run the `preflight` benchmark and pass its output through.

mod bench;
mod ci;
mod cmd;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci               run everything CI runs (fmt, clippy matrix, tests, no_std cross build, docs)
  bench [--json]   run the `preflight` benchmark (`--json`: one JSON object per metric line)
  help             print this message";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("help", &[][..]),
    };
    match command {
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        "ci" => ci::run(rest),
        "bench" => bench::run(rest),
        other => usage_error(&format!("unknown command `{other}`")),
    }
}

/// Prints `message` and the usage text to stderr; returns exit code 2.
pub fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\n{USAGE}");
    ExitCode::from(2)
}
