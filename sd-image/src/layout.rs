//! What card to make ([`Layout`]) and the checked arithmetic that says whether it can exist
//! ([`Geometry`]).
//!
//! # The geometry of a FAT volume made by `fatfs` 0.3.6
//!
//! | region | sectors |
//! |---|---|
//! | reserved (boot sector; FAT32 also FSInfo at 1 and the backup boot sector at 6) | 8 for FAT32, 1 for FAT12/16 |
//! | 2 FATs | 2 × `fat_sectors` |
//! | root directory (FAT12/16 only: 512 entries × 32 bytes) | 32, or 0 for FAT32 |
//! | data: `clusters` × `sectors_per_cluster` | the rest, rounded down to whole clusters |
//!
//! `fat_sectors` is the smallest count whose entries (12, 16 or 32 bits each) cover every cluster
//! plus the 2 reserved entries; `fatfs` solves it in closed form
//! (`ceil((t0 + 2·spc) / (spc·512·8/bits + 2))`, `t0` = volume − reserved − root) and so do we, so
//! the cluster count computed here is the one `fatfs` writes. [`crate::build`] still reads the boot
//! sector back afterwards and refuses a mismatch.

use core::fmt;

use crate::error::BuildError;

/// Bytes in a sector; the only sector size SD cards, `embedded-sdmmc` and these images use.
pub(crate) const SECTOR: u64 = 512;
const MIB: u64 = 1024 * 1024;
/// GPT needs LBA 0 (protective MBR), LBA 1 (header) and 32 sectors of partition entries before
/// the first usable sector, and the same 33 sectors (backup) at the end of the disk.
pub(crate) const GPT_RESERVED_SECTORS: u64 = 34;
/// Volume serial number written by both builders, so images are reproducible.
pub(crate) const VOLUME_ID: u32 = 0x5344_4331;
/// Bytes per FAT directory entry (FAT12/16 root directory size arithmetic).
const DIR_ENTRY_BYTES: u32 = 32;
/// Root directory entries of a FAT12/16 volume (the `fatfs` and `mkfs.fat` default for disks).
pub(crate) const ROOT_ENTRIES: u16 = 512;
/// Number of FAT copies (both builders write 2, like every card from a shop).
pub(crate) const FATS: u32 = 2;
/// Largest cluster `fatfs` and the FAT specification accept without compatibility warnings.
const MAX_CLUSTER_BYTES: u32 = 32 * 1024;

/// The FAT variant, decided by the volume's cluster count (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fat {
    /// Fewer than 4,085 clusters. `embedded-sdmmc` refuses it ("FAT12 is unsupported").
    Fat12,
    /// 4,085 to 65,524 clusters.
    Fat16,
    /// 65,525 clusters or more.
    Fat32,
}

impl Fat {
    /// The FAT type a volume with `clusters` data clusters is, by the rule `fatfs`,
    /// `embedded-sdmmc`, `mkfs.fat` and Microsoft's specification share.
    pub fn for_cluster_count(clusters: u32) -> Fat {
        if clusters < Fat::Fat16.min_clusters() {
            Fat::Fat12
        } else if clusters < Fat::Fat32.min_clusters() {
            Fat::Fat16
        } else {
            Fat::Fat32
        }
    }

    /// The smallest cluster count a volume of this type can have.
    pub fn min_clusters(self) -> u32 {
        match self {
            Fat::Fat12 => 1,
            Fat::Fat16 => 4_085,
            Fat::Fat32 => 65_525,
        }
    }

    /// The largest cluster count a volume of this type can have (for FAT32 the limit `fatfs`
    /// enforces: 28-bit cluster numbers minus the reserved values).
    pub fn max_clusters(self) -> u32 {
        match self {
            Fat::Fat12 => 4_084,
            Fat::Fat16 => 65_524,
            Fat::Fat32 => 0x0FFF_FFF4,
        }
    }

    /// Bits per FAT entry (12, 16 or 32).
    pub fn bits(self) -> u32 {
        match self {
            Fat::Fat12 => 12,
            Fat::Fat16 => 16,
            Fat::Fat32 => 32,
        }
    }

    /// Reserved sectors at the start of a volume `fatfs` formats (FAT32 keeps its FSInfo sector and
    /// a backup boot sector there).
    fn reserved_sectors(self) -> u32 {
        match self {
            Fat::Fat32 => 8,
            Fat::Fat12 | Fat::Fat16 => 1,
        }
    }

