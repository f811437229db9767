//! A time-stamped log of what crossed the line and what the modem did, for test diagnostics.

use crate::time::{Nanos, format_time};
use std::fmt;

/// What a transcript entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// An AT command line the modem received.
    AtIn,
    /// An AT reply or URC the modem sent (one entry per reply).
    AtOut,
    /// An STP request the modem decoded (or refused).
    StpIn,
    /// An STP NACK the modem sent (ACKs are summarised on the request's `StpIn` line).
    StpOut,
    /// A boot-mode, baud or programming state change.
    State,
    /// An injected fault.
    Fault,
    /// A protocol violation by the host (the modem stays lenient where a real one is believed to be).
    Violation,
}

impl EntryKind {
    fn tag(self) -> &'static str {
        match self {
            EntryKind::AtIn => "at<",
            EntryKind::AtOut => "at>",
            EntryKind::StpIn => "stp<",
            EntryKind::StpOut => "stp>",
            EntryKind::State => "state",
            EntryKind::Fault => "fault",
            EntryKind::Violation => "VIOLATION",
        }
    }
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When it happened.
    pub at: Nanos,
    /// What it is.
    pub kind: EntryKind,
    /// Human-readable text (AT lines escaped, STP frames summarised).
    pub text: String,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>10} {:<9} {}",
            format_time(self.at),
            self.kind.tag(),
            self.text
        )
    }
}

/// A bounded transcript: the first `limit` entries are kept, later ones only counted.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
    limit: usize,
    /// Entries not stored because the limit was reached.
    pub dropped: u64,
    /// Host protocol violations recorded (counted even when not stored).
    pub violations: u64,
    /// Optional live sink (the binary's `--verbose`): every entry is also printed to stderr.
    pub echo_to_stderr: bool,
}

impl Transcript {
    /// An empty transcript keeping at most `limit` entries.
    pub fn new(limit: usize) -> Self {
        Self {
            entries: Vec::new(),
            limit,
            dropped: 0,
            violations: 0,
            echo_to_stderr: false,
        }
    }

    /// Appends an entry.
    pub fn push(&mut self, at: Nanos, kind: EntryKind, text: impl Into<String>) {
        let entry = Entry {
            at,
            kind,
            text: text.into(),
        };
        if kind == EntryKind::Violation {
            self.violations += 1;
        }
        if self.echo_to_stderr {
            eprintln!("{entry}");
        }
        if self.entries.len() < self.limit {
            self.entries.push(entry);
        } else {
            self.dropped += 1;
        }
    }

    /// All kept entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Kept entries of one kind.
    pub fn of_kind(&self, kind: EntryKind) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.kind == kind)
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(f, "{e}")?;
        }
        if self.dropped > 0 {
            writeln!(f, "... {} more entries not kept", self.dropped)?;
        }
        Ok(())
    }
}

/// Renders bytes for a transcript: printable ASCII as is, `\r` `\n` and others escaped.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'"' | b' '..=b'~' => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_escaped() {
        let mut t = Transcript::new(2);
        t.push(1_000_000, EntryKind::AtIn, escape(b"AT+SMOD?\r\n\x01"));
        t.push(2_000_000, EntryKind::State, "mode 2");
        t.push(3_000_000, EntryKind::State, "lost");
        assert_eq!(t.entries().len(), 2);
        assert_eq!(t.dropped, 1);
        assert_eq!(t.entries()[0].text, "AT+SMOD?\\r\\n\\x01");
        let text = t.to_string();
        assert!(
            text.contains("0.001 at<") && text.contains("1 more entries"),
            "{text}"
        );
    }
}
