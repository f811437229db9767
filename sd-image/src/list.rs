//! [`list`]: what is on a card — partition, FAT facts, every file with its long name and size.

use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};

use fatfs::{FileSystem, FsOptions};

use crate::bpb::Bpb;
use crate::error::{BuildError, size, thousands};
use crate::layout::{Fat, SECTOR, Table};
use crate::slice::Slice;
use crate::table;

/// Folders deeper than this are not walked (a corrupt directory tree cannot recurse forever).
const MAX_DEPTH: usize = 32;
/// Stop after this many entries (a corrupt directory cannot make the listing unbounded).
const MAX_ENTRIES: usize = 100_000;

/// What [`list`] found on a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The partition table (for an MBR, the type of partition 1).
    pub table: Table,
    /// First sector of the FAT volume.
    pub start_lba: u32,
    /// Sectors in the partition (for a superfloppy: the card).
    pub volume_sectors: u32,
    /// The FAT type, from the cluster count (the rule `embedded-sdmmc` uses).
    pub fat: Fat,
    /// Bytes per cluster.
    pub cluster_bytes: u32,
    /// Data clusters.
    pub cluster_count: u32,
    /// Free space in bytes.
    pub free_bytes: u64,
    /// Volume label from the boot sector, trailing spaces removed.
    pub label: String,
    /// Volume serial number from the boot sector.
    pub volume_id: u32,
    /// Every folder, as a `/`-separated path, in directory order.
    pub dirs: Vec<String>,
    /// Every file, in directory order (a folder's files before its subfolders' files).
    pub files: Vec<ListedFile>,
}

/// One file on the card.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListedFile {
    /// `/`-separated path under the root, with long names as stored.
    pub path: String,
    /// Length in bytes.
    pub size: u64,
}

/// Reads what is on a card: finds the FAT volume (partition 1 of an MBR, the first GPT partition,
/// or a superfloppy), mounts it read-only with `fatfs` and walks every folder.
///
/// The card is never written (writes through the volume fail), although the signature asks for
/// [`Write`] because `fatfs` does.
///
/// # Errors
/// [`BuildError::NotACard`] when there is no partition table or FAT boot sector it understands;
/// [`BuildError::Io`] when reading fails or `fatfs` refuses the volume.
pub fn list(disk: &mut (impl Read + Write + Seek)) -> Result<Listing, BuildError> {
    let extent = table::detect(disk)?;
    let start = u64::from(extent.start_lba) * SECTOR;
    let len = u64::from(extent.sectors) * SECTOR;
    let mut boot = [0u8; 512];
    disk.seek(SeekFrom::Start(start))
        .and_then(|_| disk.read_exact(&mut boot))
        .map_err(BuildError::io(format!(
            "reading the boot sector at LBA {}",
            extent.start_lba
        )))?;
    // Checked here because fatfs' own BPB arithmetic can overflow on a corrupt boot sector.
    Bpb::parse(&boot, extent.sectors).map_err(|reason| BuildError::NotACard {
        reason: format!(
            "the FAT volume at LBA {} is not valid: {reason}",
            extent.start_lba
        ),
    })?;
    let fs = FileSystem::new(Slice::new(disk, start, len, false), FsOptions::new()).map_err(
        BuildError::io(format!(
            "mounting the FAT volume at LBA {} (fatfs)",
            extent.start_lba
        )),
    )?;
    let stats = fs
        .stats()
        .map_err(BuildError::io("counting free clusters"))?;
    let mut listing = Listing {
        table: extent.table,
        start_lba: extent.start_lba,
        volume_sectors: extent.sectors,
        fat: Fat::for_cluster_count(stats.total_clusters()),
        cluster_bytes: stats.cluster_size(),
        cluster_count: stats.total_clusters(),
        free_bytes: u64::from(stats.free_clusters()) * u64::from(stats.cluster_size()),
        label: fs.volume_label().trim_end().to_owned(),
        volume_id: fs.volume_id(),
        dirs: Vec::new(),
        files: Vec::new(),
    };
    walk(&fs.root_dir(), "", 0, &mut listing)?;
    Ok(listing)
}

fn walk<T: fatfs::ReadWriteSeek>(
    dir: &fatfs::Dir<'_, T>,
    prefix: &str,
    depth: usize,
    listing: &mut Listing,
) -> Result<(), BuildError> {
    let too_big = |what: String| BuildError::NotACard { reason: what };
    if depth > MAX_DEPTH {
        return Err(too_big(format!(
            "folders are nested more than {MAX_DEPTH} deep under {prefix:?}"
        )));
    }
    let mut subdirs = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(BuildError::io(format!("reading folder {prefix:?}")))?;
        let name = entry.file_name();
        if name == "." || name == ".." {
            continue;
        }
        if listing.dirs.len() + listing.files.len() >= MAX_ENTRIES {
            return Err(too_big(format!(
                "more than {MAX_ENTRIES} files and folders"
            )));
        }
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if entry.is_dir() {
            listing.dirs.push(path.clone());
            subdirs.push((entry.to_dir(), path));
        } else {
            listing.files.push(ListedFile {
                path,
                size: entry.len(),
            });
        }
    }
    for (subdir, path) in subdirs {
        walk(&subdir, &path, depth + 1, listing)?;
    }
    Ok(())
}

impl fmt::Display for Listing {
    /// A human-readable report, as `cargo xtask sd-image` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let volume_bytes = u64::from(self.volume_sectors) * SECTOR;
        match self.table {
            Table::Superfloppy => writeln!(
                f,
                "partition table: none (superfloppy), volume = whole card, {} sectors ({})",
                thousands(u64::from(self.volume_sectors)),
                size(volume_bytes)
            )?,
            table => writeln!(
                f,
                "partition table: {table}, partition 1 at LBA {}, {} sectors ({})",
                self.start_lba,
                thousands(u64::from(self.volume_sectors)),
                size(volume_bytes)
            )?,
        }
        writeln!(
            f,
            "file system:     {}, {}-byte clusters, {} clusters, {} free, label {:?}, volume id {:04X}-{:04X}",
            self.fat,
            self.cluster_bytes,
            thousands(u64::from(self.cluster_count)),
            size(self.free_bytes),
            self.label,
            self.volume_id >> 16,
            self.volume_id & 0xFFFF
        )?;
        for dir in &self.dirs {
            writeln!(f, "  {:>13}  {dir}/", "<dir>")?;
        }
        for file in &self.files {
            writeln!(f, "  {:>13}  {}", thousands(file.size), file.path)?;
        }
        write!(
            f,
            "{} file(s), {} bytes",
            self.files.len(),
            thousands(self.files.iter().map(|f| f.size).sum())
        )
    }
}
