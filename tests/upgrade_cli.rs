//! The `upgrade_from_sd` example as a user runs it: the no-argument demo against the built-in
//! simulator, packages in a directory and on a card image, a `modem-sim --listen` process over TCP,
//! loader-wait modems, line faults, bad arguments — exit codes and the `--json` report.
//!
//! The example (and the `modem-sim` binary) are built once per test process with `cargo build`
//! into the target directory this test runs from, so `cargo test --test upgrade_cli` alone works
//! and never runs a stale binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use modem_sim::{Model, synth};
use serde_json::Value;

const TARGET: &str = "5.1.2.0 [39529]";
const INSTALLED: &str = "5.1.1.0 [38638]";
const PACKAGE: &str = "CATM1-39529_test-package.dup";

/// `<target>/<profile>` of this test binary (`<target>/<profile>/deps/upgrade_cli-…`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn target_dir() -> PathBuf {
    profile_dir().parent().unwrap().to_path_buf()
}

/// `cargo build <what>` into this test's target directory and profile.
fn cargo_build(what: &[&str]) {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build")
        .args(what)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir());
    if profile_dir().file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "cargo build {what:?} failed");
}

fn example_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        cargo_build(&["--example", "upgrade_from_sd"]);
        let exe = profile_dir()
            .join("examples")
            .join(format!("upgrade_from_sd{}", std::env::consts::EXE_SUFFIX));
        assert!(exe.exists(), "{} missing after the build", exe.display());
        exe
    })
}

fn modem_sim_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        cargo_build(&["-p", "modem-sim", "--bin", "modem-sim"]);
        let exe = profile_dir().join(format!("modem-sim{}", std::env::consts::EXE_SUFFIX));
        assert!(exe.exists(), "{} missing after the build", exe.display());
        exe
    })
}

/// Runs the example with `args`; the demo card goes to this test's target directory.
fn run(args: &[&str]) -> Output {
    let exe = example_exe();
    let started = Instant::now();
    let out = Command::new(exe)
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    eprintln!(
        "upgrade_from_sd {args:?}: exit {:?} in {:.2} s",
        out.status.code(),
        started.elapsed().as_secs_f64()
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The JSON report: the last line of stdout, which must be the only line with `--json`.
fn report(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "with --json stdout holds only the report:\n{stdout}\n--- stderr ---\n{}",
        stderr(out)
    );
    let value: Value = serde_json::from_str(lines[0]).expect("the report is JSON");
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "outcome",
        "version_before",
        "version_after",
        "expected_version",
        "image",
        "image_bytes",
        "bytes_sent",
        "resumed_from",
        "retries",
        "phases",
        "duration_ms",
        "error",
    ];
    expected.sort_unstable(); // serde_json's map sorts; the order itself is checked on the text
    assert_eq!(keys, expected, "{value}");
    let positions: Vec<usize> = [
        "\"outcome\"",
        "\"version_before\"",
        "\"version_after\"",
        "\"expected_version\"",
        "\"image\"",
        "\"image_bytes\"",
        "\"bytes_sent\"",
        "\"resumed_from\"",
        "\"retries\"",
        "\"phases\"",
        "\"duration_ms\"",
        "\"error\"",
    ]
    .iter()
    .map(|k| lines[0].find(k).unwrap())
    .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys out of order: {}",
        lines[0]
    );
    value
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// A fresh directory for one test's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "modem-upgrade-upgrade-cli-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn package() -> Vec<u8> {
    synth::full_dup(Model::Sqn3330, TARGET, 100_000)
}

fn assert_upgraded(j: &Value) {
    assert_eq!(j["outcome"], "upgraded", "{j}");
    assert_eq!(j["version_before"], INSTALLED, "{j}");
    assert_eq!(j["version_after"], TARGET, "{j}");
    assert_eq!(j["expected_version"], TARGET, "{j}");
    assert!(j["bytes_sent"].as_u64().unwrap() > 0, "{j}");
    assert!(j["error"].is_null(), "{j}");
}

#[test]
fn no_arguments_builds_the_demo_card_and_upgrades_the_simulator() {
    let out = run(&["--json"]);
    assert_exit(&out, 0);
    let j = report(&out);
    assert_upgraded(&j);
    assert_eq!(j["image"], "CATM1-39529_demo-upgrade-package.dup");
    assert_eq!(j["bytes_sent"], j["image_bytes"]);
    assert!(j["image_bytes"].as_u64().unwrap() > 250_000, "{j}");
    assert_eq!(j["retries"], 0);
    assert!(j["resumed_from"].is_null());
    let phases: Vec<&str> = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "preflight",
            "detect",
            "decide",
            "enter",
            "transfer",
            "programming",
            "verify",
            "finish"
        ]
    );
    let programming = &j["phases"][5];
    assert!(programming["ms"].as_u64().unwrap() >= 60_000, "{j}"); // the simulator's flash time
    assert!(
        j["duration_ms"].as_u64().unwrap() >= programming["ms"].as_u64().unwrap(),
        "{j}"
    );
    let card = target_dir().join("demo").join("sd.img");
    assert!(card.exists(), "{} missing", card.display());
    // A real card image: an MBR signature, and bigger than FAT32's minimum.
    let bytes = std::fs::read(&card).unwrap();
    assert_eq!(&bytes[510..512], &[0x55, 0xAA]);
    assert!(bytes.len() >= 258 << 20);
    // Human text went to stderr, with every stage and the power warning.
    let text = stderr(&out);
    for needle in [
        "==> transfer",
        "DO NOT POWER OFF",
        "==> programming",
        "outcome: upgraded",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
}

