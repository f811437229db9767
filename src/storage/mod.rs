//! Where images come from and where resume state goes.
//!
//! - [`ImageSource`] is deliberately tiny (length + positional read) so the image reader and the
//!   upgrader can stream a 7 MB file in small pieces, resume at any offset by seeking, and run the
//!   same way over an SD card file ([`sdmmc::SdImage`]), a byte slice ([`MemImage`]) or a file on a
//!   PC (`FileImage`). [`ReadAhead`] puts a one-block window in front of any of them.
//! - [`find`] chooses the image in a directory (long or 8.3 name, or a scan), [`card`] checks an SD
//!   card's partition table and FAT boot sector with errors that say what to do, and [`sdmmc`]
//!   mounts the card with embedded-sdmmc.
//! - [`journal`] is the power-safe resume journal: a pure two-slot codec over the tiny
//!   [`journal::JournalStore`] trait, stored on the card ([`sdmmc::SdJournal`]), in memory or in a
//!   host file.

pub mod card;
pub mod find;
pub mod journal;
mod mem;
mod read_ahead;
#[cfg(feature = "sdmmc")]
pub mod sdmmc;
#[cfg(feature = "std")]
mod std_fs;

pub use journal::{Journal, JournalStore};
pub use mem::MemImage;
pub use read_ahead::{ALIGN, ReadAhead, ReadAheadStats};
#[cfg(feature = "std")]
pub use std_fs::{FileImage, FindInDirError, find_in_dir};

/// A firmware image readable at any offset.
///
/// Offsets and lengths are `u32`: FAT files cannot exceed 4 GiB − 1 and real images are under 16 MB.
pub trait ImageSource {
    /// The error a read can fail with (never erased: callers see the device's own error).
    type Error: core::fmt::Debug;

    /// Length of the image in bytes.
    fn len(&self) -> u32;

    /// `true` when the image holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes starting at `offset` and returns how many were read.
    ///
    /// Returns `Ok(0)` only when `offset >= len()` or `buf` is empty. Implementations may return fewer
    /// bytes than asked; use [`read_exact_at`] to fill a whole buffer.
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error>;
}

impl<S: ImageSource + ?Sized> ImageSource for &mut S {
    type Error = S::Error;
    fn len(&self) -> u32 {
        (**self).len()
    }
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
        (**self).read_at(offset, buf)
    }
}

/// Why [`read_exact_at`] could not fill its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadExactError<E> {
    /// The source ended (or stopped making progress) at `offset` before the buffer was full.
    UnexpectedEnd {
        /// Offset at which no more bytes came.
        offset: u32,
    },
    /// The source itself failed.
    Source(E),
}

/// Fills `buf` from `offset`, looping over short reads.
///
/// Bounded: every iteration either consumes at least one byte or returns, so it runs at most
/// `buf.len()` times.
pub fn read_exact_at<S: ImageSource + ?Sized>(
    source: &mut S,
    offset: u32,
    buf: &mut [u8],
) -> Result<(), ReadExactError<S::Error>> {
    let mut filled = 0usize;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        let at = u32::try_from(filled)
            .ok()
            .and_then(|f| offset.checked_add(f))
            .ok_or(ReadExactError::UnexpectedEnd { offset: u32::MAX })?;
        let n = source.read_at(at, rest).map_err(ReadExactError::Source)?;
        if n == 0 {
            return Err(ReadExactError::UnexpectedEnd { offset: at });
        }
        filled = filled.saturating_add(n.min(rest.len()));
    }
    Ok(())
}
