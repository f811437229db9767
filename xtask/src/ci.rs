//! `cargo xtask ci`: everything CI runs, in order, stopping at the first failure.
//!
//! Each step is a small function returning a [`StepResult`]: `Ok(Status::Ok)`,
//! `Ok(Status::Skipped(reason))` when a tool or target cannot be obtained on this machine, or
//! `Err(message)` to fail the run. Steps share a little state through [`Ctx`] (whether clippy and
//! the thumbv7em target are available).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::cmd::{self, secs};
use crate::host_tools::{apt_install, find_tool};

/// The bare-metal target the no_std build is checked against (Cortex-M4F/M7F).
const TARGET: &str = "thumbv7em-none-eabihf";
/// `rustup target add` downloads the target's core/alloc; give slow mirrors plenty of time.
const TARGET_INSTALL_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const HEARTBEAT: Duration = Duration::from_secs(30);
/// Real-firmware fixtures, relative to the workspace root (a sibling checkout, not in this repo).
const SHARED_FIXTURES: &str = "../shared/fixtures/sequans";
const FIXTURES_ENV: &str = "MODEM_FW_FIXTURES";
/// The Linux FAT tools `sd-image`'s tests compare against, and the Debian package of each.
const FAT_TOOLS: &[(&str, &str)] = &[
    ("mkfs.fat", "dosfstools"),
    ("mcopy", "mtools"),
    ("mmd", "mtools"),
    ("sfdisk", "fdisk"),
];
const FAT_TOOLS_SKIPPED: &str = "tests that use the Linux FAT tools will say skipped";

/// Feature sets the library is linted with (`cargo clippy -p modem-upgrade <args> -- -D warnings`).
const LIB_CLIPPY: &[&[&str]] = &[
    &["--no-default-features"],
    &["--no-default-features", "--features", "sdmmc"],
    &[],
    &["--features", "std", "--all-targets"],
    &["--features", "std,log", "--all-targets"],
    &[
        "--features",
        "std,embedded-hal-nb,serialport",
        "--all-targets",
    ],
    &["--no-default-features", "--features", "sdmmc,defmt"],
    &[
        "--no-default-features",
        "--features",
        "sdmmc,embedded-hal-nb",
    ],
];

/// `cargo build -p modem-upgrade <args> --target thumbv7em-none-eabihf`.
const CROSS_BUILDS: &[&[&str]] = &[
    &["--no-default-features", "--features", "sdmmc"],
    &["--no-default-features", "--features", "sdmmc", "--release"],
    &["--no-default-features", "--features", "sdmmc,defmt"],
    &[
        "--no-default-features",
        "--features",
        "sdmmc,embedded-hal-nb",
    ],
];

const NO_STD_FEATURES: &[&str] = &["--no-default-features", "--features", "sdmmc"];

enum Status {
    Ok,
    Skipped(String),
}

type StepResult = Result<Status, String>;

/// State shared between steps.
#[derive(Default)]
struct Ctx {
    /// `None` until a clippy step asked; then `Err(skip reason)` if clippy is unavailable.
    clippy: Option<Result<(), String>>,
    /// `Some(Ok)` once the thumbv7em target is known to be installed, `Some(Err(reason))` if not.
    target: Option<Result<(), String>>,
}

impl Ctx {
    fn clippy(&mut self) -> Result<(), String> {
        self.clippy
            .get_or_insert_with(|| ensure_component("clippy", &["clippy", "--version"]))
            .clone()
    }
}

struct Step {
    name: String,
    run: Box<dyn FnOnce(&mut Ctx) -> StepResult>,
}

impl Step {
    fn new(name: impl Into<String>, run: impl FnOnce(&mut Ctx) -> StepResult + 'static) -> Self {
        Step {
            name: name.into(),
            run: Box::new(run),
        }
    }
}