#[test]
fn human_output_names_stages_and_versions_before_and_after() {
    let out = run(&[]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "==> preflight",
        "==> detect",
        "==> transfer",
        "==> programming",
        "==> verify",
        &format!("firmware: {INSTALLED} -> {TARGET}"),
        "outcome: upgraded",
        "stages: preflight",
        "sent: ",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    // No JSON without --json.
    assert!(!text.lines().any(|l| l.starts_with('{')), "{text}");
}

#[test]
fn a_corrupted_package_in_a_directory_is_rejected_before_the_modem_is_touched() {
    let dir = Scratch::new("corrupt");
    let mut dup = package();
    let middle = dup.len() / 2;
    dup[middle] ^= 0x01;
    dir.write(PACKAGE, &dup);
    let out = run(&["--json", "--sd", dir.path()]);
    assert_exit(&out, 2);
    let j = report(&out);
    assert_eq!(j["outcome"], "rejected", "{j}");
    let error = j["error"].as_str().unwrap();
    assert!(error.contains("damaged"), "{error}");
    assert!(error.contains("the modem was not touched"), "{error}");
    assert_eq!(j["bytes_sent"], 0);
    assert_eq!(j["image"], PACKAGE);
    assert_eq!(j["phases"].as_array().unwrap().len(), 1, "{j}"); // preflight only
    assert!(j["version_before"].is_null());
}

#[test]
fn a_truncated_package_in_a_directory_is_rejected() {
    let dir = Scratch::new("truncated");
    let dup = package();
    dir.write(PACKAGE, &dup[..dup.len() * 2 / 3]);
    let out = run(&["--json", "--sd", dir.path()]);
    assert_exit(&out, 2);
    let j = report(&out);
    assert_eq!(j["outcome"], "rejected", "{j}");
    let error = j["error"].as_str().unwrap();
    assert!(error.contains("truncated"), "{error}");
    assert_eq!(j["bytes_sent"], 0);
    // A file too short to hold any header is refused by the finder, also with exit 2.
    let dir = Scratch::new("tiny");
    dir.write(PACKAGE, b"PACK");
    let out = run(&["--json", "--sd", dir.path()]);
    assert_exit(&out, 2);
    let j = report(&out);
    assert_eq!(j["outcome"], "rejected", "{j}");
    assert!(j["error"].as_str().unwrap().contains(PACKAGE), "{j}");
}

/// Kills the child process when dropped, whatever the test did.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_modem_sim_process_over_tcp_is_upgraded() {
    let dir = Scratch::new("tcp");
    dir.write(PACKAGE, &package());
    let mut child = Killed(
        Command::new(modem_sim_exe())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--once",
                "--flash-time",
                "2",
                "--boot-time",
                "0.2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("modem-sim printed its address")
            .unwrap();
        if let Some(addr) = line.strip_prefix("modem-sim: listening on ") {
            break addr.trim().to_string();
        }
    };
    let out = run(&["--json", "--connect", &addr, "--sd", dir.path()]);
    assert_exit(&out, 0);
    let j = report(&out);
    assert_upgraded(&j);
    assert_eq!(j["image"], PACKAGE);
    assert!(
        stderr(&out).contains(&format!("modem: TCP {addr}")),
        "{}",
        stderr(&out)
    );
    // The journal was kept next to the package.
    let journal = std::fs::read(dir.0.join("UPGRADE.JNL")).unwrap();
    assert_eq!(journal.len(), 1024);
}

#[test]
fn bad_arguments_exit_2_with_usage_and_a_rejected_report() {
    let cases: &[&[&str]] = &[
        &["--bogus"],
        &["--sd"],
        &["--port", "/dev/null", "--connect", "127.0.0.1:1"],
        &["--sim-faults", "flip=2"],
        &["--sim-faults", "nonsense"],
        &["--sim-mode", "sideways"],
        &["--baud", "115200"],
        &["--baud", "fast", "--port", "/dev/ttyUSB0"],
        &["--connect", "127.0.0.1:1", "--sim-mode", "app"],
        &["stray-argument"],
    ];
    for args in cases {
        let out = run(args);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("usage: upgrade_from_sd"), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let out = run(&with_json);
        assert_exit(&out, 2);
        let j = report(&out);
        assert_eq!(j["outcome"], "rejected", "{args:?}: {j}");
        assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
    }
    let help = run(&["--help"]);
    assert_exit(&help, 0);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--sim-faults SPEC"));
}

