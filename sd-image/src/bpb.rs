//! The BIOS parameter block of a FAT boot sector, checked before `fatfs` sees it.
//!
//! `fatfs` 0.3.6 does its BPB arithmetic in `u32` without overflow checks (a corrupt
//! "sectors per FAT" panics a debug build in `sectors_per_all_fats`), so [`crate::list`] refuses a
//! boot sector whose numbers do not fit inside the partition before mounting it.
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 11 | 2 | bytes per sector (must be 512 here) |
//! | 13 | 1 | sectors per cluster (1, 2, 4, ... 128) |
//! | 14 | 2 | reserved sectors (≥ 1) |
//! | 16 | 1 | number of FATs (1 or 2) |
//! | 17 | 2 | root directory entries (FAT12/16; 0 for FAT32) |
//! | 19 | 2 | total sectors if < 65,536, else 0 |
//! | 22 | 2 | sectors per FAT (FAT12/16; 0 for FAT32) |
//! | 28 | 4 | hidden sectors (the partition's first LBA) |
//! | 32 | 4 | total sectors when the 16-bit field is 0 |
//! | 36 | 4 | sectors per FAT (FAT32) |
//! | 44 | 4 | first cluster of the root directory (FAT32) |
//! | 510 | 2 | `55 AA` |

use crate::layout::{Fat, SECTOR};

/// The numbers of a FAT volume, all checked to fit inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bpb {
    pub(crate) sectors_per_cluster: u32,
    pub(crate) reserved_sectors: u32,
    pub(crate) fats: u32,
    pub(crate) root_entries: u32,
    pub(crate) total_sectors: u32,
    pub(crate) fat_sectors: u32,
    pub(crate) root_cluster: u32,
    /// Sectors of the FAT12/16 root directory region.
    pub(crate) root_dir_sectors: u32,
    /// First sector of cluster 2.
    pub(crate) first_data_sector: u32,
    /// Data clusters: decides the FAT type.
    pub(crate) clusters: u32,
    pub(crate) fat: Fat,
}

