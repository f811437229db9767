//! What one journal record says: which image, which phase, how far the modem acknowledged, how often
//! things were tried.
//!
//! These are plain values; [`super::record`] turns them into slot bytes and back.

use super::MAX_NAME;
use core::fmt;

/// What identifies the image a journal belongs to: its file name (long name), length and the CRC-32 of
/// the whole file (computed during pre-flight).
///
/// A journal whose `ImageId` differs from the image on the card is ignored: the card got a new file, and
/// an offset or phase recorded for another file means nothing for this one (resuming a transfer with the
/// bytes of a different file is how other tools bricked devices). Length and CRC catch a replaced file
/// with the same name; the name catches two different files that happen to share length and CRC.
/// Equality compares every field, including `name_truncated`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ImageId {
    /// Length of the image file in bytes.
    pub len: u32,
    /// CRC-32 (ISO-HDLC, as zlib) of the whole image file.
    pub crc32: u32,
    name: heapless::String<MAX_NAME>,
    name_truncated: bool,
}

impl ImageId {
    /// The identity of the file `name` of `len` bytes whose CRC-32 is `crc32`.
    ///
    /// Names longer than [`MAX_NAME`] bytes keep their first bytes up to the last whole UTF-8 character
    /// that fits (so the stored name is always valid UTF-8) and are marked [`name_truncated`](Self::name_truncated).
    pub fn new(name: &str, len: u32, crc32: u32) -> Self {
        let mut cut = name.len().min(MAX_NAME);
        while !name.is_char_boundary(cut) {
            // Bounded: index 0 is always a char boundary.
            cut = cut.saturating_sub(1);
        }
        let kept = name.get(..cut).unwrap_or_default();
        Self::from_parts(kept, len, crc32, cut < name.len())
    }

    /// Rebuilds an identity read from a record. `name` must be at most [`MAX_NAME`] bytes (the decoder
    /// checks that first); a longer one would be cut to nothing rather than panic.
    pub(super) fn from_parts(name: &str, len: u32, crc32: u32, name_truncated: bool) -> Self {
        let mut stored = heapless::String::new();
        // Cannot fail for names of at most MAX_NAME bytes.
        let _ = stored.push_str(name);
        Self {
            len,
            crc32,
            name: stored,
            name_truncated,
        }
    }

    /// The file name as stored (at most [`MAX_NAME`] bytes).
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// `true` when the original name was longer than [`MAX_NAME`] bytes and was cut.
    pub fn name_truncated(&self) -> bool {
        self.name_truncated
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}", self.name())?;
        if self.name_truncated {
            f.write_str("…")?;
        }
        write!(f, "\" ({} bytes, CRC-32 {:08x})", self.len, self.crc32)
    }
}

/// Upgrade phases as persisted in the journal.
///
/// The discriminant is the byte stored on the card. **Never renumber or reuse a value**: a card written
/// by an older firmware must still read back as the phase it meant. New phases get new numbers; a number
/// this version does not know is reported as [`RecordError::UnknownPhase`](super::RecordError::UnknownPhase)
/// and the record is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Phase {
    /// The image passed pre-flight; the modem has not been touched yet.
    Validated = 1,
    /// The modem is being switched into its upgrade (or loader) mode.
    SwitchingMode = 2,
    /// The STP transfer is running; `acked_offset` is the number of image bytes the modem acknowledged.
    Transferring = 3,
    /// Every byte was acknowledged and the STP session closed; waiting for the modem's verdict.
    Transferred = 4,
    /// The modem accepted the image and is programming its flash / rebooting.
    Programming = 5,
    /// The modem is back; its version is being read to confirm the upgrade.
    Verifying = 6,
    /// Verified; nothing left to do.
    Done = 7,
}

impl Phase {
    /// Every phase, in upgrade order.
    pub const ALL: [Phase; 7] = [
        Phase::Validated,
        Phase::SwitchingMode,
        Phase::Transferring,
        Phase::Transferred,
        Phase::Programming,
        Phase::Verifying,
        Phase::Done,
    ];

    /// The byte stored on the card.
    pub const fn as_byte(self) -> u8 {
        self as u8
    }

    /// The phase stored as `byte`, or `None` for a number this version does not know.
    pub const fn from_byte(byte: u8) -> Option<Phase> {
        Some(match byte {
            1 => Phase::Validated,
            2 => Phase::SwitchingMode,
            3 => Phase::Transferring,
            4 => Phase::Transferred,
            5 => Phase::Programming,
            6 => Phase::Verifying,
            7 => Phase::Done,
            _ => return None,
        })
    }

    /// A short lower-case name for logs (`"transferring"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Validated => "validated",
            Phase::SwitchingMode => "switching mode",
            Phase::Transferring => "transferring",
            Phase::Transferred => "transferred",
            Phase::Programming => "programming",
            Phase::Verifying => "verifying",
            Phase::Done => "done",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Attempt counters persisted across reboots, so that an image or a card that keeps failing cannot make
/// the board loop forever: the upgrader compares them with its limits after every restart.
///
/// They saturate at 255 instead of wrapping (a wrapped counter would restart the loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attempts {
    /// Image transfers started for this image (1 during the first).
    pub transfers: u8,
    /// STP sessions opened for this image (a continued transfer opens a new session).
    pub sessions: u8,
    /// Post-upgrade verifications started (reading the version after the modem's reboot).
    pub verifications: u8,
}

impl Attempts {
    /// No attempt made yet.
    pub const NONE: Attempts = Attempts {
        transfers: 0,
        sessions: 0,
        verifications: 0,
    };

    /// `self` with one more transfer (saturating).
    #[must_use]
    pub const fn with_transfer(self) -> Self {
        Self {
            transfers: self.transfers.saturating_add(1),
            ..self
        }
    }

    /// `self` with one more session (saturating).
    #[must_use]
    pub const fn with_session(self) -> Self {
        Self {
            sessions: self.sessions.saturating_add(1),
            ..self
        }
    }

    /// `self` with one more verification (saturating).
    #[must_use]
    pub const fn with_verification(self) -> Self {
        Self {
            verifications: self.verifications.saturating_add(1),
            ..self
        }
    }
}

/// One journal record: where an upgrade of `image` stands.
///
/// `acked_offset` must never run ahead of the modem: write only offsets the modem acknowledged. A
/// checkpoint whose `acked_offset` exceeds `image.len` can be encoded but never loads back (it is
/// reported as [`RecordError::OffsetBeyondImage`](super::RecordError::OffsetBeyondImage)), and
/// [`Journal::save`](super::Journal::save) does not count it as the newest record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Checkpoint {
    /// The image being installed.
    pub image: ImageId,
    /// How far the upgrade got.
    pub phase: Phase,
    /// Image bytes the modem acknowledged in the current transfer (0 outside a transfer, the image
    /// length from [`Phase::Transferred`] on).
    pub acked_offset: u32,
    /// STP payload bytes per block in use when the checkpoint was taken (0 before a session was opened).
    /// Kept so a continued transfer can use the same block boundaries.
    pub block_size: u16,
    /// Attempt counters.
    pub attempts: Attempts,
}

impl Checkpoint {
    /// A checkpoint in `phase` for `image` with nothing acknowledged, no block size and no attempts.
    pub fn new(image: ImageId, phase: Phase) -> Self {
        Self {
            image,
            phase,
            acked_offset: 0,
            block_size: 0,
            attempts: Attempts::NONE,
        }
    }
}