    /// Sectors of the fixed root directory (FAT12/16 only).
    fn root_dir_sectors(self) -> u32 {
        match self {
            Fat::Fat32 => 0,
            Fat::Fat12 | Fat::Fat16 => {
                (u32::from(ROOT_ENTRIES) * DIR_ENTRY_BYTES).div_ceil(SECTOR as u32)
            }
        }
    }

    pub(crate) fn to_fatfs(self) -> fatfs::FatType {
        match self {
            Fat::Fat12 => fatfs::FatType::Fat12,
            Fat::Fat16 => fatfs::FatType::Fat16,
            Fat::Fat32 => fatfs::FatType::Fat32,
        }
    }
}

impl fmt::Display for Fat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fat::Fat12 => "FAT12",
            Fat::Fat16 => "FAT16",
            Fat::Fat32 => "FAT32",
        })
    }
}

/// How the card is partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// A DOS/MBR partition table whose first entry is one partition of this type from
    /// [`Layout::start_lba`] to the end of the card. `embedded-sdmmc` opens types 0x0B/0x0C (FAT32)
    /// and 0x04/0x06/0x0E (FAT16) and refuses every other one.
    Mbr {
        /// The partition type byte (offset 4 of the entry), e.g. 0x0C for FAT32 with LBA.
        type_id: u8,
    },
    /// No partition table: the FAT volume starts at sector 0 ("superfloppy", how `mkfs.fat` formats
    /// a whole device). [`Layout::start_lba`] is ignored. `embedded-sdmmc` refuses it.
    Superfloppy,
    /// A GPT disk: sector 0 is a protective MBR (one entry of type 0xEE covering the disk), LBA 1 the
    /// GPT header, then the partition entries; one "Microsoft basic data" partition at
    /// [`Layout::start_lba`] holds the volume. `embedded-sdmmc` refuses it (type 0xEE).
    GptProtective,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Table::Mbr { type_id } => write!(f, "MBR (partition type 0x{type_id:02X})"),
            Table::Superfloppy => f.write_str("none (superfloppy)"),
            Table::GptProtective => f.write_str("GPT (protective MBR, type 0xEE)"),
        }
    }
}

/// Everything that decides what a card looks like. Build one with the constructors and adjust
/// fields with struct update syntax (`Layout { table: Table::Superfloppy, ..Layout::fat32_small() }`);
/// [`Layout::geometry`] checks it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Size of the whole card in bytes: a whole number of 512-byte sectors.
    pub size_bytes: u64,
    /// Bytes per cluster: a power of two from 512 to 32,768.
    pub cluster_bytes: u32,
    /// The FAT type the volume must come out as (checked against its cluster count).
    pub fat: Fat,
    /// The partition table.
    pub table: Table,
    /// First sector of the partition (2048 = 1 MiB, as SD cards and partitioning tools align).
    pub start_lba: u32,
    /// Volume label: up to 11 characters (letters are stored upper-case); empty means "NO NAME".
    pub label: String,
}

const DEFAULT_START_LBA: u32 = 2048;
const DEFAULT_LABEL: &str = "MODEMFW";
/// 0x0C: FAT32 with LBA addressing, what SD cards ship with.
const TYPE_FAT32_LBA: u8 = 0x0C;
/// 0x0E: FAT16 with LBA addressing.
const TYPE_FAT16_LBA: u8 = 0x0E;
/// 0x01: FAT12, what a tool writes for a volume this small.
const TYPE_FAT12: u8 = 0x01;

/// The smallest card [`Layout::fat32_for`] makes, 258 MiB: the first whole MiB at which FAT32
/// with 4 KiB clusters behind a 1 MiB partition offset reaches 65,525 clusters.
///
/// 257 MiB = 526,336 sectors; minus 2,048 before the partition leaves 524,288; minus 8 reserved and
/// 2 × 511 FAT sectors leaves 523,258 sectors = 65,407 clusters of 8 sectors: too few.
/// 258 MiB leaves 526,336 − 8 − 2 × 513 = 525,302 sectors = 65,662 clusters. (A "256 MiB" card can
/// only be FAT32 with clusters of 2 KiB or less.) `mkfs.fat` reserves 32 sectors instead of 8 and
/// aligns its data region, and still gets 65,653 (measured), so both builders agree.
pub const FAT32_FOR_MIN_BYTES: u64 = 258 * MIB;
/// Headroom [`Layout::fat32_for`] adds on top of the files (+25 % and this), so directories, FAT
/// rounding and a later copy of a similar file fit.
pub const FAT32_FOR_EXTRA_BYTES: u64 = 16 * MIB;

