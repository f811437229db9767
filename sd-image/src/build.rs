//! Building a card in pure Rust: partition table (ours), FAT volume and files (`fatfs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};

use fatfs::{FileSystem, FormatVolumeOptions, FsOptions};

use crate::error::BuildError;
use crate::fixup;
use crate::layout::{Fat, Geometry, Layout, SECTOR, VOLUME_ID};
use crate::list::list;
use crate::slice::Slice;
use crate::sparse::SparseDisk;
use crate::table;

/// One file to put on the card.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Where it goes, with `/` between folders: `"CATM1-38638.dup"` or
    /// `"FW/GM02RB6Q_LR8.0.5.13-59577.dup"`. Folders are created as needed; names are stored as
    /// long names with their case (FAT compares them ignoring case).
    pub path: &'a str,
    /// Its contents (empty is fine; at most 4 GiB − 1 bytes).
    pub data: &'a [u8],
}

impl fmt::Debug for Entry<'_> {
    /// The length, not the (possibly megabytes of) contents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("path", &self.path)
            .field("len", &self.data.len())
            .finish()
    }
}

/// The checked entries: folders to create (parents first) and files, in the order given.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) dirs: Vec<String>,
    pub(crate) files: Vec<Entry<'a>>,
}

impl<'a> Plan<'a> {
    /// Checks every path (see [`check_name`]), rejects duplicates and file/folder clashes (FAT names
    /// ignore case, so the comparison does too) and files of 4 GiB or more.
    pub(crate) fn new(entries: &[Entry<'a>]) -> Result<Self, BuildError> {
        let mut dirs: Vec<String> = Vec::new();
        // Upper-cased path → path as first given.
        let mut dir_keys: BTreeMap<String, String> = BTreeMap::new();
        let mut file_keys: BTreeMap<String, String> = BTreeMap::new();
        for entry in entries {
            let path = entry.path;
            let bad = |reason| BuildError::BadPath {
                path: path.to_owned(),
                reason,
            };
            if path.is_empty() {
                return Err(bad("it is empty"));
            }
            if path.starts_with('/') {
                return Err(bad(
                    "it starts with '/': paths are relative to the card's root",
                ));
            }
            let names: Vec<&str> = path.split('/').collect();
            for name in &names {
                check_name(name).map_err(bad)?;
            }
            if u32::try_from(entry.data.len()).is_err() {
                return Err(BuildError::FileTooLarge {
                    path: path.to_owned(),
                    len: entry.data.len() as u64,
                });
            }
            let key = path.to_uppercase();
            if file_keys.contains_key(&key) {
                return Err(BuildError::Duplicate {
                    path: path.to_owned(),
                });
            }
            if let Some(dir) = dir_keys.get(&key) {
                return Err(BuildError::PathConflict {
                    file: path.to_owned(),
                    path: format!("{dir}/..."),
                });
            }
            // Every parent folder, shortest first.
            let mut prefix = String::new();
            for name in names.iter().take(names.len().saturating_sub(1)) {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(name);
                let dir_key = prefix.to_uppercase();
                if let Some(file) = file_keys.get(&dir_key) {
                    return Err(BuildError::PathConflict {
                        file: file.clone(),
                        path: path.to_owned(),
                    });
                }
                if let std::collections::btree_map::Entry::Vacant(slot) = dir_keys.entry(dir_key) {
                    slot.insert(prefix.clone());
                    dirs.push(prefix.clone());
                }
            }
            file_keys.insert(key, path.to_owned());
        }
        Ok(Plan {
            dirs,
            files: entries.to_vec(),
        })
    }
}

/// Checks one path component against what a FAT long name may hold (the same rules `fatfs` applies,
/// checked here first so the error names the path): 1..=255 bytes of letters, digits, characters
/// from U+0080 to U+FFFF, and `$ % ' - _ @ ~ ` ! ( ) { } . space + , ; = [ ] ^ # &`; not `.` or
/// `..`; no leading space and no trailing dot or space (Windows would strip them, so the name on the
/// card would not be the name asked for).
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it has an empty folder or file name (\"//\" or a trailing '/')");
    }
    if name == "." || name == ".." {
        return Err("\".\" and \"..\" are not file or folder names");
    }
    if name.len() > 255 {
        return Err("a name is longer than 255 bytes");
    }
    if name.starts_with(' ') || name.ends_with(' ') || name.ends_with('.') {
        return Err("a name starts with a space or ends with a space or a dot");
    }
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || ('\u{80}'..='\u{FFFF}').contains(&c)
            || "$%'-_@~`!(){}. +,;=[]^#&".contains(c)
    };
    if name.chars().all(allowed) {
        Ok(())
    } else {
        Err(
            "FAT names cannot hold control characters, \" * : < > ? \\ | or characters above U+FFFF",
        )
    }
}

