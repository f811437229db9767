//! Finding the modem's baud rate, and moving both ends to a faster one.
//!
//! Facts (sequans-protocol.md §1, §3.2, §3.8): an SQN3330 application answers at 921,600 baud, its FFH
//! bootloader (recovery, `AT+SMOD?` = 0) only at 115,200; a GM02S at 115,200. The first `AT` after the
//! host changes its rate often meets garbage in the modem's receiver and is answered `ERROR` (the real
//! detection log reads "nothing at 921600, ERROR then OK at 115200"), so each rate gets a few tries;
//! an `ERROR` uses one of them like silence does, and only `OK` ends the probe.
//!
//! | step | host sends | at rate | expects |
//! | --- | --- | --- | --- |
//! | probe, for each configured rate | `AT` (up to `attempts_per_rate` times) | that rate | `OK` |
//! | switch | `AT+IPR=<target>` | current | `OK` (sent before the modem switches) |
//! | verify | `AT` (up to `attempts_per_rate` times) | target | `OK` |
//! | fall back, if verify fails | `AT` (up to `attempts_per_rate` times) | current | `OK` |
//!
//! When `AT+IPR` is refused or gets no readable answer the verify steps run the other way round:
//! `current` first, then `target` (a lost `OK` does not prove the modem stayed where it was).

use core::fmt;

use embedded_io::{Read, ReadReady, Write};

use super::link::{Link, LinkError, PURGE_MAX_MS, PURGE_QUIET_MS};
use super::{Clock, SetBaud};
use crate::protocol::at::{AtError, AttentionWithin, SetBaud as SetBaudCommand, Terminator};

/// How [`probe_baud`] tries each rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BaudProbe {
    /// `AT` sends per rate before moving to the next (an `ERROR` or silence uses one).
    pub attempts_per_rate: u8,
    /// Wait for each answer, in milliseconds.
    pub timeout_ms: u32,
}

impl Default for BaudProbe {
    fn default() -> Self {
        Self {
            attempts_per_rate: 3,
            timeout_ms: 500,
        }
    }
}

/// Why the baud rate could not be found or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BaudError<E, B> {
    /// The UART failed.
    Link(LinkError<E>),
    /// The host UART refused the rate.
    SetBaud {
        /// The rate asked for.
        baud: u32,
        /// The UART's error.
        error: B,
    },
    /// No configured rate got an `OK` to `AT`.
    Silent {
        /// How many rates were tried.
        rates_tried: usize,
    },
    /// After a failed switch, the modem answered neither at the new nor at the old rate.
    Lost {
        /// The rate the switch asked for.
        requested: u32,
        /// The rate in use before.
        previous: u32,
    },
}

impl<E: fmt::Debug, B: fmt::Debug> fmt::Display for BaudError<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaudError::Link(e) => write!(f, "{e}"),
            BaudError::SetBaud { baud, error } => write!(
                f,
                "the host UART cannot run at {baud} baud ({error:?}); configure a rate it supports"
            ),
            BaudError::Silent { rates_tried } => write!(
                f,
                "the modem answered AT at none of the {rates_tried} rate(s) tried; check power, wiring \
                 (TX/RX crossed, RTS/CTS) and that no other program holds the port"
            ),
            BaudError::Lost {
                requested,
                previous,
            } => write!(
                f,
                "after AT+IPR={requested} the modem answered at neither {requested} nor {previous} baud; \
                 power-cycle the modem and probe again"
            ),
        }
    }
}

impl<E: fmt::Debug, B: fmt::Debug> core::error::Error for BaudError<E, B> {}

impl<E, B> From<LinkError<E>> for BaudError<E, B> {
    fn from(e: LinkError<E>) -> Self {
        BaudError::Link(e)
    }
}

fn set_host<U: SetBaud, E>(
    uart: &mut U,
    baud: u32,
) -> Result<(), BaudError<E, <U as SetBaud>::Error>> {
    uart.set_baud(baud)
        .map_err(|error| BaudError::SetBaud { baud, error })
}

/// `true` when `AT` gets `OK` within `attempts` tries at the current host rate.
fn answers<U, C>(
    link: &mut Link<U, C>,
    probe: BaudProbe,
) -> Result<bool, LinkError<<U as embedded_io::ErrorType>::Error>>
where
    U: Read + Write + ReadReady,
    C: Clock,
{
    for _ in 0..probe.attempts_per_rate.max(1) {
        match link.command(AttentionWithin {
            timeout_ms: probe.timeout_ms,
        }) {
            Ok(()) => return Ok(true),
            // Silence or an ERROR (garbage in the modem's receiver after a rate change): try again.
            Err(LinkError::NoAnswer { .. } | LinkError::At(AtError::Rejected { .. })) => {
                link.purge_until_quiet(PURGE_QUIET_MS, PURGE_MAX_MS)?;
            }
            Err(LinkError::At(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Tries `rates` in order and returns the first at which the modem answers `AT` with `OK`; the host
/// UART is left at that rate.
pub fn probe_baud<U, C>(
    link: &mut Link<U, C>,
    rates: &[u32],
    probe: BaudProbe,
) -> Result<u32, BaudError<<U as embedded_io::ErrorType>::Error, <U as SetBaud>::Error>>
where
    U: Read + Write + ReadReady + SetBaud,
    C: Clock,
{
    for &rate in rates {
        set_host(link.uart_mut(), rate)?;
        link.purge_until_quiet(PURGE_QUIET_MS, PURGE_MAX_MS)?;
        if answers(link, probe)? {
            return Ok(rate);
        }
    }
    Err(BaudError::Silent {
        rates_tried: rates.len(),
    })
}

/// Moves the modem and the host from `current` to `target` baud with `AT+IPR`, verifies with `AT` at
/// the new rate, and falls back to `current` if the modem does not answer there.
///
/// Returns the rate at which the modem answers afterwards: `target` on success; `current` after a
/// clean fall-back (the modem refused `AT+IPR`, or did not answer at the new rate but still answers at
/// the old one). When `AT+IPR` was refused or got no readable answer, `current` is tried first and then
/// `target` (a lost `OK` does not prove the modem stayed). The host UART is left at the rate returned;
/// [`BaudError::Lost`] means the modem answered at neither.
/// `terminator` is [`Terminator::Lf`] for the FFH bootloader, [`Terminator::CrLf`] for an application.
pub fn switch_baud<U, C>(
    link: &mut Link<U, C>,
    current: u32,
    target: u32,
    terminator: Terminator,
    probe: BaudProbe,
) -> Result<u32, BaudError<<U as embedded_io::ErrorType>::Error, <U as SetBaud>::Error>>
where
    U: Read + Write + ReadReady + SetBaud,
    C: Clock,
{
    if current == target {
        return Ok(current);
    }
    let accepted = match link.command(SetBaudCommand {
        baud: target,
        terminator,
    }) {
        Ok(()) => true,
        // Refused (the modem stays at `current`), or unanswered / garbled (it may have switched).
        Err(LinkError::NoAnswer { .. } | LinkError::At(_)) => false,
        Err(e) => return Err(e.into()),
    };
    // Where the modem should be first, then the other rate.
    let order = if accepted {
        [target, current]
    } else {
        [current, target]
    };
    for rate in order {
        set_host(link.uart_mut(), rate)?;
        link.purge_until_quiet(PURGE_QUIET_MS, PURGE_MAX_MS)?;
        if answers(link, probe)? {
            return Ok(rate);
        }
    }
    Err(BaudError::Lost {
        requested: target,
        previous: current,
    })
}
