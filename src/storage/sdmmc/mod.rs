//! Images and the resume journal on an SD card, through embedded-sdmmc (feature `sdmmc`).
//!
//! ```text
//! BlockDevice ─▶ VolumeManager ─▶ Card::open ──probe sector 0 + boot sector (our parser: specific errors)
//!                                   │
//!                                   ├─ find(FindOptions) ─▶ Located  (long name, 8.3 name, or a scan)
//!                                   ├─ open_image(&Located) ─▶ SdImage: ImageSource
//!                                   └─ open_journal(&Located) ─▶ SdJournal: JournalStore
//!                                        (UPGRADE.JNL next to the image; raw single-sector writes)
//! ```
//!
//! [`Card::open`] reads sector 0 and the partition's boot sector itself before embedded-sdmmc
//! mounts the volume, so a card that cannot work is refused with the reason (no partition table,
//! GPT, exFAT, NTFS, FAT12, …) instead of embedded-sdmmc's "Partition type not supported".
//!
//! The journal file is created (or re-created at the right size) once, through the file system.
//! From then on each checkpoint is **one** 512-byte write to the file's own data sector, made
//! directly on the block device: no FAT sector, no directory entry, no FSInfo sector is ever
//! rewritten by a checkpoint, so a power cut during a checkpoint cannot damage anything but that
//! one slot (which the two-slot journal tolerates). [`Card::open_journal`] finds that sector from
//! the file's directory entry and the volume geometry, and proves the mapping by reading the file
//! both ways before it trusts it.
//!
//! The `VolumeManager` needs room for two open directories (root + folder) and two open files
//! (image + journal while it is checked); `VolumeManager::new` (4/4/1) is enough.

// `Error` carries the finder's name lists (no allocation), a few hundred bytes; it is returned at
// most once per run, before the modem is touched.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod counting;
#[cfg(feature = "std")]
mod file_disk;
mod image;
mod journal;

pub use counting::{CountingDevice, DeviceCounts};
#[cfg(feature = "std")]
pub use file_disk::FileDisk;
pub use image::SdImage;
pub use journal::{JOURNAL_FILE, JournalProblem, SdJournal};

use super::card::{self, CardLayout, CardProblem, ProbeError, Sector};
use super::find::{Entry, FindOptions, FindProblem, Found, NameList, Place, Selector};
use core::fmt;
use embedded_sdmmc::{
    Block, BlockDevice, BlockIdx, RawDirectory, RawVolume, ShortFileName, TimeSource, VolumeIdx,
    VolumeManager,
};

/// Everything that can go wrong with the card, the file system, or finding the files on it.
///
/// Generic over the block device's error, which is never erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error<E: core::error::Error> {
    /// The card did not answer its size query (SPI wiring, power, or a card that fails init).
    CardInit(E),
    /// A raw block read or write failed.
    Device(E),
    /// The card's layout cannot work (no MBR, GPT, exFAT, FAT12, …).
    Card(CardProblem),
    /// embedded-sdmmc failed (on a card that passed our own checks).
    FileSystem(embedded_sdmmc::Error<E>),
    /// No single image file could be chosen.
    Find(FindProblem),
    /// The journal file could not be set up.
    Journal(JournalProblem),
}

impl<E: core::error::Error> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CardInit(e) => write!(
                f,
                "the SD card did not respond ({e}); check that it is inserted, the SPI wiring and the \
                 3.3 V supply, then power-cycle; some cards also need a slower SPI clock during \
                 initialisation"
            ),
            Self::Device(e) => write!(
                f,
                "reading or writing the SD card failed ({e}); reinsert the card and try again, or \
                 try another card"
            ),
            Self::Card(p) => p.fmt(f),
            Self::FileSystem(e) => write!(
                f,
                "the card's FAT file system could not be read ({e}); check the card on a PC \
                 (chkdsk / fsck.fat) or copy the files off and re-format it as FAT32"
            ),
            Self::Find(p) => p.fmt(f),
            Self::Journal(p) => p.fmt(f),
        }
    }
}

impl<E: core::error::Error> core::error::Error for Error<E> {}

impl<E: core::error::Error> From<embedded_sdmmc::Error<E>> for Error<E> {
    fn from(e: embedded_sdmmc::Error<E>) -> Self {
        Self::FileSystem(e)
    }
}

