//! `cargo xtask qemu [--image FILE] [--loader FILE] [--json] [...]`: the example firmware
//! (`examples/firmware`) upgrades a simulated modem from inside QEMU's emulated Cortex-M3.
//!
//! ```text
//!  xtask ── builds ──▶ firmware ELF, 64 MiB SD image (FAT32 + MBR: package [+ loader])
//!    │
//!    ├─ spawns ─▶ modem-sim --listen 127.0.0.1:0 --once   (wall time; prints its port)
//!    │                 ▲ TCP, nodelay
//!    └─ spawns ─▶ qemu-system-arm -machine lm3s6965evb ... -serial null -serial chardev:<tcp>
//!                      │ semihosting stdout: the firmware's log, its summary, then one JSON line
//!                      ▼
//!                 xtask: shows the log, checks the report against the simulator's own flash
//! ```
//!
//! The verdict needs both sides: the firmware's report says `upgraded` with the version read back
//! equal to the package's, **and** the simulator, a separate process written independently of the
//! library, reports that exact version installed and running when it exits. Both processes are
//! stopped whatever happens ([`Stopped`] kills them on every return path), and the whole run is
//! bounded by `--timeout`.
//!
//! Output follows `upgrade_from_sd`: human text on stdout, or on stderr with `--json`, when stdout
//! carries exactly one JSON object (the firmware's, same keys in the same order). Exit status: 0
//! only for a verified upgrade; 1 for a failed run (or one the simulator contradicts, or a
//! timeout); 2 for a package the firmware rejected or bad arguments.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use modem_sim::package::{PackageRules, RejectReason, Rejection, verify_package};
use modem_sim::{Model, SimVersion, synth};
use sd_image::{Entry, Layout};

use crate::{cmd, firmware, host_tools};

/// QEMU's SD model wants a power-of-two image; 64 MiB is the smallest FAT32 comfortably fits
/// (65,525 clusters of 512 bytes need 32 MiB of data area).
const CARD_MIB: u64 = 64;
const CARD_CLUSTER_BYTES: u32 = 512;
/// The demo package: what it installs, its long name and size (like `upgrade_from_sd`'s demo).
const DEMO_TARGET: &str = "5.1.2.0 [39529]";
const DEMO_PACKAGE_NAME: &str = "CATM1-39529_demo-upgrade-package.dup";
const DEMO_LOADER_NAME: &str = "updater.elf";
const DEMO_FFF_CODE_LEN: usize = 300_000;
/// The demo modem's firmware: the same as `upgrade_from_sd`'s built-in simulator.
const DEMO_SIM_FIRMWARE: &str = "LR5.1.1.0-38638";
/// Simulated programming and reboot times: long enough to exercise the firmware's waiting and
/// polling, short enough for CI.
const SIM_FLASH_SECONDS: &str = "5";
const SIM_BOOT_SECONDS: &str = "1";
/// The whole run's default bound: QEMU reads the card at about 0.4 MB/s and moves STP blocks at
/// about 0.13 MB/s, so a 6 MB package takes about 70 s; this leaves a wide margin.
const BASE_TIMEOUT: Duration = Duration::from_secs(180);
const TIMEOUT_PER_MIB: Duration = Duration::from_secs(60);
/// How long the simulator may take to print its address, and to exit after QEMU closed the socket.
const SIM_START_TIMEOUT: Duration = Duration::from_secs(30);
const SIM_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the simulator's last output lines may take to arrive after it exited.
const SIM_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// `--timeout` at most a day (and no `Instant` overflow).
const MAX_TIMEOUT_SECONDS: u64 = 24 * 3600;
/// The firmware's report line starts with this (`examples/firmware/src/main.rs`).
const REPORT_PREFIX: &str = "{\"outcome\":";

const USAGE: &str = "\
usage: cargo xtask qemu [--image FILE] [--loader FILE] [--json] [--timeout SECONDS]
                        [--sim-firmware VERSION] [--sim-mode MODE]

  --image FILE            the .dup package to put on the card (default: a synthesized package
                          installing 5.1.2.0 [39529], with a synthesized updater.elf)
  --loader FILE           a loader ELF (updater.elf / mtools.elf) to put on the card as well
  --json                  human text on stderr; stdout's last line is the firmware's JSON report
  --timeout SECONDS       bound on the simulator and QEMU, not the builds (default 180 + 60 per
                          MiB of package; at most 86400)
  --sim-firmware VERSION  the simulated modem's firmware, e.g. LR5.1.0.0-37000 (default: one build
                          below a full package's, a diff package's base build, or LR5.1.1.0-38638
                          for the demo and for packages the simulator refuses)
  --sim-mode MODE         the simulated modem's starting mode: app (default), recovery, loader-wait";

