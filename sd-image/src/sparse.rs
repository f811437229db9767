//! [`SparseDisk`]: an in-memory card that stores only its non-zero 512-byte blocks.
//!
//! A freshly formatted card is almost all zeros: a 258 MiB FAT32 card holds about 20 KiB of file
//! system structures, so a test with a 7 MB firmware file needs ~7 MB of RAM instead of 258 MiB, and
//! the file [`SparseDisk::save`] writes is sparse on disk as well.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Bytes per block.
const BLOCK: usize = 512;
const BLOCK_U64: u64 = BLOCK as u64;
/// The all-zero block every absent block reads as.
const ZERO: [u8; BLOCK] = [0; BLOCK];
/// Chunk size for [`SparseDisk::load`]: big enough to read fast, small enough to not matter.
const LOAD_CHUNK: usize = 1024 * 1024;

/// An in-memory disk of a fixed size that stores only the 512-byte blocks that are not all zero.
///
/// It implements [`Read`] + [`Write`] + [`Seek`] (what `fatfs` and [`crate::build`] need; a write
/// past the end fails rather than growing the disk) and block access ([`SparseDisk::read_block`],
/// [`SparseDisk::write_block`]) for tests that put `embedded-sdmmc`'s `BlockDevice` on top.
/// Equality compares size and contents (not the Read/Write position).
#[derive(Clone)]
pub struct SparseDisk {
    size_bytes: u64,
    blocks: BTreeMap<u64, Box<[u8; BLOCK]>>,
    /// Position for `Read`/`Write`/`Seek`.
    pos: u64,
}

impl SparseDisk {
    /// An all-zero disk of `size_bytes` bytes (a trailing partial block is allowed and reads as
    /// zeros up to `size_bytes`).
    pub fn new(size_bytes: u64) -> Self {
        SparseDisk {
            size_bytes,
            blocks: BTreeMap::new(),
            pos: 0,
        }
    }

    /// The disk's size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Number of 512-byte blocks (a trailing partial block counts).
    pub fn blocks(&self) -> u64 {
        self.size_bytes.div_ceil(BLOCK_U64)
    }

    /// Copies block `idx` into `out`. A block that was never written, or is past
    /// [`SparseDisk::blocks`], reads as zeros (like a fresh card; callers that must refuse
    /// out-of-range blocks check `idx < blocks()` first).
    pub fn read_block(&self, idx: u64, out: &mut [u8; 512]) {
        match self.blocks.get(&idx) {
            Some(block) => out.copy_from_slice(&block[..]),
            None => out.fill(0),
        }
    }

    /// Stores `data` as block `idx`; an all-zero block frees its memory. A block past
    /// [`SparseDisk::blocks`] is not stored (the disk does not grow; callers that must report it
    /// check `idx < blocks()` first).
    pub fn write_block(&mut self, idx: u64, data: &[u8; 512]) {
        if idx >= self.blocks() {
            return;
        }
        if *data == ZERO {
            self.blocks.remove(&idx);
        } else {
            match self.blocks.get_mut(&idx) {
                Some(block) => block.copy_from_slice(data),
                None => {
                    self.blocks.insert(idx, Box::new(*data));
                }
            }
        }
    }

    /// How many non-zero blocks are held in memory.
    pub fn stored_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Writes the disk to `path` as a sparse file: `set_len` to the full size, then only the
    /// non-zero blocks (runs of consecutive blocks in one write), so the holes cost no disk space on
    /// file systems that support them.
    ///
    /// # Errors
    /// Creating, sizing or writing the file failed.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut file = File::create(path)?;
        file.set_len(self.size_bytes)?;
        let mut run: Vec<u8> = Vec::new();
        let mut run_start = 0;
        let mut next = None;
        for (&idx, block) in &self.blocks {
            if next != Some(idx) {
                flush_run(&mut file, run_start, &mut run, self.size_bytes)?;
                run_start = idx;
            }
            run.extend_from_slice(&block[..]);
            next = Some(idx + 1);
            if run.len() >= LOAD_CHUNK {
                flush_run(&mut file, run_start, &mut run, self.size_bytes)?;
                run_start = idx + 1;
            }
        }
        flush_run(&mut file, run_start, &mut run, self.size_bytes)?;
        file.sync_all()
    }

    /// Reads a disk image file (a whole card, as [`SparseDisk::save`] or `dd` wrote it), keeping only
    /// its non-zero blocks.
    ///
    /// # Errors
    /// Opening or reading the file failed.
    pub fn load(path: &Path) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let size_bytes = file.metadata()?.len();
        let mut disk = SparseDisk::new(size_bytes);
        let mut chunk = vec![0u8; LOAD_CHUNK];
        let mut offset = 0u64;
        while offset < size_bytes {
            let want =
                usize::try_from(size_bytes - offset).map_or(LOAD_CHUNK, |n| n.min(LOAD_CHUNK));
            let buf = chunk.get_mut(..want).unwrap_or_default();
            file.read_exact(buf)?;
            for (i, piece) in buf.chunks(BLOCK).enumerate() {
                if piece.iter().any(|&b| b != 0) {
                    let mut block = ZERO;
                    block.iter_mut().zip(piece).for_each(|(d, s)| *d = *s);
                    disk.write_block(offset / BLOCK_U64 + i as u64, &block);
                }
            }
            offset += want as u64;
        }
        Ok(disk)
    }
}

