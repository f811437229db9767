//! An SD card in RAM for embedded-sdmmc: a [`SparseDisk`] built by the `sd-image` crate behind a
//! `BlockDevice`, with power loss on demand.
//!
//! Power loss at write N: the N-th block write stores only the first `keep` bytes of the new block
//! (the rest keeps the old bytes — a torn sector) and fails; every later write fails too, as the
//! board is off. Reads keep working so the test can "reboot" and look at what is on the card.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::fmt;

use embedded_sdmmc::{Block, BlockCount, BlockDevice, BlockIdx};
use sd_image::SparseDisk;

/// The card's error: the power went away (or a read beyond the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardFault {
    /// The write (and everything after it) failed because of the simulated power loss.
    PowerLost,
    /// A block beyond the card was asked for.
    OutOfRange(u64),
}

impl fmt::Display for CardFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PowerLost => f.write_str("power lost during a card write"),
            Self::OutOfRange(b) => write!(f, "block {b} is beyond the card"),
        }
    }
}

impl std::error::Error for CardFault {}

/// A RAM card; see the module docs.
pub struct RamCard {
    disk: RefCell<SparseDisk>,
    writes: Cell<u32>,
    /// `(n, keep)`: the n-th write (1-based) keeps `keep` bytes of the new data and fails.
    power_loss: Cell<Option<(u32, usize)>>,
    dead: Cell<bool>,
    written_blocks: RefCell<Vec<u64>>,
}

impl RamCard {
    pub fn new(disk: SparseDisk) -> Self {
        Self {
            disk: RefCell::new(disk),
            writes: Cell::new(0),
            power_loss: Cell::new(None),
            dead: Cell::new(false),
            written_blocks: RefCell::new(Vec::new()),
        }
    }

    /// Loses power during the `n`-th write from now (1-based), keeping `keep` bytes of it.
    pub fn lose_power_at_write(&self, n: u32, keep: usize) {
        self.power_loss
            .set(Some((self.writes.get() + n, keep.min(512))));
    }

    /// Block writes made so far (including the failed one).
    pub fn writes(&self) -> u32 {
        self.writes.get()
    }

    /// Which blocks were written, in order.
    pub fn written_blocks(&self) -> Vec<u64> {
        self.written_blocks.borrow().clone()
    }

    pub fn into_disk(self) -> SparseDisk {
        self.disk.into_inner()
    }
}

impl BlockDevice for RamCard {
    type Error = CardFault;

    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), Self::Error> {
        let disk = self.disk.borrow();
        for (i, block) in blocks.iter_mut().enumerate() {
            let idx = u64::from(start.0) + i as u64;
            if idx >= disk.blocks() {
                return Err(CardFault::OutOfRange(idx));
            }
            disk.read_block(idx, &mut block.contents);
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), Self::Error> {
        let mut disk = self.disk.borrow_mut();
        for (i, block) in blocks.iter().enumerate() {
            let idx = u64::from(start.0) + i as u64;
            if self.dead.get() {
                return Err(CardFault::PowerLost);
            }
            if idx >= disk.blocks() {
                return Err(CardFault::OutOfRange(idx));
            }
            let n = self.writes.get() + 1;
            self.writes.set(n);
            self.written_blocks.borrow_mut().push(idx);
            if let Some((at, keep)) = self.power_loss.get()
                && at == n
            {
                let mut torn = [0u8; 512];
                disk.read_block(idx, &mut torn);
                torn[..keep].copy_from_slice(&block.contents[..keep]);
                disk.write_block(idx, &torn);
                self.dead.set(true);
                return Err(CardFault::PowerLost);
            }
            disk.write_block(idx, &block.contents);
        }
        Ok(())
    }

    fn num_blocks(&self) -> Result<BlockCount, Self::Error> {
        let blocks = self.disk.borrow().blocks();
        Ok(BlockCount(u32::try_from(blocks).unwrap_or(u32::MAX)))
    }
}

/// A fixed, deliberately odd timestamp (FAT stores seconds in 2-second steps).
pub struct FixedTime;

impl embedded_sdmmc::TimeSource for FixedTime {
    fn get_timestamp(&self) -> embedded_sdmmc::Timestamp {
        embedded_sdmmc::Timestamp {
            year_since_1970: 56,
            zero_indexed_month: 10,
            zero_indexed_day: 20,
            hours: 23,
            minutes: 59,
            seconds: 59,
        }
    }
}
