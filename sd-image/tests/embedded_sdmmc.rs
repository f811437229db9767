//! Cards built in pure Rust open in `embedded-sdmmc` 0.10 (the reader the library uses), and the
//! layouts it must refuse are refused.

mod common;

use common::{Files, long_names, open_volume, random, read_long};
use embedded_sdmmc::Error;
use sd_image::{Entry, Fat, Layout, Table, build_image};

#[test]
fn fat32_small_reads_back_through_embedded_sdmmc() {
    let files = Files::new();
    let disk = build_image(&Layout::fat32_small(), &files.entries()).unwrap();
    files.check_with_embedded_sdmmc(&disk);
}

#[test]
fn fat16_small_reads_back_through_embedded_sdmmc() {
    let files = Files::new();
    let disk = build_image(&Layout::fat16_small(), &files.entries()).unwrap();
    files.check_with_embedded_sdmmc(&disk);
}

#[test]
fn fat32_for_7_mb_reads_back_through_embedded_sdmmc() {
    let files = Files::new();
    let layout = Layout::fat32_for(7_000_000);
    assert_eq!(layout.size_bytes, 258 * 1024 * 1024);
    let disk = build_image(&layout, &files.entries()).unwrap();
    files.check_with_embedded_sdmmc(&disk);
}

/// A realistic firmware-sized file (7 MB, like a `.dup`) on the card `fat32_for` sizes for it.
#[test]
fn a_7_mb_file_on_fat32_for_reads_back_and_stays_sparse() {
    let data = random(7, 7_000_000);
    let entries = [Entry {
        path: "GM02RB6Q_LR8.0.5.13-59577.dup",
        data: &data,
    }];
    let disk = build_image(&Layout::fat32_for(data.len() as u64), &entries).unwrap();
    // 7,000,000 bytes = 13,672 blocks of data, plus a handful of FAT/directory blocks.
    assert!(
        disk.stored_blocks() < 13_672 + 64,
        "{}",
        disk.stored_blocks()
    );
    assert_eq!(
        read_long(&disk, "GM02RB6Q_LR8.0.5.13-59577.dup").unwrap(),
        data
    );
}

#[test]
fn fat12_tiny_is_refused_by_embedded_sdmmc() {
    let files = [Entry {
        path: "CATM1-38638.dup",
        data: b"tiny",
    }];
    let disk = build_image(&Layout::fat12_tiny(), &files).unwrap();
    // Type 0x01 (FAT12) is not among the partition types embedded-sdmmc opens.
    assert!(matches!(
        open_volume(&disk),
        Err(Error::FormatError("Partition type not supported"))
    ));
    // Behind a FAT16 type byte it reads the BPB and refuses by the cluster count.
    let layout = Layout {
        table: Table::Mbr { type_id: 0x06 },
        ..Layout::fat12_tiny()
    };
    let disk = build_image(&layout, &files).unwrap();
    assert!(matches!(
        open_volume(&disk),
        Err(Error::FormatError("FAT12 is unsupported"))
    ));
}

#[test]
fn superfloppy_gpt_and_foreign_partition_types_are_refused() {
    let files = [Entry {
        path: "CATM1-38638.dup",
        data: b"x",
    }];
    for table in [
        Table::Superfloppy,
        Table::GptProtective,
        Table::Mbr { type_id: 0x83 },
        Table::Mbr { type_id: 0x07 },
    ] {
        let layout = Layout {
            table,
            ..Layout::fat32_small()
        };
        let disk = build_image(&layout, &files).unwrap();
        let result = open_volume(&disk);
        assert!(
            matches!(
                result,
                Err(Error::FormatError("Partition type not supported"))
            ),
            "{table:?}: {result:?}"
        );
    }
}

/// embedded-sdmmc decides FAT16/FAT32 by cluster count, not by the partition type byte: a FAT16
/// volume behind type 0x0C and a FAT32 volume behind 0x0B both open and read.
#[test]
fn the_fat_type_comes_from_the_cluster_count_not_the_type_byte() {
    let data = random(9, 5_000);
    let entries = [Entry {
        path: "a-long-name.bin",
        data: &data,
    }];
    for layout in [
        Layout {
            table: Table::Mbr { type_id: 0x0C },
            ..Layout::fat16_small()
        },
        Layout {
            table: Table::Mbr { type_id: 0x0B },
            ..Layout::fat32_small()
        },
        Layout {
            table: Table::Mbr { type_id: 0x04 },
            ..Layout::fat16_small()
        },
    ] {
        let disk = build_image(&layout, &entries).unwrap();
        assert_eq!(
            read_long(&disk, "a-long-name.bin").unwrap(),
            data,
            "{layout:?}"
        );
        assert_eq!(
            long_names(&disk, "").unwrap(),
            [("a-long-name.bin".to_owned(), 5_000, false)]
        );
    }
    // And the FAT type the layout asked for is what sd_image's own listing reports.
    let mut disk = build_image(&Layout::fat16_small(), &entries).unwrap();
    assert_eq!(sd_image::list(&mut disk).unwrap().fat, Fat::Fat16);
}

/// Every entry carries the fixed timestamp 2000-01-01 00:00:00 (a valid FAT date, unlike the
/// all-zero date `fatfs` writes without a clock).
#[test]
fn timestamps_are_fixed_and_valid() {
    let files = Files::new();
    let disk = build_image(&Layout::fat32_small(), &files.entries()).unwrap();
    let manager = common::manager(&disk);
    let volume = manager.open_volume(embedded_sdmmc::VolumeIdx(0)).unwrap();
    let root = volume.open_root_dir().unwrap();
    let mut seen = 0;
    root.iterate_dir(|entry| {
        if entry.attributes.is_volume() {
            return core::ops::ControlFlow::Continue(());
        }
        seen += 1;
        for stamp in [&entry.mtime, &entry.ctime] {
            assert_eq!(
                (
                    stamp.year_since_1970,
                    stamp.zero_indexed_month,
                    stamp.zero_indexed_day
                ),
                (30, 0, 0),
                "{}",
                entry.name
            );
            assert_eq!((stamp.hours, stamp.minutes, stamp.seconds), (0, 0, 0));
        }
        core::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(seen, 4);
}
