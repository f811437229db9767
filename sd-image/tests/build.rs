//! `build`, `build_image`, `list` and `Layout` checks, in pure Rust.

mod common;

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

use common::{Files, random};
use sd_image::{
    BuildError, Entry, Fat, Layout, ListedFile, SparseDisk, Table, build, build_image, list,
};

const MIB: u64 = 1024 * 1024;

fn sector(disk: &SparseDisk, lba: u64) -> [u8; 512] {
    let mut block = [0u8; 512];
    disk.read_block(lba, &mut block);
    block
}

#[test]
fn listing_of_fat32_small() {
    let files = Files::new();
    let mut disk = build_image(&Layout::fat32_small(), &files.entries()).unwrap();
    let listing = list(&mut disk).unwrap();
    assert_eq!(listing.table, Table::Mbr { type_id: 0x0C });
    assert_eq!(listing.start_lba, 2048);
    assert_eq!(listing.volume_sectors, 40 * 2048 - 2048);
    assert_eq!(listing.fat, Fat::Fat32);
    assert_eq!(listing.cluster_bytes, 512);
    assert_eq!(listing.cluster_count, 78_634);
    assert_eq!(listing.label, "MODEMFW");
    assert_eq!(listing.dirs, ["FW", "Firmware Archive"]);
    let file = |path: &str, size| ListedFile {
        path: path.to_owned(),
        size,
    };
    assert_eq!(
        listing.files,
        [
            file("CATM1-38638.dup", 300_000),
            file("updater-37781.elf", 200_000),
            file("FW/GM02RB6Q_LR8.0.5.13-59577.dup", 420_001),
            file("FW/empty-file.bin", 0),
            file("Firmware Archive/upgdiff_33080-to-39529.dup", 123_457),
        ]
    );
    // Free space = all clusters minus the files' and the folders' clusters (512-byte clusters).
    let used: u64 = [300_000u64, 200_000, 420_001, 123_457]
        .iter()
        .map(|n| n.div_ceil(512))
        .sum::<u64>()
        + 3; // root, FW, Firmware Archive: one cluster each
    assert_eq!(listing.free_bytes, (78_634 - used) * 512);
    let text = listing.to_string();
    assert!(
        text.contains("MBR (partition type 0x0C), partition 1 at LBA 2048"),
        "{text}"
    );
    assert!(
        text.contains("FAT32, 512-byte clusters, 78,634 clusters"),
        "{text}"
    );
    assert!(
        text.contains("420,001  FW/GM02RB6Q_LR8.0.5.13-59577.dup"),
        "{text}"
    );
    assert!(text.ends_with("5 file(s), 1,043,458 bytes"), "{text}");
}

#[test]
fn images_are_reproducible() {
    let files = Files::new();
    let a = build_image(&Layout::fat32_small(), &files.entries()).unwrap();
    let b = build_image(&Layout::fat32_small(), &files.entries()).unwrap();
    assert_eq!(a, b);
    let c = build_image(&Layout::fat16_small(), &files.entries()).unwrap();
    assert_ne!(a, c);
}

/// Building onto a growable `Cursor<Vec<u8>>` gives exactly the bytes of the sparse build.
#[test]
fn growable_disk_gets_the_same_bytes() {
    let files = Files::new();
    let layout = Layout::fat16_small();
    let mut cursor = Cursor::new(Vec::new());
    build(&mut cursor, &layout, &files.entries()).unwrap();
    let bytes = cursor.into_inner();
    assert_eq!(bytes.len() as u64, layout.size_bytes);
    let mut sparse = build_image(&layout, &files.entries()).unwrap();
    let mut expected = Vec::new();
    sparse.read_to_end(&mut expected).unwrap();
    assert!(bytes == expected);
}

