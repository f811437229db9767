//! Cards made by `sfdisk` + `mkfs.fat` + `mtools` open in `embedded-sdmmc` like the pure-Rust ones,
//! and the pure-Rust cards pass the Linux tools' own checks (`sfdisk --dump`, `fsck.fat`, `mtype`).
//! Every test prints "skipped: ..." and returns when the tools are not installed.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Files, open_volume, random, read_long, read_short};
use embedded_sdmmc::Error;
use sd_image::linux_tools::{self, ToolError};
use sd_image::{Entry, Fat, Layout, SparseDisk, Table, build_image, list};

fn tools_missing() -> bool {
    match linux_tools::missing() {
        Some(tool) => {
            println!("skipped: mkfs.fat/mcopy not installed ({tool} is missing)");
            true
        }
        None => false,
    }
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sd-image-lt-{}-{name}", std::process::id()))
}

/// Builds with the Linux tools into a temp file and loads it.
fn tools_image(name: &str, layout: &Layout, entries: &[Entry]) -> SparseDisk {
    let path = temp_path(name);
    linux_tools::build(&path, layout, entries).unwrap_or_else(|e| panic!("{name}: {e}"));
    let disk = SparseDisk::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    disk
}

/// A tool by name on PATH or in the sbin/bin folders.
fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[test]
fn fat32_small_by_the_tools_reads_back_through_embedded_sdmmc() {
    if tools_missing() {
        return;
    }
    let files = Files::new();
    let mut disk = tools_image("fat32.img", &Layout::fat32_small(), &files.entries());
    files.check_with_embedded_sdmmc(&disk);
    let listing = list(&mut disk).unwrap();
    assert_eq!(listing.table, Table::Mbr { type_id: 0x0C });
    assert_eq!(listing.start_lba, 2048);
    assert_eq!((listing.fat, listing.cluster_bytes), (Fat::Fat32, 512));
    assert_eq!(listing.label, "MODEMFW");
    assert_eq!(listing.volume_id, 0x5344_4331);
}

#[test]
fn fat16_small_by_the_tools_reads_back_through_embedded_sdmmc() {
    if tools_missing() {
        return;
    }
    let files = Files::new();
    let mut disk = tools_image("fat16.img", &Layout::fat16_small(), &files.entries());
    files.check_with_embedded_sdmmc(&disk);
    let listing = list(&mut disk).unwrap();
    assert_eq!(listing.table, Table::Mbr { type_id: 0x0E });
    assert_eq!((listing.fat, listing.cluster_bytes), (Fat::Fat16, 2048));
}

#[test]
fn fat32_for_7_mb_by_the_tools_reads_back_through_embedded_sdmmc() {
    if tools_missing() {
        return;
    }
    let files = Files::new();
    let big = random(8, 7_000_000);
    let mut entries = files.entries();
    let layout = Layout::fat32_for(7_000_000);
    let mut disk = tools_image("fat32-7mb.img", &layout, &entries);
    files.check_with_embedded_sdmmc(&disk);
    let listing = list(&mut disk).unwrap();
    assert_eq!((listing.fat, listing.cluster_bytes), (Fat::Fat32, 4096));
    assert!(listing.cluster_count >= 65_525, "{}", listing.cluster_count);

    entries.push(Entry {
        path: "FW/GM02S-7MB.dup",
        data: &big,
    });
    // The 7 MB file alone on its card, through the tools.
    let disk = tools_image("fat32-big.img", &layout, &entries[5..]);
    assert_eq!(read_long(&disk, "FW/GM02S-7MB.dup").unwrap(), big);
}