/// A file chosen by [`Card::find`]: what the finder reports, plus how to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Name, 8.3 name, size and place of the file.
    pub found: Found,
    /// The folder's 8.3 name when the file is in the configured folder.
    folder: Option<ShortFileName>,
    /// The file's 8.3 name as embedded-sdmmc opens it.
    short: ShortFileName,
}

/// A mounted card: the volume and its root directory stay open until it is dropped.
pub struct Card<
    'v,
    D: BlockDevice,
    T: TimeSource,
    const MAX_DIRS: usize,
    const MAX_FILES: usize,
    const MAX_VOLUMES: usize,
> {
    vm: &'v VolumeManager<D, T, MAX_DIRS, MAX_FILES, MAX_VOLUMES>,
    layout: CardLayout,
    volume: RawVolume,
    root: RawDirectory,
}

impl<D, T, const MD: usize, const MF: usize, const MV: usize> fmt::Debug
    for Card<'_, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl<'v, D, T, const MD: usize, const MF: usize, const MV: usize> Card<'v, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    /// Checks the card's layout and mounts its FAT16/FAT32 partition.
    ///
    /// Reads the card size, sector 0 and the partition's boot sector first (3 block reads), so an
    /// unusable card gets a specific [`CardProblem`].
    pub fn open(vm: &'v VolumeManager<D, T, MD, MF, MV>) -> Result<Self, Error<D::Error>> {
        let layout = vm.device(|dev| {
            let card_blocks = dev.num_blocks().map_err(Error::CardInit)?.0;
            card::probe(card_blocks, |lba, sector| read_sector(dev, lba, sector)).map_err(|e| {
                match e {
                    ProbeError::Device(e) => Error::Device(e),
                    ProbeError::Card(p) => Error::Card(p),
                }
            })
        })?;
        let volume = vm.open_raw_volume(VolumeIdx(usize::from(layout.partition.index)))?;
        let root = match vm.open_root_dir(volume) {
            Ok(root) => root,
            Err(e) => {
                let _ = vm.close_volume(volume);
                return Err(e.into());
            }
        };
        Ok(Self {
            vm,
            layout,
            volume,
            root,
        })
    }

    /// What [`Card::open`] found: partition and FAT geometry.
    pub fn layout(&self) -> &CardLayout {
        &self.layout
    }

    /// The volume manager the card was opened with.
    pub fn volume_manager(&self) -> &'v VolumeManager<D, T, MD, MF, MV> {
        self.vm
    }

    /// Finds one file by long or 8.3 name, or by scanning the root (and the folder) for
    /// firmware extensions. See [`crate::storage::find`] for the rules.
    ///
    /// The directories are listed by [`card::list_dir`] from raw sectors (embedded-sdmmc's own
    /// long-name listing panics on some corrupted entries); the file is then opened by its 8.3 name.
    pub fn find(&self, options: &FindOptions<'_>) -> Result<Located, Error<D::Error>> {
        let geometry = self.layout.geometry;
        let mut selector = Selector::new(*options);
        let mut folder: Option<(heapless::String<12>, u32)> = None;
        let mut folders = NameList::default();
        self.list(geometry.root_location(), |entry| {
            let short = entry.short_name();
            if entry.facts.is_directory() {
                if let Some(wanted) = options.folder
                    && !matches!(short.as_str(), "." | "..")
                {
                    if folder.is_none()
                        && super::find::folder_matches(wanted, entry.long_name, short.as_str())
                    {
                        folder = Some((short.clone(), entry.facts.first_cluster));
                    }
                    folders.push(entry.long_name.unwrap_or(short.as_str()));
                }
                return;
            }
            offer(&mut selector, entry, Place::Root);
        })?;
        if let Some(wanted) = options.folder {
            let Some((_, first_cluster)) = &folder else {
                return Err(Error::Find(FindProblem::FolderNotFound {
                    folder: super::find::name_of(wanted),
                    seen: folders,
                }));
            };
            let at = card::DirLocation::Chain {
                first_cluster: *first_cluster,
            };
            self.list(at, |entry| {
                if !entry.facts.is_directory() {
                    offer(&mut selector, entry, Place::Folder);
                }
            })?;
        }
        let found = selector.finish().map_err(Error::Find)?;
        let short = short_file_name(&found.short_name)?;
        let folder = match (found.place, folder) {
            (Place::Folder, Some((name, _))) => Some(short_file_name(&name)?),
            _ => None,
        };
        Ok(Located {
            folder,
            found,
            short,
        })
    }

    /// Opens a file chosen by [`Card::find`] for reading.
    pub fn open_image(
        &self,
        located: &Located,
    ) -> Result<SdImage<'v, D, T, MD, MF, MV>, Error<D::Error>> {
        self.in_dir(located, |dir| {
            let raw =
                self.vm
                    .open_file_in_dir(dir, located.short, embedded_sdmmc::Mode::ReadOnly)?;
            Ok(SdImage::new(raw.to_file(self.vm)))
        })
    }

    /// Opens (creating it the first time) the journal file `UPGRADE.JNL` in the directory of
    /// `located`, and maps its two slots to card sectors. See [`SdJournal`].
    pub fn open_journal(
        &self,
        located: &Located,
    ) -> Result<SdJournal<'v, D, T, MD, MF, MV>, Error<D::Error>> {
        self.in_dir(located, |dir| {
            journal::open(self.vm, &self.layout.geometry, dir)
        })
    }

    /// Runs `f` in the directory holding `located` (opening and closing the folder if needed).
    fn in_dir<R>(
        &self,
        located: &Located,
        f: impl FnOnce(RawDirectory) -> Result<R, Error<D::Error>>,
    ) -> Result<R, Error<D::Error>> {
        match &located.folder {
            None => f(self.root),
            Some(folder) => {
                let dir = self.vm.open_dir(self.root, *folder)?;
                let result = f(dir);
                let closed = self.vm.close_dir(dir);
                let value = result?;
                closed?;
                Ok(value)
            }
        }
    }

    /// Lists the directory at `at` from raw sectors.
    fn list(
        &self,
        at: card::DirLocation,
        mut visit: impl FnMut(&card::ListedEntry<'_>),
    ) -> Result<(), Error<D::Error>> {
        let geometry = self.layout.geometry;
        self.vm
            .device(|dev| {
                card::list_dir(
                    &geometry,
                    at,
                    |lba, sector| read_sector(dev, lba, sector),
                    |entry| {
                        visit(entry);
                        true
                    },
                )
            })
            .map_err(|e| match e {
                ProbeError::Device(e) => Error::Device(e),
                ProbeError::Card(p) => Error::Card(p),
            })
    }
}

