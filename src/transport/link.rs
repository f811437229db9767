//! [`Link`]: the blocking driver that runs the sans-IO AT and STP engines over a UART.
//!
//! Every wait is a poll loop: `read_ready()` → `read()` when bytes are there, otherwise
//! [`Clock::idle`]; the deadline is checked on every turn, whether bytes came or not. Nothing here
//! sleeps on its own and no read waits without a deadline, so a silent modem, or one that never stops
//! sending, cannot hang the caller. Once a deadline has passed, bytes that had already arrived are
//! still read (at most 1 KiB), so a host that was late to look does not miss an answer that came in
//! time.
//!
//! Writes are the exception: `embedded_io::Write` blocks by contract, so a transmitter held off for
//! ever (CTS never asserted) blocks the caller inside the UART's `write`. The std adapters bound that
//! with their write timeout; a bare-metal UART should do the same in its `Write` impl.
//!
//! A receive error of kind `InvalidData` (framing, parity, noise, overrun) counts as bytes lost on the
//! line, which the protocols' CRCs, timeouts and retries handle; any other UART error ends the
//! operation with [`LinkError::Io`].
//!
//! Bytes that arrive while no command is in flight (and bytes discarded before a new request) go
//! through a URC listener, so an unsolicited `+SYSSTART` is never lost just because it arrived between
//! two commands; [`Link::take_urcs`] reports which ones were seen.

