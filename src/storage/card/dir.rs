//! Listing a FAT directory from raw sectors, long names included — without trusting the card.
//!
//! embedded-sdmmc 0.10's `iterate_dir_lfn` panics ("Vec was full?!") on a long-name entry whose
//! first character is an unpaired UTF-16 surrogate followed by a full 13-character chunk: two bytes
//! of a corrupted directory sector crash the board (`tests/storage_sd.rs` has the card). Listing is
//! the one place the upgrader reads names, so it does it here, with our own bounds; embedded-sdmmc
//! is then only asked to open a file by the 8.3 name found here.
//!
//! Long-name (LFN) entries precede their 8.3 entry, last part first:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | ordinal 1..=20; bit 6 (`0x40`) marks the last part, which comes first on disk |
//! | 1 | 10 | characters 1–5 (UTF-16LE) |
//! | 11 | 1 | attributes = `0x0F` |
//! | 12 | 1 | type = 0 |
//! | 13 | 1 | checksum of the 8.3 name |
//! | 14 | 12 | characters 6–11 |
//! | 26 | 2 | first cluster = 0 |
//! | 28 | 4 | characters 12–13 |
//!
//! A long name is used only when every part is present in order with the 8.3 entry's checksum;
//! anything else (a damaged or orphaned sequence) is dropped and the file keeps its 8.3 name.
//! Unpaired surrogates become U+FFFD. The walk stops at the end marker, after the directory's
//! clusters (never more than the volume has), or after 65,536 entries (FAT's own limit).

use super::{
    ATTR_LFN, CardProblem, DIR_ENTRY_LEN, DirEntryFacts, FatGeometry, FatKind, ProbeError,
    SECTOR_LEN, Sector, parse_dir_entry,
};

/// Most long-name parts (20 × 13 = 260 ≥ the 255 characters FAT allows).
const MAX_PARTS: usize = 20;
/// Characters per long-name part.
const PART_CHARS: usize = 13;
/// Offsets of the 13 UTF-16 characters inside an LFN entry.
const CHAR_OFFSETS: [usize; PART_CHARS] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
/// FAT allows at most 65,536 entries in a directory.
const MAX_ENTRIES: u32 = 65_536;
/// Bytes of UTF-8 long name kept (longer names fall back to the 8.3 name).
pub const LONG_NAME_CAP: usize = 255;

/// Where a directory's entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DirLocation {
    /// FAT12/16 root: a fixed run of sectors.
    FixedRoot {
        /// First sector.
        lba: u32,
        /// Number of sectors.
        sectors: u32,
    },
    /// A cluster chain (FAT32 root, every subdirectory).
    Chain {
        /// First cluster.
        first_cluster: u32,
    },
}

impl FatGeometry {
    /// Where the root directory is.
    pub fn root_location(&self) -> DirLocation {
        match self.kind {
            FatKind::Fat32 => DirLocation::Chain {
                first_cluster: self.root_cluster,
            },
            FatKind::Fat12 | FatKind::Fat16 => DirLocation::FixedRoot {
                lba: self.root_dir_lba,
                sectors: (u32::from(self.root_entries) * DIR_ENTRY_LEN as u32)
                    .div_ceil(SECTOR_LEN as u32),
            },
        }
    }
}

/// One directory entry with its long name, if it has a sound one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedEntry<'a> {
    /// The 8.3 entry.
    pub facts: DirEntryFacts,
    /// The long name.
    pub long_name: Option<&'a str>,
}

impl ListedEntry<'_> {
    /// The 8.3 name as `NAME.EXT` (`NAME` without an extension); bytes outside printable ASCII
    /// become `?`.
    pub fn short_name(&self) -> heapless::String<12> {
        short_name_text(&self.facts.name)
    }
}