#[test]
fn card_and_file_problems_exit_2_with_the_library_reason() {
    let dir = Scratch::new("cards");
    // Not a card: the package file itself has no MBR.
    let not_a_card = dir.write("not-a-card.img", &package());
    let out = run(&["--json", "--sd", not_a_card.to_str().unwrap()]);
    assert_exit(&out, 2);
    let j = report(&out);
    assert_eq!(j["outcome"], "rejected");
    assert!(j["error"].as_str().unwrap().contains("MBR"), "{j}");
    // A directory without any package.
    let empty = Scratch::new("empty-dir");
    let out = run(&["--json", "--sd", empty.path()]);
    assert_exit(&out, 2);
    assert_eq!(report(&out)["outcome"], "rejected");
    // A name that is not there.
    dir.write(PACKAGE, &package());
    let out = run(&["--json", "--sd", dir.path(), "--image", "other.dup"]);
    assert_exit(&out, 2);
    assert!(
        report(&out)["error"]
            .as_str()
            .unwrap()
            .contains("other.dup")
    );
    // A path that does not exist.
    let out = run(&["--json", "--sd", "/nonexistent/card.img"]);
    assert_exit(&out, 2);
}

#[test]
fn a_card_image_given_with_sd_and_a_long_name_in_another_case() {
    let dir = Scratch::new("card");
    let dup = package();
    let readme = b"firmware for the modem".to_vec();
    let entries = [
        sd_image::Entry {
            path: PACKAGE,
            data: &dup,
        },
        sd_image::Entry {
            path: "README.txt",
            data: &readme,
        },
    ];
    let disk = sd_image::build_image(&sd_image::Layout::fat32_small(), &entries).unwrap();
    let card = dir.0.join("card.img");
    disk.save(&card).unwrap();
    let out = run(&[
        "--json",
        "--sd",
        card.to_str().unwrap(),
        "--image",
        &PACKAGE.to_ascii_lowercase(),
    ]);
    assert_exit(&out, 0);
    let j = report(&out);
    assert_upgraded(&j);
    assert_eq!(j["image"], PACKAGE);
    assert_eq!(j["image_bytes"], dup.len());
}

#[test]
fn line_faults_on_the_simulator_cost_retries_not_the_upgrade() {
    let out = run(&["--json", "--sim-faults", "seed=3,flip=0.00002,residue=0.01"]);
    assert_exit(&out, 0);
    let j = report(&out);
    assert_upgraded(&j);
    assert!(j["retries"].as_u64().unwrap() > 0, "{j}");
    // Virtual time: the same seed gives the same run.
    let again = report(&run(&[
        "--json",
        "--sim-faults",
        "seed=3,flip=0.00002,residue=0.01",
    ]));
    assert_eq!(again["retries"], j["retries"]);
    assert_eq!(again["duration_ms"], j["duration_ms"]);
}

#[test]
fn a_loader_wait_modem_needs_the_loader_and_is_upgraded_with_it() {
    let out = run(&[
        "--json",
        "--sim-mode",
        "loader-wait",
        "--loader",
        "updater.elf",
    ]);
    assert_exit(&out, 0);
    let j = report(&out);
    assert_eq!(j["outcome"], "upgraded", "{j}");
    assert!(j["version_before"].is_null(), "{j}"); // only the bootloader answered
    assert_eq!(j["version_after"], TARGET);
    // The loader's bytes count too.
    assert!(
        j["bytes_sent"].as_u64().unwrap() > j["image_bytes"].as_u64().unwrap(),
        "{j}"
    );

    let out = run(&["--json", "--sim-mode", "loader-wait"]);
    assert_exit(&out, 2);
    let j = report(&out);
    assert_eq!(j["outcome"], "rejected", "{j}");
    let error = j["error"].as_str().unwrap();
    assert!(
        error.contains("loader ELF") && error.contains("--loader"),
        "{error}"
    );
    assert_eq!(j["bytes_sent"], 0);
}

#[test]
fn a_modem_that_cannot_be_reached_is_a_failure_not_bad_input() {
    let dir = Scratch::new("unreachable");
    dir.write(PACKAGE, &package());
    // Port 1 on the loopback: nothing listens there.
    let out = run(&["--json", "--sd", dir.path(), "--connect", "127.0.0.1:1"]);
    assert_exit(&out, 1);
    let j = report(&out);
    assert_eq!(j["outcome"], "failed", "{j}");
    assert!(
        j["error"].as_str().unwrap().contains("cannot connect"),
        "{j}"
    );
    let out = run(&[
        "--json",
        "--sd",
        dir.path(),
        "--port",
        "/dev/no-such-serial-port",
    ]);
    assert_exit(&out, 1);
    let j = report(&out);
    assert_eq!(j["outcome"], "failed", "{j}");
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("/dev/no-such-serial-port"),
        "{j}"
    );
}
