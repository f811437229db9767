//! [`Journal`]: the two-slot protocol on top of any [`JournalStore`].
//!
//! The rules that make a power loss harmless (details and a write-by-write analysis in the
//! [module docs](super) and `docs/resume.md`):
//!
//! 1. Records carry a sequence number; record `seq` always goes to slot `seq % 2`. Loading keeps the
//!    valid record with the newest sequence number.
//! 2. A save writes the slot that does **not** hold the newest good record, so a torn write can only
//!    destroy the older record, never the one a reload needs.
//! 3. A failed save is not counted: the next save reuses the same sequence number and slot, so a run of
//!    failures keeps overwriting the same (already lost) slot.
//! 4. Clearing invalidates the older slot first, so a failure in between leaves the newest record.

use super::checkpoint::{Checkpoint, ImageId, Phase};
use super::record::{RecordError, decode, encode};
use super::{SLOT_LEN, Slot};

/// Where the two journal slots live: a pre-allocated 1024-byte file, a sector pair, RAM in a test.
///
/// A store reads and writes whole 512-byte slots and knows nothing about records. Each
/// [`write_slot`](Self::write_slot) should be a single device write (one SD sector), so that a power
/// loss can damage at most that slot.
pub trait JournalStore {
    /// The error a read or write can fail with (the device's own error, never erased).
    type Error: core::fmt::Debug;

    /// Reads the whole of `slot` into `buf`.
    fn read_slot(&mut self, slot: Slot, buf: &mut [u8; SLOT_LEN]) -> Result<(), Self::Error>;

    /// Writes one whole slot. A failure may leave the slot torn (any mix of old and new bytes); the
    /// other slot must not be touched.
    fn write_slot(&mut self, slot: Slot, buf: &[u8; SLOT_LEN]) -> Result<(), Self::Error>;
}

impl<S: JournalStore + ?Sized> JournalStore for &mut S {
    type Error = S::Error;
    fn read_slot(&mut self, slot: Slot, buf: &mut [u8; SLOT_LEN]) -> Result<(), Self::Error> {
        (**self).read_slot(slot, buf)
    }
    fn write_slot(&mut self, slot: Slot, buf: &[u8; SLOT_LEN]) -> Result<(), Self::Error> {
        (**self).write_slot(slot, buf)
    }
}

/// What one slot held when the journal was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SlotState {
    /// A valid record with this sequence number.
    Valid {
        /// Its sequence number.
        seq: u32,
    },
    /// Never written, erased or cleared.
    Blank,
    /// Unusable: torn by a power loss, corrupted, or written by other firmware.
    Invalid(RecordError),
}

/// What [`Journal::open`] found on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Loaded {
    /// The newest valid record and its sequence number, if any slot holds one.
    pub newest: Option<(u32, Checkpoint)>,
    /// What each slot held, indexed by [`Slot::index`] (A first). An `Invalid` slot next to a `Valid`
    /// one is the normal trace of a save interrupted by a power loss.
    pub slots: [SlotState; 2],
}

/// What the journal says to do for an image, before the modem is asked.
///
/// This is only the journal's side: the modem's own state (`AT+SMOD?`, a session still open, the
/// installed version) always decides, and the journal never overrides it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Resume {
    /// Nothing usable: no valid record, or the last upgrade of this image is [`Phase::Done`].
    Fresh,
    /// The newest record is for exactly this image and not finished.
    Continue(Checkpoint),
    /// The newest record is for another image (the card got a new file): ignore it. The first save for
    /// the new image supersedes it.
    OtherImage {
        /// The image the journal was written for.
        journal: ImageId,
    },
}

impl Loaded {
    /// What the journal says to do for `image`: [`Resume::Continue`] only if the newest record is for
    /// exactly this image (name, length and CRC) and its phase is not [`Phase::Done`].
    ///
    /// A record for another image is [`Resume::OtherImage`] whatever its phase.
    pub fn resume_for(&self, image: &ImageId) -> Resume {
        match &self.newest {
            None => Resume::Fresh,
            Some((_, cp)) if cp.image != *image => Resume::OtherImage {
                journal: cp.image.clone(),
            },
            Some((_, cp)) if cp.phase == Phase::Done => Resume::Fresh,
            Some((_, cp)) => Resume::Continue(cp.clone()),
        }
    }

    /// The newest valid checkpoint, if any.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.newest.as_ref().map(|(_, cp)| cp)
    }
}

/// The resume journal: two slots in a [`JournalStore`], written alternately.
///
/// Costs: [`open`](Self::open) reads each slot once; [`save`](Self::save) writes one slot;
/// [`clear`](Self::clear) writes two. Nothing is cached beyond the newest sequence number.
#[derive(Debug)]
pub struct Journal<S> {
    store: S,
    /// Sequence number of the newest record known to be good on the store (`None`: no good record).
    last: Option<u32>,
    writes: u32,
}

