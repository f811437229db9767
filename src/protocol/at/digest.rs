//! Line splitting and line classification: the pure half of the AT layer.
//!
//! [`Digester`] turns received bytes into lines; [`classify`] says what a line is, given the command in
//! flight. Neither keeps any state about commands, so they are tested with byte literals alone.

use core::fmt;

/// The line capacity used unless a caller picks another one: every reply line the upgrade reads (the
/// longest is the `showver` row `Software : 5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46`,
/// about 70 bytes) fits with room to spare.
pub const DEFAULT_LINE_CAPACITY: usize = 128;

/// A received line did not fit in the digester's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LineTooLong {
    /// The buffer capacity in bytes that the line exceeded.
    pub capacity: usize,
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a line from the modem was longer than the {} bytes the digester holds; it was dropped \
             (noise at the wrong baud rate looks like this — check the baud rate, or use a larger \
             line capacity)",
            self.capacity
        )
    }
}

impl core::error::Error for LineTooLong {}

/// An over-long line, as [`Digester::feed`] reports it: the error and the line's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow<'a> {
    /// The capacity that was exceeded.
    pub too_long: LineTooLong,
    /// The first `N` bytes of the line, padding trimmed.
    pub prefix: &'a [u8],
}

/// Bytes dropped at the edges of a line. V.250 allows spaces around results; NUL bytes are what a
/// modem UART tends to emit around a reset (Pycom skips "a single NUL byte" replies, spec §3.10).
const fn is_padding(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | 0)
}

/// Strips [`is_padding`] bytes from both ends.
fn trim(mut line: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = line {
        if !is_padding(*first) {
            break;
        }
        line = rest;
    }
    while let [rest @ .., last] = line {
        if !is_padding(*last) {
            break;
        }
        line = rest;
    }
    line
}

/// Splits a byte stream into non-empty lines (CR and/or LF end a line; blank lines dropped).
///
/// Bytes are fed one at a time, so the result cannot depend on how a UART driver chunked them. Padding
/// (spaces, tabs, NUL) around a line is trimmed; leading padding is never stored, so it cannot make a
/// line overflow. `\r\n`, a bare `\r` and a bare `\n` all end a line; the empty "line" between the CR and
/// LF of a pair is dropped like any blank line.
///
/// An over-long line is reported once, as soon as it overflows, and the rest of it is discarded up to
/// its terminator; the next line is read normally. Memory is `N` bytes plus two words.
#[derive(Clone, PartialEq, Eq)]
pub struct Digester<const N: usize = DEFAULT_LINE_CAPACITY> {
    buf: [u8; N],
    len: usize,
    discarding: bool,
}

impl<const N: usize> Digester<N> {
    /// An empty digester.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
            discarding: false,
        }
    }

    /// Forgets the unfinished line (for example after switching baud rate, when what was received so
    /// far is noise).
    pub fn reset(&mut self) {
        self.len = 0;
        self.discarding = false;
    }

    /// The line capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Feeds one byte. Returns a completed line (without terminators, surrounding spaces trimmed) or,
    /// once per over-long line, `Err(LineTooLong)` (the rest of that line is then discarded up to its
    /// terminator).
    pub fn push(&mut self, byte: u8) -> Option<Result<&[u8], LineTooLong>> {
        self.feed(byte).map(|r| r.map_err(|o| o.too_long))
    }

    /// [`push`](Self::push), except that an over-long line also gives its first `N` bytes (padding
    /// trimmed), for commands whose information is at the front of the line.
    pub fn feed(&mut self, byte: u8) -> Option<Result<&[u8], Overflow<'_>>> {
        if byte == b'\r' || byte == b'\n' {
            let len = core::mem::replace(&mut self.len, 0);
            if core::mem::replace(&mut self.discarding, false) {
                return None;
            }
            let line = trim(self.buf.get(..len).unwrap_or_default());
            return if line.is_empty() {
                None
            } else {
                Some(Ok(line))
            };
        }
        if self.discarding || (self.len == 0 && is_padding(byte)) {
            return None;
        }
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len = self.len.saturating_add(1);
                None
            }
            None => {
                self.len = 0;
                self.discarding = true;
                Some(Err(Overflow {
                    too_long: LineTooLong { capacity: N },
                    prefix: trim(&self.buf),
                }))
            }
        }
    }

    /// The bytes of the unfinished line (empty while an over-long line is being discarded).
    pub fn partial(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl<const N: usize> Default for Digester<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Digester<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digester")
            .field("capacity", &N)
            .field("partial", &self.partial())
            .field("discarding", &self.discarding)
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for Digester<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Digester {{ capacity: {=usize}, partial: {=[u8]}, discarding: {=bool} }}",
            N,
            self.partial(),
            self.discarding
        )
    }
}

/// The final result code that ends a reply.
///
/// Textual extended errors (`+CME ERROR: SIM not inserted`, as sent after `AT+CMEE=2`) are mapped to
/// their 3GPP TS 27.007 §9.2 number where the text is one of the common ones, else to
/// [`CME_UNKNOWN`](Self::CME_UNKNOWN) (100, "unknown"); textual `+CMS ERROR`s become
/// [`CMS_UNKNOWN`](Self::CMS_UNKNOWN) (500, "unknown error", TS 27.005 §3.2.5). A number too large for
/// `u16` is mapped the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FinalResult {
    /// `OK`.
    Ok,
    /// `ERROR`.
    Error,
    /// `+CME ERROR: <n>` (equipment error).
    CmeError(u16),
    /// `+CMS ERROR: <n>` (message service error).
    CmsError(u16),
}

