//! Repairs the `.` and `..` entries `fatfs` 0.3.6 writes into every new folder, so the volume passes
//! `fsck.fat` like one made by `mkfs.fat` + `mtools`.
//!
//! `fatfs` 0.3.6 `create_dir` writes the dot entries through its general path, so the first
//! cluster of a new folder holds
//!
//! | slot | `fatfs` writes | the FAT specification wants |
//! |---|---|---|
//! | 0 | LFN entry for "." | `.` (8.3 entry, cluster = the folder's own) |
//! | 1 | `.` | `..` (cluster = the parent's, **0 when the parent is the root**) |
//! | 2 | LFN entry for ".." | (any entry) |
//! | 3 | `..` with cluster 2 when the parent is a FAT32 root | (any entry) |
//!
//! `fsck.fat` reports it ("Expected a valid '.' entry in this slot", "share clusters ... FAT32 root
//! dir") and would rename and delete the entries. The repair moves `.` and `..` to slots 0 and 1,
//! sets `..` of a folder in the root to cluster 0, and marks slots 2 and 3 deleted (`0xE5`) — no
//! entry after them moves, so the rest of the folder stays valid.
//!
//! Directory entry (32 bytes): name 8.3 (11) · attributes (1; 0x10 folder, 0x0F LFN part) ·
//! … · first cluster high 16 bits at 20 (FAT32) · … · first cluster low 16 bits at 26 · size at 28.

use std::io::{Read, Seek, SeekFrom, Write};

use crate::bpb::Bpb;
use crate::error::BuildError;
use crate::layout::{Fat, SECTOR};

const ENTRY: u64 = 32;
const ATTR_DIR: u8 = 0x10;
const ATTR_LFN: u8 = 0x0F;
const DELETED: u8 = 0xE5;
const DOT: &[u8; 11] = b".          ";
const DOTDOT: &[u8; 11] = b"..         ";
/// Our cards have a handful of folders; a deeper tree is not one we made.
const MAX_DEPTH: usize = 32;

/// The numbers of a FAT volume needed to walk its folders.
struct Volume {
    fat: Fat,
    sectors_per_cluster: u64,
    fat_start: u64,
    first_data_sector: u64,
    /// FAT12/16: the fixed root directory region (first sector, sectors); FAT32: `None`.
    fixed_root: Option<(u64, u64)>,
    root_cluster: u32,
    clusters: u32,
}

/// Walks every folder of the volume in `disk` (volume-relative offsets) and repairs its dot entries.
pub(crate) fn fix_dot_entries<D: Read + Write + Seek>(
    disk: &mut D,
    volume_sectors: u32,
) -> Result<(), BuildError> {
    let volume = Volume::read(disk, volume_sectors)?;
    let root_slots = match volume.fixed_root {
        Some((first, count)) => (0..count * SECTOR / ENTRY)
            .map(|i| first * SECTOR + i * ENTRY)
            .collect(),
        None => volume.chain_slots(disk, volume.root_cluster)?,
    };
    fix_children(disk, &volume, &root_slots, None, 0)
}

/// Repairs every subfolder listed in the slots of one folder (`parent` = its cluster, `None` for the
/// root), then their subfolders.
fn fix_children<D: Read + Write + Seek>(
    disk: &mut D,
    volume: &Volume,
    slots: &[u64],
    parent: Option<u32>,
    depth: usize,
) -> Result<(), BuildError> {
    if depth > MAX_DEPTH {
        return Err(BuildError::ReadBack {
            reason: format!("folders nested deeper than {MAX_DEPTH}"),
        });
    }
    for &slot in slots {
        let entry = read_entry(disk, slot)?;
        let first = entry.first().copied().unwrap_or(0);
        if first == 0 {
            break; // end of the folder
        }
        let attr = entry.get(11).copied().unwrap_or(0);
        let name = entry.get(..11).unwrap_or_default();
        if first == DELETED || attr == ATTR_LFN || attr & ATTR_DIR == 0 {
            continue;
        }
        if name == DOT || name == DOTDOT {
            continue;
        }
        let cluster = volume.entry_cluster(&entry);
        let child_slots = volume.chain_slots(disk, cluster)?;
        fix_folder(disk, &child_slots, cluster, parent)?;
        fix_children(disk, volume, &child_slots, Some(cluster), depth + 1)?;
    }
    Ok(())
}

/// Rewrites the first four slots of one folder if they are `fatfs`'s LFN/`.`/LFN/`..` pattern, and
/// makes `..` point at `parent` (0 for the root) either way.
fn fix_folder<D: Read + Write + Seek>(
    disk: &mut D,
    slots: &[u64],
    own: u32,
    parent: Option<u32>,
) -> Result<(), BuildError> {
    let [s0, s1, s2, s3, ..] = *slots else {
        return Ok(());
    };
    let e = [
        read_entry(disk, s0)?,
        read_entry(disk, s1)?,
        read_entry(disk, s2)?,
        read_entry(disk, s3)?,
    ];
    let is_lfn = |x: &[u8; 32]| x[11] == ATTR_LFN;
    let named = |x: &[u8; 32], n: &[u8; 11]| &x[..11] == n;
    let parent_cluster = parent.unwrap_or(0);
    if is_lfn(&e[0]) && named(&e[1], DOT) && is_lfn(&e[2]) && named(&e[3], DOTDOT) {
        let mut dot = e[1];
        set_cluster(&mut dot, own);
        let mut dotdot = e[3];
        set_cluster(&mut dotdot, parent_cluster);
        let mut deleted = [0u8; 32];
        deleted[0] = DELETED;
        write_entry(disk, s0, &dot)?;
        write_entry(disk, s1, &dotdot)?;
        write_entry(disk, s2, &deleted)?;
        write_entry(disk, s3, &deleted)?;
    } else if named(&e[0], DOT) && named(&e[1], DOTDOT) {
        let mut dotdot = e[1];
        set_cluster(&mut dotdot, parent_cluster);
        write_entry(disk, s1, &dotdot)?;
    }
    Ok(())
}