impl Layout {
    /// A FAT32 card for files totalling `total_file_bytes`, like the cards used in the field:
    /// MBR partition type 0x0C at LBA 2048, 4 KiB clusters, size =
    /// max([`FAT32_FOR_MIN_BYTES`] (258 MiB), files + 25 % + 16 MiB) rounded up to a whole MiB.
    ///
    /// The 258 MiB floor is what makes it FAT32 at all: FAT32 needs at least 65,525 clusters, and
    /// 65,525 × 4 KiB = 255.96 MiB of data, plus 1 MiB before the partition, 4 KiB reserved and
    /// 2 × ~257 KiB of FAT (see [`FAT32_FOR_MIN_BYTES`] for the sector counts). Above the floor the
    /// cluster count only grows. (The arithmetic saturates, so an absurd total gives a layout that
    /// [`Layout::geometry`] rejects as too large rather than a wrapped small one.)
    pub fn fat32_for(total_file_bytes: u64) -> Self {
        let wanted = total_file_bytes
            .saturating_add(total_file_bytes / 4)
            .saturating_add(FAT32_FOR_EXTRA_BYTES);
        let mib = wanted.max(FAT32_FOR_MIN_BYTES).div_ceil(MIB);
        let size = mib.min(u64::MAX / MIB) * MIB;
        Layout {
            size_bytes: size,
            cluster_bytes: 4096,
            fat: Fat::Fat32,
            table: Table::Mbr {
                type_id: TYPE_FAT32_LBA,
            },
            start_lba: DEFAULT_START_LBA,
            label: DEFAULT_LABEL.to_owned(),
        }
    }

    /// The smallest sensible FAT32 card for tests: 40 MiB with 512-byte clusters, MBR type 0x0C at
    /// LBA 2048. The 79,872-sector partition minus 8 reserved and 2 × 615 FAT sectors leaves
    /// 78,634 clusters, comfortably above FAT32's 65,525 (a unit test pins the number).
    pub fn fat32_small() -> Self {
        Layout {
            size_bytes: 40 * MIB,
            cluster_bytes: 512,
            ..Layout::fat32_for(0)
        }
    }

    /// A small FAT16 card: 16 MiB, 2 KiB clusters, MBR type 0x0E (FAT16 LBA) at LBA 2048 —
    /// 7,656 clusters, in the middle of FAT16's 4,085..=65,524.
    pub fn fat16_small() -> Self {
        Layout {
            size_bytes: 16 * MIB,
            cluster_bytes: 2048,
            fat: Fat::Fat16,
            table: Table::Mbr {
                type_id: TYPE_FAT16_LBA,
            },
            ..Layout::fat32_for(0)
        }
    }

    /// A tiny FAT12 card (2 MiB, 1 KiB clusters, MBR type 0x01 at LBA 2048, about 1,000 clusters)
    /// that `embedded-sdmmc` must refuse: it rejects partition type 0x01, and a FAT12 volume behind
    /// a FAT16 type byte by its cluster count ("FAT12 is unsupported").
    pub fn fat12_tiny() -> Self {
        Layout {
            size_bytes: 2 * MIB,
            cluster_bytes: 1024,
            fat: Fat::Fat12,
            table: Table::Mbr {
                type_id: TYPE_FAT12,
            },
            ..Layout::fat32_for(0)
        }
    }

