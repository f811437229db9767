//! A block device wrapper that counts the traffic to the card.
//!
//! The read-ahead design is judged by one number — SD blocks read per image byte — and SD wear by
//! blocks written. Wrapping the device is the only place both can be measured without trusting the
//! layers above, so the wrapper is part of the library: firmware can report the same numbers the
//! tests assert.

use core::cell::Cell;
use embedded_sdmmc::{Block, BlockCount, BlockDevice, BlockIdx};

/// Traffic seen by a [`CountingDevice`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceCounts {
    /// `read` calls (each may read several blocks).
    pub read_calls: u32,
    /// 512-byte blocks read.
    pub blocks_read: u64,
    /// `write` calls.
    pub write_calls: u32,
    /// 512-byte blocks written.
    pub blocks_written: u64,
}

/// A [`BlockDevice`] that forwards to `D` and counts reads and writes.
///
/// `BlockDevice` takes `&self`, so the counters are [`Cell`]s (single-threaded, like the
/// `VolumeManager` that drives the device). Read the counts with
/// `volume_manager.device(|d| d.counts())`.
#[derive(Debug)]
pub struct CountingDevice<D> {
    inner: D,
    counts: Cell<DeviceCounts>,
}

impl<D> CountingDevice<D> {
    /// Wraps `inner` with all counters at zero.
    pub fn new(inner: D) -> Self {
        Self {
            inner,
            counts: Cell::new(DeviceCounts::default()),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> DeviceCounts {
        self.counts.get()
    }

    /// Sets every counter back to zero (e.g. after mounting, to measure only a transfer).
    pub fn reset_counts(&self) {
        self.counts.set(DeviceCounts::default());
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Unwraps the device.
    pub fn into_inner(self) -> D {
        self.inner
    }

    fn update(&self, f: impl FnOnce(&mut DeviceCounts)) {
        let mut c = self.counts.get();
        f(&mut c);
        self.counts.set(c);
    }
}

impl<D: BlockDevice> BlockDevice for CountingDevice<D> {
    type Error = D::Error;

    fn read(&self, blocks: &mut [Block], start_block_idx: BlockIdx) -> Result<(), Self::Error> {
        self.update(|c| {
            c.read_calls = c.read_calls.saturating_add(1);
            c.blocks_read = c.blocks_read.saturating_add(blocks.len() as u64);
        });
        self.inner.read(blocks, start_block_idx)
    }

    fn write(&self, blocks: &[Block], start_block_idx: BlockIdx) -> Result<(), Self::Error> {
        self.update(|c| {
            c.write_calls = c.write_calls.saturating_add(1);
            c.blocks_written = c.blocks_written.saturating_add(blocks.len() as u64);
        });
        self.inner.write(blocks, start_block_idx)
    }

    fn num_blocks(&self) -> Result<BlockCount, Self::Error> {
        self.inner.num_blocks()
    }
}
