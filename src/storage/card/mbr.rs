//! Sector 0: the MBR partition table, and telling it apart from a boot sector ("superfloppy").

use super::boot_sector::{FatKind, parse_fat_geometry};
use super::problem::{CardProblem, FileSystemName};
use super::{Sector, byte, le_u16, le_u32};

/// Offset of the first partition entry in sector 0.
const TABLE_START: usize = 446;
/// Bytes per partition entry.
const ENTRY_LEN: usize = 16;
/// Offset of the `55 AA` signature.
const SIGNATURE_AT: usize = 510;
/// Offsets inside one partition entry.
const STATUS: usize = 0;
const TYPE: usize = 4;
const LBA_START: usize = 8;
const BLOCKS: usize = 12;

/// The partition type of a GPT's protective MBR entry.
pub const PARTITION_TYPE_GPT: u8 = 0xEE;

/// Partition types `embedded-sdmmc` 0.10 opens (`open_raw_volume`): FAT32 with CHS/LBA (`0x0B`),
/// FAT32 LBA (`0x0C`), FAT16 below 32 MiB (`0x04`), FAT16 (`0x06`) and FAT16 LBA (`0x0E`).
const SDMMC_FAT_TYPES: [u8; 5] = [0x0B, 0x0C, 0x04, 0x06, 0x0E];

/// `true` for the partition types `embedded-sdmmc` opens (`0x0B`, `0x0C`, `0x04`, `0x06`, `0x0E`).
pub fn is_sdmmc_fat_type(type_id: u8) -> bool {
    SDMMC_FAT_TYPES.contains(&type_id)
}

/// One MBR partition table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Partition {
    /// Position in the table, 0..=3; `embedded-sdmmc`'s `VolumeIdx`.
    pub index: u8,
    /// The partition type byte.
    pub type_id: u8,
    /// Status `0x80`.
    pub bootable: bool,
    /// LBA of its first sector.
    pub start_lba: u32,
    /// Its length in sectors.
    pub blocks: u32,
}

/// All four entries of an MBR (`None` = empty entry, type 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PartitionTable {
    /// Entries 1..=4 of the table, in table order.
    pub entries: [Option<Partition>; 4],
}

impl PartitionTable {
    /// The first entry of a type `embedded-sdmmc` opens (see [`is_sdmmc_fat_type`]).
    pub fn first_fat(&self) -> Option<Partition> {
        self.entries
            .iter()
            .flatten()
            .find(|p| is_sdmmc_fat_type(p.type_id))
            .copied()
    }

    /// The first non-empty entry.
    pub fn first_used(&self) -> Option<Partition> {
        self.entries.iter().flatten().next().copied()
    }
}

/// Parses sector 0 as an MBR.
///
/// Checks, in this order: the `55 AA` signature ([`CardProblem::NoMbrSignature`]); whether sector 0 is
/// itself a boot sector ([`CardProblem::Superfloppy`]; checked before the table because a boot sector
/// also ends in `55 AA` and its boot code would be read as nonsense entries); a GPT protective entry
/// ([`CardProblem::Gpt`]); status bytes ([`CardProblem::InvalidPartitionStatus`]); at least one used
/// entry ([`CardProblem::NoPartitions`]).
///
/// The status of every used entry is checked, not only of the one `embedded-sdmmc` will open: a status
/// other than `0x00`/`0x80` means sector 0 is not a partition table at all, and its other entries
/// would be guesses.
pub fn parse_mbr(sector0: &Sector) -> Result<PartitionTable, CardProblem> {
    let found = [byte(sector0, SIGNATURE_AT), byte(sector0, SIGNATURE_AT + 1)];
    if found != [0x55, 0xAA] {
        return Err(CardProblem::NoMbrSignature { found });
    }
    if let Some(file_system) = identify_boot_sector(sector0) {
        return Err(CardProblem::Superfloppy { file_system });
    }
    let mut entries = [None; 4];
    let raw = entries_of(sector0);
    if raw.iter().any(|e| e.type_id == PARTITION_TYPE_GPT) {
        return Err(CardProblem::Gpt);
    }
    for (slot, entry) in entries.iter_mut().zip(raw) {
        if entry.type_id == 0 {
            continue;
        }
        if entry.status != 0x00 && entry.status != 0x80 {
            return Err(CardProblem::InvalidPartitionStatus {
                index: entry.index,
                status: entry.status,
            });
        }
        *slot = Some(Partition {
            index: entry.index,
            type_id: entry.type_id,
            bootable: entry.status == 0x80,
            start_lba: entry.start_lba,
            blocks: entry.blocks,
        });
    }
    if entries.iter().all(Option::is_none) {
        return Err(CardProblem::NoPartitions);
    }
    Ok(PartitionTable { entries })
}

