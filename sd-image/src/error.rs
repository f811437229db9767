//! [`BuildError`]: why a card could not be built or read, as a sentence with the numbers.

use std::fmt;
use std::io;

use crate::layout::{Fat, Table};

/// Why [`crate::build`], [`crate::build_image`], [`crate::list`] or [`crate::Layout::geometry`]
/// failed. `Display` says what was found, what was expected and what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The card size is zero or not a whole number of 512-byte sectors.
    SizeNotSectors {
        /// The size asked for.
        size_bytes: u64,
    },
    /// The card has more sectors than 32-bit sector numbers (MBR, FAT) can address (2 TiB).
    SizeTooLarge {
        /// The size asked for.
        size_bytes: u64,
    },
    /// The partition start does not fit the partition table or the card.
    BadStart {
        /// The partition table asked for.
        table: Table,
        /// The start asked for.
        start_lba: u32,
        /// Sectors on the card.
        disk_sectors: u32,
        /// Why it does not fit.
        reason: &'static str,
    },
    /// The volume is too small to hold any FAT file system.
    VolumeTooSmall {
        /// The card size asked for.
        size_bytes: u64,
        /// Sectors left for the volume after the partition table.
        volume_sectors: u32,
        /// The fewest sectors a volume of this FAT type needs.
        needed_sectors: u64,
    },
    /// The cluster size is not a power of two from 512 to 32,768 bytes.
    ClusterSize {
        /// The cluster size asked for.
        cluster_bytes: u32,
    },
    /// The volume would have a cluster count outside the range of the FAT type asked for, so it
    /// would be (or be read as) another FAT type.
    ClusterCount {
        /// The FAT type asked for.
        fat: Fat,
        /// The card size asked for.
        size_bytes: u64,
        /// The cluster size asked for.
        cluster_bytes: u32,
        /// The cluster count those give.
        clusters: u32,
    },
    /// The volume label cannot be stored.
    Label {
        /// The label asked for.
        label: String,
        /// Why not.
        reason: &'static str,
    },
    /// A file path cannot be stored as a FAT long name.
    BadPath {
        /// The path given.
        path: String,
        /// Why not.
        reason: &'static str,
    },
    /// Two entries name the same file (FAT names are case-insensitive).
    Duplicate {
        /// The second path.
        path: String,
    },
    /// A path uses a name as a folder that another entry uses as a file.
    PathConflict {
        /// The file's path.
        file: String,
        /// The entry that needs it to be a folder.
        path: String,
    },
    /// A file is larger than FAT's limit of 4 GiB − 1 bytes.
    FileTooLarge {
        /// The file's path.
        path: String,
        /// Its length.
        len: u64,
    },
    /// The files do not fit on the volume.
    NoSpace {
        /// The file that did not fit.
        path: String,
        /// Bytes (whole clusters) it needs.
        needed_bytes: u64,
        /// Bytes still free.
        free_bytes: u64,
    },
    /// The disk handed to [`crate::build`] is shorter than the layout and cannot grow.
    DiskTooSmall {
        /// [`crate::Layout::size_bytes`].
        needed_bytes: u64,
        /// How long the disk is.
        actual_bytes: u64,
    },
    /// [`crate::list`] found no card layout it understands.
    NotACard {
        /// What it found instead.
        reason: String,
    },
    /// The volume written does not read back as asked (a bug in a formatter, or in this crate).
    ReadBack {
        /// What differs.
        reason: String,
    },
    /// Reading or writing the disk failed (or `fatfs` refused the volume).
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> BuildError {
        let context = context.into();
        move |source| BuildError::Io { context, source }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::SizeNotSectors { size_bytes } => write!(
                f,
                "card size {} is not a whole, non-zero number of 512-byte sectors: use a multiple \
                 of 512 (cards are usually a whole number of MiB)",
                bytes(*size_bytes)
            ),
            BuildError::SizeTooLarge { size_bytes } => write!(
                f,
                "card size {} is more than 2 TiB, which 32-bit sector numbers (MBR, FAT) cannot \
                 address: use a smaller size",
                bytes(*size_bytes)
            ),
            BuildError::BadStart {
                table,
                start_lba,
                disk_sectors,
                reason,
            } => write!(
                f,
                "partition start LBA {start_lba} does not work with table {table} on a card of \
                 {} sectors: {reason}; use the usual 2048",
                thousands(u64::from(*disk_sectors))
            ),
            BuildError::VolumeTooSmall {
                size_bytes,
                volume_sectors,
                needed_sectors,
            } => write!(
                f,
                "a {} card leaves {} sectors for the volume, but a FAT volume needs more than {}: \
                 use a larger size",
                size(*size_bytes),
                thousands(u64::from(*volume_sectors)),
                thousands(*needed_sectors - 1)
            ),
            BuildError::ClusterSize { cluster_bytes } => write!(
                f,
                "cluster size {} bytes is not a power of two from 512 to 32,768: use 512, 1024, \
                 2048, 4096, 8192, 16384 or 32768",
                thousands(u64::from(*cluster_bytes))
            ),
            BuildError::ClusterCount {
                fat,
                size_bytes,
                cluster_bytes,
                clusters,
            } => {
                let has = thousands(u64::from(*clusters));
                let card = size(*size_bytes);
                if *clusters < fat.min_clusters() {
                    write!(
                        f,
                        "{fat} needs at least {} clusters; {card} with {cluster_bytes}-byte \
                         clusters has {has}: use a larger size or smaller clusters",
                        thousands(u64::from(fat.min_clusters()))
                    )
                } else {
                    write!(
                        f,
                        "{fat} allows at most {} clusters; {card} with {cluster_bytes}-byte \
                         clusters has {has}: use a smaller size or larger clusters",
                        thousands(u64::from(fat.max_clusters()))
                    )
                }
            }
            BuildError::Label { label, reason } => {
                write!(f, "volume label {label:?} cannot be stored: {reason}")
            }
            BuildError::BadPath { path, reason } => {
                write!(
                    f,
                    "file path {path:?} cannot be stored on a FAT card: {reason}"
                )
            }
            BuildError::Duplicate { path } => write!(
                f,
                "file {path:?} is given twice (FAT names ignore case): give each file once"
            ),
            BuildError::PathConflict { file, path } => write!(
                f,
                "{path:?} needs {file:?} to be a folder, but it is also given as a file: rename \
                 one of them"
            ),
            BuildError::FileTooLarge { path, len } => write!(
                f,
                "file {path:?} is {} long, but a FAT file holds at most 4,294,967,295 bytes",
                bytes(*len)
            ),
            BuildError::NoSpace {
                path,
                needed_bytes,
                free_bytes,
            } => write!(
                f,
                "file {path:?} needs {} but only {} are free on the volume: use a larger card",
                bytes(*needed_bytes),
                bytes(*free_bytes)
            ),
            BuildError::DiskTooSmall {
                needed_bytes,
                actual_bytes,
            } => write!(
                f,
                "the disk is {} long and cannot grow to the layout's {}: hand over a disk of the \
                 layout's size (SparseDisk::new(layout.size_bytes)) or a growable one (a file)",
                bytes(*actual_bytes),
                bytes(*needed_bytes)
            ),
            BuildError::NotACard { reason } => write!(
                f,
                "not an SD-card image with an MBR, GPT or FAT superfloppy layout: {reason}"
            ),
            BuildError::ReadBack { reason } => {
                write!(f, "the card written does not read back as asked: {reason}")
            }
            BuildError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `1234567` → `"1,234,567"`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `"1,234 bytes"`.
pub(crate) fn bytes(n: u64) -> String {
    format!("{} bytes", thousands(n))
}

/// `"40 MiB"` for whole MiB, else `"41,943,041 bytes"`.
pub(crate) fn size(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n != 0 && n.is_multiple_of(MIB) {
        format!("{} MiB", thousands(n / MIB))
    } else {
        bytes(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(65_525), "65,525");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(size(40 * 1024 * 1024), "40 MiB");
        assert_eq!(size(1000), "1,000 bytes");
    }

    #[test]
    fn cluster_count_message_matches_the_brief() {
        let e = BuildError::ClusterCount {
            fat: Fat::Fat32,
            size_bytes: 40 * 1024 * 1024,
            cluster_bytes: 4096,
            clusters: 10_000,
        };
        assert_eq!(
            e.to_string(),
            "FAT32 needs at least 65,525 clusters; 40 MiB with 4096-byte clusters has 10,000: use \
             a larger size or smaller clusters"
        );
    }
}