/// Formats `disk` as `layout` says and writes `entries` under their long names.
///
/// `disk` must be [`Layout::size_bytes`] long, or growable (a file, a `Cursor<Vec<u8>>`): it is
/// grown by writing its last byte. This is a quick format, like `mkfs.fat`: the partition table,
/// boot sectors, FATs and directories are written, old data elsewhere is not wiped. The result is
/// reproducible (fixed volume ID and disk GUIDs, every timestamp 2000-01-01 00:00:00). The `.` and
/// `..` entries `fatfs` 0.3.6 writes into folders are repaired so `fsck.fat` finds the volume clean
/// (see `fixup.rs`). Afterwards the card is read back with [`list`] and must show the FAT type and
/// the files asked for.
///
/// # Errors
/// The layout is invalid ([`Layout::geometry`]), an entry's path is not a valid FAT path or is
/// given twice, a file is 4 GiB or more, the files do not fit ([`BuildError::NoSpace`]), the disk
/// is too small and cannot grow, or reading/writing the disk failed.
pub fn build<D: Read + Write + Seek>(
    disk: &mut D,
    layout: &Layout,
    entries: &[Entry],
) -> Result<(), BuildError> {
    let geometry = layout.geometry()?;
    let plan = Plan::new(entries)?;
    ensure_size(disk, layout.size_bytes)?;
    table::write(disk, layout, &geometry)?;

    let start = u64::from(geometry.volume_start_lba) * SECTOR;
    let len = u64::from(geometry.volume_sectors) * SECTOR;
    let options = FormatVolumeOptions::new()
        .fat_type(layout.fat.to_fatfs())
        .bytes_per_cluster(layout.cluster_bytes)
        .total_sectors(geometry.volume_sectors)
        .volume_label(geometry.label)
        .volume_id(VOLUME_ID);
    fatfs::format_volume(Slice::new(disk, start, len, true), options)
        .map_err(BuildError::io("formatting the FAT volume (fatfs)"))?;
    patch_hidden_sectors(disk, layout.fat, &geometry)?;

    write_files(Slice::new(disk, start, len, true), &plan, layout)?;
    fixup::fix_dot_entries(
        &mut Slice::new(disk, start, len, true),
        geometry.volume_sectors,
    )?;
    disk.flush().map_err(BuildError::io("flushing the disk"))?;
    check_read_back(disk, layout, &geometry, &plan)
}

/// [`build`] onto a new [`SparseDisk`] of [`Layout::size_bytes`].
///
/// # Errors
/// As [`build`].
pub fn build_image(layout: &Layout, entries: &[Entry]) -> Result<SparseDisk, BuildError> {
    let mut disk = SparseDisk::new(layout.size_bytes);
    build(&mut disk, layout, entries)?;
    disk.seek(SeekFrom::Start(0))
        .map_err(BuildError::io("rewinding the disk"))?;
    Ok(disk)
}

/// Makes sure the disk is at least `size` bytes, growing it by writing its last byte if needed.
fn ensure_size<D: Read + Write + Seek>(disk: &mut D, size: u64) -> Result<(), BuildError> {
    let actual = disk
        .seek(SeekFrom::End(0))
        .map_err(BuildError::io("finding the disk size"))?;
    if actual >= size {
        return Ok(());
    }
    let grown = disk
        .seek(SeekFrom::Start(size - 1))
        .and_then(|_| disk.write_all(&[0]))
        .and_then(|()| disk.seek(SeekFrom::End(0)));
    match grown {
        Ok(now) if now >= size => Ok(()),
        _ => Err(BuildError::DiskTooSmall {
            needed_bytes: size,
            actual_bytes: actual,
        }),
    }
}

/// `fatfs` writes 0 into the BPB's "hidden sectors" (offset 28, u32 LE), but on a partitioned card
/// it must be the partition's first LBA (as `mkfs.fat --offset` writes; DOS and Windows use it).
/// FAT32 has a backup boot sector at sector 6 that must match.
fn patch_hidden_sectors<D: Write + Seek>(
    disk: &mut D,
    fat: Fat,
    geometry: &Geometry,
) -> Result<(), BuildError> {
    let start = u64::from(geometry.volume_start_lba);
    let hidden = geometry.volume_start_lba.to_le_bytes();
    let mut sectors = vec![start];
    if fat == Fat::Fat32 {
        sectors.push(start + 6);
    }
    for sector in sectors {
        disk.seek(SeekFrom::Start(sector * SECTOR + 28))
            .and_then(|_| disk.write_all(&hidden))
            .map_err(BuildError::io("writing the hidden-sectors field"))?;
    }
    Ok(())
}

/// The time every file and folder is stamped with: 2000-01-01 00:00:00, the same instant the Linux
/// tools builder gives its files. Fixed, so images are reproducible; not `fatfs`'s default without
/// `chrono`, which writes a date of 0 (1980-00-00: month and day 0 are not valid FAT dates).
#[derive(Debug)]
struct FixedClock;

