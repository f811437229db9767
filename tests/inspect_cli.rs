//! The `inspect` example as a user runs it: exit codes, the JSON line format, the tree output.
//! `cargo test --features std` builds the example next to this test binary; when only this test target
//! is selected, the test builds the example itself.

#[path = "support/builder.rs"]
mod builder;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn inspect_exe() -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/inspect
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let exe = deps
        .parent()
        .unwrap()
        .join("examples")
        .join(format!("inspect{}", std::env::consts::EXE_SUFFIX));
    if !exe.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--example",
                "inspect",
                "--features",
                "std",
                "--manifest-path",
            ])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .status()
            .unwrap();
        assert!(status.success(), "building the inspect example failed");
    }
    assert!(
        exe.exists(),
        "{} missing: run `cargo test --features std` (it builds the examples)",
        exe.display()
    );
    exe
}

fn run(args: &[&Path]) -> Output {
    Command::new(inspect_exe()).args(args).output().unwrap()
}

/// A fresh directory for this test's files.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("modem-upgrade-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn valid_dup_json_shape_and_exit_0() {
    let dir = scratch_dir("valid");
    let dup = write(
        &dir,
        "CATM1-38638.dup",
        &builder::sample_dup(builder::DEFAULT_VERSION),
    );
    let out = run(&[Path::new("--json"), &dup]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let j = &lines[0];
    assert_eq!(j["file"], dup.to_str().unwrap());
    assert_eq!(j["valid"], true);
    assert_eq!(j["kind"], "dup");
    assert_eq!(j["size"], std::fs::metadata(&dup).unwrap().len());
    assert_eq!(j["version"]["text"], "5.1.1.0 [38638]");
    assert_eq!(j["version"]["build"], 38638);
    assert_eq!(j["errors"].as_array().unwrap().len(), 0);
    let packages = j["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 5);
    assert_eq!(packages[0]["magic"], "PACK");
    assert_eq!(packages[0]["offset"], 0);
    let components: Vec<&str> = packages[1..]
        .iter()
        .map(|p| p["component"].as_str().unwrap())
        .collect();
    assert_eq!(components, ["bootrom", "updater", "fff", "fs"]);
    for p in packages {
        for key in [
            "offset",
            "magic",
            "description",
            "component",
            "size",
            "signature",
        ] {
            assert!(p.get(key).is_some(), "package lacks {key}: {p}");
        }
        assert_eq!(p["signature"]["type"], "fletcher32");
        assert_eq!(p["signature"]["ok"], true);
    }
    assert_eq!(j["name_hints"]["build"], 38638);
    assert_eq!(j["warnings"].as_array().unwrap().len(), 0);
}

#[test]
fn every_kind_of_bad_input_exits_1_with_a_reason() {
    let dir = scratch_dir("bad");
    let good = builder::sample_dup(builder::DEFAULT_VERSION);
    let mut flipped = good.clone();
    flipped[5000] ^= 4;
    let mut huge = builder::fs_package(50, builder::Sig::Fletcher);
    builder::put_u32_le(&mut huge, 8, 0xFFFF_0000);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.dup", vec![], "empty"),
        (
            "truncated.dup",
            good[..good.len() / 2].to_vec(),
            "truncated",
        ),
        (
            "header-only.dup",
            good[..builder::PACK_DATA_OFFSET].to_vec(),
            "truncated",
        ),
        ("size-past-end.dup", huge, "truncated"),
        (
            "random.dup",
            builder::pseudo_random(5000, 7),
            "unknown magic",
        ),
        ("corrupt.dup", flipped, "mismatch"),
        (
            "rsa.dup",
            builder::fs_package(50, builder::Sig::Rsa),
            "not verifiable",
        ),
        (
            "arm.elf",
            builder::elf(&builder::ElfSpec {
                machine: 0x28,
                ..Default::default()
            }),
            "Andes",
        ),
    ];
    for (name, bytes, reason) in cases {
        let path = write(&dir, name, &bytes);
        let out = run(&[Path::new("--json"), &path]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let j = &json_lines(&out)[0];
        assert_eq!(j["valid"], false, "{name}");
        let errors = j["errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{name}");
        let text = errors[0].as_str().unwrap();
        assert!(text.contains(reason), "{name}: {text}");
        // The tree output says the same.
        let tree = run(&[&path]);
        assert_eq!(tree.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&tree.stdout);
        assert!(
            stdout.contains("INVALID") && stdout.contains("PROBLEM"),
            "{name}: {stdout}"
        );
    }
}

#[test]
fn several_files_one_line_each_worst_exit_code_wins() {
    let dir = scratch_dir("several");
    let good = write(
        &dir,
        "good.dup",
        &builder::sample_dup(builder::DEFAULT_VERSION),
    );
    let bad = write(&dir, "bad.dup", b"nonsense bytes here");
    let missing = dir.join("missing.dup");
    let out = run(&[Path::new("--json"), &good, &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out).len(), 2);
    let out = run(&[Path::new("--json"), &good, &bad, &missing]);
    assert_eq!(out.status.code(), Some(2), "an unreadable file is exit 2");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    assert!(
        lines[2]["errors"][0]
            .as_str()
            .unwrap()
            .contains("cannot read")
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&[Path::new("--frobnicate")]).status.code(), Some(2));
    let help = run(&[Path::new("--help")]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("usage: inspect"));
}

#[test]
fn file_name_hints_are_reported_apart_from_the_content() {
    let dir = scratch_dir("hints");
    let misnamed = write(
        &dir,
        "CATM1-41019.dup",
        &builder::sample_dup(builder::DEFAULT_VERSION),
    );
    let out = run(&[Path::new("--json"), &misnamed]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a misleading name does not make the content invalid"
    );
    let j = &json_lines(&out)[0];
    assert_eq!(j["name_hints"]["build"], 41019);
    assert_eq!(j["version"]["build"], 38638);
    assert!(j["warnings"][0].as_str().unwrap().contains("build 41019"));
    let diff = write(
        &dir,
        "upgdiff_33080-to-38638.dup",
        &builder::sample_dup(builder::DEFAULT_VERSION),
    );
    let j = &json_lines(&run(&[Path::new("--json"), &diff]))[0];
    assert_eq!(j["name_hints"]["diff_base"], 33080);
    assert!(j["warnings"][0].as_str().unwrap().contains("diff package"));
}
