//! [`Link`]: the blocking driver that runs the sans-IO AT and STP engines over a UART.
//!
//! Every wait is a poll loop: `read_ready()` → `read()` when bytes are there, otherwise
//! [`Clock::idle`] and a deadline check. Nothing here sleeps on its own and nothing waits without a
//! deadline, so a silent or babbling modem can never hang the caller.
//!
//! Bytes that arrive while no command is in flight (and bytes discarded before a new request) go
//! through a URC listener, so an unsolicited `+SYSSTART` is never lost just because it arrived between
//! two commands; [`Link::take_urcs`] reports which ones were seen.

use core::fmt;

use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write};

use super::{Clock, Deadline};
use crate::protocol::at::{
    AtCommand, AtError, DEFAULT_LINE_CAPACITY, Exchange, LineKind, Step, UrcListener,
};
use crate::protocol::stp::{
    ACK_BIT, HEADER_LEN, Header, Op, Poll, RESPONSE_SIGNATURE, Session, StpError, encode_request,
};
use crate::storage::{ImageSource, ReadExactError, read_exact_at};

/// Bytes read from the UART in one call; also the most that can wait between two engine calls.
const RX_CHUNK: usize = 64;
/// Silence that counts as "the modem has finished talking" when purging after a garbled answer.
/// The longest STP answer is 20 bytes (1.7 ms at 115,200 baud), so 50 ms is generous.
pub const PURGE_QUIET_MS: u32 = 50;
/// Upper bound on a purge: a modem that babbles without pause must not hold the host forever.
pub const PURGE_MAX_MS: u32 = 2_000;

/// Unsolicited result codes the upgrade cares about, seen since the last [`Link::take_urcs`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeenUrcs {
    /// `+SYSSTART`: the application finished booting.
    pub sysstart: bool,
    /// `+SHUTDOWN`: the modem is about to reset.
    pub shutdown: bool,
    /// Any other unsolicited line (for example `+CEREG: 2`).
    pub other: u16,
}

/// Why a [`Link`] operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkError<E> {
    /// The UART itself failed (the device's own error, never erased).
    Io(E),
    /// The UART accepted no bytes: `write` returned 0.
    WriteZero,
    /// The modem gave no complete answer to `command` within `timeout_ms`, on each of `attempts` sends.
    NoAnswer {
        /// The command, as written in the AT reference (`AT+SMOD?`).
        command: &'static str,
        /// Deadline of each attempt, in milliseconds.
        timeout_ms: u32,
        /// How many times the command was sent.
        attempts: u8,
    },
    /// The modem answered, but not as the command expects.
    At(AtError),
    /// The STP session failed.
    Stp(StpError),
    /// An awaited unsolicited line (for example `+SYSSTART`) did not arrive in time.
    NoUrc {
        /// The line prefix waited for.
        urc: &'static str,
        /// How long it was waited for.
        timeout_ms: u32,
    },
    /// The caller's transfer buffer is smaller than the block the session asked for.
    BufferTooSmall {
        /// Block length the session asked for.
        needed: u16,
        /// Length of the buffer given.
        len: usize,
    },
}

impl<E: fmt::Debug> fmt::Display for LinkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Io(e) => write!(
                f,
                "the UART failed ({e:?}); check the serial device and its wiring"
            ),
            LinkError::WriteZero => write!(
                f,
                "the UART accepted no bytes; the port is closed or its transmitter is stuck"
            ),
            LinkError::NoAnswer {
                command,
                timeout_ms,
                attempts,
            } => write!(
                f,
                "no answer to {command} within {timeout_ms} ms ({attempts} attempt(s)); check that the \
                 modem is powered, the baud rate and the TX/RX wiring"
            ),
            LinkError::At(e) => write!(f, "{e}"),
            LinkError::Stp(e) => write!(f, "{e}"),
            LinkError::NoUrc { urc, timeout_ms } => write!(
                f,
                "the modem did not report {urc} within {timeout_ms} ms; it may still be booting or \
                 may have failed to start"
            ),
            LinkError::BufferTooSmall { needed, len } => write!(
                f,
                "the transfer buffer holds {len} bytes but the session sends blocks of {needed}; give a \
                 buffer of at least {needed} bytes or lower the block cap"
            ),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for LinkError<E> {}

