//! The resume journal: where an interrupted modem upgrade stands, kept in two 512-byte slots so that a
//! power loss at any instant leaves a loadable record.
//!
//! An upgrade interrupted by a host reset or a power loss must continue from the right phase (or start
//! over knowingly), and must not loop forever on an image that keeps failing. The board keeps a small
//! journal next to the image: on an SD card a pre-allocated 1024-byte file `UPGRADE.JNL` whose two data
//! sectors are overwritten in place (no FAT or directory update per checkpoint). This module knows
//! nothing about SD cards: a [`JournalStore`] reads and writes whole slots.
//!
//! - [`record`]: the pure slot codec ([`encode`], [`decode`]).
//! - [`Journal`]: the two-slot rules ([`Journal::open`], [`Journal::save`], [`Journal::clear`]) and
//!   [`Loaded::resume_for`].
//! - [`Cadence`]: when a transfer checkpoints its acknowledged offset.
//! - [`reconcile`]: where to continue, from the record and the modem's own state (the modem wins).
//! - [`MemJournal`] (RAM) and `FileJournal` (a host file, feature `std`) stores.
//!
//! The journal is advice, not authority: the modem's own state (`AT+SMOD?`, a session still open, the
//! installed version) always decides, and the journal only says where to look first.
//!
//! ## Slot format (one record per 512-byte slot, little-endian)
//!
//! | offset | size | field | rule |
//! |---|---|---|---|
//! | 0 | 4 | magic | `53 51 4A 31` `"SQJ1"` |
//! | 4 | 1 | format version | 1 |
//! | 5 | 1 | phase | [`Phase`] byte, 1..=7; never renumbered |
//! | 6 | 2 | CRC-covered length | 160 in version 1; the CRC follows at this offset (a later version can grow) |
//! | 8 | 4 | seq | record sequence number; record `seq` lives in slot `seq % 2` |
//! | 12 | 4 | image len | [`ImageId::len`] |
//! | 16 | 4 | image crc32 | [`ImageId::crc32`] (CRC-32 of the whole image file) |
//! | 20 | 4 | acked offset | bytes the modem acknowledged; ≤ image len |
//! | 24 | 2 | block size | [`Checkpoint::block_size`] |
//! | 26 | 1 | transfers | [`Attempts::transfers`] |
//! | 27 | 1 | sessions | [`Attempts::sessions`] |
//! | 28 | 1 | verifications | [`Attempts::verifications`] |
//! | 29 | 1 | flags | bit 0: name truncated; bits 1–7 are 0 |
//! | 30 | 1 | name length | 0..=128 |
//! | 31 | 1 | reserved | 0 |
//! | 32 | 128 | name | image file name, UTF-8, zero padded |
//! | 160 | 4 | CRC-32 | ISO-HDLC (zlib) of bytes 0..160 |
//! | 164 | 348 | unused | written as 0, never read |
//!
//! A slot of all `0x00` or all `0xFF` is blank. [`decode`] checks magic, version and length, then the
//! CRC, then rejects every value the encoder cannot produce (unknown flag bits, a non-zero reserved byte
//! or padding, an unknown phase, a name that is too long or not UTF-8, an offset past the image), each
//! with its own [`RecordError`].
//!
//! ## Why two slots
//!
//! A single record overwritten in place is lost whenever a power loss tears its write: the card then
//! holds part old, part new bytes and neither state survives. With two slots written alternately, every
//! save overwrites the slot holding the *older* record, and the newest good record sits untouched in the
//! other slot. Loading reads both and keeps the valid one with the newest sequence number (compared
//! modulo 2^32, so wrapping past `u32::MAX` is harmless).
//!
//! ## What a torn write can and cannot do
//!
//! It can: leave the slot being written as any mix of its old and new bytes, all zeros or all `0xFF`
//! (erased), or garbage. The CRC-32 (and the magic/version/length checks before it) reject such a slot;
//! the chance that a mix passes is about 2^-32, and CRC-32 catches every damage confined to 32
//! consecutive bits. If the tear left the whole 164-byte record written, the new record is simply there.
//!
//! It cannot, as long as the store writes one slot per write (one SD sector): touch the other slot, so
//! [`Journal::open`] returns either the last record whose [`save`](Journal::save) returned `Ok` or the
//! one being written, never an older one. A failed save is not counted, so retries go to the same slot.
//! A card that corrupts sectors it was not asked to write (possible on cheap cards when power fails in
//! the middle of a flash program) can destroy both slots; then the journal loads as empty
//! ([`Resume::Fresh`]) and the upgrade relies on the modem's state alone, which costs time, not safety.
//!
//! ## Checkpoint cadence and SD wear budget
//!
//! An upgrade saves at every phase change and, during a transfer, at most every [`Cadence::every`]
//! acknowledged bytes (≤ [`MAX_OFFSET_CHECKPOINTS`] per transfer, at least 64 KiB apart). A clean
//! upgrade of a 7,020,424-byte image in 2016-byte blocks is 72 slot writes (7 phase checkpoints, 63
//! offset checkpoints, 2 to clear), 36 rewrites of each of the two sectors; each extra transfer attempt
//! adds at most 65. That is far inside the endurance of even cheap SD cards; the estimate and its
//! assumptions are in `docs/resume.md`.

mod cadence;
mod checkpoint;
#[cfg(feature = "std")]
mod file;
mod manager;
mod mem;
mod reconcile;
pub mod record;

pub use cadence::{Cadence, MAX_OFFSET_CHECKPOINTS, MIN_CHECKPOINT_DISTANCE};
pub use checkpoint::{Attempts, Checkpoint, ImageId, Phase};
#[cfg(feature = "std")]
pub use file::FileJournal;
pub use manager::{Journal, JournalStore, Loaded, Resume, SlotState};
pub use mem::MemJournal;
pub use reconcile::{Decision, ModemEntry, ModemView, Plan, ResumePolicy, Verdict, reconcile};
pub use record::{RecordError, decode, encode};

use core::fmt;

/// Bytes in one slot (one SD sector).
pub const SLOT_LEN: usize = 512;

/// Bytes in the journal: two slots.
pub const JOURNAL_LEN: u32 = 1024;

/// Bytes of the image file name kept in a record (UTF-8, cut at a character boundary).
pub const MAX_NAME: usize = 128;

/// One of the two journal slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Slot {
    /// At byte 0 of the journal; holds even sequence numbers.
    A,
    /// At byte 512 of the journal; holds odd sequence numbers.
    B,
}

impl Slot {
    /// Both slots, in file order.
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// The slot record `seq` belongs in: A for even, B for odd.
    pub const fn for_seq(seq: u32) -> Slot {
        if seq.is_multiple_of(2) {
            Slot::A
        } else {
            Slot::B
        }
    }

    /// Byte offset of the slot in the journal (0 or 512).
    pub const fn offset(self) -> u32 {
        match self {
            Slot::A => 0,
            Slot::B => SLOT_LEN as u32,
        }
    }

    /// 0 for A, 1 for B (the index into [`Loaded::slots`]).
    pub const fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }

    /// The other slot.
    pub const fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}