    /// Checks the layout and computes where everything goes. Every builder calls this first, so a
    /// layout that cannot exist is refused before a byte is written.
    ///
    /// # Errors
    /// The size is not whole sectors or too large for 32-bit sector numbers, the partition start
    /// does not fit the table, the cluster size is not a power of two in 512..=32,768, the label is
    /// not valid, or the volume's cluster count is outside the range of [`Layout::fat`]
    /// ([`BuildError::ClusterCount`], with the numbers).
    pub fn geometry(&self) -> Result<Geometry, BuildError> {
        let disk_sectors = self.disk_sectors()?;
        let (start, sectors) = self.volume_extent(disk_sectors)?;
        let cluster_bytes = self.cluster_bytes;
        if !cluster_bytes.is_power_of_two()
            || cluster_bytes < SECTOR as u32
            || cluster_bytes > MAX_CLUSTER_BYTES
        {
            return Err(BuildError::ClusterSize { cluster_bytes });
        }
        // At most 64 (32 KiB / 512), so it fits the BPB's u8.
        let spc = cluster_bytes / SECTOR as u32;
        let label = label_bytes(&self.label)?;

        let fat = self.fat;
        let reserved = fat.reserved_sectors();
        let root = fat.root_dir_sectors();
        // `fatfs` refuses a volume with no room for at least 8 sectors of FAT and data.
        let overhead = u64::from(reserved) + u64::from(root) + 8;
        if u64::from(sectors) <= overhead {
            return Err(BuildError::VolumeTooSmall {
                size_bytes: self.size_bytes,
                volume_sectors: sectors,
                needed_sectors: overhead + 1,
            });
        }
        let t0 = u64::from(sectors) - u64::from(reserved) - u64::from(root);
        let t1 = t0 + 2 * u64::from(spc);
        let entries_per_cluster = u64::from(spc * SECTOR as u32 * 8 / fat.bits());
        let t2 = entries_per_cluster + u64::from(FATS);
        let fat_sectors = t1.div_ceil(t2);
        let used = u64::from(reserved) + u64::from(root) + u64::from(FATS) * fat_sectors;
        let data_sectors = u64::from(sectors).saturating_sub(used);
        let clusters = u32::try_from(data_sectors / u64::from(spc)).unwrap_or(u32::MAX);
        if clusters < fat.min_clusters() || clusters > fat.max_clusters() {
            return Err(BuildError::ClusterCount {
                fat,
                size_bytes: self.size_bytes,
                cluster_bytes,
                clusters,
            });
        }
        Ok(Geometry {
            disk_sectors,
            volume_start_lba: start,
            volume_sectors: sectors,
            sectors_per_cluster: spc,
            reserved_sectors: reserved,
            fat_sectors: u32::try_from(fat_sectors).unwrap_or(u32::MAX),
            root_dir_sectors: root,
            clusters,
            label,
        })
    }

    /// The card size in sectors, checked.
    fn disk_sectors(&self) -> Result<u32, BuildError> {
        let size_bytes = self.size_bytes;
        if size_bytes == 0 || !size_bytes.is_multiple_of(SECTOR) {
            return Err(BuildError::SizeNotSectors { size_bytes });
        }
        u32::try_from(size_bytes / SECTOR).map_err(|_| BuildError::SizeTooLarge { size_bytes })
    }

    /// First sector and sector count of the FAT volume for this table.
    fn volume_extent(&self, disk_sectors: u32) -> Result<(u32, u32), BuildError> {
        let start_lba = self.start_lba;
        let bad_start = |reason: &'static str| BuildError::BadStart {
            table: self.table,
            start_lba,
            disk_sectors,
            reason,
        };
        match self.table {
            Table::Superfloppy => Ok((0, disk_sectors)),
            Table::Mbr { .. } => {
                if start_lba == 0 {
                    return Err(bad_start("sector 0 holds the MBR itself"));
                }
                if start_lba >= disk_sectors {
                    return Err(bad_start(
                        "the partition would start past the end of the card",
                    ));
                }
                Ok((start_lba, disk_sectors - start_lba))
            }
            Table::GptProtective => {
                if u64::from(start_lba) < GPT_RESERVED_SECTORS {
                    return Err(bad_start(
                        "sectors 0..34 hold the protective MBR, the GPT header and its entries",
                    ));
                }
                // Last usable LBA = disk_sectors - 34 (the backup entries and header follow).
                let end = u64::from(disk_sectors).saturating_sub(GPT_RESERVED_SECTORS - 1);
                if u64::from(start_lba) >= end {
                    return Err(bad_start(
                        "the partition would start past the last usable sector (the backup GPT \
                         needs the last 33 sectors)",
                    ));
                }
                Ok((start_lba, (end - u64::from(start_lba)) as u32))
            }
        }
    }
}

/// Where a valid [`Layout`] puts things, as computed by [`Layout::geometry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Sectors on the whole card.
    pub disk_sectors: u32,
    /// First sector of the FAT volume (0 for a superfloppy).
    pub volume_start_lba: u32,
    /// Sectors in the FAT volume (= the partition).
    pub volume_sectors: u32,
    /// Sectors per cluster.
    pub sectors_per_cluster: u32,
    /// Reserved sectors at the start of the volume.
    pub reserved_sectors: u32,
    /// Sectors of one FAT.
    pub fat_sectors: u32,
    /// Sectors of the FAT12/16 root directory (0 for FAT32).
    pub root_dir_sectors: u32,
    /// Data clusters: what decides the FAT type.
    pub clusters: u32,
    /// The volume label as stored in the boot sector (upper-case, space padded).
    pub label: [u8; 11],
}

