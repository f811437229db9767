//! A read-ahead window over an [`ImageSource`] (see [`ReadAhead`]): streaming an image reads every
//! byte from the card once, and a retransmission reads nothing.

use super::ImageSource;
use core::fmt;

/// Window fills start at a multiple of this (one SD sector), so source reads are sector-aligned.
pub const ALIGN: u32 = 512;

/// What the window saved, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReadAheadStats {
    /// Calls to [`ImageSource::read_at`] on the wrapper.
    pub requests: u32,
    /// Requests served wholly from the window.
    pub hits: u32,
    /// `read_at` calls on the source.
    pub fills: u32,
    /// Bytes read from the source.
    pub source_bytes: u64,
    /// Fills that did not continue where the previous fill ended (the first fill counts as
    /// continuing when it starts at 0).
    pub seeks: u32,
}

/// Serves positional reads of an [`ImageSource`] from a caller-provided window buffer so that
/// (a) sequential streaming in transfer-block pieces reads every source byte once, and
/// (b) re-reading the most recent block (an STP retransmission or residue re-send) costs no source
/// read at all.
///
/// The upgrader sends an image in transfer blocks (2016 bytes and the like) that do not line up with
/// 512-byte SD sectors, and re-sends the most recent block when the modem asks again. Read straight
/// from the card, every block would re-read the sector it shares with its neighbour, and every
/// re-send would read the card again. The fill rule:
///
/// * a request wholly inside the window is a **hit** and costs no source read;
/// * on a **miss** at `offset`, the window is refilled from `offset` rounded down to [`ALIGN`]. When
///   that point lies inside the current window, the bytes from there to the window's end are moved
///   to the front and only the rest is read, continuing where the previous fill stopped: sequential
///   streaming never seeks backwards and never reads a byte twice. Otherwise the whole window is
///   refilled from there. A fill never reads past [`ImageSource::len`].
///
/// One `read_at` refills the window at most once, so a request larger than the window is served in
/// window-sized pieces (use [`read_exact_at`](super::read_exact_at)). A window of at least one
/// transfer block plus [`ALIGN`] bytes always holds the current block, so re-reading it is a hit.
/// Any window of one byte or more works (smaller windows only read more often; when the window is
/// shorter than `offset % ALIGN`, a fill starts at `offset` itself), and an empty window passes every
/// read straight to the source. A source that returns short reads is called again until the window
/// is full; one that returns `Ok(0)` early ends the fill (every loop is bounded by the window length).
pub struct ReadAhead<'b, S> {
    inner: S,
    window: &'b mut [u8],
    /// Source offset of `window[0]`.
    start: u32,
    /// Valid bytes at the front of `window`.
    filled: usize,
    /// Where the previous fill stopped reading the source.
    source_pos: u64,
    stats: ReadAheadStats,
}

impl<S: fmt::Debug> fmt::Debug for ReadAhead<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadAhead")
            .field("inner", &self.inner)
            .field("window_len", &self.window.len())
            .field("start", &self.start)
            .field("filled", &self.filled)
            .field("stats", &self.stats)
            .finish()
    }
}

