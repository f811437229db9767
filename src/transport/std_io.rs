//! Host adapters (feature `std`): any `std::io` byte stream as a UART, a TCP stream, and a wall clock.
//!
//! - [`StdUart`] turns a `std::io::Read + Write` (a TCP stream, a serial port, a pipe) into the
//!   `embedded-io` [`Read`] + [`Write`] + [`ReadReady`] UART the transport driver needs.
//! - [`TcpUart`] / [`connect_tcp`]: a TCP stream set up as a UART, e.g. to a `modem-sim --listen`
//!   process or a serial-to-network bridge.
//! - [`StdClock`]: a [`Clock`] on [`Instant`] that sleeps briefly when the driver is idle.
//!
//! # Polling a blocking stream
//!
//! `std::io::Read` has no "is a byte waiting?" query, so [`StdUart`] answers
//! [`ReadReady::read_ready`] by trying one read into a fixed internal buffer (512 bytes, no
//! allocation) and serving later [`Read::read`] calls from that buffer first. For that probe to
//! return promptly the stream **must have a short read timeout or be non-blocking**:
//! [`TcpUart::from_stream`] sets a 1 ms read timeout, which becomes the polling quantum (the kernel
//! may round it up to its tick, e.g. 4 ms). The quantum only bounds how long a poll of a *silent*
//! stream takes; a byte that arrives ends the wait at once, so it adds no latency to replies. A
//! stream without a timeout makes `read_ready` wait for the next byte, which defeats the driver's
//! deadlines.
//!
//! What a single read of the wrapped stream can give, and what the adapter makes of it:
//!
//! | `std::io` result | `read_ready` | `read` (nothing buffered) |
//! | --- | --- | --- |
//! | `Ok(n > 0)` | `Ok(true)` (bytes buffered) | `Ok(n)` |
//! | `Err(WouldBlock \| TimedOut)` | `Ok(false)` | `Err(TimedOut)` |
//! | `Err(Interrupted)` | `Ok(false)` | `Err(Interrupted)` |
//! | `Ok(0)` (end of stream) | `Err(UnexpectedEof)` | `Err(UnexpectedEof)` |
//! | any other error | that error | that error |
//!
//! Two deliberate departures from a plain forwarding adapter:
//! - **`read` waits at most one quantum.** `embedded-io` says `read` blocks until a byte arrives; on
//!   a silent modem that is forever. Here `read` makes one attempt on the stream and then fails with
//!   [`io::ErrorKind::TimedOut`] (Unix reports an expired read timeout as `WouldBlock`, which
//!   `embedded-io` has no kind for; it is translated), an error the transport driver treats as
//!   "nothing yet".
//! - **End of stream is an error.** A closed TCP connection reads as `Ok(0)` forever; passed on, a
//!   polling loop would spin on it until its deadline and then blame the modem. Reporting
//!   [`io::ErrorKind::UnexpectedEof`] ("the other end closed the connection") names the real cause.
//!   (`embedded-io` has no end-of-stream kind, so [`embedded_io::Error::kind`] says `Other`; the
//!   `std::io` kind and message keep the cause.)
//!
//! `write` retries while the stream reports `WouldBlock`, `TimedOut` or `Interrupted`, for at most
//! [`StdUart::write_timeout`] (2 s unless changed) without progress, and then fails with `TimedOut`:
//! a peer that stops reading (or a UART held off by flow control) ends in an error, not a hang.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use embedded_io::{ErrorType, Read, ReadReady, Write};

use super::{Clock, SetBaud};

/// Size of the internal receive buffer: a few STP responses or AT lines; one OS read fills it.
const RX_BUFFER: usize = 512;

/// How long `write` keeps retrying without progress unless [`StdUart::set_write_timeout`] changes it.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between write retries on a non-blocking stream, so a full send buffer is not spun on.
const WRITE_RETRY_PAUSE: Duration = Duration::from_micros(100);

/// The read timeout [`TcpUart::from_stream`] sets: the polling quantum of `read_ready`.
const TCP_READ_TIMEOUT: Duration = Duration::from_millis(1);

