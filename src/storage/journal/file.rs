//! [`FileJournal`]: the journal as a 1024-byte file on a host file system (feature `std`).

use super::manager::JournalStore;
use super::{JOURNAL_LEN, SLOT_LEN, Slot};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A journal file of exactly [`JOURNAL_LEN`] bytes: slot A at offset 0, slot B at 512.
///
/// Each [`write_slot`](JournalStore::write_slot) is a seek, one 512-byte write and `sync_data`, so a
/// returned `Ok` means the slot reached the device (as far as the OS can promise). The file's size never
/// changes after creation, so no checkpoint needs a metadata update.
#[derive(Debug)]
pub struct FileJournal {
    file: File,
    created: bool,
}

impl FileJournal {
    /// Opens the journal at `path`, creating it, or re-creating it when its size is not
    /// [`JOURNAL_LEN`], as [`JOURNAL_LEN`] zero bytes (two blank slots), flushed with `sync_all`.
    ///
    /// Re-creating a wrong-sized file is safe: this code never writes a file of another size, so its
    /// content is not a journal this library can trust, and losing a journal costs at most a re-sent
    /// image, never a wrong resume, because the modem's own state decides what is done and the journal
    /// only says where to look first.
    pub fn open_or_create(path: impl AsRef<Path>) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let created = file.metadata()?.len() != u64::from(JOURNAL_LEN);
        if created {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&[0u8; JOURNAL_LEN as usize])?;
            file.sync_all()?;
        }
        Ok(Self { file, created })
    }

    /// `true` when [`open_or_create`](Self::open_or_create) found no file or one of the wrong size and
    /// wrote two blank slots.
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// Gives the file back.
    pub fn into_file(self) -> File {
        self.file
    }
}

impl JournalStore for FileJournal {
    type Error = io::Error;

    fn read_slot(&mut self, slot: Slot, buf: &mut [u8; SLOT_LEN]) -> Result<(), Self::Error> {
        self.file.seek(SeekFrom::Start(u64::from(slot.offset())))?;
        self.file.read_exact(buf)
    }

    fn write_slot(&mut self, slot: Slot, buf: &[u8; SLOT_LEN]) -> Result<(), Self::Error> {
        self.file.seek(SeekFrom::Start(u64::from(slot.offset())))?;
        self.file.write_all(buf)?;
        self.file.sync_data()
    }
}
