//! The real Sequans firmware files (test data in `$MODEM_FW_FIXTURES`, never in the repository) on
//! a card `Layout::fat32_for` sizes for them, read back through `embedded-sdmmc` byte for byte —
//! built in pure Rust and, when installed, by the Linux tools. Prints "skipped" when absent.

mod common;

use std::path::PathBuf;

use common::read_long;
use sd_image::{Entry, Layout, SparseDisk, build_image, linux_tools, list};

/// (path on the card, file in the fixtures folder)
const FILES: [(&str, &str); 3] = [
    ("CATM1-38638.dup", "CATM1-38638.dup"),
    ("FW/updater-37781.elf", "updater-37781.elf"),
    ("FW/NB1-37781.dup", "NB1-37781.dup"),
];

fn fixtures() -> Option<Vec<(&'static str, Vec<u8>)>> {
    let Some(dir) = std::env::var_os("MODEM_FW_FIXTURES").map(PathBuf::from) else {
        println!("skipped: fixtures not present (MODEM_FW_FIXTURES is not set)");
        return None;
    };
    let mut out = Vec::new();
    for (card_path, file) in FILES {
        match std::fs::read(dir.join(file)) {
            Ok(data) => out.push((card_path, data)),
            Err(e) => {
                println!(
                    "skipped: fixtures not present ({}: {e})",
                    dir.join(file).display()
                );
                return None;
            }
        }
    }
    Some(out)
}

fn check(disk: &SparseDisk, files: &[(&str, Vec<u8>)]) {
    for (path, data) in files {
        let back = read_long(disk, path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert!(
            back == *data,
            "{path}: {} bytes read, {} expected",
            back.len(),
            data.len()
        );
    }
}

#[test]
fn real_firmware_on_a_pure_rust_card() {
    let Some(files) = fixtures() else { return };
    let total: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
    let entries: Vec<Entry> = files
        .iter()
        .map(|(p, d)| Entry { path: p, data: d })
        .collect();
    let mut disk = build_image(&Layout::fat32_for(total), &entries).unwrap();
    check(&disk, &files);
    let listing = list(&mut disk).unwrap();
    assert_eq!(listing.files.len(), 3);
    assert_eq!(listing.files[0].size, 5_996_938);
}

#[test]
fn real_firmware_on_a_card_made_by_the_linux_tools() {
    let Some(files) = fixtures() else { return };
    if let Some(tool) = linux_tools::missing() {
        println!("skipped: mkfs.fat/mcopy not installed ({tool} is missing)");
        return;
    }
    let total: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
    let entries: Vec<Entry> = files
        .iter()
        .map(|(p, d)| Entry { path: p, data: d })
        .collect();
    let path = std::env::temp_dir().join(format!("sd-image-real-{}.img", std::process::id()));
    linux_tools::build(&path, &Layout::fat32_for(total), &entries).unwrap();
    let disk = SparseDisk::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    check(&disk, &files);
}
