//! What can go wrong in one AT exchange, short of a timeout (the driver's business).

use super::digest::{FinalResult, LineTooLong};
use core::fmt;

/// How many bytes of an unparsable line [`AtError::Unparsable`] keeps.
pub const FOUND_CAPACITY: usize = 48;

/// Why an AT command did not produce its response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AtError {
    /// The modem answered ERROR / +CME ERROR.
    Rejected {
        /// The command ([`AtCommand::NAME`](super::AtCommand::NAME)).
        command: &'static str,
        /// The final result it answered with.
        result: FinalResult,
    },
    /// The final OK came without the information line the command needs.
    MissingInfo {
        /// The command.
        command: &'static str,
        /// What information line was expected.
        expected: &'static str,
    },
    /// An information line that does not parse (the first ≤ 48 bytes kept, lossy).
    Unparsable {
        /// The command.
        command: &'static str,
        /// What the line should have looked like.
        expected: &'static str,
        /// The line as received: printable ASCII kept, every other byte shown as `?`.
        found: heapless::String<FOUND_CAPACITY>,
    },
    /// A line of the reply did not fit the digester; the reply cannot be trusted to be complete.
    LineTooLong {
        /// The digester's capacity in bytes.
        capacity: usize,
    },
    /// The command text does not fit [`MAX_COMMAND_LEN`](super::MAX_COMMAND_LEN) bytes.
    CommandTooLong {
        /// The command.
        command: &'static str,
    },
}

impl AtError {
    /// An [`Unparsable`](Self::Unparsable) error keeping a lossy copy of `line`.
    pub fn unparsable(command: &'static str, expected: &'static str, line: &[u8]) -> Self {
        Self::Unparsable {
            command,
            expected,
            found: lossy(line),
        }
    }
}

/// A lossy printable copy of `bytes`: printable ASCII and spaces kept, everything else as `?`, cut at
/// `N` characters. Untrusted bytes are never put into a `str` unchecked this way.
pub fn lossy<const N: usize>(bytes: &[u8]) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for &b in bytes {
        let c = if b == b' ' || b.is_ascii_graphic() {
            char::from(b)
        } else {
            '?'
        };
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

impl From<LineTooLong> for AtError {
    fn from(e: LineTooLong) -> Self {
        Self::LineTooLong {
            capacity: e.capacity,
        }
    }
}

impl fmt::Display for AtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { command, result } => write!(
                f,
                "the modem answered {result} to {command} instead of OK; it does not accept this \
                 command in its current state — read AT+SMOD? and retry from that state"
            ),
            Self::MissingInfo { command, expected } => write!(
                f,
                "the modem answered OK to {command} without {expected}; the reply was incomplete or \
                 the modem is in another mode — retry the command"
            ),
            Self::Unparsable {
                command,
                expected,
                found,
            } => write!(
                f,
                "the modem answered {command} with \"{found}\" where {expected} was expected; check \
                 that the firmware is a supported Sequans Monarch and that the baud rate is right"
            ),
            Self::LineTooLong { capacity } => write!(
                f,
                "a reply line was longer than the {capacity} bytes the digester holds, so the reply \
                 may be incomplete; check the baud rate (noise looks like this) or use a larger line \
                 capacity"
            ),
            Self::CommandTooLong { command } => write!(
                f,
                "the text of {command} does not fit in {} bytes; use a shorter argument",
                super::MAX_COMMAND_LEN
            ),
        }
    }
}

impl core::error::Error for AtError {}