/// The parsed command line.
#[derive(Debug, Default, PartialEq)]
struct Args {
    image: Option<PathBuf>,
    loader: Option<PathBuf>,
    json: bool,
    timeout: Option<Duration>,
    sim_firmware: Option<String>,
    sim_mode: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = || {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("`{arg}` needs a value"))
        };
        match arg.as_str() {
            "--image" => parsed.image = Some(PathBuf::from(value()?)),
            "--loader" => parsed.loader = Some(PathBuf::from(value()?)),
            "--json" => parsed.json = true,
            "--timeout" => {
                let text = value()?;
                let seconds: u64 = text
                    .parse()
                    .ok()
                    .filter(|s| (1..=MAX_TIMEOUT_SECONDS).contains(s))
                    .ok_or_else(|| {
                        format!("--timeout wants 1 to {MAX_TIMEOUT_SECONDS} seconds, got `{text}`")
                    })?;
                parsed.timeout = Some(Duration::from_secs(seconds));
            }
            "--sim-firmware" => parsed.sim_firmware = Some(value()?),
            "--sim-mode" => {
                let mode = value()?;
                if !["app", "recovery", "loader-wait"].contains(&mode.as_str()) {
                    return Err(format!(
                        "--sim-mode is app, recovery or loader-wait, got `{mode}`"
                    ));
                }
                parsed.sim_mode = Some(mode);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(parsed)
}

/// Where human text goes: stdout, or stderr when stdout is reserved for the JSON report.
#[derive(Clone, Copy)]
struct Say {
    json: bool,
}

impl Say {
    fn line(self, text: impl AsRef<str>) {
        if self.json {
            eprintln!("{}", text.as_ref());
        } else {
            println!("{}", text.as_ref());
        }
    }
}

/// How the run ended, before the exit code is chosen.
enum Ended {
    /// Bad arguments or unusable inputs (exit 2), with the reason.
    Refused(String),
    /// Something went wrong around the firmware (build, tools, timeout; exit 1).
    Broken(String),
    /// The firmware ran to its report.
    Reported(Finished),
}

pub fn run(args: &[String]) -> ExitCode {
    let json = args.iter().any(|a| a == "--json");
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let say = Say { json };
    let ended = match parse_args(args) {
        Ok(args) => upgrade_in_qemu(&args, say),
        Err(e) => {
            eprintln!("{USAGE}\n");
            Ended::Refused(e)
        }
    };
    let (code, report) = match ended {
        Ended::Refused(e) => {
            say.line(format!("error: {e}"));
            (2, failure_json("rejected", &e))
        }
        Ended::Broken(e) => {
            say.line(format!("error: {e}"));
            (1, failure_json("failed", &e))
        }
        Ended::Reported(finished) => {
            let (code, verdict) = finished.verdict();
            say.line(verdict);
            (code, finished.report)
        }
    };
    if json {
        println!("{report}");
    }
    ExitCode::from(code)
}

/// Everything between the arguments and the report.
fn upgrade_in_qemu(args: &Args, say: Say) -> Ended {
    // The inputs first: a bad argument or file costs no build.
    let card = match Card::prepare(args) {
        Ok(card) => card,
        Err(e) => return Ended::Refused(e),
    };
    let modem = match SimModem::for_card(&card, args) {
        Ok(modem) => modem,
        Err(e) => return Ended::Refused(e),
    };
    let qemu = match qemu_binary() {
        Ok(qemu) => qemu,
        Err(e) => return Ended::Broken(e),
    };
    if !firmware::target_installed()
        && let Err(e) = crate::ci::ensure_target(firmware::TARGET)
    {
        return Ended::Broken(format!(
            "the firmware's target {} is not installed and could not be added: {e}",
            firmware::TARGET
        ));
    }
    let elf = match firmware::build_elf() {
        Ok(elf) => elf,
        Err(e) => return Ended::Broken(e),
    };
    match firmware::measure(&elf) {
        Ok(f) => say.line(format!(
            "firmware: {} ({} bytes of flash: .text {}, .rodata {}; {} bytes of static RAM)",
            elf.display(),
            f.flash_total,
            f.text,
            f.rodata,
            f.static_ram_total
        )),
        Err(e) => say.line(format!("firmware: {} (size unknown: {e})", elf.display())),
    }
    let sim = match build_sim() {
        Ok(sim) => sim,
        Err(e) => return Ended::Broken(e),
    };
    // One directory per run: two runs at once must not share a card image under a live QEMU.
    let dir = work_dir().join(format!("run-{}", std::process::id()));
    if let Err(e) = fs::create_dir_all(&dir) {
        return Ended::Broken(format!("cannot create {}: {e}", dir.display()));
    }
    let image_path = dir.join("sd.img");
    if let Err(e) = card.save(&image_path) {
        return Ended::Broken(e);
    }
    say.line(format!(
        "card: {} ({CARD_MIB} MiB, FAT32 + MBR): {}",
        image_path.display(),
        card.listing()
    ));
    for note in &modem.notes {
        say.line(format!("note: {note}"));
    }
    let timeout = args.timeout.unwrap_or_else(|| {
        let mib = card.package.len().div_ceil(1 << 20) as u32;
        BASE_TIMEOUT + TIMEOUT_PER_MIB * mib
    });
    let paths = RunPaths {
        qemu: &qemu,
        sim: &sim,
        elf: &elf,
        image: &image_path,
        sim_log: &dir.join("modem-sim.log"),
        qemu_log: &dir.join("qemu.log"),
        sim_transcript: &dir.join("modem-sim.transcript"),
    };
    let ended = match run_processes(&paths, &modem, timeout, say) {
        Ok(finished) => Ended::Reported(finished),
        Err(e) => Ended::Broken(e),
    };
    // The card is a copy of the inputs (64 MiB, sparse); the logs stay.
    let _ = fs::remove_file(&image_path);
    ended
}

/// `target/qemu` (or under `$CARGO_TARGET_DIR`).
fn work_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("qemu"),
        _ => cmd::workspace_root().join("target").join("qemu"),
    }
}

