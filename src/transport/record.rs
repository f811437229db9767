//! Recording a UART session to a file, and replaying it against the host (feature `std`).
//!
//! [`Recorder`] wraps any UART and writes every byte the host sends and every byte it receives, in
//! order, to a transcript. [`Replay`] is a UART that plays the modem's side of such a transcript back:
//! it hands the host the recorded modem bytes, each only once the host has written everything it had
//! written before those bytes arrived in the recording, and it checks every byte the host writes
//! against the recording. So a session captured once against a real modem (or the simulator) becomes
//! a regression test that needs neither: a host that behaves differently gets
//! [`ReplayError::Diverged`] at the first different byte. The benchmarks use it to count the host's
//! protocol work alone, without the simulator's.
//!
//! # File format
//!
//! All integers little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `MUR1` |
//! | 4 | … | records, to the end of the file |
//!
//! Each record:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | kind: `0x01` host → modem bytes, `0x02` modem → host bytes, `0x03` host baud change |
//! | 1 | 4 | payload length `n` (4 for a baud change) |
//! | 5 | `n` | the bytes; for a baud change the new rate as a u32 |
//!
//! Consecutive chunks in the same direction are merged into one record.
//!
//! # What a replay assumes
//!
//! The host's decisions must depend only on what it receives, not on when: time is not recorded.
//! Replays run on [`StepClock`] (1 ms per idle poll), so a wait the recorded host ended by a timeout
//! ends by a timeout again, and the bytes it sends next are compared as usual.

use std::fmt;
use std::io;
use std::path::Path;

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};

use super::{Clock, SetBaud};

/// The file's first four bytes.
pub const MAGIC: [u8; 4] = *b"MUR1";
const HOST: u8 = 0x01;
const MODEM: u8 = 0x02;
const BAUD: u8 = 0x03;

/// A UART that records everything that crosses it to `out` (a file, a `Vec<u8>`…).
#[derive(Debug)]
pub struct Recorder<U, W: io::Write> {
    inner: U,
    out: W,
    kind: u8,
    pending: Vec<u8>,
    error: Option<io::Error>,
}

impl<U, W: io::Write> Recorder<U, W> {
    /// Records the traffic of `inner` to `out`, which receives the magic at once.
    pub fn new(inner: U, mut out: W) -> io::Result<Self> {
        out.write_all(&MAGIC)?;
        Ok(Self {
            inner,
            out,
            kind: 0,
            pending: Vec::new(),
            error: None,
        })
    }

    fn note(&mut self, kind: u8, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if kind != self.kind {
            self.flush_record();
            self.kind = kind;
        }
        self.pending.extend_from_slice(bytes);
    }

    fn flush_record(&mut self) {
        if self.pending.is_empty() || self.error.is_some() {
            self.pending.clear();
            return;
        }
        let len = u32::try_from(self.pending.len()).unwrap_or(u32::MAX);
        let written = self
            .out
            .write_all(&[self.kind])
            .and_then(|()| self.out.write_all(&len.to_le_bytes()))
            .and_then(|()| self.out.write_all(&self.pending));
        if let Err(e) = written {
            self.error = Some(e);
        }
        self.pending.clear();
    }

    /// Writes what is still buffered and gives the UART and the writer back. Reports the first
    /// error writing the transcript met (the UART traffic itself was never disturbed by it).
    pub fn finish(mut self) -> io::Result<(U, W)> {
        self.flush_record();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok((self.inner, self.out))
    }
}

impl<U: ErrorType, W: io::Write> ErrorType for Recorder<U, W> {
    type Error = U::Error;
}

impl<U: Read, W: io::Write> Read for Recorder<U, W> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = self.inner.read(buf)?;
        self.note(MODEM, buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<U: ReadReady, W: io::Write> ReadReady for Recorder<U, W> {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        self.inner.read_ready()
    }
}

impl<U: Write, W: io::Write> Write for Recorder<U, W> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = self.inner.write(buf)?;
        self.note(HOST, buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
}

impl<U: SetBaud, W: io::Write> SetBaud for Recorder<U, W> {
    type Error = U::Error;
    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        self.inner.set_baud(baud)?;
        self.flush_record();
        self.kind = BAUD;
        self.pending.extend_from_slice(&baud.to_le_bytes());
        self.flush_record();
        self.kind = 0;
        Ok(())
    }
}