#[test]
fn fat12_superfloppy_and_gpt_by_the_tools_are_refused_by_embedded_sdmmc() {
    if tools_missing() {
        return;
    }
    let entries = [Entry {
        path: "CATM1-38638.dup",
        data: b"hello",
    }];
    let mut disk = tools_image("fat12.img", &Layout::fat12_tiny(), &entries);
    assert_eq!(list(&mut disk).unwrap().fat, Fat::Fat12);
    assert!(matches!(
        open_volume(&disk),
        Err(Error::FormatError("Partition type not supported"))
    ));
    let fat12_as_fat16 = Layout {
        table: Table::Mbr { type_id: 0x06 },
        ..Layout::fat12_tiny()
    };
    let disk = tools_image("fat12b.img", &fat12_as_fat16, &entries);
    assert!(matches!(
        open_volume(&disk),
        Err(Error::FormatError("FAT12 is unsupported"))
    ));

    for (name, table) in [
        ("floppy.img", Table::Superfloppy),
        ("gpt.img", Table::GptProtective),
    ] {
        let layout = Layout {
            table,
            ..Layout::fat32_small()
        };
        let mut disk = tools_image(name, &layout, &entries);
        let listing = list(&mut disk).unwrap();
        assert_eq!(listing.table, table);
        assert_eq!(listing.files[0].path, "CATM1-38638.dup");
        assert!(
            matches!(
                open_volume(&disk),
                Err(Error::FormatError("Partition type not supported"))
            ),
            "{name}"
        );
    }
}