/// `qemu-system-arm`, installed with `apt-get` (Debian package `qemu-system-arm`) when missing.
pub fn qemu_binary() -> Result<PathBuf, String> {
    if let Some(path) = host_tools::find_tool("qemu-system-arm") {
        return Ok(path);
    }
    eprintln!("qemu-system-arm not found; installing the Debian package qemu-system-arm");
    host_tools::apt_install(&["qemu-system-arm"])
        .map_err(|e| format!("qemu-system-arm is missing and could not be installed ({e})"))?;
    host_tools::find_tool("qemu-system-arm")
        .ok_or_else(|| "qemu-system-arm still missing after installing it".to_owned())
}

/// `cargo build --release -p modem-sim`; the path of the binary.
fn build_sim() -> Result<PathBuf, String> {
    let mut command = cmd::cargo([
        "build",
        "--release",
        "-p",
        "modem-sim",
        "--bin",
        "modem-sim",
        "--message-format=json-render-diagnostics",
    ]);
    cmd::built_executable(&mut command, "modem-sim")
}

/// The files for the card, read (or synthesized) and checked before anything starts.
struct Card {
    package_name: String,
    package: Vec<u8>,
    loader: Option<(String, Vec<u8>)>,
    /// Synthesized: the demo package and loader.
    demo: bool,
}

