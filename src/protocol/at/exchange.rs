//! The sans-IO runner for one command, and a listener for URCs between commands.

use super::command::{AtCommand, CommandText, RequestBytes};
use super::digest::{DEFAULT_LINE_CAPACITY, Digester, LineKind, LineTooLong, classify};
use super::error::AtError;
use core::fmt;

/// What one received byte completed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step<'a, R> {
    /// Nothing the driver needs to act on (a partial line, an information line folded into the
    /// response, or a byte after the exchange ended).
    Pending,
    /// The modem echoed the command: echo is on (send `ATE0` before anything that ends in STP).
    Echo,
    /// An unsolicited result code arrived in the middle of the reply (`+CEREG: 2`, `+SYSSTART`).
    Urc(&'a [u8]),
    /// The final result arrived: the typed response or why there is none. Reported once.
    Done(Result<R, AtError>),
}

/// Runs one [`AtCommand`]: gives the bytes to send, then digests the reply byte by byte.
///
/// The exchange never blocks, sleeps or reads a clock: the driver writes [`request`](Self::request),
/// feeds every received byte to [`push`](Self::push) until it returns [`Step::Done`], and enforces
/// [`AtCommand::timeout_ms`] itself. On a timeout it may [`restart`](Self::restart) and send again, up
/// to [`AtCommand::attempts`] times in all.
///
/// `Done` is returned on the terminator byte that ends the final line; the LF of that line's CR LF is
/// still to come. A driver that hands the link to STP right after (`AT+SMSTPU`, `AT+STP`) must expect
/// that one LF before the first STP frame.
///
/// A line longer than `N` makes the exchange end in [`AtError::LineTooLong`] (unless the modem
/// rejected the command, which is the more useful report), but only when the final result arrives:
/// the whole reply is consumed either way, so the next command starts on a clean line.
pub struct Exchange<C: AtCommand, const N: usize = DEFAULT_LINE_CAPACITY> {
    command: C,
    text: Result<CommandText, AtError>,
    digester: Digester<N>,
    acc: C::Acc,
    overflow: Option<LineTooLong>,
    done: bool,
}

impl<C: AtCommand, const N: usize> Exchange<C, N> {
    /// Prepares `command`; nothing is sent or received yet.
    pub fn new(command: C) -> Self {
        let mut text = CommandText::new();
        let text = command.text(&mut text).map(|()| text);
        Self {
            command,
            text,
            digester: Digester::new(),
            acc: C::Acc::default(),
            overflow: None,
            done: false,
        }
    }

    /// The bytes to send: text + terminator.
    pub fn request(&self) -> Result<RequestBytes, AtError> {
        let text = self.text.as_ref().map_err(Clone::clone)?;
        let mut out = RequestBytes::new();
        out.extend_from_slice(text)
            .and_then(|()| out.extend_from_slice(self.command.terminator().as_bytes()))
            .map_err(|_| AtError::CommandTooLong { command: C::NAME })?;
        Ok(out)
    }

    /// The command being run.
    pub fn command(&self) -> &C {
        &self.command
    }

    /// Feeds one received byte; returns what it completed. After Done, further bytes are ignored
    /// (Pending).
    pub fn push(&mut self, byte: u8) -> Step<'_, C::Response> {
        if self.done {
            return Step::Pending;
        }
        let line = match self.digester.feed(byte) {
            None => return Step::Pending,
            Some(Err(super::digest::Overflow { too_long, prefix })) => {
                let text = self.text.as_ref().ok().map(|t| t.as_slice());
                let taken = match classify(prefix, text, self.command.info_prefix()) {
                    LineKind::Info(info) => self.command.on_truncated_info(&mut self.acc, info),
                    _ => false,
                };
                if !taken {
                    self.overflow = Some(too_long);
                }
                return Step::Pending;
            }
            Some(Ok(line)) => line,
        };
        let text = self.text.as_ref().ok().map(|t| t.as_slice());
        match classify(line, text, self.command.info_prefix()) {
            LineKind::Echo => Step::Echo,
            LineKind::Urc(urc) => Step::Urc(urc),
            LineKind::Info(info) => {
                self.command.on_info(&mut self.acc, info);
                Step::Pending
            }
            LineKind::Final(result) => {
                self.done = true;
                let acc = core::mem::take(&mut self.acc);
                Step::Done(conclude(self.command.finish(acc, result), self.overflow))
            }
        }
    }

    /// Whether the final result has been received.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Forgets everything received, so the command can be sent again (after a timeout, or after a
    /// baud rate change made what arrived so far noise).
    pub fn restart(&mut self) {
        self.digester.reset();
        self.acc = C::Acc::default();
        self.overflow = None;
        self.done = false;
    }
}

/// The exchange's outcome: a rejection is reported as such; otherwise a line lost to overflow makes
/// the reply untrustworthy, whatever the command made of the rest.
fn conclude<R>(outcome: Result<R, AtError>, overflow: Option<LineTooLong>) -> Result<R, AtError> {
    match (overflow, outcome) {
        (_, rejected @ Err(AtError::Rejected { .. })) => rejected,
        (Some(too_long), _) => Err(too_long.into()),
        (None, outcome) => outcome,
    }
}

impl<C: AtCommand + fmt::Debug, const N: usize> fmt::Debug for Exchange<C, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("command", &self.command)
            .field("digester", &self.digester)
            .field("overflow", &self.overflow)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Digests the link while no command is in flight, e.g. to wait for `+SYSSTART` after a reboot.
///
/// Every line is a [`LineKind::Urc`] except final results, which come out as [`LineKind::Final`] so a
/// driver can log a late reply to a command it gave up on.
#[derive(Debug, Clone, Default)]
pub struct UrcListener<const N: usize = DEFAULT_LINE_CAPACITY> {
    digester: Digester<N>,
}

impl<const N: usize> UrcListener<N> {
    /// A listener with nothing received.
    pub const fn new() -> Self {
        Self {
            digester: Digester::new(),
        }
    }

    /// Forgets the unfinished line.
    pub fn reset(&mut self) {
        self.digester.reset();
    }

    /// Feeds one byte; returns the line it completed, classified, or the overflow of a line too long
    /// for `N` bytes (reported once per line).
    pub fn push(&mut self, byte: u8) -> Option<Result<LineKind<'_>, LineTooLong>> {
        self.digester
            .push(byte)
            .map(|line| line.map(|line| classify(line, None, None)))
    }
}
