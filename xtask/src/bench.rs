//! `cargo xtask bench [--json]`: runs the library's benchmarks.
//!
//! - `preflight`: image validation throughput;
//! - `stp_engine`: the STP session engine's and CRC-16's throughput;
//! - under valgrind (callgrind), when it is installed: the STP engine's instructions per image byte,
//!   counted as (one 6 MB session) − (the same binary doing nothing but building the image), so the
//!   set-up cost cancels out;
//! - the footprint of the library in `examples/firmware` (thumbv7m-none-eabi, release), read from its
//!   ELF (`crate::firmware`): flash of the library's symbols, and its static RAM plus the size of the
//!   upgrader's state; "skipped" when the target or the firmware build is unavailable.
//!
//! The bench binaries print their own results; their stdout is passed through untouched (with `--json`
//! it is one `{"metric","value","unit","how"}` object per line, and this command adds its own lines in
//! the same shape), so this command writes nothing else to stdout: commands and skips go to stderr.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use crate::cmd;

/// Image bytes one `--once engine` pass of the `stp_engine` bench sends (its `IMAGE_BYTES`).
const STP_BENCH_IMAGE_BYTES: f64 = 6_000_000.0;

pub fn run(args: &[String]) -> ExitCode {
    let mut json = false;
    for arg in args {
        match arg.as_str() {
            "--json" => json = true,
            other => return crate::usage_error(&format!("unknown `bench` argument `{other}`")),
        }
    }

    for bench in ["preflight", "stp_engine", "stp_replay"] {
        let mut command = cmd::cargo([
            "bench",
            "-p",
            "modem-upgrade",
            "--bench",
            bench,
            "--features",
            "std",
            "--",
        ]);
        if json {
            command.arg("--json");
        }
        eprintln!("$ {}", cmd::display(&command));
        if let Err(code) = status(command.status()) {
            return code;
        }
    }

    match host_instructions_per_byte() {
        Ok(Some(per_byte)) => {
            let how = "callgrind instruction count of replaying a recorded modem transcript (a \
                       2,000,000-byte STP v1 session, block 2016, recorded against modem-sim) through \
                       Link + Session, minus the same binary only loading the transcript and building \
                       the image, divided by the image bytes; the simulator's cost is excluded; \
                       includes the replay UART's byte comparison; release build; target <= 15";
            if json {
                println!(
                    "{{\"metric\":\"host_instructions_per_byte\",\"value\":{per_byte:.2},\"unit\":\"instructions/byte\",\"how\":\"{how}\"}}"
                );
            } else {
                println!(
                    "{:<32} {:>10.2} {:<5} {}",
                    "host_instructions_per_byte", per_byte, "instr/B", how
                );
            }
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }

    match stp_instructions_per_byte() {
        Ok(Some(per_byte)) => {
            let how = "callgrind instruction count of one 6,000,000-byte STP v1 session (block 2016) \
                       against an in-process slave, minus the same binary without the session, divided \
                       by the image bytes; release build";
            if json {
                println!(
                    "{{\"metric\":\"stp_engine_instructions_per_byte\",\"value\":{per_byte:.2},\"unit\":\"instructions/byte\",\"how\":\"{how}\"}}"
                );
            } else {
                println!(
                    "{:<32} {:>10.2} {:<5} {}",
                    "stp_engine_instructions_per_byte", per_byte, "instr/B", how
                );
            }
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }

    match crate::firmware::footprint_for_bench() {
        Ok(Some(footprint)) => print_footprint(&footprint, json),
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }

    match crate::qemu::bench_run() {
        Ok(Some(figures)) => {
            print_qemu_figures(&figures, json);
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The example firmware's run-time figures from a verified upgrade of the demo card in QEMU.
fn print_qemu_figures(f: &crate::qemu::BenchFigures, json: bool) {
    metric(
        json,
        "firmware_stack_peak_bytes",
        f.stack_peak_bytes,
        "bytes",
        "examples/firmware in QEMU lm3s6965evb (cargo xtask qemu, demo card): the free stack is \
         painted at start and scanned after the run; the deepest word no longer painted, measured \
         from the top of RAM; includes the firmware's main frame with the caller's Buffers (4576 \
         bytes) and the card's VolumeManager",
    );
    let rate = (f.package_bytes * 1000)
        .checked_div(f.transfer_ms)
        .unwrap_or(0);
    metric(
        json,
        "firmware_qemu_transfer_bytes_per_s",
        rate,
        "B/s",
        &format!(
            "the same run: the demo package ({} bytes) over the emulated UART1 to modem-sim (TCP, \
             nodelay) in the transfer stage's {} ms; QEMU does not model UART timing, so this is \
             the emulated CPU's and the sockets' rate, not a line rate",
            f.package_bytes, f.transfer_ms
        ),
    );
}

/// One metric line, in the shape of the bench binaries' (`--json`: one object; else a table row).
fn metric(json: bool, name: &str, value: u64, unit: &str, how: &str) {
    if json {
        let how = how.replace('\\', "\\\\").replace('"', "\\\"");
        println!(
            "{{\"metric\":\"{name}\",\"value\":{value},\"unit\":\"{unit}\",\"how\":\"{how}\"}}"
        );
    } else {
        println!("{name:<32} {value:>10} {unit:<5} {how}");
    }
}

/// The two footprint metrics of the example firmware (thumbv7m-none-eabi, release: opt-level "s",
/// LTO, one codegen unit).
fn print_footprint(f: &crate::firmware::Footprint, json: bool) {
    let flash_how = format!(
        "examples/firmware (thumbv7m-none-eabi, opt-level s, LTO, codegen-units 1; SD card over SPI, \
         FAT, UART, semihosting report): sum of the sizes of the ELF's symbols in .text and .rodata \
         whose rustc-demangle'd path, after any leading '<', '&' or 'mut ', starts with \
         'modem_upgrade::' (so the library's functions, generic instantiations and trait impls on its \
         types count; core::ptr::drop_in_place<modem_upgrade::..> and library code that LTO inlined \
         into the firmware's main do not; aliases counted once); {} in .text; {} bytes of unnamed \
         .rodata (string literals such as the library's messages, panic locations, switch tables) are \
         attributed to nobody; total flash {} bytes (.vector_table + .text {} + .rodata {} + .data); \
         target <= 32768",
        f.library_text, f.rodata_unnamed, f.flash_total, f.text, f.rodata
    );
    metric(
        json,
        "firmware_library_flash_bytes",
        f.library_flash,
        "bytes",
        &flash_how,
    );
    let ram = f.library_static_ram + f.upgrader_state + f.link_state;
    let ram_how = format!(
        "the same firmware: the library's .data + .bss symbols ({} bytes, same path rule; the \
         firmware's total .data + .bss is {}) + size_of the Upgrader as the firmware builds it (with \
         a loader ELF, SD card image and journal types, its observer and Options: {} bytes, read \
         from the ELF's UPGRADER_STATE_BYTES) + size_of the Link it borrows for the whole run (receive \
         chunk, AT line buffer, URC listener: {} bytes, LINK_STATE_BYTES); not counted: the caller's \
         Buffers (block 2016 + window 2560), the card's VolumeManager, and the run-time stack (the \
         private run state, the ~4 KiB pre-flight report, 512-byte sector temporaries), whose peak is \
         measured on QEMU; target <= 4096",
        f.library_static_ram, f.static_ram_total, f.upgrader_state, f.link_state
    );
    metric(json, "upgrader_static_ram_bytes", ram, "bytes", &ram_how);
}

fn status(result: std::io::Result<std::process::ExitStatus>) -> Result<(), ExitCode> {
    match result {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => {
            eprintln!("error: the benchmark failed ({status})");
            // A signal has no exit code; out-of-range codes cannot be forwarded as-is.
            let code = status.code().and_then(|c| u8::try_from(c).ok());
            Err(ExitCode::from(code.filter(|&c| c != 0).unwrap_or(1)))
        }
        Err(e) => {
            eprintln!("error: could not start cargo: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// `Ok(None)` (with a "skipped" line on stderr) when valgrind is not installed.
fn stp_instructions_per_byte() -> Result<Option<f64>, String> {
    if !cmd::succeeds(&mut cmd::tool("valgrind", ["--version"])) {
        eprintln!(
            "skipped: stp_engine_instructions_per_byte (valgrind not installed; `apt-get install valgrind`)"
        );
        return Ok(None);
    }
    let binary = bench_binary("stp_engine")?;
    let engine = callgrind_total(&binary, "engine")?;
    let baseline = callgrind_total(&binary, "none")?;
    Ok(Some(
        engine.saturating_sub(baseline) as f64 / STP_BENCH_IMAGE_BYTES,
    ))
}

/// Image bytes of the `stp_replay` bench session (its `IMAGE_BYTES`).
const REPLAY_IMAGE_BYTES: f64 = 2_000_000.0;

/// The host's protocol work per byte, from replaying a recorded modem transcript (`Ok(None)` with a
/// "skipped" line when valgrind is missing).
fn host_instructions_per_byte() -> Result<Option<f64>, String> {
    if !cmd::succeeds(&mut cmd::tool("valgrind", ["--version"])) {
        eprintln!(
            "skipped: host_instructions_per_byte (valgrind not installed; `apt-get install valgrind`)"
        );
        return Ok(None);
    }
    let binary = bench_binary("stp_replay")?;
    let transcript = std::env::temp_dir().join("modem-upgrade-stp-replay.mur");
    let path = transcript.to_string_lossy().into_owned();
    let mut record = Command::new(&binary);
    record.args(["--record", &path]);
    eprintln!("$ {}", cmd::display(&record));
    let output = quiet_output(&mut record)?;
    if !output.status.success() {
        return Err(format!(
            "recording the transcript failed: {}",
            output.status
        ));
    }
    let replay = callgrind_total_with(&binary, &["--once", "replay", &path])?;
    let baseline = callgrind_total_with(&binary, &["--once", "baseline", &path])?;
    let _ = std::fs::remove_file(&transcript);
    Ok(Some(
        replay.saturating_sub(baseline) as f64 / REPLAY_IMAGE_BYTES,
    ))
}

/// Builds a bench target and returns its executable, from cargo's JSON build messages.
fn bench_binary(name: &str) -> Result<PathBuf, String> {
    let mut command = cmd::cargo([
        "bench",
        "-p",
        "modem-upgrade",
        "--bench",
        name,
        "--features",
        "std",
        "--no-run",
        "--message-format=json",
    ]);
    eprintln!("$ {}", cmd::display(&command));
    let output = quiet_output(&mut command)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let needle = format!("\"name\":\"{name}\"");
    stdout
        .lines()
        .filter(|line| line.contains(&needle) && line.contains("\"executable\":\""))
        .filter_map(|line| {
            let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = line.get(start..)?.find('"')? + start;
            line.get(start..end).map(PathBuf::from)
        })
        .next_back()
        .ok_or_else(|| format!("cargo did not report an executable for bench `{name}`"))
}

/// Runs `binary --once MODE` under callgrind and returns its total instruction count.
fn callgrind_total(binary: &std::path::Path, mode: &str) -> Result<u64, String> {
    callgrind_total_with(binary, &["--once", mode])
}

/// Runs `binary ARGS...` under callgrind and returns its total instruction count.
fn callgrind_total_with(binary: &std::path::Path, args: &[&str]) -> Result<u64, String> {
    let mode = args.get(1).copied().unwrap_or("run");
    let out_file = std::env::temp_dir().join(format!("modem-upgrade-callgrind-{mode}.out"));
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary)
        .args(args);
    eprintln!("$ {}", cmd::display(&command));
    let output = quiet_output(&mut command)?;
    let _ = std::fs::remove_file(&out_file);
    // callgrind ends with "==PID== Collected : N" on stderr.
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|line| {
            let rest = line.split("Collected :").nth(1)?;
            rest.trim().parse::<u64>().ok()
        })
        .ok_or_else(|| format!("no \"Collected\" line in callgrind's output for --once {mode}"))
}

/// Runs `command` capturing its output, without echoing anything to stdout (which `--json` keeps for
/// metrics only); the caller has echoed the command on stderr.
fn quiet_output(command: &mut Command) -> Result<std::process::Output, String> {
    command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("could not run `{}`: {e}", cmd::display(command)))
}