impl Bpb {
    /// Parses and checks the boot sector of a volume of `volume_sectors` sectors.
    ///
    /// # Errors
    /// A sentence saying which field is out of range.
    pub(crate) fn parse(boot: &[u8; 512], volume_sectors: u32) -> Result<Self, String> {
        let u8_at = |at: usize| boot.get(at).copied().unwrap_or(0);
        let u16_at = |at: usize| {
            boot.get(at..at + 2)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u16::from_le_bytes)
        };
        let u32_at = |at: usize| {
            boot.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_le_bytes)
        };
        if u16_at(510) != 0xAA55 {
            return Err("the boot sector does not end with 55 AA".to_owned());
        }
        let bytes_per_sector = u16_at(11);
        if u64::from(bytes_per_sector) != SECTOR {
            return Err(format!(
                "the boot sector says {bytes_per_sector} bytes per sector (only 512 is supported)"
            ));
        }
        let sectors_per_cluster = u32::from(u8_at(13));
        if !sectors_per_cluster.is_power_of_two() || sectors_per_cluster > 128 {
            return Err(format!(
                "the boot sector says {sectors_per_cluster} sectors per cluster (want a power of \
                 two up to 128)"
            ));
        }
        let reserved_sectors = u32::from(u16_at(14));
        let fats = u32::from(u8_at(16));
        if reserved_sectors == 0 || !(1..=2).contains(&fats) {
            return Err(format!(
                "the boot sector says {reserved_sectors} reserved sectors and {fats} FATs (want at \
                 least 1 and 1 or 2)"
            ));
        }
        let root_entries = u32::from(u16_at(17));
        let total_sectors = match u16_at(19) {
            0 => u32_at(32),
            n => u32::from(n),
        };
        let fat_sectors = match u16_at(22) {
            0 => u32_at(36),
            n => u32::from(n),
        };
        if total_sectors == 0 || total_sectors > volume_sectors {
            return Err(format!(
                "the boot sector says the volume has {total_sectors} sectors but the partition has \
                 {volume_sectors}"
            ));
        }
        if fat_sectors == 0 {
            return Err("the boot sector says a FAT has 0 sectors".to_owned());
        }
        let root_dir_sectors = (u64::from(root_entries) * 32).div_ceil(SECTOR);
        let first_data = u64::from(reserved_sectors)
            + u64::from(fats) * u64::from(fat_sectors)
            + root_dir_sectors;
        if first_data >= u64::from(total_sectors) {
            return Err(format!(
                "the boot sector puts the data region at sector {first_data}, past the volume's \
                 {total_sectors} sectors"
            ));
        }
        // Everything is below `total_sectors` (a u32) from here on.
        let first_data_sector = first_data as u32;
        let clusters = (total_sectors - first_data_sector) / sectors_per_cluster;
        let fat = Fat::for_cluster_count(clusters);
        let needed_fat_bytes = (u64::from(clusters) + 2) * u64::from(fat.bits()) / 8;
        if u64::from(fat_sectors) * SECTOR < needed_fat_bytes {
            return Err(format!(
                "a FAT of {fat_sectors} sectors cannot map the volume's {clusters} clusters"
            ));
        }
        let root_cluster = u32_at(44);
        if fat == Fat::Fat32 && (root_cluster < 2 || root_cluster >= clusters + 2) {
            return Err(format!(
                "the FAT32 root directory starts at cluster {root_cluster}, outside 2..{}",
                clusters + 2
            ));
        }
        Ok(Bpb {
            sectors_per_cluster,
            reserved_sectors,
            fats,
            root_entries,
            total_sectors,
            fat_sectors,
            root_cluster,
            root_dir_sectors: root_dir_sectors as u32,
            first_data_sector,
            clusters,
            fat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layout, build_image};

    fn boot_sector(layout: &Layout) -> [u8; 512] {
        let disk = build_image(layout, &[]).unwrap();
        let mut boot = [0u8; 512];
        disk.read_block(u64::from(layout.start_lba), &mut boot);
        boot
    }

    #[test]
    fn agrees_with_the_layout_geometry() {
        for layout in [
            Layout::fat32_small(),
            Layout::fat16_small(),
            Layout::fat12_tiny(),
        ] {
            let g = layout.geometry().unwrap();
            let bpb = Bpb::parse(&boot_sector(&layout), g.volume_sectors).unwrap();
            assert_eq!(bpb.clusters, g.clusters);
            assert_eq!(bpb.fat_sectors, g.fat_sectors);
            assert_eq!(bpb.fat, layout.fat);
            assert_eq!(bpb.sectors_per_cluster, g.sectors_per_cluster);
        }
    }

    #[test]
    fn refuses_numbers_that_do_not_fit() {
        let layout = Layout::fat32_small();
        let sectors = layout.geometry().unwrap().volume_sectors;
        let good = boot_sector(&layout);
        let patch = |at: usize, bytes: &[u8]| {
            let mut b = good;
            b[at..at + bytes.len()].copy_from_slice(bytes);
            Bpb::parse(&b, sectors)
        };
        assert!(patch(36, &u32::MAX.to_le_bytes()).is_err(), "huge FAT");
        assert!(patch(36, &1u32.to_le_bytes()).is_err(), "FAT too small");
        assert!(
            patch(32, &(sectors + 1).to_le_bytes()).is_err(),
            "larger than the partition"
        );
        assert!(patch(13, &[3]).is_err(), "3 sectors per cluster");
        assert!(patch(16, &[0]).is_err(), "no FAT");
        assert!(patch(11, &[0, 4]).is_err(), "1024-byte sectors");
        assert!(patch(44, &0u32.to_le_bytes()).is_err(), "root cluster 0");
        assert!(patch(510, &[0, 0]).is_err(), "no signature");
        assert!(
            Bpb::parse(&good, 100).is_err(),
            "partition smaller than the volume"
        );
    }
}