/// `NAME.EXT` from the 11 stored bytes.
pub fn short_name_text(raw: &[u8; 11]) -> heapless::String<12> {
    let mut out = heapless::String::new();
    let (base, ext) = raw.split_at(8);
    let printable = |b: &u8| -> char {
        if b.is_ascii_graphic() {
            char::from(*b)
        } else {
            '?'
        }
    };
    // 8 + 1 + 3 characters always fit in 12.
    for c in base.iter().take_while(|&&b| b != b' ').map(printable) {
        let _ = out.push(c);
    }
    let ext = ext.iter().take_while(|&&b| b != b' ');
    if ext.clone().next().is_some() {
        let _ = out.push('.');
        for c in ext.map(printable) {
            let _ = out.push(c);
        }
    }
    out
}

/// The checksum an LFN entry carries of its 8.3 name.
pub fn short_name_checksum(raw: &[u8; 11]) -> u8 {
    raw.iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// Long-name parts collected so far.
struct LongName {
    units: [u16; MAX_PARTS * PART_CHARS],
    /// The ordinal the next part must have (0: sequence complete; `None`: no sequence).
    expect: Option<u8>,
    checksum: u8,
}

impl LongName {
    fn new() -> Self {
        Self {
            units: [0xFFFF; MAX_PARTS * PART_CHARS],
            expect: None,
            checksum: 0,
        }
    }

    /// Takes one LFN entry.
    fn push(&mut self, entry: &[u8]) {
        let ordinal = entry.first().copied().unwrap_or(0);
        let checksum = entry.get(13).copied().unwrap_or(0);
        let n = ordinal & 0x1F;
        if n == 0 || usize::from(n) > MAX_PARTS {
            self.expect = None;
            return;
        }
        if ordinal & 0x40 != 0 {
            self.units = [0xFFFF; MAX_PARTS * PART_CHARS];
            self.checksum = checksum;
        } else if self.expect != Some(n) || self.checksum != checksum {
            self.expect = None;
            return;
        }
        let at = (usize::from(n) - 1) * PART_CHARS;
        for (k, off) in CHAR_OFFSETS.iter().enumerate() {
            let unit = entry
                .get(*off..off + 2)
                .and_then(|b| b.try_into().ok())
                .map(u16::from_le_bytes)
                .unwrap_or(0);
            if let Some(slot) = self.units.get_mut(at + k) {
                *slot = unit;
            }
        }
        self.expect = Some(n - 1);
    }

    /// The long name for the 8.3 entry `raw`, if a complete sequence with its checksum precedes it.
    fn finish<'b>(
        &mut self,
        raw: &[u8; 11],
        out: &'b mut heapless::String<LONG_NAME_CAP>,
    ) -> Option<&'b str> {
        let complete = self.expect == Some(0) && self.checksum == short_name_checksum(raw);
        self.expect = None;
        if !complete {
            return None;
        }
        out.clear();
        let units = self
            .units
            .iter()
            .copied()
            .take_while(|&u| u != 0x0000 && u != 0xFFFF);
        for c in char::decode_utf16(units) {
            if out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER)).is_err() {
                return None;
            }
        }
        (!out.is_empty()).then_some(out.as_str())
    }
}