#[test]
fn invalid_layouts_are_refused_before_any_tool_runs() {
    let path = temp_path("never.img");
    let layout = Layout {
        cluster_bytes: 4096,
        ..Layout::fat32_small()
    };
    let error = linux_tools::build(&path, &layout, &[]).unwrap_err();
    assert!(matches!(error, ToolError::Rejected(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("FAT32 needs at least 65,525 clusters"),
        "{error}"
    );
    let error = linux_tools::build(
        &path,
        &Layout::fat32_small(),
        &[
            Entry {
                path: "a",
                data: b"",
            },
            Entry {
                path: "A",
                data: b"",
            },
        ],
    )
    .unwrap_err();
    assert!(matches!(error, ToolError::Rejected(_)), "{error:?}");
    assert!(!path.exists());
}

/// `sfdisk` writes the same MBR partition entry (CHS included) as our own table writer.
#[test]
fn sfdisk_and_sd_image_write_the_same_mbr_entry() {
    if tools_missing() {
        return;
    }
    let ours = build_image(&Layout::fat32_small(), &[]).unwrap();
    let theirs = tools_image("mbr.img", &Layout::fat32_small(), &[]);
    let entry = |disk: &SparseDisk| {
        let mut block = [0u8; 512];
        disk.read_block(0, &mut block);
        block[446..462].to_vec()
    };
    assert_eq!(entry(&ours), entry(&theirs));
}

/// The pure-Rust cards pass the Linux tools: `sfdisk --dump` reads the table, `fsck.fat -n` finds
/// the volume clean, and `mtype` reads every file back byte for byte.
#[test]
fn pure_rust_cards_pass_the_linux_tools_checks() {
    if tools_missing() {
        return;
    }
    let (Some(sfdisk), Some(fsck), Some(mtype)) = (tool("sfdisk"), tool("fsck.fat"), tool("mtype"))
    else {
        println!("skipped: sfdisk, fsck.fat or mtype not installed");
        return;
    };
    let files = Files::new();
    for (name, layout) in [
        ("rs-fat32.img", Layout::fat32_small()),
        ("rs-fat16.img", Layout::fat16_small()),
        (
            "rs-fat12.img",
            Layout {
                size_bytes: 4 << 20,
                ..Layout::fat12_tiny()
            },
        ),
        (
            "rs-gpt.img",
            Layout {
                table: Table::GptProtective,
                ..Layout::fat32_small()
            },
        ),
    ] {
        let entries = files.entries();
        let entries = if layout.fat == Fat::Fat12 {
            &entries[..2]
        } else {
            &entries[..]
        };
        let disk = build_image(&layout, entries).unwrap();
        let path = temp_path(name);
        disk.save(&path).unwrap();

        let dump = Command::new(&sfdisk)
            .arg("--dump")
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&dump.stdout);
        assert!(
            dump.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        assert!(
            String::from_utf8_lossy(&dump.stderr).trim().is_empty(),
            "{name}: sfdisk complained: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let want_label = if layout.table == Table::GptProtective {
            "label: gpt"
        } else {
            "label: dos"
        };
        assert!(text.contains(want_label), "{name}: {text}");
        assert!(text.contains("start=        2048"), "{name}: {text}");

        // fsck.fat has no offset option: check the partition extracted to a file of its own.
        let geometry = layout.geometry().unwrap();
        let mut volume = SparseDisk::new(u64::from(geometry.volume_sectors) * 512);
        let mut block = [0u8; 512];
        for i in 0..u64::from(geometry.volume_sectors) {
            disk.read_block(u64::from(geometry.volume_start_lba) + i, &mut block);
            if block != [0; 512] {
                volume.write_block(i, &block);
            }
        }
        let volume_path = temp_path(&format!("vol-{name}"));
        volume.save(&volume_path).unwrap();
        let fsck_out = Command::new(&fsck)
            .arg("-n")
            .arg("-v")
            .arg(&volume_path)
            .output()
            .unwrap();
        assert!(
            fsck_out.status.success(),
            "{name}: fsck.fat -n failed:\n{}{}",
            String::from_utf8_lossy(&fsck_out.stdout),
            String::from_utf8_lossy(&fsck_out.stderr)
        );
        std::fs::remove_file(&volume_path).unwrap();

        let image = format!(
            "{}@@{}",
            path.display(),
            u64::from(geometry.volume_start_lba) * 512
        );
        for entry in entries {
            let out = Command::new(&mtype)
                .env("MTOOLS_SKIP_CHECK", "1")
                .arg("-i")
                .arg(&image)
                .arg(format!("::/{}", entry.path))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name} {}: {}",
                entry.path,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stdout == entry.data,
                "{name} {}: mtype read other bytes",
                entry.path
            );
        }
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn missing_reports_a_tool_name_or_none() {
    match linux_tools::missing() {
        Some(tool) => assert!(["mkfs.fat", "mcopy", "mmd", "sfdisk"].contains(&tool)),
        None => assert!(tool("mkfs.fat").is_some() && tool("mcopy").is_some()),
    }
}

/// Facts about `embedded-sdmmc` 0.10's long-name lookup that the library's file search must
/// handle (they show on cards written by Linux or Windows, not on the pure-Rust ones, because
/// `fatfs` writes a long-name entry for every name):
/// - a name that fits 8.3 (`updater.elf`, `UPDATER.ELF`) is stored by mtools as an 8.3 entry
///   only (lower case via the NT case bits), so `open_long_name_file_in_dir` does NOT find it;
///   `open_file_in_dir` (8.3, case-insensitive) does;
/// - `open_long_name_file_in_dir` compares case-sensitively: `catm1-38638.dup` does not find
///   `CATM1-38638.dup`.
#[test]
fn long_name_lookup_facts_for_cards_written_by_the_tools() {
    if tools_missing() {
        return;
    }
    let data = random(31, 5_000);
    let entries = [
        Entry {
            path: "updater.elf",
            data: &data,
        },
        Entry {
            path: "MTOOLS.ELF",
            data: &data,
        },
        Entry {
            path: "CATM1-38638.dup",
            data: &data,
        },
    ];
    let tools = tools_image("facts.img", &Layout::fat16_small(), &entries);
    for name in ["updater.elf", "MTOOLS.ELF"] {
        assert!(
            matches!(read_long(&tools, name), Err(Error::NotFound)),
            "{name}: mtools wrote no long-name entry, so the long-name lookup misses it"
        );
        assert_eq!(
            read_short(&tools, name).unwrap(),
            data,
            "{name} by its 8.3 name"
        );
    }
    assert_eq!(read_short(&tools, "UPDATER.ELF").unwrap(), data);
    assert_eq!(read_long(&tools, "CATM1-38638.dup").unwrap(), data);
    assert!(matches!(
        read_long(&tools, "catm1-38638.dup"),
        Err(Error::NotFound)
    ));
    // The listing shows the names as a person sees them (mtools' case bits included).
    let mut tools = tools;
    let names: Vec<String> = list(&mut tools)
        .unwrap()
        .files
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(names, ["updater.elf", "MTOOLS.ELF", "CATM1-38638.dup"]);

    // The pure-Rust card has long-name entries for every name, so both lookups work.
    let ours = build_image(&Layout::fat16_small(), &entries).unwrap();
    assert_eq!(read_long(&ours, "updater.elf").unwrap(), data);
    assert_eq!(read_long(&ours, "MTOOLS.ELF").unwrap(), data);
    assert_eq!(read_short(&ours, "UPDATER.ELF").unwrap(), data);
}