/// Writes the pending run of blocks starting at block `start`, clipped to the disk size (the last
/// block may be partial).
fn flush_run(file: &mut File, start: u64, run: &mut Vec<u8>, size_bytes: u64) -> io::Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let offset = start * BLOCK_U64;
    let len =
        usize::try_from(size_bytes.saturating_sub(offset)).map_or(run.len(), |n| n.min(run.len()));
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(run.get(..len).unwrap_or_default())?;
    run.clear();
    Ok(())
}

impl PartialEq for SparseDisk {
    fn eq(&self, other: &Self) -> bool {
        self.size_bytes == other.size_bytes && self.blocks == other.blocks
    }
}

impl Eq for SparseDisk {}

impl fmt::Debug for SparseDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SparseDisk")
            .field("size_bytes", &self.size_bytes)
            .field("stored_blocks", &self.blocks.len())
            .field("pos", &self.pos)
            .finish()
    }
}

impl Read for SparseDisk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() && self.pos < self.size_bytes {
            let idx = self.pos / BLOCK_U64;
            let within = (self.pos % BLOCK_U64) as usize;
            let left_in_disk = usize::try_from(self.size_bytes - self.pos).unwrap_or(usize::MAX);
            let n = (BLOCK - within).min(buf.len() - done).min(left_in_disk);
            let src = match self.blocks.get(&idx) {
                Some(block) => &block[..],
                None => &ZERO[..],
            };
            let (Some(dst), Some(src)) = (buf.get_mut(done..done + n), src.get(within..within + n))
            else {
                break;
            };
            dst.copy_from_slice(src);
            done += n;
            self.pos += n as u64;
        }
        Ok(done)
    }
}

impl Write for SparseDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.size_bytes {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "write at byte {} is past the end of the {}-byte sparse disk",
                    self.pos, self.size_bytes
                ),
            ));
        }
        let mut done = 0;
        while done < buf.len() && self.pos < self.size_bytes {
            let idx = self.pos / BLOCK_U64;
            let within = (self.pos % BLOCK_U64) as usize;
            let left_in_disk = usize::try_from(self.size_bytes - self.pos).unwrap_or(usize::MAX);
            let n = (BLOCK - within).min(buf.len() - done).min(left_in_disk);
            let mut block = ZERO;
            self.read_block(idx, &mut block);
            let (Some(dst), Some(src)) =
                (block.get_mut(within..within + n), buf.get(done..done + n))
            else {
                break;
            };
            dst.copy_from_slice(src);
            self.write_block(idx, &block);
            done += n;
            self.pos += n as u64;
        }
        Ok(done)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for SparseDisk {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = seek_target(
            pos,
            self.size_bytes,
            self.pos,
            "seek before the start of the sparse disk (or past 2^64)",
        )?;
        Ok(self.pos)
    }
}

/// Where `pos` leads from `current` in something `len` bytes long; `what` names the error.
pub(crate) fn seek_target(pos: SeekFrom, len: u64, current: u64, what: &str) -> io::Result<u64> {
    let target = match pos {
        SeekFrom::Start(n) => Some(n),
        SeekFrom::End(delta) => len.checked_add_signed(delta),
        SeekFrom::Current(delta) => current.checked_add_signed(delta),
    };
    target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_across_blocks_and_zero_blocks_are_freed() {
        let mut disk = SparseDisk::new(4 * 512);
        disk.seek(SeekFrom::Start(500)).unwrap();
        disk.write_all(&[7u8; 30]).unwrap();
        assert_eq!(disk.stored_blocks(), 2);
        let mut back = [0u8; 40];
        disk.seek(SeekFrom::Start(495)).unwrap();
        disk.read_exact(&mut back).unwrap();
        assert_eq!(&back[..5], &[0; 5]);
        assert_eq!(&back[5..35], &[7; 30]);
        assert_eq!(&back[35..], &[0; 5]);
        disk.seek(SeekFrom::Start(500)).unwrap();
        disk.write_all(&[0u8; 30]).unwrap();
        assert_eq!(disk.stored_blocks(), 0);
    }

    #[test]
    fn end_of_disk() {
        let mut disk = SparseDisk::new(1000);
        assert_eq!(disk.blocks(), 2);
        disk.seek(SeekFrom::End(-4)).unwrap();
        assert_eq!(disk.write(&[1; 10]).unwrap(), 4);
        assert_eq!(
            disk.write(&[1; 10]).unwrap_err().kind(),
            io::ErrorKind::WriteZero
        );
        let mut buf = [9u8; 10];
        assert_eq!(disk.read(&mut buf).unwrap(), 0);
        disk.seek(SeekFrom::Start(998)).unwrap();
        assert_eq!(disk.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], &[1, 1]);
        assert!(disk.seek(SeekFrom::Current(-2000)).is_err());
        // Blocks past the end: reads are zero, writes are dropped.
        disk.write_block(2, &[5; 512]);
        assert_eq!(disk.stored_blocks(), 1);
        let mut block = [1u8; 512];
        disk.read_block(99, &mut block);
        assert_eq!(block, [0; 512]);
    }
}