impl<E> From<AtError> for LinkError<E> {
    fn from(e: AtError) -> Self {
        LinkError::At(e)
    }
}

impl<E> From<StpError> for LinkError<E> {
    fn from(e: StpError) -> Self {
        LinkError::Stp(e)
    }
}

/// Why [`Link::stp_transfer`] failed: the link, or the image being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransferError<E, S> {
    /// The UART or the STP session failed.
    Link(LinkError<E>),
    /// Reading the image failed (the source's own error, or the image ended early).
    Image(ReadExactError<S>),
}

impl<E: fmt::Debug, S: fmt::Debug> fmt::Display for TransferError<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Link(e) => write!(f, "{e}"),
            TransferError::Image(ReadExactError::UnexpectedEnd { offset }) => write!(
                f,
                "the image ended at byte {offset} while it was being sent; the file changed or the card \
                 is failing — check the card and start again"
            ),
            TransferError::Image(ReadExactError::Source(e)) => write!(
                f,
                "reading the image failed ({e:?}); check the card and start again"
            ),
        }
    }
}

impl<E: fmt::Debug, S: fmt::Debug> core::error::Error for TransferError<E, S> {}

impl<E, S> From<LinkError<E>> for TransferError<E, S> {
    fn from(e: LinkError<E>) -> Self {
        TransferError::Link(e)
    }
}

impl<E, S> From<StpError> for TransferError<E, S> {
    fn from(e: StpError) -> Self {
        TransferError::Link(LinkError::Stp(e))
    }
}

/// A UART plus a clock: runs AT commands and STP sessions with deadlines.
pub struct Link<U, C> {
    uart: U,
    clock: C,
    rx: [u8; RX_CHUNK],
    rx_start: usize,
    rx_end: usize,
    urcs: UrcListener<DEFAULT_LINE_CAPACITY>,
    seen: SeenUrcs,
}

