//! Shared test helpers: `embedded-sdmmc` 0.10 (the reader the library uses on the device) on top
//! of a `SparseDisk`, and deterministic pseudo-random file contents.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::cell::RefCell;
use std::convert::Infallible;
use std::ops::ControlFlow;

use embedded_sdmmc::{
    Block, BlockCount, BlockDevice, BlockIdx, Error, LfnBuffer, Mode, ShortFileName, TimeSource,
    Timestamp, VolumeIdx, VolumeManager,
};
use sd_image::SparseDisk;

/// A card for `embedded-sdmmc`: `BlockDevice` takes `&self`, hence the `RefCell`.
pub struct Card(pub RefCell<SparseDisk>);

impl BlockDevice for Card {
    type Error = Infallible;

    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), Infallible> {
        let disk = self.0.borrow();
        for (i, block) in blocks.iter_mut().enumerate() {
            disk.read_block(u64::from(start.0) + i as u64, &mut block.contents);
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), Infallible> {
        let mut disk = self.0.borrow_mut();
        for (i, block) in blocks.iter().enumerate() {
            disk.write_block(u64::from(start.0) + i as u64, &block.contents);
        }
        Ok(())
    }

    fn num_blocks(&self) -> Result<BlockCount, Infallible> {
        Ok(BlockCount(u32::try_from(self.0.borrow().blocks()).unwrap()))
    }
}

/// A fixed clock (2024-01-01); nothing here writes.
pub struct Clock;

impl TimeSource for Clock {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp {
            year_since_1970: 54,
            zero_indexed_month: 0,
            zero_indexed_day: 0,
            hours: 0,
            minutes: 0,
            seconds: 0,
        }
    }
}

pub type Manager = VolumeManager<Card, Clock, 4, 4, 1>;
pub type SdError = Error<Infallible>;

pub fn manager(disk: &SparseDisk) -> Manager {
    VolumeManager::new_with_limits(Card(RefCell::new(disk.clone())), Clock, 0x1000)
}

/// What `embedded-sdmmc` says when asked to open volume 0 (`Ok(())` when it opens).
pub fn open_volume(disk: &SparseDisk) -> Result<(), SdError> {
    let manager = manager(disk);
    manager.open_volume(VolumeIdx(0)).map(drop)
}

