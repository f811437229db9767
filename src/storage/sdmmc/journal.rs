//! The resume journal on the card: a pre-allocated file whose two sectors are written directly.
//!
//! | step | when | card writes |
//! |---|---|---|
//! | create `UPGRADE.JNL`, 1024 zero bytes | first use on a card (or after its size was wrong) | directory entry, FAT entries, 2 data sectors, FSInfo — through embedded-sdmmc, once |
//! | checkpoint | every save | **one** data sector (slot A or B), straight to the block device |
//! | clear | upgrade finished | two data sectors (older slot first) |
//!
//! A checkpoint never goes through the file system, so it cannot rewrite a FAT sector, a directory
//! sector or the FSInfo sector: a power cut during a checkpoint can tear only the slot being
//! written, which the two-slot format absorbs (see `docs/resume.md`). The file's size never
//! changes after creation, so its directory entry stays correct.
//!
//! The slot sectors are found from the file's own directory entry (first cluster) and the volume
//! geometry parsed by [`crate::storage::card`]; with 512-byte clusters slot B is in the next
//! cluster of the chain, read from the FAT. Before the mapping is trusted, both slots are read
//! through the file system and directly, and must match.

// `Error` carries the finder's name lists (no allocation), a few hundred bytes; it is returned at
// most once per run, before the modem is touched.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use super::{Error, read_sector, write_sector};
use crate::storage::card::{self, CardProblem, FatGeometry, Sector};
use crate::storage::journal::{JOURNAL_LEN, JournalStore, SLOT_LEN, Slot};
use core::fmt;
use embedded_sdmmc::{BlockDevice, Mode, RawDirectory, TimeSource, VolumeManager};

/// Name of the journal file, next to the image (an 8.3 name: embedded-sdmmc creates only those).
pub const JOURNAL_FILE: &str = "UPGRADE.JNL";

/// Why the journal file could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JournalProblem {
    /// `UPGRADE.JNL` exists but is a directory.
    IsDirectory,
    /// The file's directory entry does not describe a 1024-byte file with a valid first cluster.
    BadEntry {
        /// First cluster found in the entry.
        first_cluster: u32,
        /// Size found in the entry.
        size: u32,
    },
    /// The file's cluster chain is broken.
    Chain(CardProblem),
    /// The sector computed for a slot does not hold what the file system reads for it.
    MappingMismatch {
        /// Byte offset of the slot in the file (0 or 512).
        slot_offset: u32,
        /// The sector that was checked.
        lba: u32,
    },
}

impl fmt::Display for JournalProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FIX: &str = "delete UPGRADE.JNL from the card (it holds only resume state) and run \
                           again; if it keeps happening, check the card with fsck.fat / chkdsk";
        match self {
            Self::IsDirectory => write!(
                f,
                "`{JOURNAL_FILE}` on the card is a directory, but the upgrader keeps its resume \
                 journal in a file of that name; rename or remove that directory"
            ),
            Self::BadEntry {
                first_cluster,
                size,
            } => write!(
                f,
                "the directory entry of `{JOURNAL_FILE}` says first cluster {first_cluster} and \
                 {size} bytes, expected a valid cluster and {JOURNAL_LEN} bytes; {FIX}"
            ),
            Self::Chain(p) => write!(
                f,
                "the clusters of `{JOURNAL_FILE}` cannot be followed: {p}"
            ),
            Self::MappingMismatch { slot_offset, lba } => write!(
                f,
                "sector {lba} should hold bytes {slot_offset}.. of `{JOURNAL_FILE}` but does not \
                 match what the file system reads; checkpoints are not written to protect the card; \
                 {FIX}"
            ),
        }
    }
}

impl core::error::Error for JournalProblem {}

/// The journal's two slots on the card, written one sector at a time.
pub struct SdJournal<
    'v,
    D: BlockDevice,
    T: TimeSource,
    const MAX_DIRS: usize,
    const MAX_FILES: usize,
    const MAX_VOLUMES: usize,
> {
    vm: &'v VolumeManager<D, T, MAX_DIRS, MAX_FILES, MAX_VOLUMES>,
    /// Sector of slot A and slot B.
    lbas: [u32; 2],
}

impl<D, T, const MD: usize, const MF: usize, const MV: usize> SdJournal<'_, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    /// The card sectors of slot A and slot B.
    pub fn sectors(&self) -> [u32; 2] {
        self.lbas
    }

    fn lba(&self, slot: Slot) -> u32 {
        let [a, b] = self.lbas;
        match slot {
            Slot::A => a,
            Slot::B => b,
        }
    }
}