/// The write timeout [`TcpUart::from_stream`] sets, so a blocked send returns to the retry loop,
/// which enforces [`StdUart::write_timeout`].
const TCP_WRITE_TIMEOUT: Duration = Duration::from_millis(100);

/// A `std::io` byte stream as an `embedded-io` UART with an honest [`ReadReady`].
///
/// The stream must have a short read timeout or be non-blocking; see the
/// [module documentation](self) for why, and for how each stream result is reported.
pub struct StdUart<T> {
    inner: T,
    buf: [u8; RX_BUFFER],
    /// Buffered bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    write_timeout: Duration,
}

impl<T> StdUart<T> {
    /// Wraps `inner`, which must already have a short read timeout or be non-blocking.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            buf: [0; RX_BUFFER],
            start: 0,
            end: 0,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, e.g. to change its timeouts.
    ///
    /// Reading from it directly bypasses the internal buffer: bytes `read_ready` already took would
    /// then come out of order.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Gives the stream back. Bytes received but not yet read are dropped.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Number of received bytes waiting in the internal buffer.
    pub fn buffered(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// How long `write` and `flush` keep retrying a stream that accepts nothing before failing with
    /// [`io::ErrorKind::TimedOut`].
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// Sets [`write_timeout`](Self::write_timeout). Long enough to ride out RTS/CTS hold-offs while
    /// the modem writes flash; short enough that a dead peer is reported.
    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.write_timeout = timeout;
    }

    /// Retries `op` while the stream is merely busy, for at most the write timeout without success.
    fn retry_busy<R>(&mut self, mut op: impl FnMut(&mut T) -> io::Result<R>) -> io::Result<R> {
        let mut since: Option<Instant> = None;
        loop {
            match op(&mut self.inner) {
                Err(e) if is_busy(&e) => {
                    let started = *since.get_or_insert_with(Instant::now);
                    if started.elapsed() >= self.write_timeout {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "the other end accepted no data for {} ms ({e}); \
                                 check that it is still reading (flow control, cable, peer process)",
                                self.write_timeout.as_millis()
                            ),
                        ));
                    }
                    if e.kind() == io::ErrorKind::WouldBlock {
                        std::thread::sleep(WRITE_RETRY_PAUSE);
                    }
                }
                other => return other,
            }
        }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for StdUart<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StdUart")
            .field("inner", &self.inner)
            .field("buffered", &self.buffered())
            .field("write_timeout", &self.write_timeout)
            .finish()
    }
}

/// `true` for the errors that only mean "not now": would block, timed out, interrupted.
fn is_busy(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The error for a stream that ended.
fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the other end closed the connection (the stream ended while a modem reply was awaited); \
         reconnect or check the peer",
    )
}

impl<T> ErrorType for StdUart<T> {
    type Error = io::Error;
}

impl<T: io::Read> ReadReady for StdUart<T> {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        if self.buffered() > 0 {
            return Ok(true);
        }
        match self.inner.read(&mut self.buf) {
            Ok(0) => Err(closed()),
            Ok(n) => {
                self.start = 0;
                self.end = n.min(RX_BUFFER);
                Ok(true)
            }
            Err(e) if is_busy(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl<T: io::Read> Read for StdUart<T> {
    /// Returns buffered bytes if there are any; otherwise makes one read of the stream, which waits
    /// at most the stream's read timeout and fails with `TimedOut` if nothing came.
    fn read(&mut self, out: &mut [u8]) -> Result<usize, Self::Error> {
        if out.is_empty() {
            return Ok(0);
        }
        if let Some(buffered) = self.buf.get(self.start..self.end)
            && !buffered.is_empty()
        {
            let n = buffered.len().min(out.len());
            for (dst, src) in out.iter_mut().zip(buffered) {
                *dst = *src;
            }
            self.start += n;
            if self.start >= self.end {
                self.start = 0;
                self.end = 0;
            }
            return Ok(n);
        }
        match self.inner.read(out) {
            Ok(0) => Err(closed()),
            Ok(n) => Ok(n.min(out.len())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no byte arrived within the stream's read timeout",
            )),
            Err(e) => Err(e),
        }
    }
}

impl<T: io::Write> Write for StdUart<T> {
    /// Writes some of `buf`, retrying while the stream is busy for at most
    /// [`StdUart::write_timeout`].
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.retry_busy(|inner| inner.write(buf))? {
            0 => Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the stream accepted no bytes; the other end is probably gone",
            )),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.retry_busy(|inner| inner.flush())
    }
}

