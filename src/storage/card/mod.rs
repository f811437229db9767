//! What is on the SD card, checked before `embedded-sdmmc` sees it.
//!
//! `embedded-sdmmc` 0.10 opens a volume only when sector 0 is an MBR, the chosen entry has status
//! `0x00`/`0x80` and type `0x0B`, `0x0C` (FAT32), `0x04`, `0x06` or `0x0E` (FAT16), and the
//! partition's first sector is a FAT16 or FAT32 boot sector (FAT32 version 0.0, with a valid FSInfo
//! sector). Anything else gets a vague `FormatError("Invalid MBR signature")` or
//! `"Partition type not supported"`. Cards really arrive as exFAT (every SDXC card), with a GPT,
//! formatted without a partition table ("superfloppy") or as FAT12 on a tiny partition, so [`probe`]
//! reads sector 0 and the boot sector itself and answers with a [`CardProblem`] that says what it
//! found, what is needed and what to do.
//!
//! The same parse yields the FAT geometry ([`FatGeometry`]), which maps a file's clusters to sectors
//! (LBAs) so the journal can rewrite one sector in place.
//!
//! All multi-byte fields are little-endian. Offsets are in bytes from the start of the sector.
//!
//! # Sector 0: the MBR
//!
//! | offset | size | field                                            |
//! |--------|------|--------------------------------------------------|
//! | 0      | 446  | boot code (zeros on most SD cards)               |
//! | 446    | 16   | partition entry 1 (`VolumeIdx(0)`)              |
//! | 462    | 16   | partition entry 2                                |
//! | 478    | 16   | partition entry 3                                |
//! | 494    | 16   | partition entry 4                                |
//! | 510    | 2    | signature `55 AA`                                |
//!
//! One partition entry:
//!
//! | offset | size | field                                                          |
//! |--------|------|----------------------------------------------------------------|
//! | 0      | 1    | status: `0x80` bootable, `0x00` not; anything else is invalid  |
//! | 1      | 3    | CHS address of the first sector (ignored: LBA is used)         |
//! | 4      | 1    | partition type (`0x00` = empty entry, `0xEE` = GPT protective)  |
//! | 5      | 3    | CHS address of the last sector (ignored)                       |
//! | 8      | 4    | LBA of the first sector                                        |
//! | 12     | 4    | number of sectors                                              |
//!
//! # The boot sector (first sector of a FAT partition)
//!
//! Common part, the BIOS Parameter Block (BPB), as in Microsoft's FAT specification:
//!
//! | offset | size | field          | what it means / what we require                             |
//! |--------|------|----------------|--------------------------------------------------------------|
//! | 0      | 3    | `BS_jmpBoot`   | `EB xx 90` or `E9 xx xx` (used only to spot a superfloppy)   |
//! | 3      | 8    | `BS_OEMName`   | `"EXFAT   "` marks exFAT, `"NTFS    "` marks NTFS            |
//! | 11     | 2    | `BPB_BytsPerSec` | must be 512                                                |
//! | 13     | 1    | `BPB_SecPerClus` | a power of two, 1..=128                                    |
//! | 14     | 2    | `BPB_RsvdSecCnt` | sectors before the first FAT; not 0                        |
//! | 16     | 1    | `BPB_NumFATs`  | copies of the FAT; not 0                                     |
//! | 17     | 2    | `BPB_RootEntCnt` | 32-byte entries of the fixed root directory (0 on FAT32)   |
//! | 19     | 2    | `BPB_TotSec16` | total sectors if < 65536, else 0                             |
//! | 21     | 1    | `BPB_Media`    | `F0` or `F8..=FF`                                            |
//! | 22     | 2    | `BPB_FATSz16`  | sectors per FAT (FAT12/16); 0 on FAT32                       |
//! | 24     | 2    | `BPB_SecPerTrk` | ignored                                                     |
//! | 26     | 2    | `BPB_NumHeads` | ignored                                                      |
//! | 28     | 4    | `BPB_HiddSec`  | ignored (`mkfs.fat --offset` leaves it 0)                    |
//! | 32     | 4    | `BPB_TotSec32` | total sectors when `BPB_TotSec16` is 0                       |
//! | 510    | 2    | signature      | `55 AA`                                                      |
//!
//! FAT12/FAT16 continue with:
//!
//! | offset | size | field            | meaning                                |
//! |--------|------|------------------|----------------------------------------|
//! | 36     | 1    | `BS_DrvNum`      | ignored                                |
//! | 38     | 1    | `BS_BootSig`     | `0x29` when the next three are present |
//! | 39     | 4    | `BS_VolID`       | ignored                                |
//! | 43     | 11   | `BS_VolLab`      | ignored                                |
//! | 54     | 8    | `BS_FilSysType`  | informational only, never trusted      |
//!
//! FAT32 continues with:
//!
//! | offset | size | field            | meaning / requirement                                    |
//! |--------|------|------------------|----------------------------------------------------------|
//! | 36     | 4    | `BPB_FATSz32`    | sectors per FAT (used when `BPB_FATSz16` is 0)            |
//! | 40     | 2    | `BPB_ExtFlags`   | ignored                                                   |
//! | 42     | 2    | `BPB_FSVer`      | must be 0 (version 0.0; `embedded-sdmmc` rejects others)  |
//! | 44     | 4    | `BPB_RootClus`   | first cluster of the root directory (usually 2)           |
//! | 48     | 2    | `BPB_FSInfo`     | sector of the FSInfo structure, relative to the partition |
//! | 50     | 2    | `BPB_BkBootSec`  | ignored                                                   |
//! | 64..90 |      | drive number, boot signature, volume id and label, `"FAT32   "` | ignored |
//!
//! The FSInfo sector (FAT32), which `embedded-sdmmc` reads when it opens the volume:
//!
//! | offset | size | field             | value          |
//! |--------|------|-------------------|----------------|
//! | 0      | 4    | `FSI_LeadSig`     | `0x41615252`   |
//! | 484    | 4    | `FSI_StrucSig`    | `0x61417272`   |
//! | 488    | 4    | `FSI_Free_Count`  | advisory       |
//! | 492    | 4    | `FSI_Nxt_Free`    | advisory       |
//! | 508    | 4    | `FSI_TrailSig`    | `0xAA550000`   |
//!
//! # Geometry
//!
//! With `RootDirSectors = ceil(BPB_RootEntCnt * 32 / 512)` and `FATSz`/`TotSec` the non-zero one of
//! the 16- and 32-bit fields:
//!
//! ```text
//! fat_lba      = partition_lba + BPB_RsvdSecCnt
//! data_lba     = fat_lba + BPB_NumFATs * FATSz + RootDirSectors
//! clusters     = (TotSec - (data_lba - partition_lba)) / BPB_SecPerClus
//! kind         = FAT12 if clusters < 4085, FAT16 if clusters < 65525, else FAT32
//! cluster_lba  = data_lba + (cluster - 2) * BPB_SecPerClus      (cluster 2 is the first)
//! FAT entry    = at byte cluster * 2 (FAT16) or cluster * 4 (FAT32, low 28 bits) of the FAT
//! ```
//!
//! # A directory entry (32 bytes)
//!
//! | offset | size | field              | meaning                                                      |
//! |--------|------|--------------------|--------------------------------------------------------------|
//! | 0      | 11   | `DIR_Name`         | 8.3 name, space padded; `00` = end, `E5` = free, `05` = `E5` |
//! | 11     | 1    | `DIR_Attr`         | `01` RO, `02` hidden, `04` system, `08` volume, `10` dir, `20` archive; low nibble all set = LFN entry |
//! | 12     | 8    | flags and creation/access times | ignored                                         |
//! | 20     | 2    | `DIR_FstClusHI`    | high 16 bits of the first cluster (0 on FAT16)               |
//! | 22     | 4    | write time and date | ignored                                                     |
//! | 26     | 2    | `DIR_FstClusLO`    | low 16 bits of the first cluster                             |
//! | 28     | 4    | `DIR_FileSize`     | size in bytes                                                |

