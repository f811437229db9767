//! The facts of a 32-byte FAT directory entry that locating a file's data needs.

use super::{byte, le_u16, le_u32};

/// Bytes per directory entry.
pub const DIR_ENTRY_LEN: usize = 32;
/// `ATTR_VOLUME_ID`: the entry is the volume label.
pub const ATTR_VOLUME_ID: u8 = 0x08;
/// `ATTR_DIRECTORY`: the entry is a subdirectory.
pub const ATTR_DIRECTORY: u8 = 0x10;
/// Read-only | hidden | system | volume id: all four set marks a long-file-name entry.
pub const ATTR_LFN: u8 = 0x0F;

/// First name byte of the entry that ends the directory.
const END_OF_DIRECTORY: u8 = 0x00;
/// First name byte of a deleted (free) entry.
const FREE: u8 = 0xE5;
/// First name byte standing for a real `0xE5` (a Kanji lead byte).
const KANJI_E5: u8 = 0x05;

/// What a short (8.3) directory entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DirEntryFacts {
    /// The 8.3 name as stored (8 name + 3 extension bytes, space padded, no dot), except that a first
    /// byte `0x05` is given back as the `0xE5` it stands for.
    pub name: [u8; 11],
    /// `DIR_Attr`.
    pub attributes: u8,
    /// First cluster, `DIR_FstClusHI << 16 | DIR_FstClusLO` (0 for an empty file).
    pub first_cluster: u32,
    /// Size in bytes (0 for directories).
    pub size: u32,
}

impl DirEntryFacts {
    /// `true` for a subdirectory.
    pub fn is_directory(&self) -> bool {
        self.attributes & ATTR_DIRECTORY != 0
    }

    /// `true` for the volume label entry.
    pub fn is_volume_label(&self) -> bool {
        self.attributes & ATTR_VOLUME_ID != 0
    }
}

/// Parses one directory entry (the first 32 bytes of `entry`).
///
/// `None` when `entry` is shorter than 32 bytes, for the end-of-directory (`0x00`) and free (`0xE5`)
/// markers, and for long-file-name entries. An entry is taken as LFN when its low four attribute bits
/// are all set, the test `embedded-sdmmc` uses, so both agree on which entries are files.
pub fn parse_dir_entry(entry: &[u8]) -> Option<DirEntryFacts> {
    let entry = entry.get(..DIR_ENTRY_LEN)?;
    let mut name: [u8; 11] = entry.get(..11)?.try_into().ok()?;
    match name.first_mut() {
        Some(&mut (END_OF_DIRECTORY | FREE)) | None => return None,
        Some(first) if *first == KANJI_E5 => *first = FREE,
        Some(_) => {}
    }
    let attributes = byte(entry, 11);
    if attributes & ATTR_LFN == ATTR_LFN {
        return None;
    }
    let high = u32::from(le_u16(entry, 20));
    let low = u32::from(le_u16(entry, 26));
    Some(DirEntryFacts {
        name,
        attributes,
        first_cluster: high << 16 | low,
        size: le_u32(entry, 28),
    })
}