/// Common textual CME errors (3GPP TS 27.007 §9.2.1) and their numbers.
const CME_TEXTS: [(&[u8], u16); 16] = [
    (b"phone failure", 0),
    (b"no connection to phone", 1),
    (b"operation not allowed", 3),
    (b"operation not supported", 4),
    (b"SIM not inserted", 10),
    (b"SIM PIN required", 11),
    (b"SIM PUK required", 12),
    (b"SIM failure", 13),
    (b"SIM busy", 14),
    (b"SIM wrong", 15),
    (b"incorrect password", 16),
    (b"memory full", 20),
    (b"not found", 22),
    (b"no network service", 30),
    (b"network timeout", 31),
    (b"unknown", 100),
];

impl FinalResult {
    /// The `+CME ERROR` number that stands for "unknown" (also used for unrecognised texts).
    pub const CME_UNKNOWN: u16 = 100;
    /// The `+CMS ERROR` number that stands for "unknown error" (also used for texts).
    pub const CMS_UNKNOWN: u16 = 500;

    /// `true` only for `OK`.
    pub const fn is_ok(self) -> bool {
        matches!(self, Self::Ok)
    }

    /// Recognises a final result line (already trimmed; case-insensitive); `None` for any other line.
    pub fn parse(line: &[u8]) -> Option<Self> {
        let line = trim(line);
        if line.eq_ignore_ascii_case(b"OK") {
            return Some(Self::Ok);
        }
        if line.eq_ignore_ascii_case(b"ERROR") {
            return Some(Self::Error);
        }
        if let Some(arg) = strip_prefix_ci(line, b"+CME ERROR").and_then(error_argument) {
            let code = parse_u16(arg).unwrap_or_else(|| {
                CME_TEXTS
                    .iter()
                    .find(|(text, _)| text.eq_ignore_ascii_case(arg))
                    .map_or(Self::CME_UNKNOWN, |&(_, n)| n)
            });
            return Some(Self::CmeError(code));
        }
        if let Some(arg) = strip_prefix_ci(line, b"+CMS ERROR").and_then(error_argument) {
            return Some(Self::CmsError(parse_u16(arg).unwrap_or(Self::CMS_UNKNOWN)));
        }
        None
    }
}

impl fmt::Display for FinalResult {
    /// The line as the modem sends it (`OK`, `ERROR`, `+CME ERROR: 10`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("OK"),
            Self::Error => f.write_str("ERROR"),
            Self::CmeError(n) => write!(f, "+CME ERROR: {n}"),
            Self::CmsError(n) => write!(f, "+CMS ERROR: {n}"),
        }
    }
}

/// The argument after `+CME ERROR` / `+CMS ERROR`: what follows a colon or padding, trimmed; `None`
/// when the word goes on (`+CME ERRORS` is no final result).
fn error_argument(rest: &[u8]) -> Option<&[u8]> {
    match rest.first() {
        None => Some(rest),
        Some(b':') => Some(trim(rest.get(1..).unwrap_or_default())),
        Some(&b) if is_padding(b) => Some(trim(rest)),
        Some(_) => None,
    }
}

/// A decimal number of 1–5 digits that fits `u16`.
fn parse_u16(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0u32, |acc, &d| {
        acc.saturating_mul(10)
            .saturating_add(u32::from(d.wrapping_sub(b'0')))
    });
    u16::try_from(value).ok()
}

/// `line` without `prefix` (compared ASCII-case-insensitively).
pub(crate) fn strip_prefix_ci<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = line.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(rest)
}

/// What one line of a reply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LineKind<'a> {
    /// The modem echoing the command (echo is on after every boot until `ATE0`).
    Echo,
    /// The final result: the reply is complete.
    Final(FinalResult),
    /// An information line of the reply in flight.
    Info(&'a [u8]),
    /// An unsolicited result code (`+SYSSTART`, `+CEREG: 2`, …), or with no command in flight any
    /// line that is not a final result.
    Urc(&'a [u8]),
}

/// Classifies one line given the command in flight (its text without terminator, e.g. `b"AT+SMOD?"`)
/// and the prefix its information lines start with (e.g. `b"+SMUPGRADE:"`).
///
/// Rules, in order (comparisons ignore ASCII case; padding around `line` is trimmed first):
/// 1. equal to the command → [`Echo`](LineKind::Echo);
/// 2. `OK` / `ERROR` / `+CME ERROR:` / `+CMS ERROR:` → [`Final`](LineKind::Final);
/// 3. with no command in flight (`None`) → [`Urc`](LineKind::Urc) (finals were reported as `Final`
///    so the caller can log stray results);
/// 4. starting with `+` or `^` and not with the command's info prefix → [`Urc`](LineKind::Urc);
/// 5. everything else → [`Info`](LineKind::Info).
///
/// Rule 4 is why a command whose information lines start with `+` must name its prefix: otherwise its
/// own answer would be taken for a URC.
pub fn classify<'a>(
    line: &'a [u8],
    command: Option<&[u8]>,
    info_prefix: Option<&[u8]>,
) -> LineKind<'a> {
    let line = trim(line);
    if let Some(text) = command
        && !text.is_empty()
        && line.eq_ignore_ascii_case(text)
    {
        return LineKind::Echo;
    }
    if let Some(result) = FinalResult::parse(line) {
        return LineKind::Final(result);
    }
    if command.is_none() {
        return LineKind::Urc(line);
    }
    if matches!(line.first(), Some(b'+' | b'^')) {
        let ours = info_prefix
            .is_some_and(|prefix| !prefix.is_empty() && strip_prefix_ci(line, prefix).is_some());
        if !ours {
            return LineKind::Urc(line);
        }
    }
    LineKind::Info(line)
}