mod boot_sector;
mod dir;
mod dir_entry;
mod mbr;
mod problem;

pub use boot_sector::{
    FSINFO_LEAD_SIG, FSINFO_STRUC_SIG, FSINFO_TRAIL_SIG, FatGeometry, FatKind, check_fs_info,
    parse_boot_sector, parse_fat_geometry,
};
pub use dir::{
    DirLocation, LONG_NAME_CAP, ListedEntry, list_dir, short_name_checksum, short_name_text,
};
pub use dir_entry::{
    ATTR_DIRECTORY, ATTR_LFN, ATTR_VOLUME_ID, DIR_ENTRY_LEN, DirEntryFacts, parse_dir_entry,
};
pub use mbr::{
    PARTITION_TYPE_GPT, Partition, PartitionTable, identify_boot_sector, is_sdmmc_fat_type,
    parse_mbr,
};
pub use problem::{CardProblem, FileSystemName, ProbeError};

/// Bytes in one SD card sector (block); the only sector size SD cards and `embedded-sdmmc` use.
pub const SECTOR_LEN: usize = 512;

/// One 512-byte sector.
pub type Sector = [u8; SECTOR_LEN];

/// What [`probe`] found: the partition to open and its geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CardLayout {
    /// The card's size in sectors, as given to [`probe`].
    pub card_blocks: u32,
    /// The partition `embedded-sdmmc` should open: pass `VolumeIdx(partition.index as usize)`.
    pub partition: Partition,
    /// Its FAT geometry (FAT16 or FAT32; never FAT12).
    pub geometry: FatGeometry,
}