/// One raw table entry, before validation.
#[derive(Clone, Copy)]
struct RawEntry {
    index: u8,
    status: u8,
    type_id: u8,
    start_lba: u32,
    blocks: u32,
}

fn entries_of(sector0: &Sector) -> [RawEntry; 4] {
    let entry = |index: u8| {
        let at = TABLE_START + usize::from(index) * ENTRY_LEN;
        RawEntry {
            index,
            status: byte(sector0, at + STATUS),
            type_id: byte(sector0, at + TYPE),
            start_lba: le_u32(sector0, at + LBA_START),
            blocks: le_u32(sector0, at + BLOCKS),
        }
    };
    [entry(0), entry(1), entry(2), entry(3)]
}

/// What file system a sector is the boot sector of, if it looks like one at all.
///
/// `Some` when the OEM name at offset 3 is `"EXFAT   "` or `"NTFS    "`, or when the sector starts
/// with an x86 jump (`EB xx 90` or `E9 xx xx`) and carries a plausible BPB (bytes per sector 512,
/// 1024, 2048 or 4096; sectors per cluster a power of two; reserved sectors and FAT count not 0;
/// media byte `F0` or `F8..=FF`; total sectors not 0). A jump alone is not enough: GRUB's MBR starts
/// with `EB 63 90` too. A FAT boot sector is named by its cluster count (FAT12/16/32), or
/// [`FileSystemName::Unknown`] when its geometry does not add up.
pub fn identify_boot_sector(sector: &Sector) -> Option<FileSystemName> {
    match sector.get(3..11) {
        Some(b"EXFAT   ") => return Some(FileSystemName::ExFat),
        Some(b"NTFS    ") => return Some(FileSystemName::Ntfs),
        _ => {}
    }
    let jump = matches!((byte(sector, 0), byte(sector, 2)), (0xEB, 0x90) | (0xE9, _));
    if !jump || !plausible_bpb(sector) {
        return None;
    }
    let total = match le_u16(sector, 19) {
        0 => le_u32(sector, 32),
        n => u32::from(n),
    };
    // The whole card as the "partition": the BPB's own size is all there is to go on.
    let whole = Partition {
        index: 0,
        type_id: 0,
        bootable: false,
        start_lba: 0,
        blocks: total,
    };
    Some(match parse_fat_geometry(sector, &whole) {
        Ok(g) => match g.kind {
            FatKind::Fat12 => FileSystemName::Fat12,
            FatKind::Fat16 => FileSystemName::Fat16,
            FatKind::Fat32 => FileSystemName::Fat32,
        },
        Err(_) => FileSystemName::Unknown,
    })
}

/// The BPB fields every FAT boot sector has, within the ranges Microsoft's specification allows.
fn plausible_bpb(sector: &Sector) -> bool {
    let bytes_per_sector = le_u16(sector, 11);
    let sectors_per_cluster = byte(sector, 13);
    let reserved = le_u16(sector, 14);
    let fats = byte(sector, 16);
    let media = byte(sector, 21);
    let total = u32::from(le_u16(sector, 19)).max(le_u32(sector, 32));
    matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
        && sectors_per_cluster.is_power_of_two()
        && reserved != 0
        && fats != 0
        && (media == 0xF0 || media >= 0xF8)
        && total != 0
}