impl<D, T, const MD: usize, const MF: usize, const MV: usize> Drop for Card<'_, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    fn drop(&mut self) {
        // Nothing useful can be done with a close error here: handles only free table slots, and
        // the volume is read-mostly (the journal writes bypass the file system).
        let _ = self.vm.close_dir(self.root);
        let _ = self.vm.close_volume(self.volume);
    }
}

/// Offers `entry` to `selector` (the chosen [`Found`] keeps its 8.3 name, which opens it).
fn offer(selector: &mut Selector<'_>, entry: &card::ListedEntry<'_>, place: Place) {
    let short = entry.short_name();
    let attributes = entry.facts.attributes;
    let view = Entry {
        long_name: entry.long_name,
        short_name: short.as_str(),
        size: entry.facts.size,
        is_dir: entry.facts.is_directory(),
        // Hidden (0x02) or system (0x04).
        hidden: attributes & 0x06 != 0,
        place,
    };
    selector.offer(&view);
}

/// The embedded-sdmmc name for `NAME.EXT`.
fn short_file_name<E: core::error::Error>(text: &str) -> Result<ShortFileName, Error<E>> {
    ShortFileName::create_from_str(text)
        .map_err(|e| Error::FileSystem(embedded_sdmmc::Error::FilenameError(e)))
}

/// Reads one 512-byte sector straight from the device.
fn read_sector<D: BlockDevice>(dev: &D, lba: u32, sector: &mut Sector) -> Result<(), D::Error> {
    let mut block = [Block::new()];
    dev.read(&mut block, BlockIdx(lba))?;
    let [block] = block;
    *sector = block.contents;
    Ok(())
}

/// Writes one 512-byte sector straight to the device.
fn write_sector<D: BlockDevice>(dev: &D, lba: u32, sector: &Sector) -> Result<(), D::Error> {
    let mut block = Block::new();
    block.contents = *sector;
    dev.write(core::slice::from_ref(&block), BlockIdx(lba))
}