/// The whole pipeline, in order.
fn steps() -> Vec<Step> {
    let mut steps = vec![
        Step::new("rustfmt (cargo fmt --all -- --check)", fmt),
        Step::new("Linux FAT tools (dosfstools, mtools, fdisk)", fat_tools),
    ];
    for &args in LIB_CLIPPY {
        let name = format!("clippy ({})", describe(args));
        steps.push(Step::new(name, move |ctx| clippy_lib(ctx, args)));
    }
    steps.push(Step::new(
        "clippy (-p modem-sim -p xtask -p sd-image -p modem-campaign --all-targets)",
        clippy_tools,
    ));
    steps.push(Step::new(
        "simulator independence (modem-sim does not depend on modem-upgrade)",
        sim_independent,
    ));
    steps.push(Step::new(
        "defmt+log rejected (--features defmt,log must not compile)",
        defmt_log_rejected,
    ));
    steps.push(Step::new(
        "tests (--workspace --features modem-upgrade/{std,embedded-hal-nb,serialport})",
        test,
    ));
    steps.push(Step::new(
        format!(
            "fault campaign ({} scenarios, seed {}; 0 false successes, 0 unrecovered)",
            crate::campaign::CI_SCENARIOS,
            crate::campaign::CI_SEED
        ),
        |_| crate::campaign::ci_step().map(|()| Status::Ok),
    ));
    steps.push(Step::new(
        "fuzz targets build (nightly cargo check of fuzz/)",
        |_| match crate::fuzz::ci_check()? {
            None => Ok(Status::Ok),
            Some(reason) => Ok(Status::Skipped(reason)),
        },
    ));
    steps.push(Step::new(
        format!("install target {TARGET}"),
        install_target,
    ));
    for &args in CROSS_BUILDS {
        let name = format!("cross build {TARGET} ({})", describe(args));
        steps.push(Step::new(name, move |ctx| cross_build(ctx, args)));
    }
    steps.push(Step::new(
        format!(
            "firmware example builds ({}, release)",
            crate::firmware::TARGET
        ),
        firmware_build,
    ));
    steps.push(Step::new(
        "firmware in QEMU (cargo xtask qemu: synthesized package upgraded, damaged copy refused)",
        |_| match crate::qemu::ci_step()? {
            None => Ok(Status::Ok),
            Some(reason) => Ok(Status::Skipped(reason)),
        },
    ));
    steps.push(Step::new(
        "no_std dependency tree (no feature \"std\")",
        no_std_tree,
    ));
    steps.push(Step::new(
        "host build without std (--no-default-features --features sdmmc)",
        host_no_std_build,
    ));
    steps.push(Step::new("docs (RUSTDOCFLAGS=-D warnings)", doc));
    steps
}

/// One line of the final summary.
struct Row {
    name: String,
    status: String,
    duration: Duration,
}

pub fn run(args: &[String]) -> ExitCode {
    if let Some(arg) = args.first() {
        return crate::usage_error(&format!("`ci` takes no arguments (got `{arg}`)"));
    }
    let start = Instant::now();
    preamble();

    let steps = steps();
    let total = steps.len();
    let mut ctx = Ctx::default();
    let mut rows = Vec::with_capacity(total);
    let mut failed = None;
    for (index, step) in steps.into_iter().enumerate() {
        let label = format!("[{}/{total}] {}", index + 1, step.name);
        println!("\n==> {label}");
        let step_start = Instant::now();
        let result = (step.run)(&mut ctx);
        let duration = step_start.elapsed();
        let status = match result {
            Ok(Status::Ok) => {
                println!("<== ok: {label} ({})", secs(duration));
                "ok".to_owned()
            }
            Ok(Status::Skipped(reason)) => {
                println!("SKIPPED: {reason}");
                println!("<== skipped: {label} ({})", secs(duration));
                format!("SKIPPED({reason})")
            }
            Err(message) => {
                println!("error: {message}");
                println!("FAILED: step {label} ({})", secs(duration));
                failed = Some(label);
                "FAILED".to_owned()
            }
        };
        rows.push(Row {
            name: step.name,
            status,
            duration,
        });
        if failed.is_some() {
            break;
        }
    }

    print_summary(&rows, total);
    let elapsed = secs(start.elapsed());
    match failed {
        Some(label) => {
            println!("total {elapsed}: CI FAILED at step {label}");
            ExitCode::FAILURE
        }
        None => {
            let skipped: Vec<&Row> = rows.iter().filter(|r| r.status != "ok").collect();
            if !skipped.is_empty() {
                println!(
                    "WARNING: {} step(s) were SKIPPED, so this run did not check everything:",
                    skipped.len()
                );
                for row in skipped.iter() {
                    println!("    {}: {}", row.name, row.status);
                }
            }
            println!(
                "total {elapsed}: all {total} steps passed ({} skipped)",
                skipped.len()
            );
            ExitCode::SUCCESS
        }
    }
}

