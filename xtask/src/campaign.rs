//! `cargo xtask campaign --scenarios N --seed S [--json] [--verbose]`: builds the `modem-campaign`
//! binary in release mode and runs it with the same arguments (its stdout, including the last-line
//! JSON summary, is passed through untouched). See docs/testing.md.

use std::process::ExitCode;

use crate::cmd;

/// Scenarios CI runs (the documented full run is `--scenarios 2000`).
pub const CI_SCENARIOS: u32 = 300;
/// The seed CI uses (fixed, so a red CI replays exactly).
pub const CI_SEED: u32 = 20_261_121;

pub fn run(args: &[String]) -> ExitCode {
    let mut command = cmd::cargo(["run", "--quiet", "--release", "-p", "modem-campaign", "--"]);
    command.args(args);
    eprintln!("$ {}", cmd::display(&command));
    match command.status() {
        Ok(status) => match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The CI step: the reduced campaign; fails on any false success or unrecovered modem.
pub fn ci_step() -> Result<(), String> {
    let scenarios = CI_SCENARIOS.to_string();
    let seed = CI_SEED.to_string();
    let mut command = cmd::cargo([
        "run",
        "--quiet",
        "--release",
        "-p",
        "modem-campaign",
        "--",
        "--scenarios",
        &scenarios,
        "--seed",
        &seed,
        "--json",
    ]);
    cmd::run(&mut command)
}