/// Visits every entry of the directory at `at` (volume labels skipped), reading sectors through
/// `read`. `visit` returns `false` to stop early.
///
/// Never panics and always ends (see the module docs); a broken cluster chain is
/// [`CardProblem::BadClusterChain`].
pub fn list_dir<E>(
    geometry: &FatGeometry,
    at: DirLocation,
    mut read: impl FnMut(u32, &mut Sector) -> Result<(), E>,
    mut visit: impl FnMut(&ListedEntry<'_>) -> bool,
) -> Result<(), ProbeError<E>> {
    let mut sector: Sector = [0; SECTOR_LEN];
    let mut fat_sector: Sector = [0; SECTOR_LEN];
    let mut long = LongName::new();
    let mut name_buf = heapless::String::<LONG_NAME_CAP>::new();
    let mut entries = 0u32;
    let mut cluster = match at {
        DirLocation::Chain { first_cluster } => Some(first_cluster),
        DirLocation::FixedRoot { .. } => None,
    };
    // Bounded by the volume's cluster count (a chain cannot be longer without a loop).
    let max_runs = geometry.cluster_count.saturating_add(1);
    for _ in 0..max_runs {
        let (first_lba, sectors) = match (at, cluster) {
            (DirLocation::FixedRoot { lba, sectors }, _) => (lba, sectors),
            (DirLocation::Chain { .. }, Some(c)) => (
                geometry
                    .cluster_lba(c)
                    .ok_or(CardProblem::BadClusterChain {
                        cluster: c,
                        entry: c,
                    })?,
                u32::from(geometry.sectors_per_cluster),
            ),
            (DirLocation::Chain { .. }, None) => return Ok(()),
        };
        for i in 0..sectors {
            read(first_lba.saturating_add(i), &mut sector).map_err(ProbeError::Device)?;
            for entry in sector.chunks_exact(DIR_ENTRY_LEN) {
                entries += 1;
                if entries > MAX_ENTRIES {
                    return Ok(());
                }
                match (entry.first(), entry.get(11)) {
                    (Some(0x00), _) => return Ok(()),
                    (Some(0xE5), _) => long.expect = None,
                    (_, Some(attr)) if attr & ATTR_LFN == ATTR_LFN => long.push(entry),
                    _ => {
                        let Some(facts) = parse_dir_entry(entry) else {
                            long.expect = None;
                            continue;
                        };
                        let raw: [u8; 11] = entry
                            .get(..11)
                            .and_then(|n| n.try_into().ok())
                            .unwrap_or([b' '; 11]);
                        let long_name = long.finish(&raw, &mut name_buf);
                        if facts.is_volume_label() {
                            continue;
                        }
                        if !visit(&ListedEntry { facts, long_name }) {
                            return Ok(());
                        }
                    }
                }
            }
        }
        let Some(c) = cluster else {
            return Ok(());
        };
        let (fat_lba, _) = geometry
            .fat_entry_location(c)
            .ok_or(CardProblem::BadClusterChain {
                cluster: c,
                entry: 0,
            })?;
        read(fat_lba, &mut fat_sector).map_err(ProbeError::Device)?;
        cluster = geometry.next_cluster(&fat_sector, c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_and_short_names() {
        // The checksum of "README  TXT" (rotate right by one, add the byte), worked out separately.
        let raw = *b"README  TXT";
        assert_eq!(short_name_checksum(&raw), 0x73);
        assert_eq!(short_name_text(&raw), "README.TXT");
        assert_eq!(short_name_text(b"FIRMWARE   "), "FIRMWARE");
        assert_eq!(short_name_text(b"A\x01      B  "), "A?.B");
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let raw = *b"ABCDEF~1DUP";
        let mut long = LongName::new();
        // Part 2 (last, first on disk) starts with a lone low surrogate; part 1 is 13 letters.
        let mut p2 = [0u8; 32];
        p2[0] = 0x42;
        p2[11] = ATTR_LFN;
        p2[13] = short_name_checksum(&raw);
        p2[1..3].copy_from_slice(&0xDC00u16.to_le_bytes());
        p2[3..5].copy_from_slice(&0u16.to_le_bytes());
        let mut p1 = [0u8; 32];
        p1[0] = 0x01;
        p1[11] = ATTR_LFN;
        p1[13] = short_name_checksum(&raw);
        for (k, off) in CHAR_OFFSETS.iter().enumerate() {
            p1[*off..off + 2].copy_from_slice(&(u16::from(b'a') + k as u16).to_le_bytes());
        }
        long.push(&p2);
        long.push(&p1);
        let mut out = heapless::String::new();
        assert_eq!(long.finish(&raw, &mut out), Some("abcdefghijklm\u{FFFD}"));
        // A wrong checksum drops the long name.
        long.push(&p2);
        long.push(&p1);
        assert_eq!(long.finish(b"OTHER   DUP", &mut out), None);
    }
}