/// Shows which toolchain is running the pipeline (purely informational).
fn preamble() {
    println!("workspace: {}", cmd::workspace_root().display());
    for mut command in [cmd::cargo(["--version"]), rustc(["--version"])] {
        if let Err(e) = cmd::run(&mut command) {
            println!("warning: {e}");
        }
    }
}

fn print_summary(rows: &[Row], total: usize) {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    println!("\n==> summary");
    println!("  {:>5}  {:<width$}  {:>8}  status", "#", "step", "time");
    for (index, row) in rows.iter().enumerate() {
        let number = format!("{}/{total}", index + 1);
        let time = secs(row.duration);
        println!(
            "  {number:>5}  {:<width$}  {time:>8}  {}",
            row.name, row.status
        );
    }
    if rows.len() < total {
        println!("  ({} later step(s) not run)", total - rows.len());
    }
}

/// `--no-default-features --features sdmmc`, or `default features` for an empty list.
fn describe(args: &[&str]) -> String {
    if args.is_empty() {
        "default features".to_owned()
    } else {
        args.join(" ")
    }
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

fn fmt(_: &mut Ctx) -> StepResult {
    if let Err(reason) = ensure_component("rustfmt", &["fmt", "--version"]) {
        return Ok(Status::Skipped(reason));
    }
    cmd::run(&mut cmd::cargo(["fmt", "--all", "--", "--check"]))?;
    Ok(Status::Ok)
}

/// `sd-image`'s tests check its pure-Rust cards against cards made by `sfdisk`, `mkfs.fat` and
/// mtools (and print "skipped" without them). Installs the missing ones with `apt-get` when that is
/// possible (root or password-less sudo); never fails CI: without them the step is SKIPPED.
fn fat_tools(_: &mut Ctx) -> StepResult {
    let missing = missing_fat_tools();
    if missing.is_empty() {
        for (tool, _) in FAT_TOOLS {
            if let Some(path) = find_tool(tool) {
                println!("{tool}: {}", path.display());
            }
        }
        return Ok(Status::Ok);
    }
    let mut packages: Vec<&str> = Vec::new();
    for (tool, package) in FAT_TOOLS {
        if missing.contains(tool) && !packages.contains(package) {
            packages.push(package);
        }
    }
    println!(
        "missing: {}; installing {}",
        missing.join(", "),
        packages.join(" ")
    );
    if let Err(reason) = apt_install(&packages) {
        let reason = format!("could not install {} ({reason})", packages.join(" "));
        println!("skipped: {reason}; {FAT_TOOLS_SKIPPED}");
        return Ok(Status::Skipped(format!("{reason}; {FAT_TOOLS_SKIPPED}")));
    }
    let still = missing_fat_tools();
    if still.is_empty() {
        println!("installed: {}", packages.join(" "));
        Ok(Status::Ok)
    } else {
        let reason = format!(
            "{} still missing after installing {}",
            still.join(", "),
            packages.join(" ")
        );
        println!("skipped: {reason}; {FAT_TOOLS_SKIPPED}");
        Ok(Status::Skipped(format!("{reason}; {FAT_TOOLS_SKIPPED}")))
    }
}

fn missing_fat_tools() -> Vec<&'static str> {
    FAT_TOOLS
        .iter()
        .map(|&(tool, _)| tool)
        .filter(|tool| find_tool(tool).is_none())
        .collect()
}

fn clippy_lib(ctx: &mut Ctx, args: &[&str]) -> StepResult {
    if let Err(reason) = ctx.clippy() {
        return Ok(Status::Skipped(reason));
    }
    let mut command = cmd::cargo(["clippy", "-p", "modem-upgrade"]);
    command.args(args).args(["--", "-D", "warnings"]);
    cmd::run(&mut command)?;
    Ok(Status::Ok)
}