fn set_cluster(entry: &mut [u8; 32], cluster: u32) {
    let [lo0, lo1, hi0, hi1] = cluster.to_le_bytes();
    entry[20] = hi0;
    entry[21] = hi1;
    entry[26] = lo0;
    entry[27] = lo1;
}

impl Volume {
    fn read<D: Read + Seek>(disk: &mut D, volume_sectors: u32) -> Result<Self, BuildError> {
        let mut boot = [0u8; 512];
        disk.seek(SeekFrom::Start(0))
            .and_then(|_| disk.read_exact(&mut boot))
            .map_err(BuildError::io("reading the boot sector"))?;
        let bpb = Bpb::parse(&boot, volume_sectors).map_err(|reason| BuildError::ReadBack {
            reason: format!("the new volume's boot sector is wrong: {reason}"),
        })?;
        let fat_region_end =
            u64::from(bpb.reserved_sectors) + u64::from(bpb.fats) * u64::from(bpb.fat_sectors);
        Ok(Volume {
            fat: bpb.fat,
            sectors_per_cluster: u64::from(bpb.sectors_per_cluster),
            fat_start: u64::from(bpb.reserved_sectors),
            first_data_sector: u64::from(bpb.first_data_sector),
            fixed_root: (bpb.fat != Fat::Fat32)
                .then_some((fat_region_end, u64::from(bpb.root_dir_sectors))),
            root_cluster: bpb.root_cluster,
            clusters: bpb.clusters,
        })
    }

    fn entry_cluster(&self, entry: &[u8; 32]) -> u32 {
        let lo = u32::from(u16::from_le_bytes([entry[26], entry[27]]));
        let hi = u32::from(u16::from_le_bytes([entry[20], entry[21]]));
        if self.fat == Fat::Fat32 {
            (hi << 16) | lo
        } else {
            lo
        }
    }

    /// The byte offsets of every entry slot of the cluster chain starting at `cluster`.
    fn chain_slots<D: Read + Seek>(
        &self,
        disk: &mut D,
        cluster: u32,
    ) -> Result<Vec<u64>, BuildError> {
        let per_cluster = self.sectors_per_cluster * SECTOR / ENTRY;
        let mut slots = Vec::new();
        let mut current = cluster;
        // A chain visits each cluster at most once; more steps mean a loop.
        for _ in 0..=self.clusters {
            if current < 2 || current >= self.clusters + 2 {
                break;
            }
            let start = (self.first_data_sector
                + u64::from(current - 2) * self.sectors_per_cluster)
                * SECTOR;
            slots.extend((0..per_cluster).map(|i| start + i * ENTRY));
            current = self.next_cluster(disk, current)?;
        }
        Ok(slots)
    }

    /// The FAT entry of `cluster` (values past the last cluster end the chain in `chain_slots`).
    fn next_cluster<D: Read + Seek>(&self, disk: &mut D, cluster: u32) -> Result<u32, BuildError> {
        let fat_bytes = self.fat_start * SECTOR;
        let n = u64::from(cluster);
        let mut buf = [0u8; 4];
        let (at, len) = match self.fat {
            Fat::Fat12 => (fat_bytes + n * 3 / 2, 2),
            Fat::Fat16 => (fat_bytes + n * 2, 2),
            Fat::Fat32 => (fat_bytes + n * 4, 4),
        };
        disk.seek(SeekFrom::Start(at))
            .and_then(|_| disk.read_exact(buf.get_mut(..len).unwrap_or_default()))
            .map_err(BuildError::io("reading the FAT"))?;
        let raw = u32::from_le_bytes(buf);
        Ok(match self.fat {
            Fat::Fat12 if cluster % 2 == 1 => raw >> 4,
            Fat::Fat12 => raw & 0x0FFF,
            Fat::Fat16 => raw & 0xFFFF,
            Fat::Fat32 => raw & 0x0FFF_FFFF,
        })
    }
}

fn read_entry<D: Read + Seek>(disk: &mut D, at: u64) -> Result<[u8; 32], BuildError> {
    let mut entry = [0u8; 32];
    disk.seek(SeekFrom::Start(at))
        .and_then(|_| disk.read_exact(&mut entry))
        .map_err(BuildError::io("reading a directory entry"))?;
    Ok(entry)
}

fn write_entry<D: Write + Seek>(disk: &mut D, at: u64, entry: &[u8; 32]) -> Result<(), BuildError> {
    disk.seek(SeekFrom::Start(at))
        .and_then(|_| disk.write_all(entry))
        .map_err(BuildError::io("writing a directory entry"))
}
