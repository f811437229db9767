//! [`Slice`]: a window onto the partition, so `fatfs` (which expects its volume to start at byte 0)
//! can format and read a volume inside a partitioned card.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// The bytes `start..start + len` of `disk`, as a stream of its own. With `writable == false`
/// every write fails, which makes [`crate::list`] unable to modify the card it reads.
pub(crate) struct Slice<'a, D> {
    disk: &'a mut D,
    start: u64,
    len: u64,
    pos: u64,
    writable: bool,
}

impl<'a, D: Read + Write + Seek> Slice<'a, D> {
    pub(crate) fn new(disk: &'a mut D, start: u64, len: u64, writable: bool) -> Self {
        Slice {
            disk,
            start,
            len,
            pos: 0,
            writable,
        }
    }

    /// Bytes from the position to the end of the slice, clipped to `want`.
    fn room(&self, want: usize) -> usize {
        let left = self.len.saturating_sub(self.pos);
        usize::try_from(left).map_or(want, |left| left.min(want))
    }

    fn seek_disk(&mut self) -> io::Result<()> {
        let at = self.start.checked_add(self.pos).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "partition offset overflows u64",
            )
        })?;
        self.disk.seek(SeekFrom::Start(at)).map(drop)
    }
}

impl<D: Read + Write + Seek> Read for Slice<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.seek_disk()?;
        let got = self.disk.read(buf.get_mut(..n).unwrap_or_default())?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<D: Read + Write + Seek> Write for Slice<'_, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the card is opened read-only (listing never writes)",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.room(buf.len());
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        self.seek_disk()?;
        let put = self.disk.write(buf.get(..n).unwrap_or_default())?;
        self.pos += put as u64;
        Ok(put)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.disk.flush()
    }
}

impl<D: Read + Write + Seek> Seek for Slice<'_, D> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = crate::sparse::seek_target(
            pos,
            self.len,
            self.pos,
            "seek before the start of the partition",
        )?;
        Ok(self.pos)
    }
}
