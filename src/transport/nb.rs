//! A byte-wise `embedded-hal-nb` serial port as an `embedded-io` UART (feature `embedded-hal-nb`).
//!
//! Many HALs still expose their UART through the polling traits of `embedded-hal-nb`
//! ([`serial::Read`] / [`serial::Write`], one word per call, `WouldBlock` while nothing is there).
//! The transport driver speaks `embedded-io` ([`Read`], [`Write`], [`ReadReady`]); [`NbUart`] bridges
//! the two without allocating.
//!
//! # Polling without losing a byte
//!
//! The `nb` read trait has no "is a byte waiting?" query: the only way to find out is to take the byte.
//! [`NbUart`] therefore keeps a one-byte stash. [`ReadReady::read_ready`] tries one non-blocking read:
//! `WouldBlock` means "not ready", a byte is stashed and reported as "ready", and the next
//! [`Read::read`] hands the stash out first. So `read_ready` never lies and never drops a byte.
//!
//! # Blocking
//!
//! `embedded-io` traits are blocking by contract, so [`Read::read`] busy-waits on `WouldBlock` for
//! its *first* byte (then returns that byte and whatever else is already waiting, without blocking
//! again), [`Write::write`] busy-waits on each byte, and [`Write::flush`] busy-waits until the
//! hardware is done. None of these waits is bounded: a silent modem makes a bare `read` spin forever.
//! A polling driver avoids that by calling `read` only after `read_ready` said `true`, which is what
//! the transport driver does; its deadlines come from the caller's clock, not from this adapter.
//!
//! # Errors
//!
//! A serial error is wrapped in [`NbError`], never erased. Its [`embedded_io::Error::kind`] maps
//! `embedded-hal-nb`'s [`serial::ErrorKind`] like this:
//!
//! | `embedded_hal_nb::serial::ErrorKind` | `embedded_io::ErrorKind` | why |
//! | --- | --- | --- |
//! | `Overrun` | `InvalidData` | bytes were lost: the received stream is no longer what was sent |
//! | `FrameFormat` | `InvalidData` | a byte arrived malformed (wrong baud rate or line noise) |
//! | `Parity` | `InvalidData` | a byte arrived corrupted |
//! | `Noise` | `InvalidData` | a byte arrived corrupted |
//! | `Other` (and future kinds) | `Other` | nothing more specific is known |
//!
//! `InvalidData` thus always means "the line delivered damaged or incomplete data": the UART itself
//! still works and the protocol layer's CRCs and retries are the right answer, whereas `Other` may be
//! a broken peripheral.
//!
//! A receive error that happens after [`Read::read`] already collected some bytes is held back and
//! reported by the next `read` or `read_ready`, so neither the bytes nor the error are lost.

use embedded_hal_nb::nb;
use embedded_hal_nb::serial;
use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};

use super::SetBaud;

/// An `embedded-hal-nb` serial port that implements `embedded-io`'s [`Read`], [`Write`] and
/// [`ReadReady`].
///
/// See the [module documentation](self) for the stash that makes `read_ready` honest and for what
/// blocks.
pub struct NbUart<S: serial::ErrorType> {
    serial: S,
    /// A byte taken by `read_ready` and not yet handed out by `read`.
    stash: Option<u8>,
    /// A receive error that followed bytes `read` already returned; reported on the next call.
    pending: Option<S::Error>,
}

impl<S: serial::ErrorType> NbUart<S> {
    /// Wraps `serial`, which must already be configured (baud rate, 8N1, pins).
    pub const fn new(serial: S) -> Self {
        Self {
            serial,
            stash: None,
            pending: None,
        }
    }

    /// The wrapped serial port, for configuration the adapter does not cover.
    ///
    /// Reading from it directly bypasses the stash: a byte `read_ready` already took would then come
    /// out of order.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.serial
    }

    /// Gives the serial port back. A stashed byte or a held-back error is dropped with the adapter.
    pub fn into_inner(self) -> S {
        self.serial
    }

    /// Takes the held-back error, if any.
    fn take_pending(&mut self) -> Result<(), NbError<S::Error>> {
        match self.pending.take() {
            Some(e) => Err(NbError(e)),
            None => Ok(()),
        }
    }
}

impl<S> core::fmt::Debug for NbUart<S>
where
    S: serial::ErrorType + core::fmt::Debug,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NbUart")
            .field("serial", &self.serial)
            .field("stash", &self.stash)
            .field("pending", &self.pending)
            .finish()
    }
}

/// A serial error from the wrapped `embedded-hal-nb` UART.
///
/// The HAL's own error is kept in the public field; [`embedded_io::Error::kind`] maps its
/// [`serial::ErrorKind`] as tabled in the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NbError<E>(pub E);

impl<E> NbError<E> {
    /// The HAL's error.
    pub fn into_inner(self) -> E {
        self.0
    }
}