fn clippy_tools(ctx: &mut Ctx) -> StepResult {
    if let Err(reason) = ctx.clippy() {
        return Ok(Status::Skipped(reason));
    }
    cmd::run(&mut cmd::cargo([
        "clippy",
        "-p",
        "modem-sim",
        "-p",
        "xtask",
        "-p",
        "sd-image",
        "-p",
        "modem-campaign",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    Ok(Status::Ok)
}

/// The library must refuse to build with both logging back-ends (a `compile_error!`).
fn defmt_log_rejected(_: &mut Ctx) -> StepResult {
    let output = cmd::output(&mut cmd::cargo([
        "check",
        "-p",
        "modem-upgrade",
        "--features",
        "defmt,log",
    ]))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        eprint!("{stderr}");
        return Err(
            "`cargo check --features defmt,log` succeeded, but the library must reject \
                    defmt+log with a compile_error! saying they are \"mutually exclusive\""
                .to_owned(),
        );
    }
    match stderr
        .lines()
        .find(|line| line.contains("mutually exclusive"))
    {
        Some(line) => {
            println!("    {}", line.trim());
            println!("defmt+log correctly rejected");
            Ok(Status::Ok)
        }
        None => {
            eprint!("{stderr}");
            Err(format!(
                "`cargo check --features defmt,log` failed ({}), but not with the expected error: \
                 its stderr (above) does not contain \"mutually exclusive\"",
                output.status
            ))
        }
    }
}

fn test(_: &mut Ctx) -> StepResult {
    let mut command = cmd::cargo([
        "test",
        "--workspace",
        "--features",
        "modem-upgrade/std,modem-upgrade/embedded-hal-nb,modem-upgrade/serialport",
    ]);
    if let Some(fixtures) = fixtures_for_tests() {
        command.env(FIXTURES_ENV, fixtures);
    }
    cmd::run(&mut command)?;
    Ok(Status::Ok)
}

/// Where the real-firmware fixtures come from; `Some(dir)` when the test run must set the variable.
fn fixtures_for_tests() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(FIXTURES_ENV).filter(|v| !v.is_empty()) {
        println!(
            "{FIXTURES_ENV}={} (from the environment)",
            dir.to_string_lossy()
        );
        return None;
    }
    let shared = cmd::workspace_root().join(SHARED_FIXTURES);
    if shared.is_dir() {
        let dir = shared.canonicalize().unwrap_or(shared);
        println!(
            "{FIXTURES_ENV} not set: using {} for the test run",
            dir.display()
        );
        Some(dir)
    } else {
        println!(
            "NOTE: {FIXTURES_ENV} not set and {SHARED_FIXTURES} absent: real-firmware tests will \
             print \"skipped\""
        );
        None
    }
}

fn install_target(ctx: &mut Ctx) -> StepResult {
    let result = ensure_target(TARGET);
    ctx.target = Some(result.clone());
    match result {
        Ok(()) => Ok(Status::Ok),
        Err(reason) => Ok(Status::Skipped(format!(
            "could not install target {TARGET} ({reason}); the no_std cross build was NOT checked"
        ))),
    }
}

fn cross_build(ctx: &mut Ctx, args: &[&str]) -> StepResult {
    match &ctx.target {
        Some(Ok(())) => {}
        Some(Err(_)) => return Ok(Status::Skipped(format!("target {TARGET} not installed"))),
        None => return Ok(Status::Skipped(format!("target {TARGET} not checked"))),
    }
    let mut command = cmd::cargo(["build", "-p", "modem-upgrade"]);
    command.args(args).args(["--target", TARGET]);
    cmd::run(&mut command)?;
    Ok(Status::Ok)
}

/// `examples/firmware` (its own workspace) builds for the Cortex-M3, installing the target if needed.
fn firmware_build(_: &mut Ctx) -> StepResult {
    let target = crate::firmware::TARGET;
    if let Err(reason) = ensure_target(target) {
        return Ok(Status::Skipped(format!(
            "could not install target {target} ({reason}); the example firmware was NOT built"
        )));
    }
    let mut command = crate::firmware::build_command(&[]);
    println!("(in examples/firmware)");
    cmd::run(&mut command)?;
    Ok(Status::Ok)
}

/// Nothing in the no_std build may enable a `std` feature (works without the target installed).
fn no_std_tree(_: &mut Ctx) -> StepResult {
    let mut command = cmd::cargo(["tree", "-p", "modem-upgrade", "-e", "normal,features"]);
    command.args(NO_STD_FEATURES).args(["--target", TARGET]);
    let output = cmd::output(&mut command)?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!("`cargo tree` failed ({})", output.status));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let offending: Vec<&str> = tree
        .lines()
        .filter(|line| line.contains("feature \"std\""))
        .collect();
    if offending.is_empty() {
        println!(
            "no crate enables feature \"std\" in the no_std build ({} tree lines checked)",
            tree.lines().count()
        );
        return Ok(Status::Ok);
    }
    println!("feature \"std\" is enabled in the no_std build by:");
    for line in &offending {
        println!("    {line}");
    }
    Err(format!(
        "{} line(s) of the no_std dependency tree enable feature \"std\"",
        offending.len()
    ))
}