/// Checks a volume label and turns it into the 11 space-padded bytes of the boot sector.
///
/// Labels are stored like 8.3 names: upper-case letters, digits, space and the punctuation
/// `! # $ % & ' ( ) - @ ^ _ ` { } ~`. Lower-case ASCII letters are upper-cased (as Windows and
/// `mkfs.fat` do) instead of refused; anything else is an error rather than a silently mangled label.
fn label_bytes(label: &str) -> Result<[u8; 11], BuildError> {
    let mut out = *b"NO NAME    ";
    if label.is_empty() {
        return Ok(out);
    }
    let bad = |reason: &'static str| BuildError::Label {
        label: label.to_owned(),
        reason,
    };
    if label.len() > out.len() {
        return Err(bad("a FAT volume label has at most 11 characters"));
    }
    if label.starts_with(' ') {
        return Err(bad("a FAT volume label cannot start with a space"));
    }
    out = [b' '; 11];
    for (slot, byte) in out.iter_mut().zip(label.bytes()) {
        let byte = byte.to_ascii_uppercase();
        let allowed = byte.is_ascii_uppercase()
            || byte.is_ascii_digit()
            || b" !#$%&'()-@^_`{}~".contains(&byte);
        if !allowed {
            return Err(bad(
                "only letters, digits, space and ! # $ % & ' ( ) - @ ^ _ ` { } ~ are allowed",
            ));
        }
        *slot = byte;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_are_valid_and_have_the_documented_cluster_counts() {
        let g = Layout::fat32_small().geometry().unwrap();
        assert_eq!((g.volume_start_lba, g.volume_sectors), (2048, 79_872));
        assert_eq!((g.fat_sectors, g.clusters), (615, 78_634));

        let g = Layout::fat16_small().geometry().unwrap();
        assert_eq!(g.clusters, 7_656);
        assert_eq!(Fat::for_cluster_count(g.clusters), Fat::Fat16);

        let g = Layout::fat12_tiny().geometry().unwrap();
        assert_eq!(Fat::for_cluster_count(g.clusters), Fat::Fat12);

        let g = Layout::fat32_for(7_000_000).geometry().unwrap();
        assert_eq!(g.clusters, 65_662);
    }

    #[test]
    fn fat32_for_floor_is_the_first_mib_that_works() {
        let at = |mib: u64| Layout {
            size_bytes: mib * MIB,
            ..Layout::fat32_for(0)
        };
        assert_eq!(Layout::fat32_for(0).size_bytes, 258 * MIB);
        assert!(at(258).geometry().is_ok());
        match at(257).geometry() {
            Err(BuildError::ClusterCount { clusters, .. }) => assert_eq!(clusters, 65_407),
            other => panic!("257 MiB must be refused: {other:?}"),
        }
    }

    #[test]
    fn fat32_for_grows_with_the_files() {
        // 400 MiB + 100 MiB + 16 MiB = 516 MiB.
        assert_eq!(Layout::fat32_for(400 * MIB).size_bytes, 516 * MIB);
        // Rounded up to a whole MiB.
        assert_eq!(Layout::fat32_for(400 * MIB + 1).size_bytes, 517 * MIB);
        let huge = Layout::fat32_for(u64::MAX);
        assert_eq!(huge.size_bytes % MIB, 0);
        assert!(matches!(
            huge.geometry(),
            Err(BuildError::SizeTooLarge { .. })
        ));
    }

    #[test]
    fn labels() {
        assert_eq!(&label_bytes("").unwrap(), b"NO NAME    ");
        assert_eq!(&label_bytes("modem fw").unwrap(), b"MODEM FW   ");
        assert!(label_bytes("ABCDEFGHIJKL").is_err());
        assert!(label_bytes("A.B").is_err());
        assert!(label_bytes(" A").is_err());
        assert!(label_bytes("É").is_err());
    }

    #[test]
    fn fat_type_boundaries() {
        assert_eq!(Fat::for_cluster_count(4_084), Fat::Fat12);
        assert_eq!(Fat::for_cluster_count(4_085), Fat::Fat16);
        assert_eq!(Fat::for_cluster_count(65_524), Fat::Fat16);
        assert_eq!(Fat::for_cluster_count(65_525), Fat::Fat32);
    }
}
