//! The FAT boot sector (BPB), the geometry it implies, and walking the FAT.

use super::mbr::Partition;
use super::problem::CardProblem;
use super::{SECTOR_LEN, Sector, byte, le_u16, le_u32};

/// [`SECTOR_LEN`] as a `u32`, for LBA arithmetic.
const SECTOR_U32: u32 = SECTOR_LEN as u32;
/// Bytes per directory entry (fixed root directory size computation).
const DIR_ENTRY_U32: u32 = 32;
/// Below this many clusters a volume is FAT12 (Microsoft's FAT specification, `embedded-sdmmc`).
const FAT16_MIN_CLUSTERS: u32 = 4085;
/// Below this many clusters (and from [`FAT16_MIN_CLUSTERS`]) a volume is FAT16; from here FAT32.
const FAT32_MIN_CLUSTERS: u32 = 65525;
/// FAT32 entries use only their low 28 bits.
const FAT32_MASK: u32 = 0x0FFF_FFFF;

/// `FSI_LeadSig` at offset 0 of the FSInfo sector.
pub const FSINFO_LEAD_SIG: u32 = 0x4161_5252;
/// `FSI_StrucSig` at offset 484 of the FSInfo sector.
pub const FSINFO_STRUC_SIG: u32 = 0x6141_7272;
/// `FSI_TrailSig` at offset 508 of the FSInfo sector.
pub const FSINFO_TRAIL_SIG: u32 = 0xAA55_0000;

/// Which FAT variant a volume is, decided by its cluster count alone, as Microsoft's specification
/// (and `embedded-sdmmc`) does: the `BS_FilSysType` string is informational and never trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FatKind {
    /// Fewer than 4085 clusters (`embedded-sdmmc` cannot read it).
    Fat12,
    /// 4085 to 65524 clusters.
    Fat16,
    /// 65525 clusters or more.
    Fat32,
}

/// Where everything of a FAT volume is, in absolute card LBAs.
///
/// Built only by [`parse_fat_geometry`] / [`parse_boot_sector`], which guarantee that every data
/// cluster lies inside the partition, that the first FAT has an entry for every cluster, and that no
/// LBA computed by the methods overflows a `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FatGeometry {
    /// FAT12, FAT16 or FAT32.
    pub kind: FatKind,
    /// LBA of the boot sector (the partition's first sector).
    pub partition_lba: u32,
    /// Sectors per cluster (a power of two).
    pub sectors_per_cluster: u8,
    /// Sectors before the first FAT, counted from the boot sector.
    pub reserved_sectors: u16,
    /// Number of FAT copies.
    pub fats: u8,
    /// Sectors per FAT copy.
    pub sectors_per_fat: u32,
    /// Entries of the fixed root directory (FAT12/16; 0 on FAT32).
    pub root_entries: u16,
    /// Sectors of the volume.
    pub total_sectors: u32,
    /// Data clusters; valid cluster numbers are `2..cluster_count + 2`.
    pub cluster_count: u32,
    /// First cluster of the root directory (FAT32; 0 otherwise).
    pub root_cluster: u32,
    /// LBA of the first sector of the first FAT.
    pub fat_lba: u32,
    /// LBA of the root directory: the fixed area on FAT12/16, `cluster_lba(root_cluster)` on FAT32.
    pub root_dir_lba: u32,
    /// LBA of cluster 2, the first data cluster.
    pub data_lba: u32,
}

impl FatGeometry {
    /// Bytes per cluster (at most 128 × 512 = 65536).
    pub fn bytes_per_cluster(&self) -> u32 {
        u32::from(self.sectors_per_cluster) * SECTOR_U32
    }

    /// LBA of the first sector of `cluster` (`None` when `cluster < 2` or beyond the last cluster).
    pub fn cluster_lba(&self, cluster: u32) -> Option<u32> {
        let index = cluster.checked_sub(2)?;
        if index >= self.cluster_count {
            return None;
        }
        index
            .checked_mul(u32::from(self.sectors_per_cluster))
            .and_then(|offset| self.data_lba.checked_add(offset))
    }

