//! The SD card layout probe: hand-built sectors for every `CardProblem`, FAT16/FAT32 geometry checked
//! against numbers worked out by hand, property tests (no parser panics on arbitrary bytes, geometry
//! invariants), and real images made with `sfdisk` + `mkfs.fat`, cross-checked with `embedded-sdmmc`.
//!
//! Sectors are written byte by byte from the published layouts (MBR partition entry at 446 + 16·i:
//! status +0, type +4, LBA +8, sectors +12; BPB offsets from Microsoft's FAT specification), never by
//! an encoder of the code under test.

use modem_upgrade::storage::card::{
    CardLayout, CardProblem, DirEntryFacts, DirLocation, FatGeometry, FatKind, FileSystemName,
    LONG_NAME_CAP, Partition, ProbeError, SECTOR_LEN, Sector, check_fs_info, identify_boot_sector,
    list_dir, parse_boot_sector, parse_dir_entry, parse_fat_geometry, parse_mbr, probe,
};
use proptest::prelude::*;
use std::collections::HashMap;

// ---------------------------------------------------------------------------------------------
// Hand-written sector builders
// ---------------------------------------------------------------------------------------------

fn put16(s: &mut [u8], at: usize, v: u16) {
    s[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(s: &mut [u8], at: usize, v: u32) {
    s[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// `55 AA` at 510.
fn sign(s: &mut Sector) {
    s[510] = 0x55;
    s[511] = 0xAA;
}

/// One MBR entry as written at 446 + 16·index.
#[derive(Clone, Copy)]
struct Entry {
    index: usize,
    status: u8,
    type_id: u8,
    start: u32,
    blocks: u32,
}

fn entry(index: usize, type_id: u8, start: u32, blocks: u32) -> Entry {
    Entry {
        index,
        status: 0x00,
        type_id,
        start,
        blocks,
    }
}

/// An MBR with zero boot code (as the SD Association's formatter writes it) and the given entries.
fn mbr(entries: &[Entry]) -> Sector {
    let mut s = [0u8; SECTOR_LEN];
    for e in entries {
        let at = 446 + 16 * e.index;
        s[at] = e.status;
        // CHS fields (+1..+4, +5..+8) deliberately left as garbage-free 0xFE filler: LBA is used.
        s[at + 1..at + 4].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
        s[at + 4] = e.type_id;
        s[at + 5..at + 8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
        put32(&mut s, at + 8, e.start);
        put32(&mut s, at + 12, e.blocks);
    }
    sign(&mut s);
    s
}

/// BPB fields of a hand-made boot sector.
#[derive(Clone, Copy, Debug)]
struct Bpb {
    bytes_per_sector: u16,
    sectors_per_cluster: u8,
    reserved: u16,
    fats: u8,
    root_entries: u16,
    total16: u16,
    media: u8,
    fat_size16: u16,
    total32: u32,
    /// FAT32 part (written only when `fat32`).
    fat32: bool,
    fat_size32: u32,
    fs_version: u16,
    root_cluster: u32,
    fs_info: u16,
}

/// The FAT16 volume of the hand-computed test:
/// 32 MiB partition at LBA 2048: 65536 sectors, 4 sectors per cluster, 4 reserved, 2 FATs of 64
/// sectors, 512 root entries (= 512·32/512 = 32 sectors).
const FAT16_BPB: Bpb = Bpb {
    bytes_per_sector: 512,
    sectors_per_cluster: 4,
    reserved: 4,
    fats: 2,
    root_entries: 512,
    total16: 0, // 65536 does not fit BPB_TotSec16
    media: 0xF8,
    fat_size16: 64,
    total32: 65536,
    fat32: false,
    fat_size32: 0,
    fs_version: 0,
    root_cluster: 0,
    fs_info: 0,
};

/// The FAT32 volume of the hand-computed test: 1 000 000 sectors at LBA 8192, 8 sectors per
/// cluster, 32 reserved, 2 FATs of 977 sectors, root in cluster 2, FSInfo in sector 1.
const FAT32_BPB: Bpb = Bpb {
    bytes_per_sector: 512,
    sectors_per_cluster: 8,
    reserved: 32,
    fats: 2,
    root_entries: 0,
    total16: 0,
    media: 0xF8,
    fat_size16: 0,
    total32: 1_000_000,
    fat32: true,
    fat_size32: 977,
    fs_version: 0,
    root_cluster: 2,
    fs_info: 1,
};

/// A 1.44 MB floppy's BPB: 2880 sectors, 1 per cluster, 1 reserved, 2 FATs of 9, 224 root entries.
const FLOPPY_BPB: Bpb = Bpb {
    bytes_per_sector: 512,
    sectors_per_cluster: 1,
    reserved: 1,
    fats: 2,
    root_entries: 224,
    total16: 2880,
    media: 0xF0,
    fat_size16: 9,
    total32: 0,
    fat32: false,
    fat_size32: 0,
    fs_version: 0,
    root_cluster: 0,
    fs_info: 0,
};

/// A boot sector written at the offsets of Microsoft's FAT specification.
fn boot(b: &Bpb) -> Sector {
    let mut s = [0u8; SECTOR_LEN];
    s[0..3].copy_from_slice(&[0xEB, 0x58, 0x90]); // BS_jmpBoot
    s[3..11].copy_from_slice(b"MSWIN4.1"); // BS_OEMName
    put16(&mut s, 11, b.bytes_per_sector); // BPB_BytsPerSec
    s[13] = b.sectors_per_cluster; // BPB_SecPerClus
    put16(&mut s, 14, b.reserved); // BPB_RsvdSecCnt
    s[16] = b.fats; // BPB_NumFATs
    put16(&mut s, 17, b.root_entries); // BPB_RootEntCnt
    put16(&mut s, 19, b.total16); // BPB_TotSec16
    s[21] = b.media; // BPB_Media
    put16(&mut s, 22, b.fat_size16); // BPB_FATSz16
    put16(&mut s, 24, 63); // BPB_SecPerTrk
    put16(&mut s, 26, 255); // BPB_NumHeads
    put32(&mut s, 28, 0); // BPB_HiddSec
    put32(&mut s, 32, b.total32); // BPB_TotSec32
    if b.fat32 {
        put32(&mut s, 36, b.fat_size32); // BPB_FATSz32
        put16(&mut s, 42, b.fs_version); // BPB_FSVer
        put32(&mut s, 44, b.root_cluster); // BPB_RootClus
        put16(&mut s, 48, b.fs_info); // BPB_FSInfo
        put16(&mut s, 50, 6); // BPB_BkBootSec
        s[64] = 0x80; // BS_DrvNum
        s[66] = 0x29; // BS_BootSig
        s[71..82].copy_from_slice(b"NO NAME    ");
        s[82..90].copy_from_slice(b"FAT32   ");
    } else {
        s[36] = 0x80; // BS_DrvNum
        s[38] = 0x29; // BS_BootSig
        s[43..54].copy_from_slice(b"NO NAME    ");
        s[54..62].copy_from_slice(b"FAT16   ");
    }
    sign(&mut s);
    s
}

/// An exFAT boot sector: jump EB 76 90, "EXFAT   ", bytes 11..64 zero (MustBeZero).
fn exfat_boot() -> Sector {
    let mut s = [0u8; SECTOR_LEN];
    s[0..3].copy_from_slice(&[0xEB, 0x76, 0x90]);
    s[3..11].copy_from_slice(b"EXFAT   ");
    put32(&mut s, 72, 123_456_789); // VolumeLength (low half), so the sector is not all zeros
    sign(&mut s);
    s
}

/// An NTFS boot sector: jump EB 52 90, "NTFS    ", 512 bytes per sector, 8 per cluster.
fn ntfs_boot() -> Sector {
    let mut s = [0u8; SECTOR_LEN];
    s[0..3].copy_from_slice(&[0xEB, 0x52, 0x90]);
    s[3..11].copy_from_slice(b"NTFS    ");
    put16(&mut s, 11, 512);
    s[13] = 8;
    s[21] = 0xF8;
    sign(&mut s);
    s
}

/// A FAT32 FSInfo sector with its three signatures.
fn fs_info() -> Sector {
    let mut s = [0u8; SECTOR_LEN];
    put32(&mut s, 0, 0x4161_5252); // FSI_LeadSig
    put32(&mut s, 484, 0x6141_7272); // FSI_StrucSig
    put32(&mut s, 488, 0xFFFF_FFFF); // FSI_Free_Count unknown
    put32(&mut s, 492, 0xFFFF_FFFF); // FSI_Nxt_Free unknown
    put32(&mut s, 508, 0xAA55_0000); // FSI_TrailSig
    s
}

fn part(index: u8, type_id: u8, start_lba: u32, blocks: u32) -> Partition {
    Partition {
        index,
        type_id,
        bootable: false,
        start_lba,
        blocks,
    }
}

/// A device error for the probe's read closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadFailed(u32);

impl std::fmt::Display for ReadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sector {} unreadable", self.0)
    }
}

impl std::error::Error for ReadFailed {}

/// A sparse card: listed sectors, zeros elsewhere, an error past `card_blocks` and on `broken`.
struct Card {
    blocks: u32,
    sectors: HashMap<u32, Sector>,
    broken: Option<u32>,
    reads: Vec<u32>,
}

impl Card {
    fn new(blocks: u32, sectors: &[(u32, Sector)]) -> Self {
        Card {
            blocks,
            sectors: sectors.iter().copied().collect(),
            broken: None,
            reads: Vec::new(),
        }
    }

    fn probe(&mut self) -> Result<CardLayout, ProbeError<ReadFailed>> {
        let blocks = self.blocks;
        let sectors = &self.sectors;
        let broken = self.broken;
        let reads = &mut self.reads;
        probe(blocks, |lba, buf: &mut Sector| {
            reads.push(lba);
            if lba >= blocks || Some(lba) == broken {
                return Err(ReadFailed(lba));
            }
            *buf = sectors.get(&lba).copied().unwrap_or([0; SECTOR_LEN]);
            Ok(())
        })
    }
}

fn card_problem(card: &mut Card) -> CardProblem {
    match card.probe() {
        Err(ProbeError::Card(p)) => p,
        other => panic!("expected a card problem, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Valid layouts, geometry checked against hand arithmetic
// ---------------------------------------------------------------------------------------------

#[test]
fn fat16_geometry_matches_hand_arithmetic() {
    let p = part(0, 0x06, 2048, 65536);
    let g = parse_boot_sector(&boot(&FAT16_BPB), &p).unwrap();
    // root directory sectors = ceil(512 entries · 32 bytes / 512) = 32
    // metadata = 4 reserved + 2 FATs · 64 + 32 root = 164 sectors
    // clusters = (65536 − 164) / 4 = 65372 / 4 = 16343  → 4085 ≤ 16343 < 65525: FAT16
    assert_eq!(
        g,
        FatGeometry {
            kind: FatKind::Fat16,
            partition_lba: 2048,
            sectors_per_cluster: 4,
            reserved_sectors: 4,
            fats: 2,
            sectors_per_fat: 64,
            root_entries: 512,
            total_sectors: 65536,
            cluster_count: 16343,
            root_cluster: 0,
            fat_lba: 2052,      // 2048 + 4
            root_dir_lba: 2180, // 2052 + 2 · 64
            data_lba: 2212,     // 2180 + 32
        }
    );
    assert_eq!(g.bytes_per_cluster(), 2048); // 4 · 512
    assert_eq!(g.cluster_lba(0), None);
    assert_eq!(g.cluster_lba(1), None);
    assert_eq!(g.cluster_lba(2), Some(2212));
    assert_eq!(g.cluster_lba(10), Some(2244)); // 2212 + (10 − 2) · 4
    // the last cluster is 16343 + 1 = 16344: 2212 + 16342 · 4 = 67580; its 4 sectors end at 67584
    // = 2048 + 65536, the partition's end
    assert_eq!(g.cluster_lba(16344), Some(67580));
    assert_eq!(g.cluster_lba(16345), None);
    // FAT16 entry of cluster 300 at byte 600 of the FAT = sector 1, byte 88
    assert_eq!(g.fat_entry_location(300), Some((2053, 88)));
    assert_eq!(g.fat_entry_location(2), Some((2052, 4)));
    // cluster 16344 · 2 = 32688 = sector 63, byte 432: still inside the 64-sector FAT
    assert_eq!(g.fat_entry_location(16344), Some((2052 + 63, 432)));
    assert_eq!(g.fat_entry_location(16345), None);
    assert_eq!(g.fat_entry_location(1), None);
}

#[test]
fn fat32_geometry_matches_hand_arithmetic() {
    let p = part(0, 0x0C, 8192, 1_000_000);
    let g = parse_boot_sector(&boot(&FAT32_BPB), &p).unwrap();
    // metadata = 32 reserved + 2 · 977 = 1986 sectors (no fixed root on FAT32)
    // clusters = (1 000 000 − 1986) / 8 = 998 014 / 8 = 124 751 (remainder 6) → FAT32
    // FAT check: (124 751 + 2) · 4 = 499 012 bytes ≤ 977 · 512 = 500 224
    assert_eq!(
        g,
        FatGeometry {
            kind: FatKind::Fat32,
            partition_lba: 8192,
            sectors_per_cluster: 8,
            reserved_sectors: 32,
            fats: 2,
            sectors_per_fat: 977,
            root_entries: 0,
            total_sectors: 1_000_000,
            cluster_count: 124_751,
            root_cluster: 2,
            fat_lba: 8224,       // 8192 + 32
            root_dir_lba: 10178, // = data_lba: cluster 2
            data_lba: 10178,     // 8224 + 2 · 977
        }
    );
    assert_eq!(g.bytes_per_cluster(), 4096);
    assert_eq!(g.cluster_lba(5), Some(10202)); // 10178 + 3 · 8
    // last cluster 124 752: 10178 + 124 750 · 8 = 1 008 178, ends at 1 008 186 ≤ 8192 + 1 000 000
    assert_eq!(g.cluster_lba(124_752), Some(1_008_178));
    assert_eq!(g.cluster_lba(124_753), None);
    // FAT32 entry of cluster 200 at byte 800 = sector 1, byte 288
    assert_eq!(g.fat_entry_location(200), Some((8225, 288)));
    assert_eq!(g.fat_entry_location(124_753), None);
}

#[test]
fn probe_accepts_fat32_and_reads_three_sectors() {
    let mut card = Card::new(
        1_100_000,
        &[
            (0, mbr(&[entry(0, 0x0C, 8192, 1_000_000)])),
            (8192, boot(&FAT32_BPB)),
            (8193, fs_info()),
        ],
    );
    let layout = card.probe().unwrap();
    assert_eq!(layout.card_blocks, 1_100_000);
    assert_eq!(layout.partition, part(0, 0x0C, 8192, 1_000_000));
    assert_eq!(layout.geometry.kind, FatKind::Fat32);
    assert_eq!(layout.geometry.data_lba, 10178);
    assert_eq!(card.reads, vec![0, 8192, 8193]);
}

#[test]
fn probe_accepts_fat16_in_every_fat16_type_and_picks_the_fat_entry() {
    for type_id in [0x04, 0x06, 0x0E] {
        // entry 0 is a Linux partition, entry 2 the FAT16 one: the VolumeIdx to open is 2
        let mut sector0 = mbr(&[
            entry(0, 0x83, 100_000, 1000),
            entry(2, type_id, 2048, 65536),
        ]);
        sector0[446 + 32] = 0x80; // entry 2 bootable
        let mut card = Card::new(200_000, &[(0, sector0), (2048, boot(&FAT16_BPB))]);
        let layout = card.probe().unwrap();
        assert_eq!(
            layout.partition,
            Partition {
                index: 2,
                type_id,
                bootable: true,
                start_lba: 2048,
                blocks: 65536
            }
        );
        assert_eq!(layout.geometry.kind, FatKind::Fat16);
        assert_eq!(card.reads, vec![0, 2048], "FAT16 has no FSInfo sector");
    }
}

#[test]
fn fat32_type_0b_is_accepted_too() {
    let mut card = Card::new(
        1_008_192,
        &[
            (0, mbr(&[entry(1, 0x0B, 8192, 1_000_000)])),
            (8192, boot(&FAT32_BPB)),
            (8193, fs_info()),
        ],
    );
    assert_eq!(card.probe().unwrap().partition.index, 1);
}

#[test]
fn partition_table_accessors() {
    let t = parse_mbr(&mbr(&[
        entry(1, 0x07, 10, 20),
        entry(2, 0x0C, 30, 40),
        entry(3, 0x06, 50, 60),
    ]))
    .unwrap();
    assert_eq!(t.entries[0], None);
    assert_eq!(t.first_used(), Some(part(1, 0x07, 10, 20)));
    assert_eq!(t.first_fat(), Some(part(2, 0x0C, 30, 40)));
    let none = parse_mbr(&mbr(&[entry(0, 0x83, 1, 2)])).unwrap();
    assert_eq!(none.first_fat(), None);
}

#[test]
fn grub_style_jump_in_the_mbr_is_not_a_superfloppy() {
    // GRUB's boot.img starts EB 63 90 too, but its BPB area is not a plausible BPB.
    let mut s = mbr(&[entry(0, 0x0C, 2048, 4096)]);
    s[0..3].copy_from_slice(&[0xEB, 0x63, 0x90]);
    assert!(parse_mbr(&s).is_ok());
    assert_eq!(identify_boot_sector(&s), None);
}

#[test]
fn status_of_empty_entries_is_ignored() {
    let mut s = mbr(&[entry(0, 0x0C, 2048, 4096)]);
    s[446 + 16] = 0x7F; // entry 1: type 0 (empty), garbage status
    assert!(parse_mbr(&s).is_ok());
}

// ---------------------------------------------------------------------------------------------
// One hand-built card per CardProblem
// ---------------------------------------------------------------------------------------------

#[test]
fn no_mbr_signature() {
    assert_eq!(
        parse_mbr(&[0u8; SECTOR_LEN]),
        Err(CardProblem::NoMbrSignature { found: [0, 0] })
    );
    let mut s = mbr(&[entry(0, 0x0C, 2048, 4096)]);
    s[511] = 0xAB;
    assert_eq!(
        parse_mbr(&s),
        Err(CardProblem::NoMbrSignature {
            found: [0x55, 0xAB]
        })
    );
    let mut card = Card::new(10, &[]);
    assert_eq!(
        card_problem(&mut card),
        CardProblem::NoMbrSignature { found: [0, 0] }
    );
}

#[test]
fn superfloppies_are_named_by_what_they_hold() {
    let cases = [
        (boot(&FAT32_BPB), FileSystemName::Fat32),
        (boot(&FAT16_BPB), FileSystemName::Fat16),
        (boot(&FLOPPY_BPB), FileSystemName::Fat12),
        (exfat_boot(), FileSystemName::ExFat),
        (ntfs_boot(), FileSystemName::Ntfs),
    ];
    for (sector0, file_system) in cases {
        assert_eq!(
            parse_mbr(&sector0),
            Err(CardProblem::Superfloppy { file_system }),
            "{file_system}"
        );
    }
    // A plausible FAT BPB with 4096-byte sectors: a boot sector, but not one we can measure.
    let mut odd = boot(&FAT16_BPB);
    put16(&mut odd, 11, 4096);
    assert_eq!(
        parse_mbr(&odd),
        Err(CardProblem::Superfloppy {
            file_system: FileSystemName::Unknown
        })
    );
    // E9 jumps count as well.
    let mut e9 = boot(&FAT32_BPB);
    e9[0..3].copy_from_slice(&[0xE9, 0x00, 0x01]);
    assert_eq!(identify_boot_sector(&e9), Some(FileSystemName::Fat32));
    let mut card = Card::new(1_000_000, &[(0, boot(&FAT32_BPB))]);
    assert_eq!(
        card_problem(&mut card),
        CardProblem::Superfloppy {
            file_system: FileSystemName::Fat32
        }
    );
}

#[test]
fn gpt_protective_mbr() {
    let s = mbr(&[entry(0, 0xEE, 1, u32::MAX)]);
    assert_eq!(parse_mbr(&s), Err(CardProblem::Gpt));
    // even when another entry looks like FAT (hybrid MBR): a GPT card is a GPT card
    let s = mbr(&[entry(0, 0x0C, 2048, 4096), entry(3, 0xEE, 1, 2047)]);
    assert_eq!(parse_mbr(&s), Err(CardProblem::Gpt));
}

#[test]
fn no_partitions() {
    let s = mbr(&[]);
    assert_eq!(parse_mbr(&s), Err(CardProblem::NoPartitions));
    let mut card = Card::new(100, &[(0, s)]);
    assert_eq!(card_problem(&mut card), CardProblem::NoPartitions);
}

#[test]
fn invalid_partition_status() {
    let mut e = entry(1, 0x0C, 2048, 4096);
    e.status = 0x01;
    let s = mbr(&[entry(0, 0x83, 10_000, 10), e]);
    assert_eq!(
        parse_mbr(&s),
        Err(CardProblem::InvalidPartitionStatus {
            index: 1,
            status: 0x01
        })
    );
}

#[test]
fn unsupported_partition_type() {
    // Linux partition whose first sector is an ext4 boot block (zeros)
    let mut card = Card::new(100_000, &[(0, mbr(&[entry(0, 0x83, 2048, 8192)]))]);
    assert_eq!(
        card_problem(&mut card),
        CardProblem::UnsupportedPartitionType {
            index: 0,
            type_id: 0x83
        }
    );
    // FAT32 content behind type 0x07: the fix is to change the type, and the message says so
    let mut card = Card::new(
        1_100_000,
        &[
            (0, mbr(&[entry(0, 0x07, 8192, 1_000_000)])),
            (8192, boot(&FAT32_BPB)),
        ],
    );
    let p = card_problem(&mut card);
    assert_eq!(
        p,
        CardProblem::UnsupportedPartitionType {
            index: 0,
            type_id: 0x07
        }
    );
    let text = p.to_string();
    assert!(
        text.contains("0x07") && text.contains("0x0C") && text.contains("keeps"),
        "{text}"
    );
}

#[test]
fn exfat_partition() {
    // type 0x07 (exFAT/NTFS id), as SDXC cards ship
    let mut card = Card::new(
        100_000,
        &[
            (0, mbr(&[entry(0, 0x07, 32768, 60_000)])),
            (32768, exfat_boot()),
        ],
    );
    assert_eq!(card_problem(&mut card), CardProblem::ExFat { index: 0 });
    // exFAT content behind a FAT32 type
    let mut card = Card::new(
        100_000,
        &[
            (0, mbr(&[entry(2, 0x0C, 32768, 60_000)])),
            (32768, exfat_boot()),
        ],
    );
    assert_eq!(card_problem(&mut card), CardProblem::ExFat { index: 2 });
}

#[test]
fn ntfs_partition() {
    let mut card = Card::new(
        100_000,
        &[
            (0, mbr(&[entry(3, 0x07, 2048, 60_000)])),
            (2048, ntfs_boot()),
        ],
    );
    assert_eq!(card_problem(&mut card), CardProblem::Ntfs { index: 3 });
    assert_eq!(
        parse_boot_sector(&ntfs_boot(), &part(1, 0x0C, 0, 10)),
        Err(CardProblem::Ntfs { index: 1 })
    );
}

#[test]
fn fat12_partition() {
    // floppy geometry: root = 224 · 32 / 512 = 14 sectors; metadata = 1 + 2 · 9 + 14 = 33;
    // clusters = (2880 − 33) / 1 = 2847 < 4085 → FAT12
    for type_id in [0x01, 0x06] {
        let mut card = Card::new(
            10_000,
            &[
                (0, mbr(&[entry(0, type_id, 63, 2880)])),
                (63, boot(&FLOPPY_BPB)),
            ],
        );
        assert_eq!(
            card_problem(&mut card),
            CardProblem::Fat12 { clusters: 2847 },
            "type {type_id:#x}"
        );
    }
    let g = parse_fat_geometry(&boot(&FLOPPY_BPB), &part(0, 0x01, 63, 2880)).unwrap();
    assert_eq!(g.kind, FatKind::Fat12);
    assert_eq!((g.fat_lba, g.root_dir_lba, g.data_lba), (64, 82, 96)); // 63+1, 64+18, 82+14
    assert_eq!(
        g.fat_entry_location(2),
        None,
        "FAT12 entries are not located"
    );
    assert_eq!(
        g.next_cluster(&[0; SECTOR_LEN], 2),
        Err(CardProblem::BadClusterChain {
            cluster: 2,
            entry: 0
        })
    );
}

#[test]
fn fat_kind_boundaries_follow_the_cluster_count() {
    // FAT16-shaped BPB, 1 sector per cluster, 1 reserved, 1 FAT, 16 root entries (1 sector):
    // clusters = total − 1 − fat − 1.
    let kind = |clusters: u32, fat: u16| {
        let bpb = Bpb {
            sectors_per_cluster: 1,
            reserved: 1,
            fats: 1,
            root_entries: 16,
            fat_size16: fat,
            total16: 0,
            total32: clusters + 2 + u32::from(fat),
            ..FAT16_BPB
        };
        let g = parse_fat_geometry(&boot(&bpb), &part(0, 6, 0, u32::MAX)).unwrap();
        assert_eq!(g.cluster_count, clusters);
        g.kind
    };
    assert_eq!(kind(4084, 12), FatKind::Fat12); // 4086 · 1.5 = 6129 bytes ≤ 12 · 512
    assert_eq!(kind(4085, 17), FatKind::Fat16); // 4087 · 2 = 8174 ≤ 17 · 512 = 8704
    assert_eq!(kind(65524, 256), FatKind::Fat16); // 65526 · 2 = 131 052 ≤ 131 072
    // 65525 clusters would be FAT32, whose root must be a cluster and fixed root entries 0
    let bpb = Bpb {
        sectors_per_cluster: 1,
        reserved: 32,
        fats: 1,
        root_entries: 0,
        fat_size16: 0,
        fat32: true,
        fat_size32: 512, // 65527 · 4 = 262 108 ≤ 512 · 512 = 262 144
        total32: 65525 + 32 + 512,
        ..FAT32_BPB
    };
    let g = parse_fat_geometry(&boot(&bpb), &part(0, 0x0C, 0, u32::MAX)).unwrap();
    assert_eq!((g.kind, g.cluster_count), (FatKind::Fat32, 65525));
}

#[test]
fn bad_boot_sector_fields() {
    let p16 = part(0, 0x06, 2048, 65536);
    let p32 = part(0, 0x0C, 8192, 1_000_000);
    let check = |sector: Sector, p: &Partition, needle: &str, found: u32| match parse_boot_sector(
        &sector, p,
    ) {
        Err(CardProblem::BadBootSector { field, found: f }) => {
            assert!(field.contains(needle), "field {field:?} lacks {needle:?}");
            assert_eq!(f, found, "{field}");
        }
        other => panic!("{needle}: expected BadBootSector, got {other:?}"),
    };

    let mut s = boot(&FAT16_BPB);
    s[510] = 0;
    check(s, &p16, "signature", 0xAA00);
    check(
        boot(&Bpb {
            bytes_per_sector: 1024,
            ..FAT16_BPB
        }),
        &p16,
        "bytes per sector",
        1024,
    );
    check(
        boot(&Bpb {
            bytes_per_sector: 4096,
            ..FAT32_BPB
        }),
        &p32,
        "bytes per sector",
        4096,
    );
    check(
        boot(&Bpb {
            sectors_per_cluster: 3,
            ..FAT16_BPB
        }),
        &p16,
        "power of two",
        3,
    );
    check(
        boot(&Bpb {
            sectors_per_cluster: 0,
            ..FAT16_BPB
        }),
        &p16,
        "power of two",
        0,
    );
    check(
        boot(&Bpb {
            reserved: 0,
            ..FAT16_BPB
        }),
        &p16,
        "reserved sectors",
        0,
    );
    check(
        boot(&Bpb {
            fats: 0,
            ..FAT16_BPB
        }),
        &p16,
        "number of FATs",
        0,
    );
    // FATSz16 = 0 on a FAT16 boot sector sends the reader to FATSz32 at offset 36, which on FAT16
    // holds BS_DrvNum 0x80, 0x00, BS_BootSig 0x29, 0x00 = 0x00290080 sectors: far more than the volume
    check(
        boot(&Bpb {
            fat_size16: 0,
            ..FAT16_BPB
        }),
        &p16,
        "fewer than the reserved",
        65536,
    );
    check(
        boot(&Bpb {
            fat_size32: 0,
            ..FAT32_BPB
        }),
        &p32,
        "sectors per FAT",
        0,
    );
    check(
        boot(&Bpb {
            total32: 0,
            ..FAT16_BPB
        }),
        &p16,
        "must not be 0",
        0,
    );
    check(
        boot(&Bpb {
            total32: 65537,
            ..FAT16_BPB
        }),
        &p16,
        "more than the partition",
        65537,
    );
    // metadata 4 + 2 · 64 + 32 = 164 > 100 sectors
    check(
        boot(&Bpb {
            total16: 100,
            total32: 0,
            ..FAT16_BPB
        }),
        &p16,
        "fewer than the reserved",
        100,
    );
    // 16343 clusters need (16343 + 2) · 2 = 32 690 bytes; 63 · 512 = 32 256 is too few
    // (metadata shrinks by 2 sectors: (65536 − 162) / 4 = 16343 still)
    check(
        boot(&Bpb {
            fat_size16: 63,
            ..FAT16_BPB
        }),
        &p16,
        "too few",
        63,
    );
    check(
        boot(&Bpb {
            root_entries: 0,
            ..FAT16_BPB
        }),
        &p16,
        "root directory entries",
        0,
    );
    check(
        boot(&Bpb {
            root_entries: 512,
            ..FAT32_BPB
        }),
        &p32,
        "must be 0 on FAT32",
        512,
    );
    check(
        boot(&Bpb {
            root_cluster: 1,
            ..FAT32_BPB
        }),
        &p32,
        "root directory cluster",
        1,
    );
    // last cluster is 124 752
    check(
        boot(&Bpb {
            root_cluster: 124_753,
            ..FAT32_BPB
        }),
        &p32,
        "root directory cluster",
        124_753,
    );
    check(
        boot(&Bpb {
            fs_version: 0x0100,
            ..FAT32_BPB
        }),
        &p32,
        "FAT32 version",
        0x0100,
    );
    check(
        boot(&Bpb {
            fs_info: 0,
            ..FAT32_BPB
        }),
        &p32,
        "FSInfo sector",
        0,
    );
    check(
        boot(&Bpb {
            fs_info: 32,
            ..FAT32_BPB
        }),
        &p32,
        "FSInfo sector",
        32,
    );
    check(
        boot(&Bpb {
            fs_info: 0xFFFF,
            ..FAT32_BPB
        }),
        &p32,
        "FSInfo sector",
        0xFFFF,
    );
    // a volume ending beyond LBA 2^32 − 1
    check(
        boot(&FAT32_BPB),
        &part(0, 0x0C, u32::MAX - 10, u32::MAX),
        "2^32",
        1_000_000,
    );
}

#[test]
fn bad_fs_info_is_reported_by_the_probe() {
    assert_eq!(check_fs_info(&fs_info()), Ok(()));
    for (at, found) in [(0usize, 0x4161_5253u32), (484, 0), (508, 0x55AA_0000)] {
        let mut info = fs_info();
        put32(&mut info, at, found);
        let mut card = Card::new(
            1_100_000,
            &[
                (0, mbr(&[entry(0, 0x0C, 8192, 1_000_000)])),
                (8192, boot(&FAT32_BPB)),
                (8193, info),
            ],
        );
        match card_problem(&mut card) {
            CardProblem::BadBootSector { field, found: f } => {
                assert!(field.contains("FSInfo"), "{field}");
                assert_eq!(f, found);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn partition_outside_card() {
    let mut card = Card::new(
        500_000,
        &[
            (0, mbr(&[entry(0, 0x0C, 8192, 1_000_000)])),
            (8192, boot(&FAT32_BPB)),
        ],
    );
    assert_eq!(
        card_problem(&mut card),
        CardProblem::PartitionOutsideCard {
            start: 8192,
            blocks: 1_000_000,
            card_blocks: 500_000
        }
    );
    assert_eq!(
        card.reads,
        vec![0],
        "the boot sector of an impossible partition is not read"
    );
    // the same check for a non-FAT partition, and start + blocks overflowing u32
    let mut card = Card::new(1000, &[(0, mbr(&[entry(0, 0x83, u32::MAX, 2)]))]);
    assert_eq!(
        card_problem(&mut card),
        CardProblem::PartitionOutsideCard {
            start: u32::MAX,
            blocks: 2,
            card_blocks: 1000
        }
    );
}

#[test]
fn device_errors_propagate() {
    let mut card = Card::new(
        1_100_000,
        &[
            (0, mbr(&[entry(0, 0x0C, 8192, 1_000_000)])),
            (8192, boot(&FAT32_BPB)),
            (8193, fs_info()),
        ],
    );
    card.broken = Some(8192);
    let e = card.probe().unwrap_err();
    assert_eq!(e, ProbeError::Device(ReadFailed(8192)));
    assert!(e.to_string().contains("sector 8192 unreadable"));
    let as_error: &dyn std::error::Error = &e;
    assert!(as_error.to_string().starts_with("reading the SD card"));
    card.broken = Some(0);
    assert_eq!(card.probe().unwrap_err(), ProbeError::Device(ReadFailed(0)));
}

// ---------------------------------------------------------------------------------------------
// FAT chains
// ---------------------------------------------------------------------------------------------

#[test]
fn fat16_next_cluster() {
    let g = parse_boot_sector(&boot(&FAT16_BPB), &part(0, 6, 2048, 65536)).unwrap();
    // FAT sector 1 covers clusters 256..512; cluster 300's entry at byte 88
    let (lba, at) = g.fat_entry_location(300).unwrap();
    assert_eq!((lba, at), (2053, 88));
    let mut fat = [0u8; SECTOR_LEN];
    let mut with = |v: u16| {
        put16(&mut fat, at, v);
        g.next_cluster(&fat, 300)
    };
    assert_eq!(with(301), Ok(Some(301)));
    assert_eq!(with(16344), Ok(Some(16344))); // the last cluster
    assert_eq!(with(0xFFF8), Ok(None));
    assert_eq!(with(0xFFFF), Ok(None));
    for bad in [0u16, 1, 0xFFF7, 16345, 0xFFF6, 300] {
        assert_eq!(
            with(bad),
            Err(CardProblem::BadClusterChain {
                cluster: 300,
                entry: u32::from(bad)
            }),
            "{bad:#x}"
        );
    }
    assert_eq!(
        g.next_cluster(&fat, 16345),
        Err(CardProblem::BadClusterChain {
            cluster: 16345,
            entry: 0
        })
    );
}

#[test]
fn fat32_next_cluster_masks_to_28_bits() {
    let g = parse_boot_sector(&boot(&FAT32_BPB), &part(0, 0x0C, 8192, 1_000_000)).unwrap();
    let (_, at) = g.fat_entry_location(200).unwrap();
    let mut fat = [0u8; SECTOR_LEN];
    let mut with = |v: u32| {
        put32(&mut fat, at, v);
        g.next_cluster(&fat, 200)
    };
    assert_eq!(with(201), Ok(Some(201)));
    assert_eq!(
        with(0xF000_0000 | 201),
        Ok(Some(201)),
        "top 4 bits are reserved"
    );
    assert_eq!(with(0x0FFF_FFF8), Ok(None));
    assert_eq!(with(0xFFFF_FFFF), Ok(None));
    assert_eq!(with(0x1FFF_FFF8), Ok(None));
    for (raw, masked) in [
        (0u32, 0u32),
        (0xF000_0000, 0),
        (1, 1),
        (0x0FFF_FFF7, 0x0FFF_FFF7),
        (124_753, 124_753),
        (0x0FFF_FFF0, 0x0FFF_FFF0),
        (200, 200),
    ] {
        assert_eq!(
            with(raw),
            Err(CardProblem::BadClusterChain {
                cluster: 200,
                entry: masked
            }),
            "{raw:#x}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Directory entries
// ---------------------------------------------------------------------------------------------

fn dir_entry(name: &[u8; 11], attr: u8, cluster: u32, size: u32) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[0..11].copy_from_slice(name); // DIR_Name
    e[11] = attr; // DIR_Attr
    put16(&mut e, 20, (cluster >> 16) as u16); // DIR_FstClusHI
    put16(&mut e, 22, 0x6000); // DIR_WrtTime
    put16(&mut e, 24, 0x5A21); // DIR_WrtDate
    put16(&mut e, 26, cluster as u16); // DIR_FstClusLO
    put32(&mut e, 28, size); // DIR_FileSize
    e
}

#[test]
fn dir_entries() {
    let e = dir_entry(b"JOURNAL BIN", 0x20, 0x0012_3456, 4096);
    assert_eq!(
        parse_dir_entry(&e),
        Some(DirEntryFacts {
            name: *b"JOURNAL BIN",
            attributes: 0x20,
            first_cluster: 0x0012_3456,
            size: 4096
        })
    );
    // longer slices: only the first 32 bytes count
    let mut long = e.to_vec();
    long.extend_from_slice(&[0xAA; 32]);
    assert_eq!(parse_dir_entry(&long), parse_dir_entry(&e));
    assert_eq!(parse_dir_entry(&e[..31]), None);
    let dir = parse_dir_entry(&dir_entry(b"UPDATES    ", 0x10, 9, 0)).unwrap();
    assert!(dir.is_directory() && !dir.is_volume_label());
    assert!(
        parse_dir_entry(&dir_entry(b"NO NAME    ", 0x08, 0, 0))
            .unwrap()
            .is_volume_label()
    );
    // end of directory, deleted, LFN
    assert_eq!(
        parse_dir_entry(&dir_entry(b"\0OURNAL BIN", 0x20, 3, 1)),
        None
    );
    assert_eq!(
        parse_dir_entry(&dir_entry(b"\xE5OURNAL BIN", 0x20, 3, 1)),
        None
    );
    assert_eq!(
        parse_dir_entry(&dir_entry(b"Aa\0b\0c\0d\0e\0", 0x0F, 0, 0)),
        None
    );
    // 0x05 stands for a real 0xE5
    assert_eq!(
        parse_dir_entry(&dir_entry(b"\x05ABC    TXT", 0x20, 3, 1))
            .unwrap()
            .name,
        *b"\xE5ABC    TXT"
    );
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

#[test]
fn every_message_says_what_was_found_what_is_needed_and_that_formatting_erases() {
    let all = [
        CardProblem::NoMbrSignature {
            found: [0x12, 0x34],
        },
        CardProblem::Superfloppy {
            file_system: FileSystemName::Fat32,
        },
        CardProblem::Gpt,
        CardProblem::NoPartitions,
        CardProblem::InvalidPartitionStatus {
            index: 2,
            status: 0x7F,
        },
        CardProblem::UnsupportedPartitionType {
            index: 0,
            type_id: 0x83,
        },
        CardProblem::ExFat { index: 0 },
        CardProblem::Ntfs { index: 1 },
        CardProblem::Fat12 { clusters: 2847 },
        CardProblem::BadBootSector {
            field: "bytes per sector (BPB_BytsPerSec, must be 512)",
            found: 4096,
        },
        CardProblem::PartitionOutsideCard {
            start: 8192,
            blocks: 1_000_000,
            card_blocks: 500_000,
        },
        CardProblem::BadClusterChain {
            cluster: 300,
            entry: 0xFFF7,
        },
    ];
    let found = [
        "12 34",
        "(FAT32 file system) that covers the whole card",
        "GUID partition table",
        "all four entries are empty",
        "partition 3 has status byte 0x7f",
        "type 0x83 (Linux",
        "exFAT",
        "NTFS",
        "2847 clusters",
        "bytes per sector (BPB_BytsPerSec, must be 512): found 4096",
        "starts at sector 8192 and has 1000000 sectors, but the card has only 500000",
        "cluster 300 is 0xfff7",
    ];
    for (problem, found) in all.iter().zip(found) {
        let text = problem.to_string();
        assert!(text.contains(found), "{text}\n  lacks {found:?}");
        assert!(
            text.contains("MBR partition table with one primary FAT32"),
            "{text}"
        );
        assert!(text.contains("mkfs.fat -F 32"), "{text}");
        assert!(text.contains("formatting erases the card"), "{text}");
        let as_error: &dyn std::error::Error = problem;
        assert_eq!(as_error.to_string(), text);
        let wrapped: ProbeError<ReadFailed> = (*problem).into();
        assert_eq!(wrapped.to_string(), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

fn sector() -> impl Strategy<Value = Sector> {
    proptest::collection::vec(any::<u8>(), SECTOR_LEN).prop_map(|v| v.try_into().unwrap())
}

/// A sector that is mostly a valid boot sector or MBR, with arbitrary bytes spliced in.
fn near_valid_sector() -> impl Strategy<Value = Sector> {
    let base = prop_oneof![
        Just(boot(&FAT16_BPB)),
        Just(boot(&FAT32_BPB)),
        Just(boot(&FLOPPY_BPB)),
        Just(mbr(&[entry(0, 0x0C, 1, 6)])),
        Just(exfat_boot()),
    ];
    (
        base,
        proptest::collection::vec((0usize..90, any::<u8>()), 0..6),
    )
        .prop_map(|(mut s, edits)| {
            for (at, v) in edits {
                s[at] = v;
            }
            s
        })
}

fn any_geometry() -> impl Strategy<Value = FatGeometry> {
    (
        prop_oneof![
            Just(FatKind::Fat12),
            Just(FatKind::Fat16),
            Just(FatKind::Fat32)
        ],
        any::<(u32, u8, u16, u8, u32, u16, u32)>(),
        any::<(u32, u32, u32, u32, u32)>(),
    )
        .prop_map(
            |(kind, (partition_lba, spc, reserved, fats, spf, root_entries, total), rest)| {
                let (cluster_count, root_cluster, fat_lba, root_dir_lba, data_lba) = rest;
                FatGeometry {
                    kind,
                    partition_lba,
                    sectors_per_cluster: spc,
                    reserved_sectors: reserved,
                    fats,
                    sectors_per_fat: spf,
                    root_entries,
                    total_sectors: total,
                    cluster_count,
                    root_cluster,
                    fat_lba,
                    root_dir_lba,
                    data_lba,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(
        s in prop_oneof![sector(), near_valid_sector()],
        p in any::<(u8, u8, u32, u32)>(),
        cut in 0usize..64,
        offset in 0usize..480,
    ) {
        let partition = part(p.0 % 4, p.1, p.2, p.3);
        let _ = parse_mbr(&s);
        let _ = identify_boot_sector(&s);
        let _ = parse_boot_sector(&s, &partition);
        let _ = parse_fat_geometry(&s, &partition);
        let _ = check_fs_info(&s);
        let _ = parse_dir_entry(&s[offset..(offset + cut).min(SECTOR_LEN)]);
    }

    /// Directory listing over arbitrary card contents, rich in long-name entries, ends and never
    /// panics (embedded-sdmmc's own listing panics on some of these).
    #[test]
    fn directory_listing_never_panics_and_ends(seed in any::<u64>(), fat32 in any::<bool>(), first in 0u32..200) {
        let g = if fat32 {
            parse_boot_sector(&boot(&FAT32_BPB), &part(0, 0x0C, 8192, 1_000_000)).unwrap()
        } else {
            parse_boot_sector(&boot(&FAT16_BPB), &part(0, 0x0E, 2048, 65_536)).unwrap()
        };
        let at = if fat32 {
            DirLocation::Chain { first_cluster: first }
        } else {
            g.root_location()
        };
        let mut reads = 0u32;
        let mut visited = 0u32;
        let result = list_dir(
            &g,
            at,
            |lba, sector: &mut Sector| {
                reads += 1;
                let mut x = seed ^ u64::from(lba).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for b in sector.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *b = x as u8;
                }
                for entry in sector.chunks_mut(32) {
                    if entry[0] % 3 != 0 {
                        entry[11] = 0x0F;
                        entry[0] %= 0x56;
                    }
                }
                Ok::<(), ()>(())
            },
            |e| {
                visited += 1;
                if let Some(name) = e.long_name {
                    assert!(name.len() <= LONG_NAME_CAP);
                }
                true
            },
        );
        let _ = result;
        // 65,536 entries at most: 4,096 sectors, plus one FAT sector per cluster.
        prop_assert!(reads <= 4096 + 4096, "{reads} reads");
        prop_assert!(visited <= 65_536);
    }

    #[test]
    fn geometry_methods_never_panic(g in any_geometry(), s in sector(), cluster in any::<u32>()) {
        let _ = g.bytes_per_cluster();
        let _ = g.cluster_lba(cluster);
        let _ = g.fat_entry_location(cluster);
        let _ = g.next_cluster(&s, cluster);
    }

    /// Whatever a FAT12/16/32 BPB says, an accepted geometry keeps every cluster inside the volume
    /// and every FAT entry inside the first FAT.
    #[test]
    fn accepted_geometry_is_consistent(
        spc_log in 0u32..8,
        reserved in 1u16..64,
        fats in 1u8..3,
        root_entries in prop_oneof![Just(0u16), 1u16..1024],
        fat_size in 1u32..5000,
        total in 1u32..3_000_000,
        start in prop_oneof![Just(0u32), 1u32..10_000_000, Just(u32::MAX - 3_000_000)],
        slack in 0u32..100,
        root_cluster in 0u32..10,
        fat32_fields in any::<bool>(),
    ) {
        let bpb = Bpb {
            sectors_per_cluster: 1 << spc_log,
            reserved,
            fats,
            root_entries,
            total16: if total < 65536 && !fat32_fields { total as u16 } else { 0 },
            total32: if total < 65536 && !fat32_fields { 0 } else { total },
            fat_size16: if fat32_fields { 0 } else { fat_size.min(0xFFFF) as u16 },
            fat32: fat32_fields,
            fat_size32: fat_size,
            root_cluster,
            ..FAT32_BPB
        };
        let p = part(0, 0x0C, start, total.saturating_add(slack));
        if let Ok(g) = parse_fat_geometry(&boot(&bpb), &p) {
            let end = u64::from(start) + u64::from(g.total_sectors);
            prop_assert!(u64::from(g.total_sectors) <= u64::from(p.blocks));
            prop_assert_eq!(g.fat_lba, start + u32::from(reserved));
            let root_sectors = (u32::from(root_entries) * 32).div_ceil(512);
            prop_assert_eq!(
                u64::from(g.data_lba),
                u64::from(g.fat_lba) + u64::from(fats) * u64::from(g.sectors_per_fat)
                    + u64::from(root_sectors)
            );
            let expected_kind = match g.cluster_count {
                0..4085 => FatKind::Fat12,
                4085..65525 => FatKind::Fat16,
                _ => FatKind::Fat32,
            };
            prop_assert_eq!(g.kind, expected_kind);
            if g.cluster_count > 0 {
                let last = g.cluster_count + 1;
                let lba = g.cluster_lba(last).unwrap();
                prop_assert!(u64::from(lba) + u64::from(g.sectors_per_cluster) <= end);
                prop_assert_eq!(g.cluster_lba(last + 1), None);
                if g.kind != FatKind::Fat12 {
                    let (fat_sector, at) = g.fat_entry_location(last).unwrap();
                    prop_assert!(fat_sector < g.fat_lba + g.sectors_per_fat);
                    let width = if g.kind == FatKind::Fat16 { 2 } else { 4 };
                    prop_assert!(at + width <= SECTOR_LEN);
                }
            }
            match g.kind {
                FatKind::Fat32 => {
                    prop_assert_eq!(g.root_dir_lba, g.cluster_lba(g.root_cluster).unwrap());
                }
                _ => prop_assert_eq!(
                    u64::from(g.root_dir_lba) + u64::from(root_sectors),
                    u64::from(g.data_lba)
                ),
            }
        }
    }

    /// `probe` over arbitrary (and nearly valid) card contents never panics and reads at most three
    /// sectors.
    #[test]
    fn probe_never_panics(
        sectors in proptest::collection::vec(prop_oneof![sector(), near_valid_sector()], 1..6),
        entries in proptest::collection::vec((0usize..4, any::<u8>(), 0u8..4, 0u32..8, any::<u32>()), 0..4),
        card_blocks in prop_oneof![Just(0u32), 1u32..10, any::<u32>()],
        status in any::<u8>(),
        fail_at in proptest::option::of(0u32..8),
    ) {
        let mut image = sectors.clone();
        if !entries.is_empty() {
            // make sector 0 an MBR whose entries point into the small image
            let table: Vec<Entry> = entries
                .iter()
                .map(|&(index, type_id, pick, start, blocks)| Entry {
                    index,
                    status: if pick == 0 { status } else { 0 },
                    type_id: [type_id, 0x0C, 0x06, 0x07][usize::from(pick)],
                    start,
                    blocks,
                })
                .collect();
            image[0] = mbr(&table);
        }
        let mut reads = 0;
        let _ = probe(card_blocks, |lba, buf: &mut Sector| {
            reads += 1;
            if Some(lba) == fail_at {
                return Err(ReadFailed(lba));
            }
            *buf = image.get(lba as usize).copied().unwrap_or([0; SECTOR_LEN]);
            Ok(())
        });
        prop_assert!(reads <= 3);
    }
}

// ---------------------------------------------------------------------------------------------
// Real images made with sfdisk and mkfs.fat
// ---------------------------------------------------------------------------------------------

mod real_images {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn tool(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    }

    fn tools() -> Option<(PathBuf, PathBuf)> {
        let t = tool("mkfs.fat").zip(tool("sfdisk"));
        if t.is_none() {
            println!("skipped: mkfs.fat/sfdisk not installed");
        }
        t
    }

    /// A fresh temp directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "modem-upgrade-card-{tag}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn blank_image(path: &Path, bytes: u64) {
        std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
    }

    fn sfdisk(sfdisk: &Path, img: &Path, script: &str) {
        use std::io::Write;
        let mut child = Command::new(sfdisk)
            .arg("-q")
            .arg(img)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "sfdisk failed");
    }

    /// Runs `mkfs.fat -v <args> img` and returns its report.
    fn mkfs(mkfs: &Path, img: &Path, args: &[&str]) -> String {
        let out = Command::new(mkfs)
            .arg("-v")
            .args(args)
            .arg(img)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "mkfs.fat failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// The number just before `suffix` in mkfs.fat's report (e.g. 615 from "is 615 sectors, and").
    fn number_before(report: &str, suffix: &str) -> Option<u32> {
        let at = report.find(suffix)?;
        let head = &report[..at];
        let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        head[at - digits..].parse().ok()
    }

    /// What mkfs.fat reports about the volume it made.
    struct Reported {
        total: u32,
        fat_size: u32,
        clusters: u32,
        reserved: u32,
        fats: u32,
        sectors_per_cluster: u32,
    }

    /// Parses mkfs.fat 4.x's `-v` report ("with 79872 sectors;", "2 32-bit FATs and 1 sector per
    /// cluster.", "FAT size is 615 sectors, and provides 78610 clusters.", "There are 32 reserved
    /// sectors.").
    fn reported(report: &str) -> Reported {
        let get = |suffix: &str| number_before(report, suffix);
        let need =
            |suffix: &str| get(suffix).unwrap_or_else(|| panic!("{suffix:?} not in {report}"));
        Reported {
            total: need(" sectors;"),
            fat_size: need(" sectors, and provides"),
            clusters: need(" clusters."),
            reserved: need(" reserved sector"),
            fats: get(" 32-bit FATs")
                .or_else(|| get(" 16-bit FATs"))
                .or_else(|| get(" 12-bit FATs"))
                .unwrap_or_else(|| panic!("FAT count not in {report}")),
            sectors_per_cluster: get(" sector per cluster")
                .or_else(|| get(" sectors per cluster"))
                .unwrap_or_else(|| panic!("cluster size not in {report}")),
        }
    }

    fn probe_file(img: &Path) -> Result<CardLayout, ProbeError<std::io::Error>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(img).unwrap();
        let blocks = (file.metadata().unwrap().len() / 512) as u32;
        probe(blocks, |lba, buf: &mut Sector| {
            file.seek(SeekFrom::Start(u64::from(lba) * 512))?;
            file.read_exact(buf)
        })
    }

    fn expect_card_problem(img: &Path) -> CardProblem {
        match probe_file(img) {
            Err(ProbeError::Card(p)) => p,
            other => panic!("expected a card problem, got {other:?}"),
        }
    }

    fn check_geometry(g: &FatGeometry, r: &Reported, start: u32) {
        assert_eq!(g.partition_lba, start);
        assert_eq!(g.total_sectors, r.total);
        assert_eq!(g.sectors_per_fat, r.fat_size);
        assert_eq!(g.cluster_count, r.clusters);
        assert_eq!(u32::from(g.reserved_sectors), r.reserved);
        assert_eq!(u32::from(g.fats), r.fats);
        assert_eq!(u32::from(g.sectors_per_cluster), r.sectors_per_cluster);
        assert_eq!(g.fat_lba, start + r.reserved);
    }

    #[test]
    fn mkfs_fat32_partition() {
        let Some((mkfs_fat, sfdisk_bin)) = tools() else {
            return;
        };
        let dir = TempDir::new("fat32");
        let img = dir.0.join("card.img");
        blank_image(&img, 40 << 20);
        sfdisk(&sfdisk_bin, &img, "start=2048, type=c\n");
        let report = mkfs(&mkfs_fat, &img, &["-F", "32", "--offset", "2048"]);
        let r = reported(&report);
        let layout = probe_file(&img).unwrap();
        assert_eq!(layout.card_blocks, 81920); // 40 MiB / 512
        assert_eq!(layout.partition, part(0, 0x0C, 2048, 81920 - 2048));
        let g = layout.geometry;
        assert_eq!(g.kind, FatKind::Fat32);
        check_geometry(&g, &r, 2048);
        assert_eq!(g.root_cluster, 2);
        assert_eq!(g.data_lba, 2048 + r.reserved + r.fats * r.fat_size);
        assert_eq!(g.root_dir_lba, g.data_lba);
        #[cfg(feature = "sdmmc")]
        sdmmc::cross_check(&img, &layout);
    }

    #[test]
    fn mkfs_fat16_partition() {
        let Some((mkfs_fat, sfdisk_bin)) = tools() else {
            return;
        };
        let dir = TempDir::new("fat16");
        let img = dir.0.join("card.img");
        blank_image(&img, 40 << 20);
        sfdisk(&sfdisk_bin, &img, "start=2048, type=e\n");
        let report = mkfs(&mkfs_fat, &img, &["-F", "16", "--offset", "2048"]);
        let r = reported(&report);
        let layout = probe_file(&img).unwrap();
        assert_eq!(layout.partition, part(0, 0x0E, 2048, 81920 - 2048));
        let g = layout.geometry;
        assert_eq!(g.kind, FatKind::Fat16);
        check_geometry(&g, &r, 2048);
        assert_eq!(g.root_dir_lba, 2048 + r.reserved + r.fats * r.fat_size);
        assert_eq!(
            g.data_lba,
            g.root_dir_lba + u32::from(g.root_entries) * 32 / 512
        );
        #[cfg(feature = "sdmmc")]
        sdmmc::cross_check(&img, &layout);
    }

    #[test]
    fn mkfs_fat12_partition() {
        let Some((mkfs_fat, sfdisk_bin)) = tools() else {
            return;
        };
        for (tag, type_id) in [("fat12c", "c"), ("fat12t1", "1")] {
            let dir = TempDir::new(tag);
            let img = dir.0.join("card.img");
            blank_image(&img, 4 << 20);
            sfdisk(&sfdisk_bin, &img, &format!("start=2048, type={type_id}\n"));
            let report = mkfs(&mkfs_fat, &img, &["-F", "12", "--offset", "2048"]);
            let r = reported(&report);
            assert!(r.clusters < 4085);
            assert_eq!(
                expect_card_problem(&img),
                CardProblem::Fat12 {
                    clusters: r.clusters
                },
                "partition type {type_id}"
            );
            #[cfg(feature = "sdmmc")]
            assert!(sdmmc::opens(&img, 0).is_err(), "embedded-sdmmc agrees");
        }
    }

    #[test]
    fn mkfs_superfloppy() {
        let Some((mkfs_fat, _)) = tools() else { return };
        let dir = TempDir::new("superfloppy");
        let img = dir.0.join("card.img");
        blank_image(&img, 40 << 20);
        mkfs(&mkfs_fat, &img, &["-F", "32"]);
        assert_eq!(
            expect_card_problem(&img),
            CardProblem::Superfloppy {
                file_system: FileSystemName::Fat32
            }
        );
        #[cfg(feature = "sdmmc")]
        assert!(sdmmc::opens(&img, 0).is_err(), "embedded-sdmmc agrees");
    }

    /// `embedded-sdmmc` on the same image: it must open what the probe accepts, and a file it writes
    /// must be found through the probe's geometry (root directory, FAT chain, cluster LBAs).
    #[cfg(feature = "sdmmc")]
    mod sdmmc {
        use super::*;
        use embedded_sdmmc::{
            Block, BlockCount, BlockDevice, BlockIdx, Mode, TimeSource, Timestamp, VolumeIdx,
            VolumeManager,
        };
        use std::cell::RefCell;

        struct RamDisk(RefCell<Vec<u8>>);

        #[derive(Debug)]
        struct OutOfRange;

        impl std::fmt::Display for OutOfRange {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("block out of range")
            }
        }

        impl std::error::Error for OutOfRange {}

        impl BlockDevice for RamDisk {
            type Error = OutOfRange;
            fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), OutOfRange> {
                let data = self.0.borrow();
                for (i, b) in blocks.iter_mut().enumerate() {
                    let at = (start.0 as usize + i) * 512;
                    b.contents
                        .copy_from_slice(data.get(at..at + 512).ok_or(OutOfRange)?);
                }
                Ok(())
            }
            fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), OutOfRange> {
                let mut data = self.0.borrow_mut();
                for (i, b) in blocks.iter().enumerate() {
                    let at = (start.0 as usize + i) * 512;
                    data.get_mut(at..at + 512)
                        .ok_or(OutOfRange)?
                        .copy_from_slice(&b.contents);
                }
                Ok(())
            }
            fn num_blocks(&self) -> Result<BlockCount, OutOfRange> {
                Ok(BlockCount((self.0.borrow().len() / 512) as u32))
            }
        }

        struct Clock;

        impl TimeSource for Clock {
            fn get_timestamp(&self) -> Timestamp {
                Timestamp {
                    year_since_1970: 56,
                    zero_indexed_month: 0,
                    zero_indexed_day: 0,
                    hours: 0,
                    minutes: 0,
                    seconds: 0,
                }
            }
        }

        pub(super) fn opens(img: &Path, index: usize) -> Result<(), String> {
            let mgr = VolumeManager::new(RamDisk(RefCell::new(std::fs::read(img).unwrap())), Clock);
            mgr.open_volume(VolumeIdx(index))
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        }

        fn sector_of(image: &[u8], lba: u32) -> Sector {
            let at = lba as usize * 512;
            image[at..at + 512].try_into().unwrap()
        }

        pub(super) fn cross_check(img: &Path, layout: &CardLayout) {
            // 3.5 clusters of a pattern, so the file spans a chain of 4 clusters
            let g = layout.geometry;
            let len = g.bytes_per_cluster() as usize * 7 / 2;
            let pattern: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let disk = RamDisk(RefCell::new(std::fs::read(img).unwrap()));
            let mgr = VolumeManager::new(disk, Clock);
            {
                let volume = mgr
                    .open_volume(VolumeIdx(layout.partition.index.into()))
                    .unwrap();
                let root = volume.open_root_dir().unwrap();
                // another file first, so ours does not start at the first free cluster by luck
                let other = root
                    .open_file_in_dir("OTHER.TXT", Mode::ReadWriteCreate)
                    .unwrap();
                other.write(b"hello").unwrap();
                other.close().unwrap();
                let file = root
                    .open_file_in_dir("JOURNAL.BIN", Mode::ReadWriteCreate)
                    .unwrap();
                file.write(&pattern).unwrap();
                file.close().unwrap();
                root.close().unwrap();
                volume.close().unwrap();
            }
            let (disk, _) = mgr.free();
            let image = disk.0.into_inner();

            // find the entry in the first sector of the root directory
            let root = sector_of(&image, g.root_dir_lba);
            let facts = root
                .chunks(32)
                .filter_map(parse_dir_entry)
                .find(|e| &e.name == b"JOURNAL BIN")
                .expect("JOURNAL.BIN in the root directory");
            assert_eq!(facts.size as usize, len);

            // walk the chain through the first FAT and compare every byte
            let mut data = Vec::new();
            let mut cluster = Some(facts.first_cluster);
            let mut links = 0;
            while let Some(c) = cluster {
                links += 1;
                assert!(links <= g.cluster_count);
                let lba = g.cluster_lba(c).unwrap();
                for s in 0..u32::from(g.sectors_per_cluster) {
                    data.extend_from_slice(&sector_of(&image, lba + s));
                }
                let (fat_lba, _) = g.fat_entry_location(c).unwrap();
                cluster = g.next_cluster(&sector_of(&image, fat_lba), c).unwrap();
            }
            assert_eq!(links, 4);
            assert_eq!(&data[..len], &pattern[..]);
        }
    }
}