impl<D, T, const MD: usize, const MF: usize, const MV: usize> fmt::Debug
    for SdJournal<'_, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdJournal")
            .field("sectors", &self.lbas)
            .finish_non_exhaustive()
    }
}

impl<D, T, const MD: usize, const MF: usize, const MV: usize> JournalStore
    for SdJournal<'_, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    type Error = D::Error;

    fn read_slot(&mut self, slot: Slot, buf: &mut [u8; SLOT_LEN]) -> Result<(), Self::Error> {
        let lba = self.lba(slot);
        // `device` hands out the raw device and invalidates embedded-sdmmc's block cache, so the
        // file system never sees a stale copy of a journal sector.
        self.vm.device(|d| read_sector(d, lba, buf))
    }

    fn write_slot(&mut self, slot: Slot, buf: &[u8; SLOT_LEN]) -> Result<(), Self::Error> {
        let lba = self.lba(slot);
        self.vm.device(|d| write_sector(d, lba, buf))
    }
}

/// Opens or creates the journal in `dir` and maps its slots (see the module docs).
pub(super) fn open<'v, D, T, const MD: usize, const MF: usize, const MV: usize>(
    vm: &'v VolumeManager<D, T, MD, MF, MV>,
    geometry: &FatGeometry,
    dir: RawDirectory,
) -> Result<SdJournal<'v, D, T, MD, MF, MV>, Error<D::Error>>
where
    D: BlockDevice,
    T: TimeSource,
{
    match vm.find_directory_entry(dir, JOURNAL_FILE) {
        Ok(entry) if entry.attributes.is_directory() => {
            return Err(Error::Journal(JournalProblem::IsDirectory));
        }
        Ok(entry) if entry.size == JOURNAL_LEN => {}
        Ok(_) => {
            // A creation cut short by a power failure; the file holds nothing worth keeping.
            vm.delete_entry_in_dir(dir, JOURNAL_FILE)?;
            create(vm, dir)?;
        }
        Err(embedded_sdmmc::Error::NotFound) => create(vm, dir)?,
        Err(e) => return Err(e.into()),
    }
    let entry = vm.find_directory_entry(dir, JOURNAL_FILE)?;
    let mut sector: Sector = [0; card::SECTOR_LEN];
    vm.device(|d| read_sector(d, entry.entry_block.0, &mut sector))
        .map_err(Error::Device)?;
    let facts = usize::try_from(entry.entry_offset)
        .ok()
        .and_then(|at| sector.get(at..))
        .and_then(card::parse_dir_entry);
    let bad_entry = |first_cluster, size| {
        Error::Journal(JournalProblem::BadEntry {
            first_cluster,
            size,
        })
    };
    let Some(facts) = facts else {
        return Err(bad_entry(0, entry.size));
    };
    if facts.size != JOURNAL_LEN {
        return Err(bad_entry(facts.first_cluster, facts.size));
    }
    let first = facts.first_cluster;
    let slot_a = geometry
        .cluster_lba(first)
        .ok_or_else(|| bad_entry(first, facts.size))?;
    let slot_b = if geometry.sectors_per_cluster >= 2 {
        slot_a
            .checked_add(1)
            .ok_or_else(|| bad_entry(first, facts.size))?
    } else {
        let (fat_lba, _) = geometry
            .fat_entry_location(first)
            .ok_or_else(|| bad_entry(first, facts.size))?;
        vm.device(|d| read_sector(d, fat_lba, &mut sector))
            .map_err(Error::Device)?;
        let next = geometry
            .next_cluster(&sector, first)
            .map_err(|p| Error::Journal(JournalProblem::Chain(p)))?
            .ok_or(Error::Journal(JournalProblem::Chain(
                CardProblem::BadClusterChain {
                    cluster: first,
                    entry: 0,
                },
            )))?;
        geometry
            .cluster_lba(next)
            .ok_or_else(|| bad_entry(next, facts.size))?
    };
    let journal = SdJournal {
        vm,
        lbas: [slot_a, slot_b],
    };
    prove_mapping(vm, dir, &journal)?;
    Ok(journal)
}