    /// Where the FAT entry of `cluster` is: (LBA of the sector in the FIRST FAT, byte offset in it).
    ///
    /// FAT16 and FAT32 only: FAT12 entries are 12 bits and may straddle two sectors, and FAT12 is never
    /// opened anyway. `None` also for a cluster outside `2..cluster_count + 2`.
    pub fn fat_entry_location(&self, cluster: u32) -> Option<(u32, usize)> {
        let width = self.entry_width()?;
        if cluster < 2 || cluster - 2 >= self.cluster_count {
            return None;
        }
        let offset = u64::from(cluster) * u64::from(width);
        let sector = u32::try_from(offset / u64::from(SECTOR_U32)).ok()?;
        let within = usize::try_from(offset % u64::from(SECTOR_U32)).ok()?;
        Some((self.fat_lba.checked_add(sector)?, within))
    }

    /// Reads the entry of `cluster` from `fat_sector` (the sector [`Self::fat_entry_location`] names).
    ///
    /// `Ok(Some(next))` for the next cluster of the chain, `Ok(None)` at the end of the chain
    /// (`FFF8..=FFFF`, `0FFFFFF8..=0FFFFFFF`). Free (0), reserved (1), bad (`FFF7`/`0FFFFFF7`),
    /// out-of-range values and a cluster pointing at itself are
    /// [`CardProblem::BadClusterChain`]; so is a `cluster` that has no entry (FAT12, or outside the
    /// volume), reported with `entry: 0`. FAT32 entries are masked to their low 28 bits first.
    ///
    /// A chain that loops through several clusters is not detected here: walk at most
    /// `cluster_count` links.
    pub fn next_cluster(
        &self,
        fat_sector: &Sector,
        cluster: u32,
    ) -> Result<Option<u32>, CardProblem> {
        let bad = |entry| CardProblem::BadClusterChain { cluster, entry };
        let Some((_, at)) = self.fat_entry_location(cluster) else {
            return Err(bad(0));
        };
        let (entry, end_from, bad_value) = match self.kind {
            FatKind::Fat16 => (u32::from(le_u16(fat_sector, at)), 0xFFF8, 0xFFF7),
            FatKind::Fat32 => (
                le_u32(fat_sector, at) & FAT32_MASK,
                0x0FFF_FFF8,
                0x0FFF_FFF7,
            ),
            FatKind::Fat12 => return Err(bad(0)),
        };
        if entry >= end_from {
            return Ok(None);
        }
        let in_range = entry >= 2 && entry - 2 < self.cluster_count;
        if !in_range || entry == bad_value || entry == cluster {
            return Err(bad(entry));
        }
        Ok(Some(entry))
    }

    /// Bytes per FAT entry (FAT16: 2, FAT32: 4; FAT12 has none whole).
    fn entry_width(&self) -> Option<u32> {
        match self.kind {
            FatKind::Fat12 => None,
            FatKind::Fat16 => Some(2),
            FatKind::Fat32 => Some(4),
        }
    }
}

/// Parses the boot sector of `partition` for a volume `embedded-sdmmc` can open.
///
/// On top of [`parse_fat_geometry`]: FAT12 is [`CardProblem::Fat12`]; FAT32 must be version 0.0 and
/// name an FSInfo sector inside the reserved area (`embedded-sdmmc` reads it when it opens the
/// volume; [`probe`](super::probe) then checks its signatures with [`check_fs_info`]).
pub fn parse_boot_sector(boot: &Sector, partition: &Partition) -> Result<FatGeometry, CardProblem> {
    let geometry = parse_fat_geometry(boot, partition)?;
    match geometry.kind {
        FatKind::Fat12 => Err(CardProblem::Fat12 {
            clusters: geometry.cluster_count,
        }),
        FatKind::Fat16 => Ok(geometry),
        FatKind::Fat32 => {
            let version = le_u16(boot, 42);
            if version != 0 {
                return Err(CardProblem::BadBootSector {
                    field: "FAT32 version (BPB_FSVer, must be 0)",
                    found: u32::from(version),
                });
            }
            let fs_info = le_u16(boot, 48);
            if fs_info == 0 || fs_info >= geometry.reserved_sectors {
                return Err(CardProblem::BadBootSector {
                    field: "FSInfo sector (BPB_FSInfo, must lie in the reserved sectors)",
                    found: u32::from(fs_info),
                });
            }
            Ok(geometry)
        }
    }
}

