//! A disk image file (or a raw block device such as `/dev/sdb`) as an embedded-sdmmc
//! [`BlockDevice`] on a PC (features `sdmmc` + `std`).
//!
//! With it the host tool reads a card exactly the way the board does — same MBR/FAT code, same
//! long-name lookup, same journal sectors — so a card image that works here works on the board.

use core::cell::RefCell;
use embedded_sdmmc::{Block, BlockCount, BlockDevice, BlockIdx};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A file of 512-byte blocks.
#[derive(Debug)]
pub struct FileDisk {
    file: RefCell<File>,
    blocks: u32,
}

impl FileDisk {
    /// Opens `path` for reading and writing (the journal writes to the card).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::from_file(OpenOptions::new().read(true).write(true).open(path)?)
    }

    /// Opens `path` read-only: reads work, every write fails with `PermissionDenied`.
    pub fn open_read_only(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::from_file(File::open(path)?)
    }

    /// Wraps an open file. Its length is taken once; a trailing partial block is ignored.
    pub fn from_file(mut file: File) -> io::Result<Self> {
        // `seek(End)` also sizes block devices, whose metadata length is 0.
        let len = file.seek(SeekFrom::End(0))?;
        let blocks = u32::try_from(len / Block::LEN as u64).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{len} bytes is more than 2 TiB, the most a FAT32 card can address"),
            )
        })?;
        Ok(Self {
            file: RefCell::new(file),
            blocks,
        })
    }

    fn at(&self, idx: BlockIdx, count: usize) -> io::Result<u64> {
        let end = u64::from(idx.0) + count as u64;
        if end > u64::from(self.blocks) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "block {} (+{count}) is beyond the {} blocks of the disk",
                    idx.0, self.blocks
                ),
            ));
        }
        Ok(u64::from(idx.0) * Block::LEN as u64)
    }
}

impl BlockDevice for FileDisk {
    type Error = io::Error;

    fn read(&self, blocks: &mut [Block], start_block_idx: BlockIdx) -> Result<(), Self::Error> {
        let pos = self.at(start_block_idx, blocks.len())?;
        let mut file = self.file.borrow_mut();
        file.seek(SeekFrom::Start(pos))?;
        for block in blocks {
            file.read_exact(&mut block.contents)?;
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start_block_idx: BlockIdx) -> Result<(), Self::Error> {
        let pos = self.at(start_block_idx, blocks.len())?;
        let mut file = self.file.borrow_mut();
        file.seek(SeekFrom::Start(pos))?;
        for block in blocks {
            file.write_all(&block.contents)?;
        }
        // A checkpoint is only worth something once it is on the medium: the board's SD card has no
        // write cache between us and the flash, so on a PC flush the OS cache to match.
        file.sync_data()
    }

    fn num_blocks(&self) -> Result<BlockCount, Self::Error> {
        Ok(BlockCount(self.blocks))
    }
}