#[test]
fn disk_too_small_and_not_growable() {
    let mut disk = SparseDisk::new(MIB);
    let error = build(&mut disk, &Layout::fat32_small(), &[]).unwrap_err();
    assert!(
        matches!(
            error,
            BuildError::DiskTooSmall {
                needed_bytes: 41_943_040,
                actual_bytes: 1_048_576
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("cannot grow"), "{error}");
}

#[test]
fn boot_sector_facts_and_hidden_sectors() {
    let disk = build_image(&Layout::fat32_small(), &[]).unwrap();
    let mbr = sector(&disk, 0);
    assert_eq!(&mbr[510..], &[0x55, 0xAA]);
    assert_eq!(mbr[446 + 4], 0x0C);
    let boot = sector(&disk, 2048);
    let backup = sector(&disk, 2048 + 6);
    for bpb in [&boot, &backup] {
        assert_eq!(bpb[0], 0xEB);
        assert_eq!(
            u16::from_le_bytes([bpb[11], bpb[12]]),
            512,
            "bytes per sector"
        );
        assert_eq!(bpb[13], 1, "sectors per cluster");
        assert_eq!(
            u32::from_le_bytes(bpb[28..32].try_into().unwrap()),
            2048,
            "hidden sectors"
        );
        assert_eq!(
            u32::from_le_bytes(bpb[32..36].try_into().unwrap()),
            79_872,
            "total sectors"
        );
        assert_eq!(&bpb[71..82], b"MODEMFW    ");
        assert_eq!(&bpb[82..90], b"FAT32   ");
        assert_eq!(&bpb[510..], &[0x55, 0xAA]);
    }
    assert_eq!(boot, backup);
}

#[test]
fn gpt_protective_layout() {
    let data = random(5, 10_000);
    let entries = [Entry {
        path: "FW/CATM1-38638.dup",
        data: &data,
    }];
    let layout = Layout {
        table: Table::GptProtective,
        ..Layout::fat32_small()
    };
    let mut disk = build_image(&layout, &entries).unwrap();
    let mbr = sector(&disk, 0);
    assert_eq!(
        &mbr[446..462],
        &[
            0x00, 0x00, 0x02, 0x00, 0xEE, 0xFF, 0xFF, 0xFF, // status, CHS, type 0xEE, CHS
            0x01, 0x00, 0x00, 0x00, 0xFF, 0x3F, 0x01, 0x00, // LBA 1, 81,919 sectors
        ]
    );
    let last = disk.blocks() - 1;
    for (lba, mine, other, entries_lba) in [(1, 1, last, 2), (last, last, 1, last - 32)] {
        let h = sector(&disk, lba);
        assert_eq!(&h[..8], b"EFI PART");
        assert_eq!(u64::from_le_bytes(h[24..32].try_into().unwrap()), mine);
        assert_eq!(u64::from_le_bytes(h[32..40].try_into().unwrap()), other);
        assert_eq!(u64::from_le_bytes(h[40..48].try_into().unwrap()), 34);
        assert_eq!(u64::from_le_bytes(h[48..56].try_into().unwrap()), last - 33);
        assert_eq!(
            u64::from_le_bytes(h[72..80].try_into().unwrap()),
            entries_lba
        );
        let entry = sector(&disk, entries_lba);
        assert_eq!(u64::from_le_bytes(entry[32..40].try_into().unwrap()), 2048);
        assert_eq!(
            u64::from_le_bytes(entry[40..48].try_into().unwrap()),
            last - 33
        );
    }
    let listing = list(&mut disk).unwrap();
    assert_eq!(listing.table, Table::GptProtective);
    assert_eq!(listing.start_lba, 2048);
    assert_eq!(listing.fat, Fat::Fat32);
    assert_eq!(listing.files[0].path, "FW/CATM1-38638.dup");

    // A corrupted header is noticed by its CRC.
    let mut header = sector(&disk, 1);
    header[40] ^= 1;
    disk.write_block(1, &header);
    let error = list(&mut disk).unwrap_err();
    assert!(error.to_string().contains("GPT header CRC-32"), "{error}");
}

#[test]
fn superfloppy_layout() {
    let layout = Layout {
        table: Table::Superfloppy,
        ..Layout::fat16_small()
    };
    let mut disk = build_image(
        &layout,
        &[Entry {
            path: "x.bin",
            data: b"abc",
        }],
    )
    .unwrap();
    let boot = sector(&disk, 0);
    assert_eq!(boot[0], 0xEB);
    assert_eq!(&boot[54..62], b"FAT16   ");
    assert_eq!(
        u32::from_le_bytes(boot[28..32].try_into().unwrap()),
        0,
        "hidden sectors"
    );
    let listing = list(&mut disk).unwrap();
    assert_eq!(listing.table, Table::Superfloppy);
    assert_eq!((listing.start_lba, listing.volume_sectors), (0, 32_768));
    assert_eq!(listing.fat, Fat::Fat16);
    assert!(listing.to_string().contains("none (superfloppy)"));
}

#[test]
fn list_refuses_what_is_not_a_card_and_never_writes() {
    let mut zeros = SparseDisk::new(4 * MIB);
    let error = list(&mut zeros).unwrap_err();
    assert!(matches!(error, BuildError::NotACard { .. }), "{error:?}");
    assert!(error.to_string().contains("55 AA"), "{error}");

    let mut garbage = Cursor::new(random(11, 64 * 1024));
    garbage.get_mut()[510] = 0x55;
    garbage.get_mut()[511] = 0xAA;
    assert!(list(&mut garbage).is_err());

    let mut tiny = Cursor::new(vec![0u8; 100]);
    assert!(matches!(list(&mut tiny), Err(BuildError::NotACard { .. })));

    // A partition that runs past the end of the card.
    let mut disk = build_image(&Layout::fat16_small(), &[]).unwrap();
    let mut mbr = sector(&disk, 0);
    mbr[458..462].copy_from_slice(&1_000_000u32.to_le_bytes());
    disk.write_block(0, &mbr);
    assert!(matches!(list(&mut disk), Err(BuildError::NotACard { .. })));

    let files = Files::new();
    let mut disk = build_image(&Layout::fat16_small(), &files.entries()).unwrap();
    let before = disk.clone();
    list(&mut disk).unwrap();
    assert_eq!(disk, before);
}

#[test]
fn layout_errors_say_what_to_do() {
    let check = |layout: Layout, expected: &str| {
        let error = build_image(&layout, &[]).unwrap_err();
        assert_eq!(error.to_string(), expected, "{error:?}");
        assert!(layout.geometry().is_err());
    };
    check(
        Layout {
            cluster_bytes: 4096,
            ..Layout::fat32_small()
        },
        "FAT32 needs at least 65,525 clusters; 40 MiB with 4096-byte clusters has 9,963: use a \
         larger size or smaller clusters",
    );
    check(
        Layout {
            size_bytes: 64 * MIB,
            cluster_bytes: 512,
            ..Layout::fat16_small()
        },
        "FAT16 allows at most 65,524 clusters; 64 MiB with 512-byte clusters has 127,991: use a \
         smaller size or larger clusters",
    );
    check(
        Layout {
            fat: Fat::Fat16,
            ..Layout::fat12_tiny()
        },
        "FAT16 needs at least 4,085 clusters; 2 MiB with 1024-byte clusters has 1,003: use a \
         larger size or smaller clusters",
    );
    for cluster_bytes in [0, 256, 3000, 65_536] {
        let layout = Layout {
            cluster_bytes,
            ..Layout::fat32_small()
        };
        assert!(matches!(
            layout.geometry(),
            Err(BuildError::ClusterSize { .. })
        ));
    }
    for size_bytes in [0, 40 * MIB + 1] {
        let layout = Layout {
            size_bytes,
            ..Layout::fat32_small()
        };
        assert!(matches!(
            layout.geometry(),
            Err(BuildError::SizeNotSectors { .. })
        ));
    }
    let layout = Layout {
        size_bytes: 4 << 40,
        ..Layout::fat32_small()
    };
    assert!(matches!(
        layout.geometry(),
        Err(BuildError::SizeTooLarge { .. })
    ));
    for (table, start_lba) in [
        (Table::Mbr { type_id: 0x0C }, 0),
        (Table::Mbr { type_id: 0x0C }, 81_920),
        (Table::GptProtective, 33),
        (Table::GptProtective, 81_920 - 33),
    ] {
        let layout = Layout {
            table,
            start_lba,
            ..Layout::fat32_small()
        };
        assert!(
            matches!(layout.geometry(), Err(BuildError::BadStart { .. })),
            "{table:?} at {start_lba}"
        );
    }
    let layout = Layout {
        size_bytes: 2048 * 512 + 20 * 512,
        ..Layout::fat12_tiny()
    };
    assert!(matches!(
        layout.geometry(),
        Err(BuildError::VolumeTooSmall { .. })
    ));
    let layout = Layout {
        label: "way too long a label".to_owned(),
        ..Layout::fat32_small()
    };
    assert!(matches!(layout.geometry(), Err(BuildError::Label { .. })));
}

#[test]
fn entry_errors() {
    let layout = Layout::fat12_tiny();
    let big = vec![1u8; 3 * MIB as usize];
    let error = build_image(
        &layout,
        &[Entry {
            path: "big.bin",
            data: &big,
        }],
    )
    .unwrap_err();
    assert!(matches!(error, BuildError::NoSpace { .. }), "{error:?}");
    assert!(error.to_string().contains("use a larger card"), "{error}");

    let error = build_image(
        &layout,
        &[
            Entry {
                path: "a.bin",
                data: b"1",
            },
            Entry {
                path: "A.BIN",
                data: b"2",
            },
        ],
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "file \"A.BIN\" is given twice (FAT names ignore case): give each file once"
    );
    let error = build_image(
        &layout,
        &[Entry {
            path: "a:b",
            data: b"1",
        }],
    )
    .unwrap_err();
    assert!(matches!(error, BuildError::BadPath { .. }), "{error:?}");
}

/// Lower-case labels are stored upper-case; an empty label is "NO NAME".
#[test]
fn labels_in_the_listing() {
    for (label, stored) in [("sd card", "SD CARD"), ("", "NO NAME")] {
        let layout = Layout {
            label: label.to_owned(),
            ..Layout::fat16_small()
        };
        let mut disk = build_image(&layout, &[]).unwrap();
        assert_eq!(list(&mut disk).unwrap().label, stored);
    }
}

/// `build` onto a real file (not sparse, growable) works and `list` reads it.
#[test]
fn build_onto_a_file() {
    let path = std::env::temp_dir().join(format!("sd-image-build-{}.img", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let data = random(21, 70_000);
    build(
        &mut file,
        &Layout::fat16_small(),
        &[Entry {
            path: "FW/x y.bin",
            data: &data,
        }],
    )
    .unwrap();
    file.flush().unwrap();
    assert_eq!(file.seek(SeekFrom::End(0)).unwrap(), 16 * MIB);
    let listing = list(&mut file).unwrap();
    assert_eq!(
        listing.files,
        [ListedFile {
            path: "FW/x y.bin".to_owned(),
            size: 70_000
        }]
    );
    drop(file);
    let disk = SparseDisk::load(&path).unwrap();
    assert_eq!(common::read_long(&disk, "FW/x y.bin").unwrap(), data);
    std::fs::remove_file(&path).unwrap();
}