static FIXED_CLOCK: FixedClock = FixedClock;

impl fatfs::TimeProvider for FixedClock {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 2000,
            month: 1,
            day: 1,
        }
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

/// Mounts the fresh volume with `fatfs` and writes the folders and files.
fn write_files<D: Read + Write + Seek>(
    volume: Slice<'_, D>,
    plan: &Plan,
    layout: &Layout,
) -> Result<(), BuildError> {
    let fs = FileSystem::new(volume, FsOptions::new().time_provider(&FIXED_CLOCK))
        .map_err(BuildError::io("mounting the new volume (fatfs)"))?;
    {
        let root = fs.root_dir();
        for dir in &plan.dirs {
            root.create_dir(dir)
                .map_err(BuildError::io(format!("creating folder {dir:?}")))?;
        }
        let cluster = u64::from(layout.cluster_bytes);
        for file in &plan.files {
            let needed = (file.data.len() as u64).div_ceil(cluster) * cluster;
            let stats = fs
                .stats()
                .map_err(BuildError::io("counting free clusters"))?;
            let free = u64::from(stats.free_clusters()) * cluster;
            if needed > free {
                return Err(BuildError::NoSpace {
                    path: file.path.to_owned(),
                    needed_bytes: needed,
                    free_bytes: free,
                });
            }
            let mut f = root
                .create_file(file.path)
                .map_err(BuildError::io(format!("creating file {:?}", file.path)))?;
            f.write_all(file.data)
                .and_then(|()| f.flush())
                .map_err(BuildError::io(format!("writing file {:?}", file.path)))?;
        }
    }
    fs.unmount()
        .map_err(BuildError::io("unmounting the volume (fatfs)"))
}

/// Reads the card back and compares it with what was asked: table, start, FAT type, files and sizes.
pub(crate) fn check_read_back<D: Read + Write + Seek>(
    disk: &mut D,
    layout: &Layout,
    geometry: &Geometry,
    plan: &Plan,
) -> Result<(), BuildError> {
    let listing = list(disk)?;
    let mismatch = |reason: String| Err(BuildError::ReadBack { reason });
    if listing.table != layout.table {
        return mismatch(format!(
            "partition table is {} instead of {}",
            listing.table, layout.table
        ));
    }
    if listing.start_lba != geometry.volume_start_lba {
        return mismatch(format!(
            "the volume starts at LBA {} instead of {}",
            listing.start_lba, geometry.volume_start_lba
        ));
    }
    if listing.fat != layout.fat {
        return mismatch(format!(
            "the volume is {} ({} clusters) instead of {}",
            listing.fat, listing.cluster_count, layout.fat
        ));
    }
    if listing.cluster_bytes != layout.cluster_bytes {
        return mismatch(format!(
            "clusters are {} bytes instead of {}",
            listing.cluster_bytes, layout.cluster_bytes
        ));
    }
    let found: BTreeSet<(String, u64)> = listing
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size))
        .collect();
    let wanted: BTreeSet<(String, u64)> = plan
        .files
        .iter()
        .map(|f| (f.path.to_owned(), f.data.len() as u64))
        .collect();
    if found != wanted {
        return mismatch(format!(
            "the files read back are {found:?} instead of {wanted:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry<'_> {
        Entry { path, data: b"" }
    }

    #[test]
    fn plan_orders_folders_parents_first_and_ignores_case() {
        let plan = Plan::new(&[entry("A/B/x.bin"), entry("a/c.bin"), entry("root.bin")]).unwrap();
        assert_eq!(plan.dirs, ["A", "A/B"]);
        assert_eq!(plan.files.len(), 3);
    }

    #[test]
    fn plan_rejects_bad_paths() {
        for path in [
            "",
            "/x",
            "a//b",
            "a/",
            ".",
            "a/../b",
            "a?b",
            "a:b",
            "a\\b",
            "x ",
            "x.",
            " x",
            "\u{1F600}",
            "tab\there",
        ] {
            assert!(
                matches!(Plan::new(&[entry(path)]), Err(BuildError::BadPath { .. })),
                "{path:?} must be refused"
            );
        }
        let long = "x".repeat(256);
        assert!(Plan::new(&[entry(&long)]).is_err());
        assert!(Plan::new(&[entry(&"x".repeat(255))]).is_ok());
    }

    #[test]
    fn plan_rejects_duplicates_and_clashes() {
        assert!(matches!(
            Plan::new(&[entry("FW/a.dup"), entry("fw/A.DUP")]),
            Err(BuildError::Duplicate { .. })
        ));
        assert!(matches!(
            Plan::new(&[entry("FW"), entry("fw/a.dup")]),
            Err(BuildError::PathConflict { .. })
        ));
        assert!(matches!(
            Plan::new(&[entry("FW/a.dup"), entry("fw")]),
            Err(BuildError::PathConflict { .. })
        ));
    }
}
