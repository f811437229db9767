//! `cargo xtask bench [--json]`: runs the `preflight` benchmark of the library.
//!
//! The bench binary prints its own results; its stdout is passed through untouched (with `--json`
//! it is one `{"metric","value","unit","how"}` object per line), so this command writes nothing
//! else to stdout: the echoed command line goes to stderr, like cargo's own progress output.

use std::process::ExitCode;

use crate::cmd;

pub fn run(args: &[String]) -> ExitCode {
    let mut json = false;
    for arg in args {
        match arg.as_str() {
            "--json" => json = true,
            other => return crate::usage_error(&format!("unknown `bench` argument `{other}`")),
        }
    }

    let mut command = cmd::cargo([
        "bench",
        "-p",
        "modem-upgrade",
        "--bench",
        "preflight",
        "--features",
        "std",
        "--",
    ]);
    if json {
        command.arg("--json");
    }
    eprintln!("$ {}", cmd::display(&command));

    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("error: the benchmark failed ({status})");
            // A signal has no exit code; out-of-range codes cannot be forwarded as-is.
            let code = status.code().and_then(|c| u8::try_from(c).ok());
            ExitCode::from(code.filter(|&c| c != 0).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("error: could not start cargo: {e}");
            ExitCode::FAILURE
        }
    }
}