/// Checks that `embedded-sdmmc` can open the card, and says precisely why not when it cannot.
///
/// `card_blocks` is the card's size in 512-byte sectors (`BlockDevice::num_blocks`); `read(lba, buf)`
/// reads one sector. Reads sector 0, then the boot sector of the first FAT16/FAT32 partition (the
/// volume `embedded-sdmmc` should open is that partition's MBR index, which need not be 0), and for
/// FAT32 its FSInfo sector: three reads at most. When no entry has a FAT type, the first used
/// partition's boot sector is read to say what it holds (exFAT, NTFS, FAT12 or FAT in a partition of
/// the wrong type, or something else).
///
/// Everything read is untrusted: no panic, no unbounded loop, at most three reads.
pub fn probe<E>(
    card_blocks: u32,
    mut read: impl FnMut(u32, &mut Sector) -> Result<(), E>,
) -> Result<CardLayout, ProbeError<E>> {
    let mut sector = [0u8; SECTOR_LEN];
    read(0, &mut sector).map_err(ProbeError::Device)?;
    let table = parse_mbr(&sector)?;
    if let Some(partition) = table.first_fat() {
        check_inside_card(&partition, card_blocks)?;
        read(partition.start_lba, &mut sector).map_err(ProbeError::Device)?;
        let geometry = parse_boot_sector(&sector, &partition)?;
        if let Some(fs_info_lba) = boot_sector::fs_info_lba(&sector, &geometry) {
            read(fs_info_lba, &mut sector).map_err(ProbeError::Device)?;
            check_fs_info(&sector)?;
        }
        return Ok(CardLayout {
            card_blocks,
            partition,
            geometry,
        });
    }
    // `parse_mbr` returns `NoPartitions` when every entry is empty, so one is used.
    let Some(partition) = table.first_used() else {
        return Err(CardProblem::NoPartitions.into());
    };
    check_inside_card(&partition, card_blocks)?;
    read(partition.start_lba, &mut sector).map_err(ProbeError::Device)?;
    Err(explain_foreign_partition(&sector, &partition).into())
}

/// `PartitionOutsideCard` unless the whole partition lies on the card.
fn check_inside_card(partition: &Partition, card_blocks: u32) -> Result<(), CardProblem> {
    let end = u64::from(partition.start_lba) + u64::from(partition.blocks);
    if end > u64::from(card_blocks) {
        return Err(CardProblem::PartitionOutsideCard {
            start: partition.start_lba,
            blocks: partition.blocks,
            card_blocks,
        });
    }
    Ok(())
}

/// Why a partition whose type `embedded-sdmmc` does not open is unusable, from its boot sector.
fn explain_foreign_partition(boot: &Sector, partition: &Partition) -> CardProblem {
    match identify_boot_sector(boot) {
        Some(FileSystemName::ExFat) => CardProblem::ExFat {
            index: partition.index,
        },
        Some(FileSystemName::Ntfs) => CardProblem::Ntfs {
            index: partition.index,
        },
        _ => match parse_fat_geometry(boot, partition) {
            Ok(geometry) if geometry.kind == FatKind::Fat12 => CardProblem::Fat12 {
                clusters: geometry.cluster_count,
            },
            // FAT16/FAT32 content (or anything else) behind a type `embedded-sdmmc` refuses.
            _ => CardProblem::UnsupportedPartitionType {
                index: partition.index,
                type_id: partition.type_id,
            },
        },
    }
}

/// A little-endian `u16` at `at` (0 if out of bounds, which the constant offsets never are).
pub(crate) fn le_u16(bytes: &[u8], at: usize) -> u16 {
    bytes
        .get(at..at.saturating_add(2))
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

/// A little-endian `u32` at `at` (0 if out of bounds, which the constant offsets never are).
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at.saturating_add(4))
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The byte at `at` (0 if out of bounds).
pub(crate) fn byte(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or(0)
}
