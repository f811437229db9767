//! Everything that keeps `embedded-sdmmc` from opening a card, each with what was found, what is
//! needed and what to do.

use core::fmt;

/// What a boot sector holds, as far as it could be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FileSystemName {
    /// FAT with fewer than 4085 clusters.
    Fat12,
    /// FAT with 4085 to 65524 clusters.
    Fat16,
    /// FAT with 65525 clusters or more.
    Fat32,
    /// exFAT (OEM name `"EXFAT   "`).
    ExFat,
    /// NTFS (OEM name `"NTFS    "`).
    Ntfs,
    /// A boot sector whose geometry does not add up.
    Unknown,
}

impl fmt::Display for FileSystemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileSystemName::Fat12 => "FAT12",
            FileSystemName::Fat16 => "FAT16",
            FileSystemName::Fat32 => "FAT32",
            FileSystemName::ExFat => "exFAT",
            FileSystemName::Ntfs => "NTFS",
            FileSystemName::Unknown => "unrecognised",
        })
    }
}

/// Why the card cannot be used, with the values found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CardProblem {
    /// Sector 0 does not end in `55 AA`: no MBR (blank, damaged or GPT-less raw card).
    NoMbrSignature {
        /// Bytes 510 and 511 of sector 0.
        found: [u8; 2],
    },
    /// Sector 0 is a boot sector: the card was formatted without a partition table.
    Superfloppy {
        /// What the boot sector holds.
        file_system: FileSystemName,
    },
    /// Sector 0 is a GPT protective MBR (an entry of type `0xEE`).
    Gpt,
    /// All four MBR entries are empty.
    NoPartitions,
    /// A used MBR entry whose status byte is neither `0x00` nor `0x80`.
    InvalidPartitionStatus {
        /// Entry index 0..=3.
        index: u8,
        /// The status byte.
        status: u8,
    },
    /// No entry has a type `embedded-sdmmc` opens, and the first used one is not exFAT/NTFS/FAT12.
    UnsupportedPartitionType {
        /// Entry index 0..=3.
        index: u8,
        /// Its type byte.
        type_id: u8,
    },
    /// The partition holds exFAT.
    ExFat {
        /// Entry index 0..=3.
        index: u8,
    },
    /// The partition holds NTFS.
    Ntfs {
        /// Entry index 0..=3.
        index: u8,
    },
    /// The FAT partition has fewer than 4085 clusters, so it is FAT12.
    Fat12 {
        /// Its cluster count.
        clusters: u32,
    },
    /// A boot sector (or FSInfo) field with an impossible value.
    BadBootSector {
        /// Which field, with what it must be.
        field: &'static str,
        /// The value found.
        found: u32,
    },
    /// The partition reaches past the end of the card.
    PartitionOutsideCard {
        /// Its first LBA.
        start: u32,
        /// Its length in sectors.
        blocks: u32,
        /// The card's length in sectors.
        card_blocks: u32,
    },
    /// A FAT entry that is neither a next cluster nor end of chain.
    BadClusterChain {
        /// The cluster whose entry was read.
        cluster: u32,
        /// The entry (FAT32: low 28 bits), or 0 when `cluster` has no entry.
        entry: u32,
    },
}

/// What the upgrader needs, said once for every message.
const NEEDED: &str = "the upgrader needs an MBR partition table with one primary FAT32 partition \
                      (FAT16 also works)";

/// How to get there, with the warning that must come with any advice to format.
const FORMAT: &str = "copy the files off first, because formatting erases the card, then format it \
                      with the SD Association's SD Memory Card Formatter (cards up to 32 GB; it makes \
                      exFAT on larger ones), or create one primary partition of type 0x0C with fdisk \
                      and run `mkfs.fat -F 32` on it";

