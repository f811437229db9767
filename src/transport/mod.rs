//! Moving bytes between the protocol engines and a UART, with deadlines from an injected clock.
//!
//! The protocol engines in [`crate::protocol`] never block or read a clock. This module is the thin
//! driver around them: [`Link`] owns a UART (anything implementing [`embedded_io::Read`],
//! [`embedded_io::Write`] and [`embedded_io::ReadReady`]) and a [`Clock`], polls the UART until a
//! deadline, and runs AT commands and STP sessions to completion.
//!
//! Adapters turn other UART shapes into that one:
//! - `nb::NbUart` (feature `embedded-hal-nb`): a byte-wise `embedded-hal-nb` serial port;
//! - `std_io::StdUart` (feature `std`) for any `std::io::Read + Write`, a TCP stream via
//!   `std_io::connect_tcp`, and `std_io::StdClock`;
//! - `serial::SerialUart` (feature `serialport`) for a real serial port on a PC;
//! - `record::Recorder` and `record::Replay` (feature `std`): capture a session to a file and play
//!   the modem's side back against the host, as a regression test or a benchmark.
//!
//! [`probe_baud`] finds the modem's rate and [`switch_baud`] moves both ends to a faster one
//! (`AT+IPR`), for UARTs implementing [`SetBaud`].
//!
//! Time is monotonic milliseconds from the caller's [`Clock`]; there is no global time driver, so the
//! same code runs on a board timer, on `std::time::Instant`, and on the simulator's virtual time.

mod baud;
mod link;
#[cfg(feature = "embedded-hal-nb")]
pub mod nb;
#[cfg(feature = "std")]
pub mod record;
#[cfg(feature = "serialport")]
pub mod serial;
#[cfg(feature = "std")]
pub mod std_io;

pub use baud::{BaudError, BaudProbe, probe_baud, switch_baud};
pub use link::{Link, LinkError, PURGE_MAX_MS, PURGE_QUIET_MS, SeenUrcs, TransferError};

/// A monotonic millisecond clock, supplied by the caller.
///
/// `now_ms` must never go backwards; its epoch is arbitrary. Wrap-around is not handled: a `u64` of
/// milliseconds lasts 584 million years.
pub trait Clock {
    /// Milliseconds since an arbitrary, fixed epoch.
    fn now_ms(&mut self) -> u64;

    /// Called by [`Link`] each time it polled the UART and found nothing to read.
    ///
    /// The default does nothing (a busy poll, which is what a bare-metal upgrade that owns the CPU
    /// wants). Override it to sleep a little on a PC, to `WFI` on a board, or to let virtual time pass
    /// in a simulation.
    fn idle(&mut self) {}
}

impl<F: FnMut() -> u64> Clock for F {
    fn now_ms(&mut self) -> u64 {
        self()
    }
}

/// A point in [`Clock`] time after which a wait gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Deadline {
    at_ms: u64,
}

impl Deadline {
    /// The deadline `timeout_ms` after `now_ms`.
    pub const fn after(now_ms: u64, timeout_ms: u32) -> Self {
        Self {
            at_ms: now_ms.saturating_add(timeout_ms as u64),
        }
    }

    /// The clock value at which the deadline passes.
    pub const fn at_ms(self) -> u64 {
        self.at_ms
    }

    /// `true` once `now_ms` has reached the deadline.
    pub const fn has_passed(self, now_ms: u64) -> bool {
        now_ms >= self.at_ms
    }

    /// Milliseconds left at `now_ms` (0 once passed).
    pub const fn remaining_ms(self, now_ms: u64) -> u64 {
        self.at_ms.saturating_sub(now_ms)
    }
}

/// A UART whose bit rate the host can change (for baud probing and `AT+IPR` switches).
///
/// Implemented by the std serial adapter; implement it for a HAL UART to let [`probe_baud`] and
/// [`switch_baud`] drive it. The upgrader needs it; for a UART that cannot change its rate (a TCP
/// stream, a fixed-rate HAL) implement it as a no-op returning `Ok`, list only that rate in
/// `upgrade::Options::probe_rates`, and set `upgrade::Options::loader_baud` to `None`.
pub trait SetBaud {
    /// The error reconfiguring the UART can fail with.
    type Error: core::fmt::Debug;

    /// Switches the host side of the line to `baud` bits per second. Bytes already received at the old
    /// rate may be lost.
    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error>;
}

impl<T: SetBaud + ?Sized> SetBaud for &mut T {
    type Error = T::Error;
    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        (**self).set_baud(baud)
    }
}
