//! Test-support journal store that simulates a power loss during one slot write.
//!
//! [`TearingStore`] wraps any [`JournalStore`] (normally a `MemJournal`). On its `fail_on`-th
//! `write_slot` call (1-based) it applies a [`Tear`] to the slot being written, returns an error, and
//! from then on refuses every write without touching anything ("the power is off"), until [`heal`]ed.
//! Reads always pass through, so the torn bytes can be inspected or reopened.
//!
//! Included with `#[path = "support/tearing.rs"] mod tearing;`.
//!
//! [`heal`]: TearingStore::heal

#![allow(dead_code)]

use modem_upgrade::storage::journal::{JournalStore, SLOT_LEN, Slot};

/// What the failing write leaves in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// Nothing written: the slot keeps its old bytes.
    FailBefore,
    /// The first `k` bytes of the new slot written, the rest old (`k` ≤ 512; 512 = the whole slot
    /// written but the write still reported as failed).
    Prefix(usize),
    /// Pseudo-random bytes from this seed over the whole slot.
    Garbage(u64),
    /// All `0xFF`, as an erased flash page reads.
    Erased,
}

impl Tear {
    /// Every tear kind the power-fail tests try.
    pub const ALL: [Tear; 14] = [
        Tear::FailBefore,
        Tear::Prefix(0),
        Tear::Prefix(1),
        Tear::Prefix(8),
        Tear::Prefix(31),
        Tear::Prefix(100),
        Tear::Prefix(163),
        Tear::Prefix(164),
        Tear::Prefix(300),
        Tear::Prefix(511),
        Tear::Prefix(512),
        Tear::Garbage(0x5EED_0001),
        Tear::Garbage(0x5EED_0002),
        Tear::Erased,
    ];
}

/// Why a [`TearingStore`] write failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TearError<E> {
    /// This is the write the power failed in.
    Torn,
    /// The power is already off.
    Refused,
    /// The wrapped store failed.
    Inner(E),
}

/// A store whose `fail_on`-th write is torn and whose later writes are refused.
#[derive(Debug)]
pub struct TearingStore<S> {
    inner: S,
    fail_on: u32,
    tear: Tear,
    writes_seen: u32,
    dead: bool,
    torn_slot: Option<Slot>,
    attempted: Option<[u8; SLOT_LEN]>,
}

impl<S: JournalStore> TearingStore<S> {
    /// Wraps `inner`; write number `fail_on` (1-based; 0 = never) fails with `tear`.
    pub fn new(inner: S, fail_on: u32, tear: Tear) -> Self {
        Self {
            inner,
            fail_on,
            tear,
            writes_seen: 0,
            dead: false,
            torn_slot: None,
            attempted: None,
        }
    }

    /// The power comes back: writes pass through again and no further write fails.
    pub fn heal(&mut self) {
        self.dead = false;
        self.fail_on = 0;
    }

    /// `write_slot` calls seen, refused ones included.
    pub fn writes_seen(&self) -> u32 {
        self.writes_seen
    }

    /// The slot the failing write was aimed at, once it happened.
    pub fn torn_slot(&self) -> Option<Slot> {
        self.torn_slot
    }

    /// The bytes the failing write was asked to write, once it happened.
    pub fn attempted(&self) -> Option<&[u8; SLOT_LEN]> {
        self.attempted.as_ref()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Gives the wrapped store back.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// xorshift64*, enough to make garbage that is not all one value.
fn garbage(seed: u64) -> [u8; SLOT_LEN] {
    let mut x = seed | 1;
    let mut out = [0u8; SLOT_LEN];
    for b in &mut out {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *b = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
    out
}

impl<S: JournalStore> JournalStore for TearingStore<S> {
    type Error = TearError<S::Error>;

    fn read_slot(&mut self, slot: Slot, buf: &mut [u8; SLOT_LEN]) -> Result<(), Self::Error> {
        self.inner.read_slot(slot, buf).map_err(TearError::Inner)
    }

    fn write_slot(&mut self, slot: Slot, buf: &[u8; SLOT_LEN]) -> Result<(), Self::Error> {
        self.writes_seen += 1;
        if self.dead {
            return Err(TearError::Refused);
        }
        if self.writes_seen != self.fail_on {
            return self.inner.write_slot(slot, buf).map_err(TearError::Inner);
        }
        self.dead = true;
        self.torn_slot = Some(slot);
        self.attempted = Some(*buf);
        let mut left = [0u8; SLOT_LEN];
        self.inner
            .read_slot(slot, &mut left)
            .map_err(TearError::Inner)?;
        match self.tear {
            Tear::FailBefore => return Err(TearError::Torn),
            Tear::Prefix(k) => {
                let k = k.min(SLOT_LEN);
                left[..k].copy_from_slice(&buf[..k]);
            }
            Tear::Garbage(seed) => left = garbage(seed),
            Tear::Erased => left = [0xFF; SLOT_LEN],
        }
        self.inner
            .write_slot(slot, &left)
            .map_err(TearError::Inner)?;
        Err(TearError::Torn)
    }
}