impl fmt::Display for CardProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CardProblem::NoMbrSignature { found: [a, b] } => write!(
                f,
                "sector 0 of the SD card ends in {a:02X} {b:02X} instead of the MBR signature 55 AA, so \
                 the card has no partition table (it is blank or damaged); {NEEDED}: {FORMAT}"
            ),
            CardProblem::Superfloppy { file_system } => write!(
                f,
                "the SD card has no partition table: sector 0 is the boot sector of a volume \
                 ({file_system} file system) that covers the whole card, a \"superfloppy\", and \
                 embedded-sdmmc opens only partitions listed in an MBR; {NEEDED}: {FORMAT}"
            ),
            CardProblem::Gpt => write!(
                f,
                "the SD card has a GUID partition table (GPT; sector 0 is only a protective MBR with \
                 an entry of type 0xEE), which embedded-sdmmc cannot read; {NEEDED}: {FORMAT} (choose \
                 a DOS/MBR label, e.g. the `o` command in fdisk)"
            ),
            CardProblem::NoPartitions => write!(
                f,
                "the SD card's MBR has no partitions (all four entries are empty); {NEEDED}: {FORMAT}"
            ),
            CardProblem::InvalidPartitionStatus { index, status } => write!(
                f,
                "MBR partition {} has status byte {status:#04x}, but only 0x00 and 0x80 (bootable) \
                 are valid, so sector 0 is not a usable partition table and embedded-sdmmc refuses it; \
                 {NEEDED}: {FORMAT}",
                u16::from(index) + 1
            ),
            CardProblem::UnsupportedPartitionType { index, type_id } => write!(
                f,
                "MBR partition {} has type {type_id:#04x} ({}), and no partition has a type \
                 embedded-sdmmc opens (FAT32: 0x0B, 0x0C; FAT16: 0x04, 0x06, 0x0E); {NEEDED}. If the \
                 partition already holds FAT32, changing its type to 0x0C with fdisk (`t`, `c`) keeps \
                 the files; otherwise {FORMAT}",
                u16::from(index) + 1,
                partition_type_name(type_id)
            ),
            CardProblem::ExFat { index } => write!(
                f,
                "MBR partition {} holds exFAT (what SDXC cards of 64 GB and more ship with), which \
                 embedded-sdmmc cannot read; {NEEDED}: {FORMAT}",
                u16::from(index) + 1
            ),
            CardProblem::Ntfs { index } => write!(
                f,
                "MBR partition {} holds NTFS, which embedded-sdmmc cannot read; {NEEDED}: {FORMAT}",
                u16::from(index) + 1
            ),
            CardProblem::Fat12 { clusters } => write!(
                f,
                "the FAT partition has only {clusters} clusters, which makes it FAT12 (fewer than 4085 \
                 clusters), and embedded-sdmmc reads only FAT16 and FAT32; {NEEDED}, at least 64 MB \
                 so that `mkfs.fat -F 32` can give it 65525 clusters: {FORMAT}"
            ),
            CardProblem::BadBootSector { field, found } => write!(
                f,
                "the FAT boot sector of the card has an impossible {field}: found {found} ({found:#x}), \
                 so the file system is damaged or not FAT; {NEEDED}. Try `fsck.fat` or Windows' \
                 chkdsk, or else {FORMAT}"
            ),
            CardProblem::PartitionOutsideCard {
                start,
                blocks,
                card_blocks,
            } => write!(
                f,
                "the partition starts at sector {start} and has {blocks} sectors, but the card has only \
                 {card_blocks} sectors (an image of a larger card was written to it, or the card fakes \
                 its capacity); {NEEDED} that fits on the card: {FORMAT}"
            ),
            CardProblem::BadClusterChain { cluster, entry } => write!(
                f,
                "the FAT entry of cluster {cluster} is {entry:#x}, which is neither a next cluster of \
                 the file nor an end-of-chain mark (it is free, bad or outside the volume), so the file \
                 system is damaged; {NEEDED} with intact FAT chains: run `fsck.fat -a` or Windows' \
                 chkdsk on the card, or else {FORMAT}"
            ),
        }
    }
}

impl core::error::Error for CardProblem {}

/// A readable name for an MBR partition type byte (the common ones on SD cards and PCs).
fn partition_type_name(type_id: u8) -> &'static str {
    match type_id {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0E => "FAT16",
        0x05 | 0x0F | 0x85 => "extended partition",
        0x07 => "exFAT or NTFS",
        0x0B | 0x0C => "FAT32",
        0x11 | 0x14 | 0x16 | 0x1B | 0x1C | 0x1E => "hidden FAT",
        0x82 => "Linux swap",
        0x83 => "Linux, e.g. ext4",
        0x8E => "Linux LVM",
        0xA5 | 0xA6 | 0xA9 => "BSD",
        0xAF => "macOS HFS+",
        0xEF => "EFI system partition",
        0xFD => "Linux RAID",
        _ => "not a FAT type",
    }
}

/// Why [`probe`](super::probe) failed: the card could not be read, or what is on it is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProbeError<E> {
    /// Reading a sector failed (the device's own error).
    Device(E),
    /// The card's layout is unusable.
    Card(CardProblem),
}

impl<E> From<CardProblem> for ProbeError<E> {
    fn from(problem: CardProblem) -> Self {
        ProbeError::Card(problem)
    }
}

impl<E: fmt::Display> fmt::Display for ProbeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Device(e) => write!(
                f,
                "reading the SD card's partition table or boot sector failed ({e}); check that the \
                 card is inserted and wired correctly, then try again"
            ),
            ProbeError::Card(problem) => write!(f, "{problem}"),
        }
    }
}

impl<E: core::error::Error> core::error::Error for ProbeError<E> {}
