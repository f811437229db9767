//! [`MemJournal`]: a journal store in RAM (tests, simulators, boards that keep the journal elsewhere).

use super::manager::JournalStore;
use super::{SLOT_LEN, Slot};

/// Two slots in RAM, counting reads and writes. Starts blank (all zeros).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemJournal {
    slots: [[u8; SLOT_LEN]; 2],
    reads: u32,
    writes: u32,
}

impl Default for MemJournal {
    fn default() -> Self {
        Self::new()
    }
}

impl MemJournal {
    /// Two blank slots.
    pub const fn new() -> Self {
        Self::from_slots([[0; SLOT_LEN]; 2])
    }

    /// A store holding `slots` (A first), e.g. the bytes left behind by a simulated power loss.
    pub const fn from_slots(slots: [[u8; SLOT_LEN]; 2]) -> Self {
        Self {
            slots,
            reads: 0,
            writes: 0,
        }
    }

    /// The slots' bytes (A first).
    pub fn slots(&self) -> &[[u8; SLOT_LEN]; 2] {
        &self.slots
    }

    /// The slots' bytes, mutably (to damage them in tests).
    pub fn slots_mut(&mut self) -> &mut [[u8; SLOT_LEN]; 2] {
        &mut self.slots
    }

    /// Slot reads made.
    pub fn reads(&self) -> u32 {
        self.reads
    }

    /// Slot writes made.
    pub fn writes(&self) -> u32 {
        self.writes
    }

    fn slot_mut(&mut self, slot: Slot) -> &mut [u8; SLOT_LEN] {
        let [a, b] = &mut self.slots;
        match slot {
            Slot::A => a,
            Slot::B => b,
        }
    }
}

impl JournalStore for MemJournal {
    type Error = core::convert::Infallible;

    fn read_slot(&mut self, slot: Slot, buf: &mut [u8; SLOT_LEN]) -> Result<(), Self::Error> {
        self.reads = self.reads.saturating_add(1);
        *buf = *self.slot_mut(slot);
        Ok(())
    }

    fn write_slot(&mut self, slot: Slot, buf: &[u8; SLOT_LEN]) -> Result<(), Self::Error> {
        self.writes = self.writes.saturating_add(1);
        *self.slot_mut(slot) = *buf;
        Ok(())
    }
}