impl<'b, S: ImageSource> ReadAhead<'b, S> {
    /// Wraps `inner` with `window` as the read-ahead buffer.
    ///
    /// `window` should be at least one transfer block plus [`ALIGN`] bytes (e.g. 2016 + 512): then a
    /// fill that starts up to `ALIGN - 1` bytes before a block still holds all of it, so a sequential
    /// read is served by one fill and re-reading the block is a hit. Rounding the block up to a
    /// multiple of `ALIGN` first (2016 → 2048 + 512 = 2560) also makes every source read whole
    /// sectors, since a fill that continues the previous one starts where the window ended. Any
    /// length works; see the module docs.
    pub fn new(inner: S, window: &'b mut [u8]) -> Self {
        Self {
            inner,
            window,
            start: 0,
            filled: 0,
            source_pos: 0,
            stats: ReadAheadStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ReadAheadStats {
        self.stats
    }

    /// The wrapped source.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped source, mutably. Empties the window, since anything may change through it.
    pub fn inner_mut(&mut self) -> &mut S {
        self.invalidate();
        &mut self.inner
    }

    /// Returns the wrapped source.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Forgets the window's contents (the source changed); the next read fills it again.
    pub fn invalidate(&mut self) {
        self.filled = 0;
    }

    /// Source offset just past the window's valid bytes.
    fn end(&self) -> u64 {
        u64::from(self.start) + self.filled as u64
    }

    /// The window's bytes from source offset `offset` on (empty when `offset` is outside).
    fn available(&self, offset: u32) -> &[u8] {
        let valid = self.window.get(..self.filled).unwrap_or_default();
        offset
            .checked_sub(self.start)
            .and_then(|skip| usize::try_from(skip).ok())
            .and_then(|skip| valid.get(skip..))
            .unwrap_or_default()
    }

    /// Where a fill for a miss at `offset` starts: `offset` rounded down to [`ALIGN`], unless the
    /// window is too short to reach `offset` from there.
    fn fill_start(&self, offset: u32) -> u32 {
        let aligned = offset - offset % ALIGN;
        if ((offset - aligned) as usize) < self.window.len() {
            aligned
        } else {
            offset
        }
    }

    /// Applies the fill rule for a miss at `offset`, reading at most up to `len`.
    fn refill(&mut self, offset: u32, len: u32) -> Result<(), S::Error> {
        let new_start = self.fill_start(offset);
        let inside = u64::from(new_start) < self.end() && new_start >= self.start;
        if inside {
            let skip = (new_start - self.start) as usize;
            self.window.copy_within(skip..self.filled, 0);
            self.filled -= skip;
        } else {
            self.filled = 0;
        }
        self.start = new_start;
        let limit = (u64::from(len) - u64::from(self.start)).min(self.window.len() as u64);
        // Bounded: every pass adds at least one byte to `filled` (at most `window.len()`) or stops.
        while (self.filled as u64) < limit {
            let at = self.end();
            let Ok(at32) = u32::try_from(at) else { break };
            let Some(dst) = self.window.get_mut(self.filled..limit as usize) else {
                break;
            };
            if at != self.source_pos {
                self.stats.seeks = self.stats.seeks.saturating_add(1);
            }
            self.stats.fills = self.stats.fills.saturating_add(1);
            let n = self.inner.read_at(at32, dst)?.min(dst.len());
            self.stats.source_bytes = self.stats.source_bytes.saturating_add(n as u64);
            self.source_pos = at + n as u64;
            if n == 0 {
                break;
            }
            self.filled += n;
        }
        Ok(())
    }
}

impl<S: ImageSource> ImageSource for ReadAhead<'_, S> {
    type Error = S::Error;

    fn len(&self) -> u32 {
        self.inner.len()
    }

    /// Serves `buf` from the window, refilling it at most once; returns fewer bytes than asked when
    /// the request runs past the window (use [`read_exact_at`](super::read_exact_at) for more).
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.stats.requests = self.stats.requests.saturating_add(1);
        let len = self.inner.len();
        if offset >= len || buf.is_empty() {
            return Ok(0);
        }
        if self.window.is_empty() {
            let pos = u64::from(offset);
            if pos != self.source_pos {
                self.stats.seeks = self.stats.seeks.saturating_add(1);
            }
            self.stats.fills = self.stats.fills.saturating_add(1);
            let n = self.inner.read_at(offset, buf)?.min(buf.len());
            self.stats.source_bytes = self.stats.source_bytes.saturating_add(n as u64);
            self.source_pos = pos + n as u64;
            return Ok(n);
        }
        let want = buf.len().min((len - offset) as usize);
        if self.available(offset).len() >= want {
            self.stats.hits = self.stats.hits.saturating_add(1);
        } else {
            self.refill(offset, len)?;
        }
        let src = self.available(offset);
        let n = src.len().min(want);
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemImage;

    #[test]
    fn window_shorter_than_the_misalignment_starts_at_the_offset() {
        let data: [u8; 8] = core::array::from_fn(|i| i as u8);
        let mut window = [0u8; 1];
        let mut ra = ReadAhead::new(MemImage::new(&data), &mut window);
        let mut buf = [0u8; 4];
        assert_eq!(ra.read_at(3, &mut buf), Ok(1));
        assert_eq!(buf[0], 3);
        assert_eq!(ra.read_at(4, &mut buf), Ok(1));
        assert_eq!(buf[0], 4);
        assert_eq!(ra.stats().source_bytes, 2);
        assert_eq!(ra.stats().seeks, 1, "only the first fill (at 3) is a seek");
    }

    #[test]
    fn inner_mut_invalidates() {
        let data = [7u8; 600];
        let mut window = [0u8; 1024];
        let mut ra = ReadAhead::new(MemImage::new(&data), &mut window);
        let mut buf = [0u8; 10];
        assert_eq!(ra.read_at(0, &mut buf), Ok(10));
        assert_eq!(ra.read_at(0, &mut buf), Ok(10));
        assert_eq!(ra.stats().hits, 1);
        let _ = ra.inner_mut();
        assert_eq!(ra.read_at(0, &mut buf), Ok(10));
        assert_eq!(ra.stats().hits, 1);
        assert_eq!(ra.stats().fills, 2);
        assert_eq!(ra.stats().source_bytes, 1200);
    }
}