/// Why a transcript could not be read, or a replay went differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// The file does not start with `MUR1`.
    NotATranscript,
    /// A record is cut short or has an unknown kind.
    Malformed {
        /// File offset of the record.
        offset: usize,
    },
    /// The host wrote something else than the recorded host did.
    Diverged {
        /// Host byte index (counted from the start of the session).
        at: usize,
        /// The recorded byte (`None`: the recorded host had stopped writing).
        expected: Option<u8>,
        /// The byte the host wrote.
        found: u8,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::NotATranscript => {
                f.write_str("not a session transcript (the file does not start with MUR1)")
            }
            ReplayError::Malformed { offset } => write!(
                f,
                "the transcript is damaged at byte {offset} (a record is cut short or of an unknown kind)"
            ),
            ReplayError::Diverged {
                at,
                expected: Some(e),
                found,
            } => write!(
                f,
                "the host diverged from the recording at its byte {at}: wrote {found:#04x}, the recorded \
                 host wrote {e:#04x}"
            ),
            ReplayError::Diverged {
                at,
                expected: None,
                found,
            } => write!(
                f,
                "the host wrote byte {at} ({found:#04x}) after the recorded host had stopped writing"
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

impl embedded_io::Error for ReplayError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// A parsed transcript: what the host wrote, and each chunk the modem sent with the number of host
/// bytes written before it arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// Every byte the host wrote, in order.
    pub host: Vec<u8>,
    /// Modem chunks: (host bytes written before this chunk was received, the chunk).
    pub modem: Vec<(usize, Vec<u8>)>,
    /// Baud changes: (host bytes written before the change, the rate).
    pub bauds: Vec<(usize, u32)>,
}

impl Transcript {
    /// Parses a transcript file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReplayError> {
        let rest = bytes
            .strip_prefix(&MAGIC[..])
            .ok_or(ReplayError::NotATranscript)?;
        let mut t = Transcript::default();
        let mut at = 0usize;
        while at < rest.len() {
            let malformed = ReplayError::Malformed {
                offset: at + MAGIC.len(),
            };
            let kind = *rest.get(at).ok_or(malformed.clone())?;
            let len_bytes: [u8; 4] = rest
                .get(at + 1..at + 5)
                .and_then(|b| b.try_into().ok())
                .ok_or(malformed.clone())?;
            let len = u32::from_le_bytes(len_bytes) as usize;
            let payload = rest
                .get(at + 5..at.saturating_add(5).saturating_add(len))
                .ok_or(malformed.clone())?;
            match kind {
                HOST => t.host.extend_from_slice(payload),
                MODEM => t.modem.push((t.host.len(), payload.to_vec())),
                BAUD => {
                    let rate: [u8; 4] = payload.try_into().map_err(|_| malformed.clone())?;
                    t.bauds.push((t.host.len(), u32::from_le_bytes(rate)));
                }
                _ => return Err(malformed),
            }
            at = at.saturating_add(5).saturating_add(len);
        }
        Ok(t)
    }

    /// Reads and parses a transcript file.
    pub fn load(path: impl AsRef<Path>) -> io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Self::parse(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Bytes the modem sent in total.
    pub fn modem_bytes(&self) -> usize {
        self.modem.iter().map(|(_, c)| c.len()).sum()
    }
}

/// The modem's side of a [`Transcript`], as a UART for the host.
#[derive(Debug, Clone)]
pub struct Replay {
    transcript: Transcript,
    /// Host bytes written so far.
    written: usize,
    /// Next modem chunk, and the offset in it.
    chunk: usize,
    offset: usize,
}

impl Replay {
    /// A replay of `transcript` from its start.
    pub fn new(transcript: Transcript) -> Self {
        Self {
            transcript,
            written: 0,
            chunk: 0,
            offset: 0,
        }
    }

    /// Whether the host wrote everything the recorded host wrote and read everything the modem sent.
    pub fn is_complete(&self) -> bool {
        self.written == self.transcript.host.len() && self.chunk >= self.transcript.modem.len()
    }

    /// Host bytes written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    fn available(&self) -> Option<&[u8]> {
        let (needs, bytes) = self.transcript.modem.get(self.chunk)?;
        (self.written >= *needs).then(|| bytes.get(self.offset..).unwrap_or_default())
    }
}

impl ErrorType for Replay {
    type Error = ReplayError;
}

impl ReadReady for Replay {
    fn read_ready(&mut self) -> Result<bool, ReplayError> {
        Ok(self.available().is_some_and(|b| !b.is_empty()))
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ReplayError> {
        let Some(bytes) = self.available() else {
            return Ok(0);
        };
        let n = bytes.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.offset += n;
        if self
            .transcript
            .modem
            .get(self.chunk)
            .is_some_and(|(_, c)| self.offset >= c.len())
        {
            self.chunk += 1;
            self.offset = 0;
        }
        Ok(n)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ReplayError> {
        let end = self.written.saturating_add(buf.len());
        // The common case in one comparison; the byte loop only finds where a divergence is.
        if self.transcript.host.get(self.written..end) == Some(buf) {
            self.written = end;
            return Ok(buf.len());
        }
        for &found in buf {
            let expected = self.transcript.host.get(self.written).copied();
            if expected != Some(found) {
                return Err(ReplayError::Diverged {
                    at: self.written,
                    expected,
                    found,
                });
            }
            self.written += 1;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), ReplayError> {
        Ok(())
    }
}

impl SetBaud for Replay {
    type Error = core::convert::Infallible;
    fn set_baud(&mut self, _baud: u32) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A clock for replays: time passes only while the host waits (1 ms per idle poll), so replays are
/// exact and fast.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepClock {
    now: u64,
}

impl Clock for StepClock {
    fn now_ms(&mut self) -> u64 {
        self.now
    }
    fn idle(&mut self) {
        self.now = self.now.saturating_add(1);
    }
}