impl<E: serial::Error> NbError<E> {
    /// The `embedded-hal-nb` classification of the error.
    pub fn serial_kind(&self) -> serial::ErrorKind {
        self.0.kind()
    }
}

/// The `embedded-io` kind for a serial error kind (the table in the module docs).
fn io_kind(kind: serial::ErrorKind) -> ErrorKind {
    match kind {
        serial::ErrorKind::Overrun
        | serial::ErrorKind::FrameFormat
        | serial::ErrorKind::Parity
        | serial::ErrorKind::Noise => ErrorKind::InvalidData,
        _ => ErrorKind::Other,
    }
}

/// What the serial error means and what to check, for [`NbError`]'s `Display`.
fn explanation(kind: serial::ErrorKind) -> &'static str {
    match kind {
        serial::ErrorKind::Overrun => {
            "a receive overrun: bytes arrived faster than they were read and some were lost; \
             read the UART more often, enable RTS/CTS flow control or lower the baud rate"
        }
        serial::ErrorKind::FrameFormat => {
            "a framing error: a byte did not match the configured line format; \
             check that both ends use the same baud rate and 8N1"
        }
        serial::ErrorKind::Parity => {
            "a parity error: a byte arrived corrupted; the modem uses 8N1 (no parity), \
             so check the UART configuration and the wiring"
        }
        serial::ErrorKind::Noise => {
            "line noise: a byte arrived corrupted; check the wiring, ground and cable length"
        }
        _ => "an unclassified serial error; see the HAL error for details",
    }
}

impl<E: serial::Error> core::fmt::Display for NbError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "the UART reported {} (HAL error: {:?})",
            explanation(self.0.kind()),
            self.0
        )
    }
}

impl<E: serial::Error> core::error::Error for NbError<E> {}

impl<E: serial::Error> embedded_io::Error for NbError<E> {
    fn kind(&self) -> ErrorKind {
        io_kind(self.0.kind())
    }
}

#[cfg(feature = "defmt")]
impl<E: serial::Error> defmt::Format for NbError<E> {
    fn format(&self, f: defmt::Formatter<'_>) {
        // HAL errors rarely implement `defmt::Format`; the kind is what a log needs.
        let kind = match self.0.kind() {
            serial::ErrorKind::Overrun => "overrun",
            serial::ErrorKind::FrameFormat => "framing error",
            serial::ErrorKind::Parity => "parity error",
            serial::ErrorKind::Noise => "noise",
            _ => "other",
        };
        defmt::write!(f, "NbError({=str})", kind);
    }
}

impl<S: serial::ErrorType> ErrorType for NbUart<S> {
    type Error = NbError<S::Error>;
}

impl<S: serial::Read<u8>> ReadReady for NbUart<S> {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        self.take_pending()?;
        if self.stash.is_some() {
            return Ok(true);
        }
        match self.serial.read() {
            Ok(byte) => {
                self.stash = Some(byte);
                Ok(true)
            }
            Err(nb::Error::WouldBlock) => Ok(false),
            Err(nb::Error::Other(e)) => Err(NbError(e)),
        }
    }
}

impl<S: serial::Read<u8>> Read for NbUart<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.take_pending()?;
        let Some((first, rest)) = buf.split_first_mut() else {
            return Ok(0);
        };
        *first = match self.stash.take() {
            Some(byte) => byte,
            None => nb::block!(self.serial.read()).map_err(NbError)?,
        };
        let mut n = 1;
        for slot in rest {
            match self.serial.read() {
                Ok(byte) => {
                    *slot = byte;
                    n += 1;
                }
                Err(nb::Error::WouldBlock) => break,
                Err(nb::Error::Other(e)) => {
                    // The bytes already read are good; hand them out now, the error next time.
                    self.pending = Some(e);
                    break;
                }
            }
        }
        Ok(n)
    }
}

impl<S: serial::Write<u8>> Write for NbUart<S> {
    /// Writes all of `buf`, busy-waiting while the transmitter is full.
    ///
    /// If the UART fails after some bytes went out, the count so far is returned and the failure is
    /// left for the next call to meet (UART transmit errors are persistent conditions, not events).
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let mut written = 0;
        for &byte in buf {
            match nb::block!(self.serial.write(byte)) {
                Ok(()) => written += 1,
                Err(e) if written == 0 => return Err(NbError(e)),
                Err(_) => break,
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        nb::block!(self.serial.flush()).map_err(NbError)
    }
}

/// Forwards baud changes to a serial port that supports them.
///
/// A HAL type cannot implement [`SetBaud`] itself (neither the trait nor the type is the HAL user's),
/// but a newtype around it can, and this impl lets the wrapped adapter use it. A stashed byte is
/// kept: it arrived before the switch and belongs to whatever the driver was reading then.
impl<S: serial::ErrorType + SetBaud> SetBaud for NbUart<S> {
    type Error = <S as SetBaud>::Error;

    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        self.serial.set_baud(baud)
    }
}