impl Card {
    fn prepare(args: &Args) -> Result<Self, String> {
        let read = |path: &Path| -> Result<(String, Vec<u8>), String> {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("{} has no usable file name", path.display()))?
                .to_owned();
            let data = fs::read(path).map_err(|e| {
                format!(
                    "cannot read {}: {e}; give the path of a .dup package",
                    path.display()
                )
            })?;
            Ok((name, data))
        };
        let (package_name, package, demo) = match &args.image {
            Some(path) => {
                let (name, data) = read(path)?;
                (name, data, false)
            }
            None => (
                DEMO_PACKAGE_NAME.to_owned(),
                synth::full_dup(Model::Sqn3330, DEMO_TARGET, DEMO_FFF_CODE_LEN),
                true,
            ),
        };
        let loader = match (&args.loader, demo) {
            (Some(path), _) => Some(read(path)?),
            (None, true) => Some((
                DEMO_LOADER_NAME.to_owned(),
                synth::loader_elf(DEMO_TARGET, true),
            )),
            (None, false) => None,
        };
        Ok(Card {
            package_name,
            package,
            loader,
            demo,
        })
    }

    fn entries(&self) -> Vec<Entry<'_>> {
        let mut entries = vec![Entry {
            path: &self.package_name,
            data: &self.package,
        }];
        if let Some((name, data)) = &self.loader {
            entries.push(Entry { path: name, data });
        }
        entries
    }

    /// Builds the card image and saves it (sparse) at `path`.
    fn save(&self, path: &Path) -> Result<(), String> {
        let mut layout = Layout::fat32_for(0);
        layout.size_bytes = CARD_MIB << 20;
        layout.cluster_bytes = CARD_CLUSTER_BYTES;
        let disk = sd_image::build_image(&layout, &self.entries())
            .map_err(|e| format!("cannot build the SD card image: {e}"))?;
        disk.save(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn listing(&self) -> String {
        self.entries()
            .iter()
            .map(|e| format!("{} ({} bytes)", e.path, e.data.len()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The simulated modem's configuration, chosen so that the package is an upgrade for it.
#[derive(Debug)]
struct SimModem {
    model: Model,
    /// `--firmware` (`LR<text>-<build>`).
    firmware: String,
    mode: String,
    /// What the modem must run afterwards (`None`: the simulator cannot read the package, so no
    /// upgrade can be verified; the firmware is expected to refuse it).
    expected: Option<SimVersion>,
    /// Lines for the user about the choices made.
    notes: Vec<String>,
}

impl SimModem {
    /// Reads the package with the simulator's own verifier (independent of the library's) to find
    /// the model whose checksum word order it uses and the version it installs.
    fn for_card(card: &Card, args: &Args) -> Result<Self, String> {
        let installed = match (&args.sim_firmware, card.demo) {
            (Some(text), _) => Some(
                text.parse::<SimVersion>()
                    .map_err(|e| format!("--sim-firmware: {e}"))?,
            ),
            (None, true) => DEMO_SIM_FIRMWARE.parse::<SimVersion>().ok(),
            (None, false) => None,
        };
        let mut notes = Vec::new();
        let mut read = read_package(&card.package, installed.as_ref().map(|v| v.build));
        // A diff applies on top of one build only: without --sim-firmware, install its base.
        let mut diff_base = None;
        if installed.is_none()
            && let Err(rejection) = &read
            && rejection.reason == RejectReason::DiffBaseMismatch
            && let Some(base) = diff_base_of(rejection)
        {
            diff_base = Some(base);
            read = read_package(&card.package, Some(base));
        }
        let (model, expected) = match read {
            Ok((model, target)) => (model, Some(target)),
            Err(rejection) => {
                notes.push(format!(
                    "the simulator's own check refuses {} ({} at byte {}: {}); the firmware is expected to refuse it too",
                    card.package_name, rejection.reason, rejection.offset, rejection.detail
                ));
                (Model::Sqn3330, None)
            }
        };
        let firmware = match (&installed, &expected) {
            (Some(v), _) => v.lr(),
            (None, Some(target)) => {
                let (build, why) = match diff_base {
                    Some(base) => (base, "the base build of the diff package"),
                    None => (
                        target.build.saturating_sub(1),
                        "one build below the package's",
                    ),
                };
                let start = SimVersion {
                    text: target.text.clone(),
                    build,
                };
                notes.push(format!(
                    "simulated modem runs {} ({why} {}; --sim-firmware to choose)",
                    start.lr(),
                    target.showver()
                ));
                start.lr()
            }
            (None, None) => {
                notes.push(format!(
                    "simulated modem runs {DEMO_SIM_FIRMWARE} (the package says nothing usable)"
                ));
                DEMO_SIM_FIRMWARE.to_owned()
            }
        };
        if card.demo {
            notes.push(format!(
                "no --image: a synthesized package installing {DEMO_TARGET} (no Sequans firmware is \
                 bundled); simulated modem runs {DEMO_SIM_FIRMWARE}"
            ));
        }
        Ok(SimModem {
            model,
            firmware,
            mode: args.sim_mode.clone().unwrap_or_else(|| "app".to_owned()),
            expected,
            notes,
        })
    }

    fn model_name(&self) -> &'static str {
        match self.model {
            Model::Sqn3330 => "sqn3330",
            Model::Gm02s => "gm02s",
        }
    }
}

/// The simulator's reading of `package` on a modem with `installed` (SQN3330 word order first, then
/// GM02S): the model it fits and the version it installs; else a diff-base refusal of either model,
/// else the SQN3330 refusal.
fn read_package(package: &[u8], installed: Option<u32>) -> Result<(Model, SimVersion), Rejection> {
    let mut first_refusal = None;
    for (model, rules) in [
        (Model::Sqn3330, PackageRules::sqn3330(installed)),
        (Model::Gm02s, PackageRules::gm02s(installed)),
    ] {
        match verify_package(package, &rules) {
            Ok(summary) => match summary.target {
                Some(target) => return Ok((model, target)),
                None => {
                    first_refusal.get_or_insert(Rejection {
                        reason: RejectReason::NoTargetVersion,
                        offset: 0,
                        detail: "the package installs no firmware version (no fff component)"
                            .to_owned(),
                    });
                }
            },
            // The package fits this model but wants another installed build: the most useful answer.
            Err(rejection) if rejection.reason == RejectReason::DiffBaseMismatch => {
                return Err(rejection);
            }
            Err(rejection) => {
                first_refusal.get_or_insert(rejection);
            }
        }
    }
    Err(first_refusal.unwrap_or(Rejection {
        reason: RejectReason::Empty,
        offset: 0,
        detail: String::new(),
    }))
}

/// The base build a diff package applies on top of, from the simulator's refusal (`fff DIFF to
/// 5.1.2.0 [39529] requires base build 39528, but …`, made in `sim/src/package/fff.rs`).
fn diff_base_of(rejection: &Rejection) -> Option<u32> {
    u32::try_from(number_after(&rejection.detail, "requires base build ")?).ok()
}

/// The decimal number right after the first `needle` in `text`.
fn number_after(text: &str, needle: &str) -> Option<u64> {
    let rest = text.split_once(needle)?.1;
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

struct RunPaths<'a> {
    qemu: &'a Path,
    sim: &'a Path,
    elf: &'a Path,
    image: &'a Path,
    sim_log: &'a Path,
    sim_transcript: &'a Path,
    qemu_log: &'a Path,
}

/// A child process that is killed (and reaped) when this is dropped, on every path out.
struct Stopped {
    child: Child,
    name: &'static str,
}

impl Stopped {
    /// Waits up to `patience` for the process to exit by itself; then kills it.
    fn stop_within(&mut self, patience: Duration) {
        let until = Instant::now() + patience;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            eprintln!("stopping {}", self.name);
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What the run produced.
struct Finished {
    /// The firmware's JSON report line.
    report: String,
    /// QEMU's exit status (the firmware's semihosting exit code), if it exited.
    qemu_code: Option<i32>,
    /// The simulator's final state: the installed and running firmware (`LR…`).
    sim_installed: Option<String>,
    sim_running: Option<String>,
    /// The simulator's firmware at the start (`LR…`).
    sim_before: String,
    expected: Option<SimVersion>,
    /// The firmware's stack high-water mark, from its `RAM:` line.
    stack_peak: Option<u64>,
}

impl Finished {
    /// The exit code and a closing line that says why.
    fn verdict(&self) -> (u8, String) {
        let outcome = json_string_field(&self.report, "outcome");
        let after = json_string_field(&self.report, "version_after");
        let expected_text = json_string_field(&self.report, "expected_version");
        let firmware_code = self.qemu_code.and_then(|c| u8::try_from(c).ok());
        let untouched = self.sim_installed.as_deref() == Some(&*self.sim_before)
            && self.sim_running.as_deref() == Some(&*self.sim_before);
        if outcome.as_deref() == Some("rejected") && firmware_code == Some(2) {
            return if untouched {
                (
                    2,
                    format!(
                        "REJECTED: the firmware refused the card or the package before touching the modem; the simulator still runs {}",
                        self.sim_before
                    ),
                )
            } else {
                (
                    1,
                    format!(
                        "FAILED: the firmware reports a rejection, but the simulator's firmware changed from {} to {} / running {}",
                        self.sim_before,
                        self.sim_installed.as_deref().unwrap_or("unknown"),
                        self.sim_running.as_deref().unwrap_or("unknown")
                    ),
                )
            };
        }
        if outcome.as_deref() != Some("upgraded") {
            return (
                1,
                format!(
                    "FAILED: the firmware reports {} (QEMU exit status {:?}); not a verified upgrade",
                    outcome.as_deref().unwrap_or("nothing"),
                    self.qemu_code
                ),
            );
        }
        let Some(expected) = &self.expected else {
            return (
                1,
                "FAILED: the firmware reports an upgrade of a package the simulator cannot read"
                    .to_owned(),
            );
        };
        let want = expected.lr();
        // The simulator's flash changed to the package's version: it was not there before, and is
        // installed and running now.
        let sim_agrees = self.sim_before != want
            && self.sim_installed.as_deref() == Some(&want)
            && self.sim_running.as_deref() == Some(&want);
        // The firmware read back the package's version; it named the target by version, or by build
        // alone for a diff package whose name gives no version.
        let named_target = [expected.showver(), format!("build {}", expected.build)];
        let firmware_agrees = after.as_deref() == Some(&*expected.showver())
            && expected_text.is_some_and(|t| named_target.contains(&t));
        if firmware_code == Some(0) && sim_agrees && firmware_agrees {
            (
                0,
                format!(
                    "VERIFIED: the firmware in QEMU upgraded the modem to {}; the simulator confirms {want} installed and running",
                    expected.showver()
                ),
            )
        } else {
            (
                1,
                format!(
                    "FAILED: the firmware says upgraded to {}, but the simulator has installed {} / running {} (expected {want}; QEMU exit status {:?})",
                    after.as_deref().unwrap_or("unknown"),
                    self.sim_installed.as_deref().unwrap_or("unknown"),
                    self.sim_running.as_deref().unwrap_or("unknown"),
                    self.qemu_code
                ),
            )
        }
    }
}

/// Starts the simulator, then QEMU; relays the firmware's output until its report or the deadline.
fn run_processes(
    paths: &RunPaths<'_>,
    modem: &SimModem,
    timeout: Duration,
    say: Say,
) -> Result<Finished, String> {
    // The bound covers the simulator and QEMU (the builds before it are cargo's business).
    let deadline = Instant::now() + timeout;
    let RunningSim {
        process: mut sim,
        host,
        port,
        stderr: sim_lines,
    } = start_sim(paths, modem)?;
    say.line(format!(
        "modem-sim: {} in {} mode, firmware {}, on {}:{} (log: {})",
        modem.model_name(),
        modem.mode,
        modem.firmware,
        host,
        port,
        paths.sim_log.display()
    ));
    let mut qemu_command = cmd::tool(
        paths.qemu,
        [
            "-cpu",
            "cortex-m3",
            "-machine",
            "lm3s6965evb",
            "-display",
            "none",
            "-monitor",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
        ],
    );
    qemu_command
        .arg("-drive")
        .arg(format!("if=sd,format=raw,file={}", paths.image.display()))
        .args(["-serial", "null", "-chardev"])
        .arg(format!(
            "socket,id=modem,host={host},port={port},nodelay=on"
        ))
        .args(["-serial", "chardev:modem", "-kernel"])
        .arg(paths.elf);
    say.line(format!(
        "$ {}   (timeout {}s)",
        cmd::display(&qemu_command),
        timeout.as_secs()
    ));
    let qemu_log = fs::File::create(paths.qemu_log)
        .map_err(|e| format!("cannot create {}: {e}", paths.qemu_log.display()))?;
    let mut child = qemu_command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(qemu_log)
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", paths.qemu.display()))?;
    let stdout = child.stdout.take();
    let mut qemu = Stopped {
        child,
        name: "qemu-system-arm",
    };
    let lines = spawn_line_reader(stdout);

    let mut report = None;
    let mut stack_peak = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(REPORT_PREFIX) => report = Some(line),
            Ok(line) => {
                stack_peak = stack_peak.or_else(|| stack_peak_of(&line));
                say.line(format!("  {line}"));
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                drop(qemu);
                drop(sim);
                let what = if report.is_some() {
                    "QEMU did not end after the firmware's report"
                } else {
                    "no report from the firmware"
                };
                return Err(format!(
                    "timed out after {}s: {what}; QEMU and modem-sim were stopped (logs: {}, {})",
                    timeout.as_secs(),
                    paths.qemu_log.display(),
                    paths.sim_log.display()
                ));
            }
        }
    }
    // The firmware exits through semihosting right after its report: QEMU is ending.
    qemu.stop_within(Duration::from_secs(5));
    let qemu_code = qemu.child.wait().ok().and_then(|status| status.code());
    // QEMU's exit closed the socket: the simulator (`--once`) prints its final state and exits.
    sim.stop_within(SIM_EXIT_TIMEOUT);
    // Its last lines may still be on their way through the reader and log threads: take them until
    // the stream closes (bounded, should a grandchild hold the pipe open).
    let mut sim_state = Vec::new();
    let drain_until = Instant::now() + SIM_DRAIN_TIMEOUT;
    while let Ok(line) =
        sim_lines.recv_timeout(drain_until.saturating_duration_since(Instant::now()))
    {
        sim_state.push(line);
    }
    let state_field = |name: &str| {
        sim_state.iter().find_map(|line| {
            let rest = line.trim_start().strip_prefix(name)?;
            Some(rest.trim().to_owned())
        })
    };
    let report = report.ok_or_else(|| {
        format!(
            "QEMU ended (exit status {qemu_code:?}) without the firmware's report (log: {})",
            paths.qemu_log.display()
        )
    })?;
    Ok(Finished {
        report,
        qemu_code,
        sim_installed: state_field("installed"),
        sim_running: state_field("running"),
        sim_before: modem.firmware.clone(),
        expected: modem.expected.clone(),
        stack_peak,
    })
}

/// A started `modem-sim`.
struct RunningSim {
    process: Stopped,
    /// Where it listens.
    host: String,
    port: u16,
    /// Its stderr lines (ending with its final state report).
    stderr: Receiver<String>,
}

/// Starts `modem-sim --listen 127.0.0.1:0 --once …` and reads the address it listens on. Its output
/// is copied to the log.
fn start_sim(paths: &RunPaths<'_>, modem: &SimModem) -> Result<RunningSim, String> {
    let mut command = cmd::tool(
        paths.sim,
        [
            "--listen",
            "127.0.0.1:0",
            "--once",
            "--model",
            modem.model_name(),
            "--mode",
            &modem.mode,
            "--firmware",
            &modem.firmware,
            "--flash-time",
            SIM_FLASH_SECONDS,
            "--boot-time",
            SIM_BOOT_SECONDS,
        ],
    );
    // Every byte both ways, timestamped, for a run that goes wrong (written when it exits).
    command.arg("--transcript").arg(paths.sim_transcript);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", paths.sim.display()))?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let sim = Stopped {
        child,
        name: "modem-sim",
    };
    let log = fs::File::create(paths.sim_log)
        .map_err(|e| format!("cannot create {}: {e}", paths.sim_log.display()))?;
    let out_lines = spawn_line_reader(stdout);
    let err_lines = spawn_line_reader(stderr);
    let (tx, rx) = mpsc::channel();
    // Copies both streams to the log; stderr lines also go to `rx` for the final state.
    let copier_log = log.try_clone().map_err(|e| format!("log: {e}"))?;
    thread::spawn(move || copy_lines(err_lines, copier_log, Some(tx)));
    let until = Instant::now() + SIM_START_TIMEOUT;
    let mut log = log;
    let address = loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = out_lines
            .recv_timeout(left)
            .map_err(|_| "modem-sim did not print the address it listens on".to_owned())?;
        write_log(&mut log, &line);
        if let Some(address) = listen_address(&line) {
            break address;
        }
    };
    thread::spawn(move || copy_lines(out_lines, log, None));
    let (host, port) = address;
    Ok(RunningSim {
        process: sim,
        host,
        port,
        stderr: rx,
    })
}

/// `RAM: 20 bytes of statics, stack peak 28448 bytes` → 28448.
fn stack_peak_of(line: &str) -> Option<u64> {
    number_after(line.strip_prefix("RAM: ")?, "stack peak ")
}

/// The `ms` of phase `name` in the report's `phases` array.
fn phase_ms(report: &str, name: &str) -> Option<u64> {
    number_after(report, &format!("{{\"name\":\"{name}\",\"ms\":"))
}

/// What `cargo xtask bench` takes from a QEMU run of the demo card.
pub struct BenchFigures {
    /// The firmware's stack high-water mark over a whole verified upgrade.
    pub stack_peak_bytes: u64,
    /// The demo package's size and its transfer stage's duration.
    pub package_bytes: u64,
    pub transfer_ms: u64,
}

/// Runs the demo upgrade in QEMU (log on stderr) for the bench. `Ok(None)` with a "skipped" line
/// when QEMU or the target is unavailable; `Err` when the run is not a verified upgrade.
pub fn bench_run() -> Result<Option<BenchFigures>, String> {
    // The bench measures what is there; it installs nothing.
    let missing = if host_tools::find_tool("qemu-system-arm").is_none() {
        Some("qemu-system-arm not installed; `cargo xtask qemu` installs it")
    } else if !firmware::target_installed() {
        Some("target thumbv7m-none-eabi not installed; `cargo xtask qemu` installs it")
    } else {
        None
    };
    if let Some(why) = missing {
        eprintln!("skipped: firmware_stack_peak_bytes, firmware_qemu_transfer_bytes_per_s ({why})");
        return Ok(None);
    }
    let finished = match upgrade_in_qemu(&Args::default(), Say { json: true }) {
        Ended::Reported(finished) => finished,
        Ended::Refused(e) | Ended::Broken(e) => return Err(format!("cargo xtask qemu: {e}")),
    };
    let (code, verdict) = finished.verdict();
    if code != 0 {
        return Err(verdict);
    }
    let missing = |what: &str| format!("the firmware's output has no {what}");
    Ok(Some(BenchFigures {
        stack_peak_bytes: finished.stack_peak.ok_or_else(|| missing("RAM line"))?,
        package_bytes: json_number_field(&finished.report, "image_bytes")
            .ok_or_else(|| missing("image_bytes"))?,
        transfer_ms: phase_ms(&finished.report, "transfer")
            .ok_or_else(|| missing("transfer phase"))?,
    }))
}

/// The value of `"key":123` in the firmware's flat JSON object.
fn json_number_field(json: &str, key: &str) -> Option<u64> {
    number_after(json, &format!("\"{key}\":"))
}

/// `modem-sim: listening on 127.0.0.1:40123` → `("127.0.0.1", 40123)`.
fn listen_address(line: &str) -> Option<(String, u16)> {
    let rest = line.split("listening on ").nth(1)?.trim();
    let (host, port) = rest.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

fn copy_lines(lines: Receiver<String>, mut log: fs::File, forward: Option<mpsc::Sender<String>>) {
    for line in lines {
        write_log(&mut log, &line);
        if let Some(tx) = &forward {
            let _ = tx.send(line);
        }
    }
}

fn write_log(log: &mut fs::File, line: &str) {
    use std::io::Write as _;
    let _ = writeln!(log, "{line}");
}

/// A thread reading `stream` line by line (lossy UTF-8) into a channel, closed at end of stream.
fn spawn_line_reader<R: Read + Send + 'static>(stream: Option<R>) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(stream) = stream {
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        if tx
                            .send(line.trim_end_matches(['\r', '\n']).to_owned())
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
    }
    rx
}

/// The value of `"key":"…"` in the firmware's flat JSON object (`None` for `null` or absent). The
/// firmware escapes `"` and `\`; this undoes the escapes it produces.
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut value = String::new();
    let mut chars = json.get(start..)?.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// The report's keys, in `upgrade_from_sd --json`'s order, for a run that ended before the
/// firmware could report.
fn failure_json(outcome: &str, error: &str) -> String {
    let mut escaped = String::new();
    for c in error.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            c if u32::from(c) < 0x20 => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    format!(
        "{{\"outcome\":\"{outcome}\",\"version_before\":null,\"version_after\":null,\"expected_version\":null,\"image\":null,\"image_bytes\":null,\"bytes_sent\":0,\"resumed_from\":null,\"retries\":0,\"phases\":[],\"duration_ms\":0,\"error\":\"{escaped}\"}}"
    )
}

/// CI: two QEMU runs, each judged by `cargo xtask qemu` itself against the simulator's state:
/// the synthesized package must upgrade the modem (exit 0), and the same package with one byte
/// flipped must be refused by the firmware with the modem untouched (exit 2). `Ok(Some(reason))`
/// when QEMU or the target is unavailable.
pub fn ci_step() -> Result<Option<String>, String> {
    if let Err(e) = qemu_binary() {
        return Ok(Some(format!("{e}; the firmware was NOT run in QEMU")));
    }
    if let Err(e) = crate::ci::ensure_target(firmware::TARGET) {
        return Ok(Some(format!(
            "target {} unavailable ({e}); the firmware was NOT run in QEMU",
            firmware::TARGET
        )));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let xtask = |args: &[&str]| {
        let mut command = Command::new(&exe);
        command
            .arg("qemu")
            .args(args)
            .current_dir(cmd::workspace_root());
        println!(
            "$ {}",
            ["cargo", "xtask", "qemu"]
                .iter()
                .chain(args)
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        );
        // stdout (the `--json` report) is captured; the log goes to stderr, shown live.
        command
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("could not run cargo xtask qemu: {e}"))
    };
    let demo = xtask(&["--json"])?;
    println!("{}", String::from_utf8_lossy(&demo.stdout).trim_end());
    if !demo.status.success() {
        return Err(format!(
            "cargo xtask qemu --json: no verified upgrade ({})",
            demo.status
        ));
    }
    let dir = work_dir().join(format!("ci-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let damaged = dir.join("damaged-package.dup");
    let mut package = synth::full_dup(Model::Sqn3330, DEMO_TARGET, DEMO_FFF_CODE_LEN);
    let middle = package.len() / 2;
    package[middle] ^= 0x55;
    fs::write(&damaged, &package)
        .map_err(|e| format!("cannot write {}: {e}", damaged.display()))?;
    let path = damaged.to_string_lossy().into_owned();
    let output = xtask(&["--image", &path, "--json"])?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout.lines().next_back().unwrap_or("");
    println!("{report}");
    let _ = fs::remove_dir_all(&dir);
    // Refused for the damage itself (the library's `ImageInvalid`), not for anything else.
    let error = json_string_field(report, "error").unwrap_or_default();
    let refused = output.status.code() == Some(2)
        && json_string_field(report, "outcome").as_deref() == Some("rejected")
        && error.starts_with("the package is damaged");
    if refused {
        Ok(None)
    } else {
        Err(format!(
            "cargo xtask qemu --image {path} --json: expected the firmware to refuse the damaged \
             package (\"the package is damaged …\") with the modem untouched (exit 2), got {} and \
             the report {report}",
            output.status
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_the_options() {
        let parsed = parse_args(&args(&[
            "--image",
            "a.dup",
            "--loader",
            "u.elf",
            "--json",
            "--timeout",
            "90",
            "--sim-firmware",
            "LR5.1.0.0-37000",
            "--sim-mode",
            "loader-wait",
        ]))
        .unwrap();
        assert_eq!(
            parsed,
            Args {
                image: Some("a.dup".into()),
                loader: Some("u.elf".into()),
                json: true,
                timeout: Some(Duration::from_secs(90)),
                sim_firmware: Some("LR5.1.0.0-37000".into()),
                sim_mode: Some("loader-wait".into()),
            }
        );
        for bad in [
            &["--timeout", "0"][..],
            &["--sim-mode", "data"],
            &["--image"],
            &["--x"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_the_figures_of_the_firmware_output() {
        assert_eq!(
            stack_peak_of("RAM: 20 bytes of statics, stack peak 28448 bytes"),
            Some(28448)
        );
        assert_eq!(stack_peak_of("card: 64 MiB"), None);
        let report = r#"{"outcome":"upgraded","image_bytes":312223,"phases":[{"name":"preflight","ms":412},{"name":"transfer","ms":2004}],"duration_ms":1}"#;
        assert_eq!(phase_ms(report, "transfer"), Some(2004));
        assert_eq!(phase_ms(report, "programming"), None);
        assert_eq!(json_number_field(report, "image_bytes"), Some(312223));
        assert_eq!(json_number_field(report, "bytes_sent"), None);
    }

    #[test]
    fn reads_the_listen_address() {
        assert_eq!(
            listen_address("modem-sim: listening on 127.0.0.1:40123"),
            Some(("127.0.0.1".to_owned(), 40123))
        );
        assert_eq!(listen_address("modem-sim: modem in app mode"), None);
    }

    #[test]
    fn reads_string_fields_of_the_report() {
        let report = r#"{"outcome":"upgraded","version_before":"5.1.1.0 [38638]","version_after":null,"error":"a \"quoted\" \\ \u0007 x"}"#;
        assert_eq!(
            json_string_field(report, "outcome").as_deref(),
            Some("upgraded")
        );
        assert_eq!(
            json_string_field(report, "version_before").as_deref(),
            Some("5.1.1.0 [38638]")
        );
        assert_eq!(json_string_field(report, "version_after"), None);
        assert_eq!(json_string_field(report, "missing"), None);
        assert_eq!(
            json_string_field(report, "error").as_deref(),
            Some("a \"quoted\" \\ \u{7} x")
        );
    }

    fn finished(outcome: &str, after: &str, code: i32, sim: &str) -> Finished {
        finished_from(
            outcome,
            after,
            "5.1.1.0 [38638]",
            code,
            "LR5.1.1.0-38637",
            sim,
        )
    }

    fn finished_from(
        outcome: &str,
        after: &str,
        expected: &str,
        code: i32,
        before: &str,
        sim: &str,
    ) -> Finished {
        Finished {
            report: format!(
                r#"{{"outcome":"{outcome}","version_before":"5.1.1.0 [38637]","version_after":"{after}","expected_version":"{expected}"}}"#
            ),
            qemu_code: Some(code),
            sim_installed: Some(sim.to_owned()),
            sim_running: Some(sim.to_owned()),
            sim_before: before.to_owned(),
            stack_peak: None,
            expected: Some(SimVersion {
                text: "5.1.1.0".into(),
                build: 38638,
            }),
        }
    }

    #[test]
    fn success_needs_the_firmware_and_the_simulator_to_agree() {
        // (outcome, version read back, QEMU exit status, simulator's firmware at the end, exit code)
        let cases = [
            ("upgraded", "5.1.1.0 [38638]", 0, "LR5.1.1.0-38638", 0),
            // The simulator contradicts the firmware: never a success.
            ("upgraded", "5.1.1.0 [38638]", 0, "LR5.1.1.0-38637", 1),
            // The firmware read back another version.
            ("upgraded", "5.1.1.0 [38637]", 0, "LR5.1.1.0-38638", 1),
            // QEMU did not exit with the firmware's 0.
            ("upgraded", "5.1.1.0 [38638]", 1, "LR5.1.1.0-38638", 1),
            // Already current is not an upgrade.
            (
                "already_current",
                "5.1.1.0 [38638]",
                0,
                "LR5.1.1.0-38638",
                1,
            ),
            ("failed", "", 1, "LR5.1.1.0-38637", 1),
            // A rejection is believed only while the simulator runs what it ran.
            ("rejected", "", 2, "LR5.1.1.0-38637", 2),
            ("rejected", "", 2, "LR5.1.1.0-38638", 1),
        ];
        for (outcome, after, qemu, sim, code) in cases {
            let (got, why) = finished(outcome, after, qemu, sim).verdict();
            assert_eq!(got, code, "{outcome} {after} {qemu} {sim}: {why}");
        }
        let upgraded = |expected, before| {
            finished_from(
                "upgraded",
                "5.1.1.0 [38638]",
                expected,
                0,
                before,
                "LR5.1.1.0-38638",
            )
            .verdict()
            .0
        };
        // The modem already ran the package's version: a firmware claiming "upgraded" proves nothing.
        assert_eq!(upgraded("5.1.1.0 [38638]", "LR5.1.1.0-38638"), 1);
        // A diff package's target named by build alone.
        assert_eq!(upgraded("build 38638", "LR5.1.1.0-38630"), 0);
        assert_eq!(upgraded("build 38639", "LR5.1.1.0-38630"), 1);
    }

    #[test]
    fn a_diff_package_starts_the_modem_on_its_base_build() {
        let package = synth::diff_dup(Model::Sqn3330, 39528, "5.1.2.0 [39529]");
        let card = Card {
            package_name: "upgdiff_39528-to-39529.dup".to_owned(),
            package,
            loader: None,
            demo: false,
        };
        let modem = SimModem::for_card(&card, &Args::default()).unwrap();
        assert_eq!(modem.firmware, "LR5.1.2.0-39528");
        assert_eq!(
            modem.expected.map(|v| v.lr()).as_deref(),
            Some("LR5.1.2.0-39529")
        );
        // A full package: one build below; a package the simulator refuses: the demo's firmware.
        let full = Card {
            package: synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 1000),
            ..card
        };
        let modem = SimModem::for_card(&full, &Args::default()).unwrap();
        assert_eq!(modem.firmware, "LR5.1.2.0-39528");
        let garbage = Card {
            package: b"not a package".to_vec(),
            ..full
        };
        let modem = SimModem::for_card(&garbage, &Args::default()).unwrap();
        assert_eq!(
            (modem.firmware.as_str(), modem.expected),
            (DEMO_SIM_FIRMWARE, None)
        );
    }

    #[test]
    fn the_failure_report_has_the_example_keys() {
        let json = failure_json("failed", "timed out \"x\"\n");
        assert!(json.starts_with(REPORT_PREFIX));
        assert!(json.ends_with(r#""error":"timed out \"x\"\n"}"#), "{json}");
        assert_eq!(
            json_string_field(&json, "error").as_deref(),
            Some("timed out \"x\"\n")
        );
    }
}
