//! An embedded-sdmmc file as an [`ImageSource`].

use crate::storage::ImageSource;
use core::fmt;
use embedded_sdmmc::{BlockDevice, File, TimeSource};

/// An image file on the card, read positionally.
///
/// Seeks only when a read does not continue where the previous one stopped: embedded-sdmmc walks
/// the FAT chain from the start of the file on every backward seek, so sequential reads must not
/// seek at all. Wrap it in a [`ReadAhead`](crate::storage::ReadAhead) so that re-sending the last
/// STP block (a retransmission or a residue) does not seek backwards either.
pub struct SdImage<
    'v,
    D: BlockDevice,
    T: TimeSource,
    const MAX_DIRS: usize,
    const MAX_FILES: usize,
    const MAX_VOLUMES: usize,
> {
    file: File<'v, D, T, MAX_DIRS, MAX_FILES, MAX_VOLUMES>,
    len: u32,
}

impl<'v, D, T, const MD: usize, const MF: usize, const MV: usize> SdImage<'v, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    /// Wraps an open file (closed when this is dropped).
    pub fn new(file: File<'v, D, T, MD, MF, MV>) -> Self {
        let len = file.length();
        Self { file, len }
    }

    /// The open file.
    pub fn file(&self) -> &File<'v, D, T, MD, MF, MV> {
        &self.file
    }
}

impl<D, T, const MD: usize, const MF: usize, const MV: usize> fmt::Debug
    for SdImage<'_, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdImage")
            .field("len", &self.len)
            .field("offset", &self.file.offset())
            .finish()
    }
}

impl<D, T, const MD: usize, const MF: usize, const MV: usize> ImageSource
    for SdImage<'_, D, T, MD, MF, MV>
where
    D: BlockDevice,
    T: TimeSource,
{
    type Error = embedded_sdmmc::Error<D::Error>;

    fn len(&self) -> u32 {
        self.len
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        if self.file.offset() != offset {
            self.file.seek_from_start(offset)?;
        }
        self.file.read(buf)
    }
}