use core::fmt;
use core::ops::ControlFlow;

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
    /// The caller's progress callback asked to stop ([`Link::stp_transfer_until`]).
    Stopped {
        /// Image bytes the modem had acknowledged.
        acknowledged: u32,
    },
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
            TransferError::Stopped { acknowledged } => write!(
                f,
                "the transfer was stopped by the caller after {acknowledged} acknowledged bytes"
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

/// Chunks still read after a wait's deadline passed. A host that was descheduled past its deadline
/// still reads an answer that arrived in time (up to 1 KiB of it), but a modem that never stops
/// talking cannot hold a wait open beyond its deadline.
const LATE_CHUNKS: u8 = 16;

/// One wait for input: until `deadline`, then at most [`LATE_CHUNKS`] chunks of what is already there.
#[derive(Clone, Copy, Debug)]
struct Wait {
    deadline: Deadline,
    late_chunks: u8,
}

impl Wait {
    fn until(deadline: Deadline) -> Self {
        Self {
            deadline,
            late_chunks: LATE_CHUNKS,
        }
    }

    fn after(now_ms: u64, timeout_ms: u32) -> Self {
        Self::until(Deadline::after(now_ms, timeout_ms))
    }
}

/// Received bytes not yet consumed: `buf[start..end]`. Refilled only once empty.
struct RxChunk {
    buf: [u8; RX_CHUNK],
    start: usize,
    end: usize,
}

impl RxChunk {
    const fn new() -> Self {
        Self {
            buf: [0; RX_CHUNK],
            start: 0,
            end: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
    }

    fn clear(&mut self) {
        self.start = self.end;
    }

    /// Offers the bytes in order to `f` until it returns `Some`, and consumes them up to and including
    /// that byte (all of them when none did).
    fn scan<T>(&mut self, mut f: impl FnMut(u8) -> Option<T>) -> Option<T> {
        let mut used = 0usize;
        let mut found = None;
        for &byte in self.bytes() {
            used = used.saturating_add(1);
            found = f(byte);
            if found.is_some() {
                break;
            }
        }
        self.consume(used);
        found
    }

    /// Replaces the (consumed) contents with one read of `uart`; returns how many bytes came.
    fn read_from<R: Read>(&mut self, uart: &mut R) -> Result<usize, R::Error> {
        let n = uart.read(&mut self.buf)?;
        self.start = 0;
        self.end = n.min(RX_CHUNK);
        Ok(self.end)
    }
}

/// A UART plus a clock: runs AT commands and STP sessions with deadlines.
pub struct Link<U, C> {
    uart: U,
    clock: C,
    rx: RxChunk,
    urcs: UrcListener<DEFAULT_LINE_CAPACITY>,
    seen: SeenUrcs,
}

impl<U, C> fmt::Debug for Link<U, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("buffered", &self.rx.bytes().len())
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
            rx: RxChunk::new(),
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

    /// Makes sure at least one received byte is buffered, polling until `wait`'s deadline; after it,
    /// only what is already there is returned, and only [`LATE_CHUNKS`] times. Returns `false` when
    /// the wait is over.
    ///
    /// The deadline is checked on every call, not only when nothing arrives: otherwise a modem that
    /// never stops sending (noise at the wrong baud rate, a log stream) would keep every wait open.
    fn fill(&mut self, wait: &mut Wait) -> Result<bool, LinkError<U::Error>> {
        loop {
            let ready = !self.rx.is_empty() || self.poll_uart()?;
            if !wait.deadline.has_passed(self.clock.now_ms()) {
                if ready {
                    return Ok(true);
                }
                self.clock.idle();
                continue;
            }
            if ready && wait.late_chunks > 0 {
                wait.late_chunks -= 1;
                return Ok(true);
            }
            return Ok(false);
        }
    }

    /// One non-blocking look at the UART; true when bytes were buffered.
    ///
    /// `InvalidData` (a framing, parity, noise or overrun error, as the `nb` adapter reports them) is
    /// taken as bytes lost on the line, not as a broken UART: the protocols' CRCs, timeouts and
    /// retries deal with lost bytes, and probing a wrong baud rate produces framing errors by design.
    /// The `nb` adapter finds out whether a byte is there by reading it, so its `read_ready` reports
    /// these errors too, and is treated the same way.
    fn poll_uart(&mut self) -> Result<bool, LinkError<U::Error>> {
        match self.uart.read_ready() {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) if is_lost_bytes(&e) => return Ok(false),
            Err(e) => return Err(LinkError::Io(e)),
        }
        match self.rx.read_from(&mut self.uart) {
            Ok(n) => Ok(n > 0),
            Err(e) if is_lost_bytes(&e) || e.kind() == ErrorKind::TimedOut => Ok(false),
            Err(e) => Err(LinkError::Io(e)),
        }
    }

    /// Feeds buffered bytes to the URC listener (used for bytes no command is waiting for).
    fn listen_buffered(&mut self) {
        let (urcs, seen) = (&mut self.urcs, &mut self.seen);
        self.rx
            .scan(|byte| listen(urcs, seen, byte, b"").then_some(()));
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
            let mut quiet = Wait::until(Deadline::after(self.clock.now_ms(), quiet_ms).min(limit));
            if !self.fill(&mut quiet)? || limit.has_passed(self.clock.now_ms()) {
                self.listen_buffered();
                return Ok(());
            }
        }
    }

    /// Listens for `ms` milliseconds without sending (URCs are noted). Used for guard times.
    pub fn pause(&mut self, ms: u32) -> Result<(), LinkError<U::Error>> {
        let mut wait = Wait::after(self.clock.now_ms(), ms);
        while self.fill(&mut wait)? {
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
        let mut wait = Wait::after(self.clock.now_ms(), timeout_ms);
        while self.fill(&mut wait)? {
            let (urcs, seen) = (&mut self.urcs, &mut self.seen);
            if self
                .rx
                .scan(|byte| listen(urcs, seen, byte, urc.as_bytes()).then_some(()))
                .is_some()
            {
                self.take_recorded(urc);
                return Ok(());
            }
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
    /// [`AtCommand::attempts`], each attempt bounded by [`AtCommand::timeout_ms`] from the end of the
    /// request.
    ///
    /// Input that already arrived is dropped before the first send (URCs in it are noted); before a
    /// re-send the line is purged until quiet ([`PURGE_QUIET_MS`], at most [`PURGE_MAX_MS`]), so a late
    /// answer to the previous attempt is not taken for the answer to the next. URCs arriving in the
    /// middle of the reply are noted (see [`Link::take_urcs`]) and do not disturb it. Only silence is
    /// retried: an `ERROR` is an answer ([`AtError::Rejected`]).
    ///
    /// Returns on the terminator that ends the final line; the LF of its CR LF may still be on the
    /// wire. That is harmless: the next command drops it, and an STP session purges the line before
    /// its first frame.
    pub fn command<Cmd>(&mut self, command: Cmd) -> Result<Cmd::Response, LinkError<U::Error>>
    where
        Cmd: AtCommand,
    {
        let attempts = command.attempts().max(1);
        let timeout_ms = command.timeout_ms();
        let mut exchange: Exchange<Cmd, DEFAULT_LINE_CAPACITY> = Exchange::new(command);
        let request = exchange.request()?;
        for attempt in 0..attempts {
            if attempt == 0 {
                self.discard_pending()?;
            } else {
                self.purge_until_quiet(PURGE_QUIET_MS, PURGE_MAX_MS)?;
                exchange.restart();
            }
            // The rest of a line the listener had begun now goes to the exchange.
            self.urcs.reset();
            self.write_all(&request)?;
            let mut wait = Wait::after(self.clock.now_ms(), timeout_ms);
            while self.fill(&mut wait)? {
                let seen = &mut self.seen;
                let done = self.rx.scan(|byte| match exchange.push(byte) {
                    Step::Done(result) => Some(result),
                    Step::Urc(line) => {
                        note_urc(seen, line);
                        None
                    }
                    Step::Echo | Step::Pending => None,
                });
                if let Some(result) = done {
                    return result.map_err(LinkError::At);
                }
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
    /// A modem in STP mode with no session open (the host stopped between `AT+SMSTPU`'s `OK` and
    /// SESSION_OPEN) answers too but stays in STP mode, as after any opening RESET: run a session
    /// ([`Link::stp_transfer`]), whose closing RESET hands the line back to AT.
    pub fn stp_reset(&mut self, timeout_ms: u32) -> Result<bool, LinkError<U::Error>> {
        let request = encode_request(Op::Reset, 0, 0, &[])
            .map_err(|_| LinkError::Stp(StpError::NotReadyToSend))?;
        self.discard_pending()?;
        self.write_all(&request)?;
        let mut wait = Wait::after(self.clock.now_ms(), timeout_ms);
        // The last HEADER_LEN bytes received, oldest first; `filled` of them are valid.
        let mut window = [0u8; HEADER_LEN];
        let mut filled = 0usize;
        let mut acked = false;
        while !acked && self.fill(&mut wait)? {
            acked = self
                .rx
                .scan(|byte| {
                    if filled == HEADER_LEN {
                        window.copy_within(1.., 0);
                        filled -= 1;
                    }
                    if let Some(slot) = window.get_mut(filled) {
                        *slot = byte;
                        filled += 1;
                    }
                    (filled == HEADER_LEN && is_reset_ack(&window)).then_some(())
                })
                .is_some();
        }
        self.purge_until_quiet(PURGE_QUIET_MS, PURGE_MAX_MS)?;
        // Whatever the listener began to collect was binary, not the start of a URC.
        self.urcs.reset();
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
        self.stp_transfer_until(session, image, buf, |s| {
            progress(s);
            ControlFlow::Continue(())
        })
    }

    /// [`Link::stp_transfer`] whose `progress` may stop the transfer: on [`ControlFlow::Break`] it
    /// returns [`TransferError::Stopped`] at once, sending nothing more (the session is left open, as
    /// a host that died there would leave it).
    pub fn stp_transfer_until<S>(
        &mut self,
        session: &mut Session,
        image: &mut S,
        buf: &mut [u8],
        progress: impl FnMut(&Session) -> ControlFlow<()>,
    ) -> Result<(), TransferError<U::Error, S::Error>>
    where
        S: ImageSource + ?Sized,
    {
        let result = self.run_session(session, image, buf, progress);
        // Whatever the listener began to collect during the session was binary, not a URC.
        self.urcs.reset();
        result
    }

    fn run_session<S>(
        &mut self,
        session: &mut Session,
        image: &mut S,
        buf: &mut [u8],
        mut progress: impl FnMut(&Session) -> ControlFlow<()>,
    ) -> Result<(), TransferError<U::Error, S::Error>>
    where
        S: ImageSource + ?Sized,
    {
        let mut sent_at = self.clock.now_ms();
        // The wait for the answer to the frame last sent (reset by every send).
        let mut wait: Option<Wait> = None;
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
                        // After a clean answer only what followed it in the buffer is dropped; the
                        // UART is not polled. On adapters whose `read_ready` waits a poll quantum when
                        // nothing is there (a TCP stream: 1 ms or a kernel tick) a poll would cost
                        // that quantum twice per block. A stray byte still in the UART is harmless:
                        // the session skips bytes until the next answer's signature.
                        self.rx.clear();
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
                    wait = None;
                }
                Poll::Await { timeout_ms, .. } => {
                    let wait = wait.get_or_insert_with(|| Wait::after(sent_at, timeout_ms));
                    if self.fill(wait)? {
                        let used = session.receive(self.rx.bytes())?;
                        if used == 0 {
                            // Cannot happen while awaiting with bytes buffered; never offer the same
                            // bytes forever.
                            self.rx.clear();
                        } else {
                            self.rx.consume(used);
                        }
                    } else {
                        session.timed_out()?;
                    }
                }
                Poll::Done => {
                    // The transfer is complete; a stop request now changes nothing.
                    let _ = progress(session);
                    return Ok(());
                }
                Poll::Failed(e) => return Err(e.into()),
            }
            if progress(session).is_break() {
                return Err(TransferError::Stopped {
                    acknowledged: session.acknowledged(),
                });
            }
        }
        Err(LinkError::Stp(StpError::NotReadyToSend).into())
    }
}

/// A receive error that means "bytes were lost or damaged on the line" (or "try again"), not "the UART
/// is broken".
fn is_lost_bytes<E: embedded_io::Error>(e: &E) -> bool {
    matches!(e.kind(), ErrorKind::InvalidData | ErrorKind::Interrupted)
}

/// Feeds one byte to the URC listener; notes a line it completes and says whether that line starts
/// with `prefix` (never, for an empty prefix).
fn listen(
    urcs: &mut UrcListener<DEFAULT_LINE_CAPACITY>,
    seen: &mut SeenUrcs,
    byte: u8,
    prefix: &[u8],
) -> bool {
    match urcs.push(byte) {
        Some(Ok(LineKind::Urc(line) | LineKind::Info(line))) => {
            note_urc(seen, line);
            !prefix.is_empty() && line.starts_with(prefix)
        }
        _ => false,
    }
}

/// Whether `header` is a RESET ACK: response signature, op 0x80, no payload, and a header CRC that
/// matches or is 0 ("not provided"). Its sid and tid are not checked: a RESET ends any session.
fn is_reset_ack(header: &[u8; HEADER_LEN]) -> bool {
    let header = Header::new_unchecked(header.as_slice());
    let crc_ok = header.hcrc() == 0 || header.hcrc() == header.compute_hcrc();
    header.signature() == RESPONSE_SIGNATURE
        && header.op() == Op::Reset.code() | ACK_BIT
        && header.plen() == 0
        && crc_ok
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