/// `modem-sim` must be written independently of the library's codecs (so a mistake shared by both
/// cannot pass the tests): it may not depend on `modem-upgrade`, not even as a dev-dependency.
fn sim_independent(_: &mut Ctx) -> StepResult {
    let mut command = cmd::cargo([
        "tree",
        "-p",
        "modem-sim",
        "-e",
        "normal,dev,build",
        "--prefix",
        "none",
    ]);
    let output = cmd::output(&mut command)?;
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        return Err(format!(
            "`cargo tree -p modem-sim` failed ({})",
            output.status
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    if let Some(line) = tree.lines().find(|l| l.starts_with("modem-upgrade ")) {
        return Err(format!("modem-sim depends on the library: {line}"));
    }
    println!(
        "modem-sim's dependency tree ({} lines) does not contain modem-upgrade",
        tree.lines().count()
    );
    Ok(Status::Ok)
}

/// The crate is `#![no_std]` without feature `std`; this also covers the case where the thumbv7em
/// target could not be installed.
fn host_no_std_build(_: &mut Ctx) -> StepResult {
    let mut command = cmd::cargo(["build", "-p", "modem-upgrade"]);
    command.args(NO_STD_FEATURES);
    cmd::run(&mut command)?;
    Ok(Status::Ok)
}

fn doc(_: &mut Ctx) -> StepResult {
    let mut command = cmd::cargo([
        "doc",
        "--workspace",
        "--no-deps",
        "--features",
        "modem-upgrade/std",
    ]);
    command.env("RUSTDOCFLAGS", "-D warnings");
    cmd::run(&mut command)?;
    Ok(Status::Ok)
}

// ---------------------------------------------------------------------------------------------
// Toolchain helpers
// ---------------------------------------------------------------------------------------------

/// Makes sure `cargo <probe...>` works, installing `component` with rustup if needed.
/// `Err` is the reason to skip the steps that need it.
fn ensure_component(component: &str, probe: &[&str]) -> Result<(), String> {
    if cmd::succeeds(&mut cmd::cargo(probe)) {
        return Ok(());
    }
    println!("{component} not found; trying `rustup component add {component}`");
    match cmd::run(&mut cmd::tool("rustup", ["component", "add", component])) {
        Ok(()) if cmd::succeeds(&mut cmd::cargo(probe)) => Ok(()),
        Ok(()) => Err(format!(
            "{component} still unavailable after `rustup component add {component}`"
        )),
        Err(e) => Err(format!(
            "{component} is not installed and could not be installed: {e}"
        )),
    }
}

/// Makes sure `target`'s core library is installed. `Err` is the reason it is not. Talks on stderr
/// (`cargo xtask qemu --json` keeps stdout for its report).
pub(crate) fn ensure_target(target: &str) -> Result<(), String> {
    if !cmd::succeeds(&mut cmd::tool("rustup", ["--version"])) {
        if target_in_sysroot(target) {
            eprintln!("rustup not found, but {target} is present in the toolchain's sysroot");
            return Ok(());
        }
        return Err("rustup not found".to_owned());
    }
    match installed_targets() {
        Ok(targets) if targets.iter().any(|t| t == target) => {
            eprintln!("{target} is already installed");
            return Ok(());
        }
        Ok(_) => eprintln!("{target} is not installed yet"),
        Err(e) => eprintln!("warning: {e}; trying to install {target} anyway"),
    }
    cmd::run_with_timeout(
        &mut cmd::tool("rustup", ["target", "add", target]),
        TARGET_INSTALL_TIMEOUT,
        HEARTBEAT,
    )
}

/// `rustup target list --installed`, one target per line.
fn installed_targets() -> Result<Vec<String>, String> {
    let output = cmd::output(&mut cmd::tool("rustup", ["target", "list", "--installed"]))?;
    if !output.status.success() {
        return Err(format!(
            "`rustup target list --installed` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Without rustup (e.g. a distro toolchain), the target may still ship in the sysroot.
fn target_in_sysroot(target: &str) -> bool {
    let Ok(output) = rustc(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&output.stdout);
    let sysroot = Path::new(sysroot.trim());
    output.status.success()
        && sysroot
            .join("lib/rustlib")
            .join(target)
            .join("lib")
            .is_dir()
}

/// `rustc` (from `$RUSTC` if set) running in the workspace root.
fn rustc<const N: usize>(args: [&str; N]) -> Command {
    let program = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    cmd::tool(program, args)
}
