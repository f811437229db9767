//! `cargo xtask fuzz --seconds N [--target NAME]`: runs the cargo-fuzz targets under `fuzz/`
//! (libFuzzer, nightly toolchain), each for N seconds, and reports runs and crashes per target.
//!
//! Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) when it is missing; says "skipped" and
//! why when the nightly toolchain or cargo-fuzz cannot be had. A crash leaves its input in
//! `fuzz/artifacts/<target>/`; replay it with `cargo +nightly fuzz run <target> <file>` and turn it into
//! a regression test.

use std::process::{Command, ExitCode};

use crate::cmd;

/// The targets, in the order they run.
pub const TARGETS: &[&str] = &[
    "stp_response",
    "at_digest",
    "image_reader",
    "journal_decode",
    "card_layout",
];

pub fn run(args: &[String]) -> ExitCode {
    let mut seconds = 60u64;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => match it.next().and_then(|v| v.parse().ok()) {
                Some(s) => seconds = s,
                None => return crate::usage_error("--seconds takes a whole number"),
            },
            "--target" => match it.next() {
                Some(t) if TARGETS.contains(&t.as_str()) => only = Some(t.clone()),
                _ => {
                    return crate::usage_error(&format!(
                        "--target takes one of: {}",
                        TARGETS.join(", ")
                    ));
                }
            },
            other => return crate::usage_error(&format!("unknown `fuzz` argument `{other}`")),
        }
    }
    if let Err(reason) = nightly().and_then(|()| cargo_fuzz()) {
        eprintln!("skipped: fuzzing ({reason})");
        return ExitCode::SUCCESS;
    }
    let mut crashed = Vec::new();
    for target in TARGETS
        .iter()
        .filter(|t| only.as_deref().is_none_or(|o| o == **t))
    {
        let mut command = nightly_cargo([
            "fuzz",
            "run",
            "--sanitizer",
            "none",
            target,
            "--",
            &format!("-max_total_time={seconds}"),
            "-rss_limit_mb=2048",
        ]);
        eprintln!("$ {}", cmd::display(&command));
        let output = match command.output() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: cannot run cargo fuzz: {e}");
                return ExitCode::FAILURE;
            }
        };
        let log = String::from_utf8_lossy(&output.stderr);
        // libFuzzer ends with "Done N runs in S second(s)".
        let runs = log
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("Done ").and_then(|r| r.split(' ').next()))
            .unwrap_or("?");
        if output.status.success() {
            println!("fuzz {target}: {runs} runs in {seconds} s, no crash");
        } else {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            println!(
                "fuzz {target}: CRASH (exit {}); the input is in fuzz/artifacts/{target}/",
                output.status
            );
            crashed.push(*target);
        }
    }
    if crashed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `cargo +nightly ARGS` through the rustup proxy, in the workspace root, without the toolchain
/// variables the outer (stable) cargo set for this process.
fn nightly_cargo<const N: usize>(args: [&str; N]) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("+nightly")
        .args(args)
        .current_dir(cmd::workspace_root());
    for var in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
    ] {
        command.env_remove(var);
    }
    command
}

/// `Ok` when the nightly toolchain is installed (installing it with rustup when missing).
pub fn nightly() -> Result<(), String> {
    if cmd::succeeds(&mut nightly_cargo(["--version"])) {
        return Ok(());
    }
    eprintln!("nightly toolchain missing: rustup toolchain install nightly --profile minimal");
    let mut install = Command::new("rustup");
    install.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
    if cmd::succeeds(&mut install) {
        Ok(())
    } else {
        Err("the nightly toolchain is not installed and rustup could not install it".into())
    }
}

/// `Ok` when `cargo fuzz` runs (installing cargo-fuzz from crates.io when missing).
fn cargo_fuzz() -> Result<(), String> {
    if cmd::succeeds(&mut nightly_cargo(["fuzz", "--version"])) {
        return Ok(());
    }
    eprintln!("cargo-fuzz missing: cargo install cargo-fuzz --locked");
    let mut install = Command::new("cargo");
    install.args(["install", "cargo-fuzz", "--locked"]);
    if cmd::succeeds(&mut install) {
        Ok(())
    } else {
        Err("cargo-fuzz is not installed and `cargo install cargo-fuzz` failed".into())
    }
}

/// The CI step: the fuzz targets still compile (nightly `cargo check`; no cargo-fuzz needed).
pub fn ci_check() -> Result<Option<String>, String> {
    if !cmd::succeeds(&mut nightly_cargo(["--version"])) {
        return Ok(Some(
            "nightly toolchain not installed (`cargo xtask fuzz` installs it to run the fuzzers)"
                .into(),
        ));
    }
    let manifest = cmd::workspace_root().join("fuzz").join("Cargo.toml");
    let target_dir = cmd::workspace_root().join("target").join("fuzz-check");
    let mut command = nightly_cargo(["check", "--bins", "--manifest-path"]);
    command.arg(&manifest).arg("--target-dir").arg(&target_dir);
    cmd::run(&mut command)?;
    Ok(None)
}