/// The entries of `folder` ("" = root) as `embedded-sdmmc` lists them with `iterate_dir_lfn`:
/// (long name, or the 8.3 name when there is none; size; is a folder). "." and ".." and the
/// volume label are left out.
pub fn long_names(disk: &SparseDisk, folder: &str) -> Result<Vec<(String, u32, bool)>, SdError> {
    let manager = manager(disk);
    let volume = manager.open_volume(VolumeIdx(0))?;
    let mut dir = volume.open_root_dir()?;
    for name in folder.split('/').filter(|n| !n.is_empty()) {
        let short = short_name_of(&dir, name)?;
        dir.change_dir(short)?;
    }
    let mut storage = [0u8; 256];
    let mut lfn = LfnBuffer::new(&mut storage);
    let mut out = Vec::new();
    dir.iterate_dir_lfn(&mut lfn, |entry, long| {
        let short = entry.name.to_string();
        if entry.attributes.is_volume() || short == "." || short == ".." {
            return ControlFlow::Continue(());
        }
        let name = long.map_or(short, str::to_owned);
        out.push((name, entry.size, entry.attributes.is_directory()));
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// The 8.3 name `embedded-sdmmc` needs to enter a folder whose long name is `name`.
fn short_name_of<D: BlockDevice, T: TimeSource, const A: usize, const B: usize, const C: usize>(
    dir: &embedded_sdmmc::Directory<'_, D, T, A, B, C>,
    name: &str,
) -> Result<ShortFileName, Error<D::Error>> {
    let mut storage = [0u8; 256];
    let mut lfn = LfnBuffer::new(&mut storage);
    let mut found = None;
    dir.iterate_dir_lfn(&mut lfn, |entry, long| {
        let short = entry.name.to_string();
        if long.unwrap_or(&short).eq_ignore_ascii_case(name) {
            found = Some(entry.name);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    found.ok_or(Error::NotFound)
}

/// Reads the file at `path` (`/`-separated long names) through `open_long_name_file_in_dir`.
pub fn read_long(disk: &SparseDisk, path: &str) -> Result<Vec<u8>, SdError> {
    let manager = manager(disk);
    let volume = manager.open_volume(VolumeIdx(0))?;
    let mut dir = volume.open_root_dir()?;
    let (folders, name) = path.rsplit_once('/').unwrap_or(("", path));
    for folder in folders.split('/').filter(|n| !n.is_empty()) {
        let short = short_name_of(&dir, folder)?;
        dir.change_dir(short)?;
    }
    let file = dir.open_long_name_file_in_dir(name, Mode::ReadOnly)?;
    let mut data = Vec::with_capacity(file.length() as usize);
    let mut chunk = [0u8; 4096];
    while !file.is_eof() {
        let n = file.read(&mut chunk)?;
        data.extend_from_slice(&chunk[..n]);
        if n == 0 {
            break;
        }
    }
    Ok(data)
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
pub fn random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// The files every card test writes: long names in the root, in a short-named folder and in a
/// long-named folder with a space, plus an empty file.
pub struct Files {
    pub catm1: Vec<u8>,
    pub gm02: Vec<u8>,
    pub diff: Vec<u8>,
    pub updater: Vec<u8>,
}

impl Files {
    pub fn new() -> Self {
        Files {
            catm1: random(1, 300_000),
            gm02: random(2, 420_001),
            diff: random(3, 123_457),
            updater: random(4, 200_000),
        }
    }

    pub fn entries(&self) -> Vec<sd_image::Entry<'_>> {
        vec![
            sd_image::Entry {
                path: "CATM1-38638.dup",
                data: &self.catm1,
            },
            sd_image::Entry {
                path: "updater-37781.elf",
                data: &self.updater,
            },
            sd_image::Entry {
                path: "FW/GM02RB6Q_LR8.0.5.13-59577.dup",
                data: &self.gm02,
            },
            sd_image::Entry {
                path: "FW/empty-file.bin",
                data: b"",
            },
            sd_image::Entry {
                path: "Firmware Archive/upgdiff_33080-to-39529.dup",
                data: &self.diff,
            },
        ]
    }

    /// Reads every file back through `embedded-sdmmc` and checks bytes, sizes and the long names
    /// `iterate_dir_lfn` reports.
    pub fn check_with_embedded_sdmmc(&self, disk: &SparseDisk) {
        open_volume(disk).expect("embedded-sdmmc must open volume 0");
        for entry in self.entries() {
            let back = read_long(disk, entry.path)
                .unwrap_or_else(|e| panic!("reading {} through embedded-sdmmc: {e:?}", entry.path));
            assert_eq!(back.len(), entry.data.len(), "{}", entry.path);
            assert!(back == entry.data, "{}: contents differ", entry.path);
        }
        let mut root = long_names(disk, "").unwrap();
        root.sort();
        assert_eq!(
            root,
            [
                ("CATM1-38638.dup".to_owned(), 300_000, false),
                ("FW".to_owned(), 0, true),
                ("Firmware Archive".to_owned(), 0, true),
                ("updater-37781.elf".to_owned(), 200_000, false),
            ]
        );
        let mut fw = long_names(disk, "FW").unwrap();
        fw.sort();
        assert_eq!(
            fw,
            [
                ("GM02RB6Q_LR8.0.5.13-59577.dup".to_owned(), 420_001, false),
                ("empty-file.bin".to_owned(), 0, false),
            ]
        );
        assert_eq!(
            long_names(disk, "Firmware Archive").unwrap(),
            [("upgdiff_33080-to-39529.dup".to_owned(), 123_457, false)]
        );
    }
}

/// Reads the root-folder file `name` through the 8.3 lookup `open_file_in_dir`.
pub fn read_short(disk: &SparseDisk, name: &str) -> Result<Vec<u8>, SdError> {
    let manager = manager(disk);
    let volume = manager.open_volume(VolumeIdx(0))?;
    let dir = volume.open_root_dir()?;
    let file = dir.open_file_in_dir(name, Mode::ReadOnly)?;
    let mut data = vec![0u8; file.length() as usize];
    let mut done = 0;
    while done < data.len() {
        let n = file.read(&mut data[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    data.truncate(done);
    Ok(data)
}
