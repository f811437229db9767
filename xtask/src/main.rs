//! `cargo xtask`: project automation for `modem-upgrade`.
//!
//! std only; the dependencies are the workspace's own `sd-image` crate (pure Rust, small) for
//! `sd-image`, and `object` + `rustc-demangle` to read the example firmware's ELF for `bench`.
//! Everything else goes through `std::process::Command`, so CI compiles little before it can start
//! checking the library.
//!
//! Commands:
//! - `cargo xtask ci`: the full CI pipeline (fmt, clippy matrix, tests, no_std cross build, the
//!   example firmware, docs).
//! - `cargo xtask bench [--json]`: run the benchmarks and pass their output through, then measure the
//!   library's footprint in the example firmware.
//! - `cargo xtask sd-image --out PATH [...] FILE...`: a FAT32 SD-card image holding the files.
//! - `cargo xtask campaign --scenarios N --seed S [--json]`: the seeded fault campaign.
//! - `cargo xtask fuzz --seconds N [--target NAME]`: the cargo-fuzz targets (nightly).
//! - `cargo xtask qemu [--image FILE] [--json] [...]`: the example firmware upgrades a simulated
//!   modem from inside QEMU's emulated Cortex-M3.

mod bench;
mod campaign;
mod ci;
mod cmd;
mod firmware;
mod fuzz;
mod host_tools;
mod qemu;
mod sd_image;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci               run everything CI runs (fmt, clippy matrix, tests, no_std cross build, docs)
  bench [--json]   run the benchmarks and measure the example firmware's footprint (`--json`: one
                   JSON object per metric line)
  sd-image --out PATH [--size MIB] [--cluster BYTES] [--folder NAME] FILE...
                   build a FAT32 SD-card image (MBR, partition at LBA 2048) holding the FILEs
                   under their long names (in NAME/ with --folder), saved as a sparse file, and
                   list it as read back; default size: max(258 MiB, files + 25% + 16 MiB), 4096-byte
                   clusters; exit 2 on bad input, 1 on I/O errors
  campaign --scenarios N --seed S [--json] [--verbose]
                   seeded fault campaign of the upgrader against the simulator on virtual time;
                   last stdout line with --json: {\"scenarios\",\"upgraded\",\"clean_failures\",
                   \"false_successes\",\"unrecovered\",\"seed\"}; exit 1 on any false success or
                   unrecovered modem
  fuzz [--seconds N] [--target NAME]
                   run each cargo-fuzz target under fuzz/ for N seconds (default 60; installs
                   cargo-fuzz, needs the nightly toolchain; says \"skipped\" when unavailable)
  qemu [--image FILE] [--loader FILE] [--json] [--timeout SECONDS] [--sim-firmware VERSION]
       [--sim-mode MODE]
                   build the example firmware and a 64 MiB SD image (default: a synthesized
                   package), start modem-sim, run the firmware in qemu-system-arm (lm3s6965evb;
                   installed with apt-get if missing) and check its report against the
                   simulator's flash; exit 0 only on a verified upgrade
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
        "sd-image" => sd_image::run(rest),
        "campaign" => campaign::run(rest),
        "fuzz" => fuzz::run(rest),
        "qemu" => qemu::run(rest),
        other => usage_error(&format!("unknown command `{other}`")),
    }
}

/// Prints `message` and the usage text to stderr; returns exit code 2.
pub fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\n{USAGE}");
    ExitCode::from(2)
}
