//! The [`AtCommand`] trait: what a command sends, how long it may take, and how its reply is read.

use super::digest::FinalResult;
use super::error::{AtError, FOUND_CAPACITY, lossy};

/// The longest command text (without terminator) a command may produce. The longest one the upgrade
/// sends, `AT+SMSTPU="ON_THE_FLY"`, is 21 bytes.
pub const MAX_COMMAND_LEN: usize = 48;

/// The longest request: command text plus a two-byte terminator.
pub const MAX_REQUEST_LEN: usize = MAX_COMMAND_LEN + 2;

/// A command's text, without terminator.
pub type CommandText = heapless::Vec<u8, MAX_COMMAND_LEN>;

/// The bytes a command is sent as: its text and its terminator.
pub type RequestBytes = heapless::Vec<u8, MAX_REQUEST_LEN>;

/// What ends a command line on the wire.
///
/// | Variant | Bytes | Who needs it |
/// | --- | --- | --- |
/// | `CrLf` | `0d 0a` | application firmware (Pycom sends every command this way) |
/// | `Cr` | `0d` | V.250's own terminator (Microchip's tool) |
/// | `Lf` | `0a` | the FFH bootloader (SMOD 0), which ends a command at a bare LF (`AT+STP\n`, `AT+IPR=…\n`) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Terminator {
    /// `\r\n`.
    #[default]
    CrLf,
    /// `\r`.
    Cr,
    /// `\n`.
    Lf,
}

impl Terminator {
    /// The terminator's bytes.
    pub const fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::CrLf => b"\r\n",
            Self::Cr => b"\r",
            Self::Lf => b"\n",
        }
    }
}

/// One AT command: its text, its timing policy and how its reply becomes a typed response.
///
/// The reply is read by an [`Exchange`](super::Exchange): every information line goes to
/// [`on_info`](Self::on_info), which folds it into the accumulator; the final result hands the
/// accumulator to [`finish`](Self::finish). Neither sees echo or URC lines.
pub trait AtCommand {
    /// The typed response.
    type Response;
    /// Accumulates what the information lines said until the final result arrives.
    type Acc: Default;
    /// The command as named in messages, e.g. `"AT+SMOD?"`.
    const NAME: &'static str;

    /// Writes the command text, without terminator.
    fn text(&self, out: &mut CommandText) -> Result<(), AtError>;

    /// What ends the command on the wire.
    fn terminator(&self) -> Terminator {
        Terminator::CrLf
    }

    /// How long the driver waits for the final result, in milliseconds.
    fn timeout_ms(&self) -> u32 {
        2_000
    }

    /// How many times the driver may send it on timeout (1 = never resent). Only commands that are safe
    /// to repeat (queries, idempotent settings) allow more than one.
    fn attempts(&self) -> u8 {
        1
    }

    /// The prefix the command's information lines start with, if they start with `+` or `^`; lines
    /// that start so without it are URCs (see [`classify`](super::classify)).
    fn info_prefix(&self) -> Option<&'static [u8]> {
        None
    }

    /// Whether the modem may reboot right after (or instead of) answering: a missing final result is
    /// then no proof of failure, and the driver should confirm the outcome with `AT+SMOD?` once the
    /// modem answers again.
    fn reboots(&self) -> bool {
        false
    }

    /// Folds one information line (trimmed, non-empty) into the accumulator.
    fn on_info(&self, acc: &mut Self::Acc, line: &[u8]);

    /// An information line too long for the line buffer: `prefix` holds its first bytes (the rest is
    /// dropped). Return `true` when the command took what it needs from them, so the reply stays
    /// trustworthy; the default refuses, and the exchange then ends in [`AtError::LineTooLong`].
    ///
    /// `AT+SMUPGRADE?` uses it: a failure reason longer than the buffer must not hide the verdict,
    /// whose words come first.
    fn on_truncated_info(&self, _acc: &mut Self::Acc, _prefix: &[u8]) -> bool {
        false
    }

    /// Turns the accumulated lines and the final result into the response.
    fn finish(&self, acc: Self::Acc, result: FinalResult) -> Result<Self::Response, AtError>;
}

impl FinalResult {
    /// `Ok(())` for `OK`, else [`AtError::Rejected`] naming `command`.
    pub fn require_ok(self, command: &'static str) -> Result<(), AtError> {
        if self.is_ok() {
            Ok(())
        } else {
            Err(AtError::Rejected {
                command,
                result: self,
            })
        }
    }
}

/// Appends `bytes` to a command text.
pub fn put(out: &mut CommandText, bytes: &[u8], command: &'static str) -> Result<(), AtError> {
    out.extend_from_slice(bytes)
        .map_err(|_| AtError::CommandTooLong { command })
}

/// Appends `value` in decimal to a command text.
pub fn put_decimal(
    out: &mut CommandText,
    value: u32,
    command: &'static str,
) -> Result<(), AtError> {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    let mut rest = value;
    for slot in digits.iter_mut().rev() {
        *slot = b'0'.wrapping_add(u8::try_from(rest % 10).unwrap_or(0));
        start = start.saturating_sub(1);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    put(out, digits.get(start..).unwrap_or_default(), command)
}

/// An accumulator for replies that carry one meaningful information line.
///
/// The first line that parses wins; lines after it are ignored. Until one parses, the first line that
/// did not is kept for the error message. This mirrors Pycom's "first parsable line" rule and tolerates
/// a stray line of noise before the answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Found<T> {
    /// No information line yet.
    #[default]
    Nothing,
    /// A line parsed to this value.
    Value(T),
    /// Only unparsable lines so far; the first one, lossy.
    Unparsable(heapless::String<FOUND_CAPACITY>),
}

impl<T> Found<T> {
    /// Records one line and what it parsed to.
    pub fn offer(&mut self, parsed: Option<T>, line: &[u8]) {
        match (&*self, parsed) {
            (Self::Value(_), _) => {}
            (_, Some(value)) => *self = Self::Value(value),
            (Self::Nothing, None) => *self = Self::Unparsable(lossy(line)),
            (Self::Unparsable(_), None) => {}
        }
    }

    /// The value, or the error that says why there is none.
    pub fn into_result(self, command: &'static str, expected: &'static str) -> Result<T, AtError> {
        match self {
            Self::Value(value) => Ok(value),
            Self::Nothing => Err(AtError::MissingInfo { command, expected }),
            Self::Unparsable(found) => Err(AtError::Unparsable {
                command,
                expected,
                found,
            }),
        }
    }
}
