//! A file on a host file system as an [`ImageSource`] (feature `std`).

use super::ImageSource;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// A `std::fs::File` read positionally. Sequential reads do not seek.
#[derive(Debug)]
pub struct FileImage {
    file: File,
    len: u32,
    position: u64,
}

impl FileImage {
    /// Opens `path` for reading.
    ///
    /// Fails with [`io::ErrorKind::InvalidData`] for files of 4 GiB or more (no modem image is that large,
    /// and FAT cannot store one).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::from_file(File::open(path)?)
    }

    /// Wraps an already open file.
    pub fn from_file(file: File) -> io::Result<Self> {
        let bytes = file.metadata()?.len();
        let len = u32::try_from(bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file is {bytes} bytes; images must be smaller than 4 GiB"),
            )
        })?;
        Ok(Self {
            file,
            len,
            position: 0,
        })
    }
}

impl ImageSource for FileImage {
    type Error = io::Error;

    fn len(&self) -> u32 {
        self.len
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        if self.position != u64::from(offset) {
            self.file.seek(SeekFrom::Start(u64::from(offset)))?;
            self.position = u64::from(offset);
        }
        let want = buf.len().min((self.len - offset) as usize);
        let Some(buf) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.position += n as u64;
        Ok(n)
    }
}