/// The LBA of the FSInfo sector of a FAT32 volume (`None` for FAT12/16).
pub(super) fn fs_info_lba(boot: &Sector, geometry: &FatGeometry) -> Option<u32> {
    match geometry.kind {
        FatKind::Fat32 => geometry
            .partition_lba
            .checked_add(u32::from(le_u16(boot, 48))),
        FatKind::Fat12 | FatKind::Fat16 => None,
    }
}

/// Checks the three signatures of a FAT32 FSInfo sector, as `embedded-sdmmc` does when it opens a
/// volume (it fails with `"Bad lead signature on InfoSector"` and the like otherwise).
pub fn check_fs_info(sector: &Sector) -> Result<(), CardProblem> {
    let checks: [(&'static str, usize, u32); 3] = [
        (
            "FSInfo lead signature (FSI_LeadSig, must be 0x41615252)",
            0,
            FSINFO_LEAD_SIG,
        ),
        (
            "FSInfo structure signature (FSI_StrucSig, must be 0x61417272)",
            484,
            FSINFO_STRUC_SIG,
        ),
        (
            "FSInfo trail signature (FSI_TrailSig, must be 0xAA550000)",
            508,
            FSINFO_TRAIL_SIG,
        ),
    ];
    for (field, at, expected) in checks {
        let found = le_u32(sector, at);
        if found != expected {
            return Err(CardProblem::BadBootSector { field, found });
        }
    }
    Ok(())
}

/// Parses the BPB of `partition`'s boot sector into its geometry, for any FAT variant.
///
/// Rejects exFAT ([`CardProblem::ExFat`]) and NTFS ([`CardProblem::Ntfs`]) by their OEM name, and
/// with [`CardProblem::BadBootSector`]: a missing `55 AA` signature, bytes per sector other than 512,
/// sectors per cluster not a power of two, 0 reserved sectors, 0 FATs, a FAT size of 0 or too small
/// for the clusters, total sectors 0 / beyond the partition / fewer than the metadata, a FAT16 without
/// root directory entries, and a FAT32 with fixed root entries or a root cluster outside the volume.
/// Does not judge whether `embedded-sdmmc` supports the variant; [`parse_boot_sector`] does.
pub fn parse_fat_geometry(
    boot: &Sector,
    partition: &Partition,
) -> Result<FatGeometry, CardProblem> {
    let bad = |field: &'static str, found: u32| CardProblem::BadBootSector { field, found };
    match boot.get(3..11) {
        Some(b"EXFAT   ") => {
            return Err(CardProblem::ExFat {
                index: partition.index,
            });
        }
        Some(b"NTFS    ") => {
            return Err(CardProblem::Ntfs {
                index: partition.index,
            });
        }
        _ => {}
    }
    let signature = le_u16(boot, 510);
    if signature != 0xAA55 {
        return Err(bad(
            "boot sector signature (bytes 510-511, must be 55 AA)",
            u32::from(signature),
        ));
    }
    let bytes_per_sector = le_u16(boot, 11);
    if u32::from(bytes_per_sector) != SECTOR_U32 {
        return Err(bad(
            "bytes per sector (BPB_BytsPerSec, must be 512)",
            u32::from(bytes_per_sector),
        ));
    }
    let sectors_per_cluster = byte(boot, 13);
    if !sectors_per_cluster.is_power_of_two() {
        return Err(bad(
            "sectors per cluster (BPB_SecPerClus, must be a power of two)",
            u32::from(sectors_per_cluster),
        ));
    }
    let reserved_sectors = le_u16(boot, 14);
    if reserved_sectors == 0 {
        return Err(bad("reserved sectors (BPB_RsvdSecCnt, must not be 0)", 0));
    }
    let fats = byte(boot, 16);
    if fats == 0 {
        return Err(bad("number of FATs (BPB_NumFATs, must not be 0)", 0));
    }
    let root_entries = le_u16(boot, 17);
    let sectors_per_fat = match le_u16(boot, 22) {
        0 => le_u32(boot, 36),
        n => u32::from(n),
    };
    if sectors_per_fat == 0 {
        return Err(bad(
            "sectors per FAT (BPB_FATSz16/BPB_FATSz32, must not be 0)",
            0,
        ));
    }
    let total_sectors = match le_u16(boot, 19) {
        0 => le_u32(boot, 32),
        n => u32::from(n),
    };
    if total_sectors == 0 {
        return Err(bad(
            "total sectors (BPB_TotSec16/BPB_TotSec32, must not be 0)",
            0,
        ));
    }
    if total_sectors > partition.blocks {
        return Err(bad(
            "total sectors (BPB_TotSec16/BPB_TotSec32, more than the partition holds)",
            total_sectors,
        ));
    }
    if u64::from(partition.start_lba) + u64::from(total_sectors) > u64::from(u32::MAX) {
        return Err(bad(
            "total sectors (BPB_TotSec16/BPB_TotSec32, the volume would end beyond LBA 2^32)",
            total_sectors,
        ));
    }

    // Everything below is bounded by `total_sectors`, so by the u32 LBA range just checked.
    let root_dir_sectors = (u32::from(root_entries) * DIR_ENTRY_U32).div_ceil(SECTOR_U32);
    let fat_area = u64::from(fats) * u64::from(sectors_per_fat);
    let meta = u64::from(reserved_sectors) + fat_area + u64::from(root_dir_sectors);
    let Some(data_sectors) = u64::from(total_sectors).checked_sub(meta) else {
        return Err(bad(
            "total sectors (BPB_TotSec16/BPB_TotSec32, fewer than the reserved, FAT and root directory sectors)",
            total_sectors,
        ));
    };
    let cluster_count =
        u32::try_from(data_sectors / u64::from(sectors_per_cluster)).unwrap_or(u32::MAX);
    let kind = if cluster_count < FAT16_MIN_CLUSTERS {
        FatKind::Fat12
    } else if cluster_count < FAT32_MIN_CLUSTERS {
        FatKind::Fat16
    } else {
        FatKind::Fat32
    };

    // The first FAT must hold an entry for clusters 0 ..= cluster_count + 1.
    let entries = u64::from(cluster_count) + 2;
    let fat_bytes_needed = match kind {
        FatKind::Fat12 => (entries * 3).div_ceil(2),
        FatKind::Fat16 => entries * 2,
        FatKind::Fat32 => entries * 4,
    };
    if u64::from(sectors_per_fat) * u64::from(SECTOR_U32) < fat_bytes_needed {
        return Err(bad(
            "sectors per FAT (BPB_FATSz16/BPB_FATSz32, too few for the clusters)",
            sectors_per_fat,
        ));
    }

    let root_cluster = match kind {
        FatKind::Fat32 => {
            if root_entries != 0 {
                return Err(bad(
                    "root directory entries (BPB_RootEntCnt, must be 0 on FAT32)",
                    u32::from(root_entries),
                ));
            }
            let root = le_u32(boot, 44);
            if root < 2 || root - 2 >= cluster_count {
                return Err(bad(
                    "root directory cluster (BPB_RootClus, outside the volume)",
                    root,
                ));
            }
            root
        }
        FatKind::Fat12 | FatKind::Fat16 => {
            if root_entries == 0 {
                return Err(bad(
                    "root directory entries (BPB_RootEntCnt, must not be 0 on FAT12/FAT16)",
                    0,
                ));
            }
            0
        }
    };

    // meta <= total_sectors and start + total_sectors <= u32::MAX, so these cannot fail.
    let lba = |offset: u64| {
        u32::try_from(u64::from(partition.start_lba) + offset)
            .map_err(|_| bad("total sectors (BPB_TotSec16/BPB_TotSec32)", total_sectors))
    };
    let fat_lba = lba(u64::from(reserved_sectors))?;
    let data_lba = lba(meta)?;
    let mut geometry = FatGeometry {
        kind,
        partition_lba: partition.start_lba,
        sectors_per_cluster,
        reserved_sectors,
        fats,
        sectors_per_fat,
        root_entries,
        total_sectors,
        cluster_count,
        root_cluster,
        fat_lba,
        root_dir_lba: 0,
        data_lba,
    };
    geometry.root_dir_lba = match kind {
        FatKind::Fat32 => geometry
            .cluster_lba(root_cluster)
            .ok_or(bad("root directory cluster (BPB_RootClus)", root_cluster))?,
        FatKind::Fat12 | FatKind::Fat16 => lba(u64::from(reserved_sectors) + fat_area)?,
    };
    Ok(geometry)
}