/// Creates the journal file: 1024 zero bytes, i.e. two blank slots.
fn create<D, T, const MD: usize, const MF: usize, const MV: usize>(
    vm: &VolumeManager<D, T, MD, MF, MV>,
    dir: RawDirectory,
) -> Result<(), Error<D::Error>>
where
    D: BlockDevice,
    T: TimeSource,
{
    let file = vm
        .open_file_in_dir(dir, JOURNAL_FILE, Mode::ReadWriteCreate)?
        .to_file(vm);
    file.write(&[0u8; JOURNAL_LEN as usize])?;
    file.close()?;
    Ok(())
}

/// Proves the computed sectors are the file's: each slot must read the same through the file
/// system and directly. A slot whose bytes are all alike (blank) proves nothing — a wrong sector on
/// a mostly empty card is blank too — so a distinctive marker is first written into it through the
/// file system, compared directly, and the slot is then blanked again directly. That costs a few
/// writes (including the directory entry, on close) only when a slot is blank, i.e. once per
/// upgrade; checkpoints themselves never touch the file system.
fn prove_mapping<D, T, const MD: usize, const MF: usize, const MV: usize>(
    vm: &VolumeManager<D, T, MD, MF, MV>,
    dir: RawDirectory,
    journal: &SdJournal<'_, D, T, MD, MF, MV>,
) -> Result<(), Error<D::Error>>
where
    D: BlockDevice,
    T: TimeSource,
{
    let mut blank = [false; 2];
    {
        let file = vm
            .open_file_in_dir(dir, JOURNAL_FILE, Mode::ReadOnly)?
            .to_file(vm);
        let mut via_fs: Sector = [0; card::SECTOR_LEN];
        for ((slot_offset, lba), is_blank) in slot_places(journal).zip(blank.iter_mut()) {
            file.seek_from_start(slot_offset)?;
            let n = file.read(&mut via_fs)?;
            if n != SLOT_LEN || !direct_matches(vm, lba, &via_fs)? {
                return Err(Error::Journal(JournalProblem::MappingMismatch {
                    slot_offset,
                    lba,
                }));
            }
            *is_blank = via_fs.iter().all(|&b| b == via_fs[0]);
        }
        file.close()?;
    }
    if blank == [false, false] {
        return Ok(());
    }
    let file = vm
        .open_file_in_dir(dir, JOURNAL_FILE, Mode::ReadWriteAppend)?
        .to_file(vm);
    for ((slot_offset, _), _) in slot_places(journal).zip(blank).filter(|(_, b)| *b) {
        file.seek_from_start(slot_offset)?;
        file.write(&marker(slot_offset))?;
    }
    file.close()?;
    for ((slot_offset, lba), _) in slot_places(journal).zip(blank).filter(|(_, b)| *b) {
        if !direct_matches(vm, lba, &marker(slot_offset))? {
            return Err(Error::Journal(JournalProblem::MappingMismatch {
                slot_offset,
                lba,
            }));
        }
        vm.device(|d| write_sector(d, lba, &[0; card::SECTOR_LEN]))
            .map_err(Error::Device)?;
    }
    Ok(())
}

/// (byte offset in the file, card sector) of slot A and slot B.
fn slot_places<D, T, const MD: usize, const MF: usize, const MV: usize>(
    journal: &SdJournal<'_, D, T, MD, MF, MV>,
) -> impl Iterator<Item = (u32, u32)>
where
    D: BlockDevice,
    T: TimeSource,
{
    [0u32, SLOT_LEN as u32].into_iter().zip(journal.lbas)
}

/// `true` when sector `lba` holds exactly `expected`.
fn direct_matches<D, T, const MD: usize, const MF: usize, const MV: usize>(
    vm: &VolumeManager<D, T, MD, MF, MV>,
    lba: u32,
    expected: &Sector,
) -> Result<bool, Error<D::Error>>
where
    D: BlockDevice,
    T: TimeSource,
{
    let mut direct: Sector = [0; card::SECTOR_LEN];
    vm.device(|d| read_sector(d, lba, &mut direct))
        .map_err(Error::Device)?;
    Ok(&direct == expected)
}

/// A sector no other file plausibly holds: a text naming the slot, then a counting pattern.
fn marker(slot_offset: u32) -> Sector {
    let mut m: Sector = [0; card::SECTOR_LEN];
    let text: &[u8] = if slot_offset == 0 {
        b"modem-upgrade UPGRADE.JNL mapping check, slot A\n"
    } else {
        b"modem-upgrade UPGRADE.JNL mapping check, slot B\n"
    };
    for (i, byte) in m.iter_mut().enumerate() {
        *byte = text.get(i).copied().unwrap_or((i as u8) ^ 0xA5);
    }
    m
}