impl<S: JournalStore> Journal<S> {
    /// Reads both slots (two reads). The newest valid record wins; a torn or invalid slot is reported in
    /// [`Loaded::slots`].
    ///
    /// "Newest" compares sequence numbers modulo 2^32 (serial-number arithmetic), so a journal that
    /// reaches `u32::MAX` keeps working when the next record is 0. The two slots never hold the same
    /// number: record `seq` is only valid in slot `seq % 2`, anything else is
    /// [`RecordError::WrongSlot`].
    pub fn open(mut store: S) -> Result<(Self, Loaded), S::Error> {
        let mut buf = [0u8; SLOT_LEN];
        store.read_slot(Slot::A, &mut buf)?;
        let (a_state, a) = classify(Slot::A, &buf);
        store.read_slot(Slot::B, &mut buf)?;
        let (b_state, b) = classify(Slot::B, &buf);
        let newest = match (a, b) {
            (Some(a), Some(b)) => Some(if is_newer(b.0, a.0) { b } else { a }),
            (a, b) => a.or(b),
        };
        let journal = Self {
            store,
            last: newest.as_ref().map(|(seq, _)| *seq),
            writes: 0,
        };
        let loaded = Loaded {
            newest,
            slots: [a_state, b_state],
        };
        Ok((journal, loaded))
    }

    /// Writes `cp` as record `seq` = last successful seq + 1 (0 when there is none) into slot
    /// `seq % 2`: one [`JournalStore::write_slot`] call.
    ///
    /// That slot never holds the newest good record, so a torn write loses at most the record before
    /// it. If the write fails, nothing is counted: the next save goes to the same slot with the same
    /// seq, and the other slot keeps the last good record.
    ///
    /// A checkpoint with `acked_offset > image.len` (a caller bug) is written, so the card shows
    /// [`RecordError::OffsetBeyondImage`] for it, but is not counted either: such a record never loads,
    /// and counting it would let the next save overwrite the only good record.
    pub fn save(&mut self, cp: &Checkpoint) -> Result<(), S::Error> {
        let seq = self.next_seq();
        let mut buf = [0u8; SLOT_LEN];
        encode(seq, cp, &mut buf);
        self.writes = self.writes.saturating_add(1);
        self.store.write_slot(Slot::for_seq(seq), &buf)?;
        // The only field decode can reject in an encoded checkpoint: ImageId keeps names valid and
        // Phase is always known.
        if cp.acked_offset <= cp.image.len {
            self.last = Some(seq);
        }
        Ok(())
    }

    /// Invalidates both slots (writes them as zeros), the older one first: a failure in between leaves
    /// the newest record loadable, never an older one. Two writes.
    ///
    /// After a successful clear the next record is number 0 again.
    pub fn clear(&mut self) -> Result<(), S::Error> {
        let zeros = [0u8; SLOT_LEN];
        let older = self.next_slot();
        self.writes = self.writes.saturating_add(1);
        self.store.write_slot(older, &zeros)?;
        self.writes = self.writes.saturating_add(1);
        self.store.write_slot(older.other(), &zeros)?;
        self.last = None;
        Ok(())
    }

    /// The sequence number the next [`save`](Self::save) will write.
    pub fn next_seq(&self) -> u32 {
        self.last.map_or(0, |s| s.wrapping_add(1))
    }

    /// The slot the next [`save`](Self::save) will write (the one not holding the newest good record).
    pub fn next_slot(&self) -> Slot {
        Slot::for_seq(self.next_seq())
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (for diagnostics; writing slots behind the journal's back breaks its rules).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// [`JournalStore::write_slot`] calls made through this journal, failed ones included (for wear
    /// accounting).
    pub fn writes(&self) -> u32 {
        self.writes
    }
}

/// `a` is newer than `b` in serial-number arithmetic: `a - b` (mod 2^32) is in `1..2^31`.
fn is_newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000_0000
}

fn classify(slot: Slot, buf: &[u8; SLOT_LEN]) -> (SlotState, Option<(u32, Checkpoint)>) {
    match decode(buf) {
        Ok((seq, _)) if Slot::for_seq(seq) != slot => (
            SlotState::Invalid(RecordError::WrongSlot { seq, slot }),
            None,
        ),
        Ok((seq, cp)) => (SlotState::Valid { seq }, Some((seq, cp))),
        Err(RecordError::Blank) => (SlotState::Blank, None),
        Err(e) => (SlotState::Invalid(e), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_number_order() {
        assert!(is_newer(1, 0));
        assert!(!is_newer(0, 1));
        assert!(is_newer(0, u32::MAX));
        assert!(!is_newer(u32::MAX, 0));
        assert!(!is_newer(5, 5));
    }
}