impl<U, C> fmt::Debug for Link<U, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("buffered", &(self.rx_end - self.rx_start))
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl<U, C> Link<U, C>
where
    U: Read + Write + ReadReady,
    C: Clock,
{
    /// A link over `uart`, timing its waits with `clock`.
    pub fn new(uart: U, clock: C) -> Self {
        Self {
            uart,
            clock,
            rx: [0; RX_CHUNK],
            rx_start: 0,
            rx_end: 0,
            urcs: UrcListener::new(),
            seen: SeenUrcs::default(),
        }
    }

    /// Gives the UART and the clock back.
    pub fn into_parts(self) -> (U, C) {
        (self.uart, self.clock)
    }

    /// The UART, for reconfiguring it (for example its baud rate).
    pub fn uart_mut(&mut self) -> &mut U {
        &mut self.uart
    }

    /// The clock.
    pub fn clock_mut(&mut self) -> &mut C {
        &mut self.clock
    }

    /// The clock's current time in milliseconds.
    pub fn now_ms(&mut self) -> u64 {
        self.clock.now_ms()
    }

    /// The URCs seen since the last call, then forgets them.
    pub fn take_urcs(&mut self) -> SeenUrcs {
        core::mem::take(&mut self.seen)
    }

    /// Writes all of `bytes` and flushes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError<U::Error>> {
        self.write_some(bytes)?;
        self.uart.flush().map_err(LinkError::Io)
    }

    /// Writes all of `bytes` without flushing. Bounded: each iteration writes at least one byte.
    fn write_some(&mut self, mut bytes: &[u8]) -> Result<(), LinkError<U::Error>> {
        while !bytes.is_empty() {
            let n = self.uart.write(bytes).map_err(LinkError::Io)?;
            if n == 0 {
                return Err(LinkError::WriteZero);
            }
            bytes = bytes.get(n..).unwrap_or_default();
        }
        Ok(())
    }

    /// Makes sure at least one received byte is buffered, waiting until `deadline`.
    /// Returns `false` when the deadline passed with nothing received.
    fn fill(&mut self, deadline: Deadline) -> Result<bool, LinkError<U::Error>> {
        if self.rx_start < self.rx_end {
            return Ok(true);
        }
        loop {
            if self.poll_uart()? {
                return Ok(true);
            }
            if deadline.has_passed(self.clock.now_ms()) {
                return Ok(false);
            }
            self.clock.idle();
        }
    }

    /// One non-blocking look at the UART; true when bytes were buffered.
    fn poll_uart(&mut self) -> Result<bool, LinkError<U::Error>> {
        if !self.uart.read_ready().map_err(LinkError::Io)? {
            return Ok(false);
        }
        match self.uart.read(&mut self.rx) {
            Ok(n) => {
                self.rx_start = 0;
                self.rx_end = n.min(RX_CHUNK);
                Ok(n > 0)
            }
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => Ok(false),
            Err(e) => Err(LinkError::Io(e)),
        }
    }

    /// The buffered, not yet consumed bytes.
    fn buffered(&self) -> &[u8] {
        self.rx.get(self.rx_start..self.rx_end).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.rx_start = self.rx_start.saturating_add(n).min(self.rx_end);
    }

    /// Feeds buffered bytes to the URC listener (used for bytes no command is waiting for).
    fn listen_buffered(&mut self) {
        let (start, end) = (self.rx_start, self.rx_end);
        for i in start..end {
            let Some(&byte) = self.rx.get(i) else { break };
            if let Some(Ok(LineKind::Urc(line) | LineKind::Info(line))) = self.urcs.push(byte) {
                note_urc(&mut self.seen, line);
            }
        }
        self.rx_start = end;
    }

    /// Drops what has already arrived, without waiting (URCs in it are still noted).
    pub fn discard_pending(&mut self) -> Result<(), LinkError<U::Error>> {
        // Bounded: a UART that always claims to be ready is read at most this many chunks.
        for _ in 0..64 {
            self.listen_buffered();
            if !self.poll_uart()? {
                break;
            }
        }
        self.listen_buffered();
        Ok(())
    }

    /// Reads and drops input until the line has been quiet for `quiet_ms`, or `max_ms` passed.
    pub fn purge_until_quiet(
        &mut self,
        quiet_ms: u32,
        max_ms: u32,
    ) -> Result<(), LinkError<U::Error>> {
        let limit = Deadline::after(self.clock.now_ms(), max_ms);
        loop {
            self.listen_buffered();
            let quiet = Deadline::after(self.clock.now_ms(), quiet_ms).min(limit);
            if !self.fill(quiet)? || limit.has_passed(self.clock.now_ms()) {
                self.listen_buffered();
                return Ok(());
            }
        }
    }

    /// Listens for `ms` milliseconds without sending (URCs are noted). Used for guard times.
    pub fn pause(&mut self, ms: u32) -> Result<(), LinkError<U::Error>> {
        let deadline = Deadline::after(self.clock.now_ms(), ms);
        while self.fill(deadline)? {
            self.listen_buffered();
        }
        Ok(())
    }

    /// Waits until an unsolicited line starting with `urc` arrives (for example `+SYSSTART`), noting
    /// other URCs on the way. A `+SYSSTART` or `+SHUTDOWN` already recorded in [`Link::take_urcs`]
    /// counts and is consumed.
    pub fn wait_for_urc(
        &mut self,
        urc: &'static str,
        timeout_ms: u32,
    ) -> Result<(), LinkError<U::Error>> {
        if self.take_recorded(urc) {
            return Ok(());
        }
        let deadline = Deadline::after(self.clock.now_ms(), timeout_ms);
        while self.fill(deadline)? {
            let (start, end) = (self.rx_start, self.rx_end);
            for i in start..end {
                let Some(&byte) = self.rx.get(i) else { break };
                if let Some(Ok(LineKind::Urc(line) | LineKind::Info(line))) = self.urcs.push(byte) {
                    let hit = line.starts_with(urc.as_bytes());
                    note_urc(&mut self.seen, line);
                    if hit {
                        self.rx_start = i + 1;
                        self.take_recorded(urc);
                        return Ok(());
                    }
                }
            }
            self.rx_start = end;
        }
        Err(LinkError::NoUrc { urc, timeout_ms })
    }

    fn take_recorded(&mut self, urc: &str) -> bool {
        let flag = match urc {
            "+SYSSTART" => &mut self.seen.sysstart,
            "+SHUTDOWN" => &mut self.seen.shutdown,
            _ => return false,
        };
        core::mem::take(flag)
    }

    /// Sends `command` and waits for its final result, re-sending it on silence up to its own
    /// [`AtCommand::attempts`], each attempt bounded by [`AtCommand::timeout_ms`].
    ///
    /// Stale input is dropped before each send; URCs arriving in the middle of the reply are noted
    /// (see [`Link::take_urcs`]) and do not disturb it.
    pub fn command<Cmd>(&mut self, command: Cmd) -> Result<Cmd::Response, LinkError<U::Error>>
    where
        Cmd: AtCommand + Clone,
    {
        let attempts = command.attempts().max(1);
        let timeout_ms = command.timeout_ms();
        for _ in 0..attempts {
            let mut exchange: Exchange<Cmd, DEFAULT_LINE_CAPACITY> = Exchange::new(command.clone());
            let request = exchange.request()?;
            self.discard_pending()?;
            self.write_all(&request)?;
            let deadline = Deadline::after(self.clock.now_ms(), timeout_ms);
            while self.fill(deadline)? {
                let (start, end) = (self.rx_start, self.rx_end);
                for i in start..end {
                    let Some(&byte) = self.rx.get(i) else { break };
                    match exchange.push(byte) {
                        Step::Done(result) => {
                            self.rx_start = i + 1;
                            return result.map_err(LinkError::At);
                        }
                        Step::Urc(line) => note_urc(&mut self.seen, line),
                        _ => {}
                    }
                }
                self.rx_start = end;
            }
        }
        Err(LinkError::NoAnswer {
            command: Cmd::NAME,
            timeout_ms,
            attempts,
        })
    }

    /// Sends one STP RESET (sid 0, tid 0) and reports whether a RESET ACK came back within
    /// `timeout_ms`; the line is purged afterwards either way.
    ///
    /// Two uses: ending a session a failed transfer left open (the RESET closes it and the modem returns
    /// to AT), and telling a modem still waiting in STP mode — it ignores `AT` — from one that is off.
    pub fn stp_reset(&mut self, timeout_ms: u32) -> Result<bool, LinkError<U::Error>> {
        let request = encode_request(Op::Reset, 0, 0, &[])
            .map_err(|_| LinkError::Stp(StpError::NotReadyToSend))?;
        self.discard_pending()?;
        self.write_all(&request)?;
        let deadline = Deadline::after(self.clock.now_ms(), timeout_ms);
        let mut window = [0u8; HEADER_LEN];
        let mut filled = 0usize;
        let mut acked = false;
        'wait: while self.fill(deadline)? {
            let (start, end) = (self.rx_start, self.rx_end);
            for i in start..end {
                let Some(&byte) = self.rx.get(i) else { break };
                // Keep the last bytes that could start a response: slide until the signature lines up.
                if filled == HEADER_LEN {
                    window.copy_within(1.., 0);
                    filled -= 1;
                }
                if let Some(slot) = window.get_mut(filled) {
                    *slot = byte;
                    filled += 1;
                }
                if filled == HEADER_LEN {
                    let header = Header::new_unchecked(window.as_slice());
                    let crc_ok = header.hcrc() == 0 || header.hcrc() == header.compute_hcrc();
                    if header.signature() == RESPONSE_SIGNATURE
                        && header.op() == Op::Reset.code() | ACK_BIT
                        && header.plen() == 0
                        && crc_ok
                    {
                        self.rx_start = i + 1;
                        acked = true;
                        break 'wait;
                    }
                }
            }
            self.rx_start = end;
        }
        self.purge_until_quiet(PURGE_QUIET_MS, PURGE_MAX_MS)?;
        Ok(acked)
    }

    /// Runs an STP session to its end: reads each block from `image` into `buf`, sends the frames the
    /// session asks for, feeds the answers back, and enforces the deadlines it sets.
    ///
    /// `buf` must hold at least the session's block length (`Negotiated::block_len`, at most the
    /// configured block cap). `progress` is called after every step with the session, whose
    /// [`Session::acknowledged`] offset is the checkpoint worth recording.
    pub fn stp_transfer<S>(
        &mut self,
        session: &mut Session,
        image: &mut S,
        buf: &mut [u8],
        mut progress: impl FnMut(&Session),
    ) -> Result<(), TransferError<U::Error, S::Error>>
    where
        S: ImageSource + ?Sized,
    {
        let mut sent_at = self.clock.now_ms();
        // Every iteration either sends a frame, consumes received bytes, or times out, and the session
        // bounds frames by its retry budget and the image length; this cap only guards against a
        // session bug turning into a hang.
        let max_steps = 64u64
            .saturating_mul(u64::from(session.image_len()))
            .saturating_add(1_000_000);
        for _ in 0..max_steps {
            match session.poll() {
                Poll::Transmit {
                    data, purge_first, ..
                } => {
                    if purge_first {
                        self.purge_until_quiet(PURGE_QUIET_MS, PURGE_MAX_MS)?;
                    } else {
                        self.discard_pending()?;
                    }
                    let payload: &[u8] = match data {
                        Some(range) => {
                            let buf_len = buf.len();
                            let Some(block) = buf.get_mut(..usize::from(range.len)) else {
                                return Err(LinkError::BufferTooSmall {
                                    needed: range.len,
                                    len: buf_len,
                                }
                                .into());
                            };
                            read_exact_at(image, range.offset, block)
                                .map_err(TransferError::Image)?;
                            block
                        }
                        None => &[],
                    };
                    let frame = session.frame(payload)?;
                    self.write_some(frame.header())?;
                    self.write_some(frame.inline_payload())?;
                    self.write_some(payload)?;
                    self.uart.flush().map_err(LinkError::Io)?;
                    sent_at = self.clock.now_ms();
                }
                Poll::Await { timeout_ms, .. } => {
                    let deadline = Deadline::after(sent_at, timeout_ms);
                    if self.fill(deadline)? {
                        let used = session.receive(self.buffered())?;
                        if used == 0 && matches!(session.poll(), Poll::Await { .. }) {
                            // The session took nothing while still waiting: drop the chunk rather
                            // than offering it again forever.
                            self.consume(RX_CHUNK);
                        } else {
                            self.consume(used);
                        }
                    } else {
                        session.timed_out()?;
                    }
                }
                Poll::Done => {
                    progress(session);
                    return Ok(());
                }
                Poll::Failed(e) => return Err(e.into()),
            }
            progress(session);
        }
        Err(LinkError::Stp(StpError::NotReadyToSend).into())
    }
}

/// Records an unsolicited line in `seen`.
fn note_urc(seen: &mut SeenUrcs, line: &[u8]) {
    if line.starts_with(b"+SYSSTART") {
        seen.sysstart = true;
    } else if line.starts_with(b"+SHUTDOWN") {
        seen.shutdown = true;
    } else {
        seen.other = seen.other.saturating_add(1);
    }
}