/// Forwards baud changes to a stream that supports them. Buffered bytes are kept: they arrived
/// before the switch and belong to whatever the driver was reading then.
impl<T: SetBaud> SetBaud for StdUart<T> {
    type Error = T::Error;

    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        self.inner.set_baud(baud)
    }
}

/// A TCP stream has no bit rate: changing it is a no-op that succeeds.
///
/// The upgrader probes baud rates and moves the FFH bootloader to a faster rate with `AT+IPR`; over
/// TCP (a `modem-sim --listen` process, or a serial-to-network bridge that owns the real UART's rate)
/// every byte arrives whatever rate the host "selects", so there is nothing to reconfigure. Failing
/// here instead would make a [`TcpUart`] unusable with the upgrader; succeeding keeps the probe
/// honest, because only a modem's answer (never this call) tells the probe a rate works.
impl SetBaud for TcpStream {
    type Error = core::convert::Infallible;

    fn set_baud(&mut self, _baud: u32) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A TCP stream as a UART (see [`connect_tcp`] and [`TcpUart::from_stream`]).
pub type TcpUart = StdUart<TcpStream>;

impl StdUart<TcpStream> {
    /// Sets `stream` up as a UART and wraps it.
    ///
    /// - `TCP_NODELAY` on: STP is lock-step request/response, and Nagle's algorithm would hold each
    ///   small frame back until the previous one is acknowledged (tens of milliseconds per frame).
    /// - blocking, with a 1 ms read timeout: the polling quantum of `read_ready` (see the
    ///   [module documentation](self)), and a 100 ms write timeout so the adapter's own
    ///   [`write_timeout`](StdUart::write_timeout) is enforced.
    pub fn from_stream(stream: TcpStream) -> io::Result<Self> {
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(TCP_READ_TIMEOUT))?;
        stream.set_write_timeout(Some(TCP_WRITE_TIMEOUT))?;
        Ok(Self::new(stream))
    }
}

/// Connects to `addr` (for example a `modem-sim --listen 127.0.0.1:5000` process) and sets the
/// stream up as a UART with [`TcpUart::from_stream`].
pub fn connect_tcp(addr: impl ToSocketAddrs) -> io::Result<TcpUart> {
    TcpUart::from_stream(TcpStream::connect(addr)?)
}

/// How long [`StdClock::idle`] sleeps unless [`StdClock::with_idle`] says otherwise.
const DEFAULT_IDLE: Duration = Duration::from_micros(150);

/// A [`Clock`] on [`std::time::Instant`], for running the upgrade on a PC.
///
/// [`idle`](Clock::idle) sleeps 150 µs, so a driver polling a silent modem does not keep a core at
/// 100 %. That is under two byte times at 115200 baud (87 µs each), so a reply is still noticed at
/// once; at higher rates the bytes that arrive meanwhile wait in the OS buffer, nothing is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdClock {
    start: Instant,
    idle: Duration,
}

impl StdClock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        Self::with_idle(DEFAULT_IDLE)
    }

    /// A clock whose epoch is now and whose `idle` sleeps `idle` (zero: a busy poll, the lowest
    /// latency at the price of a full core).
    pub fn with_idle(idle: Duration) -> Self {
        Self {
            start: Instant::now(),
            idle,
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    fn now_ms(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn idle(&mut self) {
        if !self.idle.is_zero() {
            std::thread::sleep(self.idle);
        }
    }
}
