//! A tiny command-runner: builds `cargo`/tool commands rooted at the workspace, echoes them, runs
//! them (optionally with a wall-clock timeout) and turns failures into readable messages.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The workspace root: the parent of the xtask manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// A `cargo` command (from `$CARGO` if set, else `cargo` on `PATH`) running in the workspace root.
pub fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    tool(program, args)
}

/// An arbitrary program running in the workspace root.
pub fn tool<P, I, S>(program: P, args: I) -> Command
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args).current_dir(workspace_root());
    command
}

/// A shell-like rendering of `command` (environment overrides, program, arguments) for logs.
pub fn display(command: &Command) -> String {
    let envs = command.get_envs().filter_map(|(key, value)| {
        value.map(|value| format!("{}={}", key.to_string_lossy(), quote(value)))
    });
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_owned();
    let words = std::iter::once(quote(&program)).chain(command.get_args().map(quote));
    envs.chain(words).collect::<Vec<_>>().join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,=:+@%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Echoes and runs `command` with inherited stdio; `Err` describes how it failed.
pub fn run(command: &mut Command) -> Result<(), String> {
    println!("$ {}", display(command));
    let status = command.status().map_err(|e| spawn_error(command, &e))?;
    check_status(command, status)
}

/// Echoes and runs `command`, capturing stdout and stderr. Only a failure to spawn is an `Err`; the
/// caller judges the exit status.
pub fn output(command: &mut Command) -> Result<Output, String> {
    eprintln!("$ {}", display(command));
    command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(command, &e))
}

/// Runs a `cargo build --message-format=json-render-diagnostics` `command` (output captured) and
/// returns the path of the executable named `name` that cargo reports. A failed build is an `Err`
/// with the tail of cargo's diagnostics.
pub fn built_executable(command: &mut Command, name: &str) -> Result<PathBuf, String> {
    eprintln!("$ {}", display(command));
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(command, &e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        tail.reverse();
        return Err(format!(
            "building {name} failed ({}):\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let name_field = format!("\"name\":\"{name}\"");
    const EXECUTABLE: &str = "\"executable\":\"";
    stdout
        .lines()
        .filter(|line| line.contains(&name_field) && line.contains(EXECUTABLE))
        .filter_map(|line| {
            let start = line.find(EXECUTABLE)? + EXECUTABLE.len();
            let end = line.get(start..)?.find('"')? + start;
            line.get(start..end).map(PathBuf::from)
        })
        .next_back()
        .ok_or_else(|| format!("cargo did not report the executable of {name}"))
}

/// Runs `command` silently and reports whether it could be spawned and exited successfully.
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Like [`run`], but kills the command if it has not finished after `timeout` (polling
/// `Child::try_wait`), printing a heartbeat every `heartbeat` so CI logs show progress. Everything,
/// the command's stdout included, goes to stderr: it installs things (apt-get, rustup), which must
/// not mix into a command's machine-readable stdout.
pub fn run_with_timeout(
    command: &mut Command,
    timeout: Duration,
    heartbeat: Duration,
) -> Result<(), String> {
    eprintln!("$ {}   (timeout {}s)", display(command), timeout.as_secs());
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .spawn()
        .map_err(|e| spawn_error(command, &e))?;
    let start = Instant::now();
    let mut next_heartbeat = heartbeat;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return check_status(command, status),
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for `{}` failed: {e}", display(command))),
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            // Best effort: the child may have exited between `try_wait` and `kill`.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "`{}` timed out after {}s and was killed",
                display(command),
                timeout.as_secs()
            ));
        }
        if elapsed >= next_heartbeat {
            eprintln!("    ... still running ({}s)", elapsed.as_secs());
            next_heartbeat += heartbeat;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn check_status(command: &Command, status: ExitStatus) -> Result<(), String> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", display(command)))
    }
}

fn spawn_error(command: &Command, error: &std::io::Error) -> String {
    format!(
        "could not start `{}`: {error}",
        command.get_program().to_string_lossy()
    )
}

/// Formats a duration as seconds with one decimal, e.g. `12.3s`.
pub fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn timeout_kills_the_child() {
        let start = Instant::now();
        let result = run_with_timeout(
            Command::new("sleep").arg("30"),
            Duration::from_millis(500),
            Duration::from_secs(60),
        );
        let error = result.expect_err("`sleep 30` must time out");
        assert!(error.contains("timed out"), "{error}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn exit_status_is_checked() {
        assert!(run_with_timeout(&mut Command::new("true"), Duration::from_secs(30), HOUR).is_ok());
        assert!(
            run_with_timeout(&mut Command::new("false"), Duration::from_secs(30), HOUR).is_err()
        );
        assert!(run(&mut Command::new("false")).is_err());
        assert!(run(&mut Command::new("/nonexistent/program")).is_err());
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn display_quotes_when_needed() {
        let mut command = Command::new("/usr/bin/cargo");
        command
            .args(["doc", "--features", "a,b", "it's here"])
            .env("RUSTDOCFLAGS", "-D warnings");
        assert_eq!(
            display(&command),
            r"RUSTDOCFLAGS='-D warnings' cargo doc --features a,b 'it'\''s here'"
        );
    }
}
