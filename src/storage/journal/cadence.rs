//! When to checkpoint the acknowledged offset during a transfer.
//!
//! Every journal write is one SD sector write, and the flash behind it wears. Checkpointing every
//! acknowledged block of a 7 MB image would cost about 3,500 writes per upgrade; checkpointing never
//! would make a power loss near the end cost the whole transfer. [`Cadence`] caps the offset checkpoints
//! at [`MAX_OFFSET_CHECKPOINTS`] per transfer, so a power loss re-sends at most 1/64 of the image (or
//! 64 KiB for small images) beyond what a per-block journal would, for under 2 % of its writes. Phase
//! changes are always checkpointed on top of this; the numbers are in `docs/resume.md`.

/// Most offset checkpoints [`Cadence::for_image`] asks for in one transfer.
pub const MAX_OFFSET_CHECKPOINTS: u32 = 64;

/// Least distance between two offset checkpoints [`Cadence::for_image`] asks for (64 KiB): below it the
/// re-sent data after a power loss costs less than a second at 921,600 baud, and more writes buy nothing.
pub const MIN_CHECKPOINT_DISTANCE: u32 = 64 * 1024;

/// When to checkpoint the acknowledged offset during a transfer: every `every` acknowledged bytes, plus
/// (decided by the caller) at every phase change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cadence {
    /// Acknowledged bytes between two offset checkpoints.
    pub every: u32,
}

impl Cadence {
    /// The cadence for an image of `len` bytes: `every = max(64 KiB, ceil(len / 64))`, so a transfer
    /// takes at most [`MAX_OFFSET_CHECKPOINTS`] offset checkpoints.
    pub const fn for_image(len: u32) -> Self {
        let share = len.div_ceil(MAX_OFFSET_CHECKPOINTS);
        Self {
            every: if share > MIN_CHECKPOINT_DISTANCE {
                share
            } else {
                MIN_CHECKPOINT_DISTANCE
            },
        }
    }

    /// `true` when `acked` (bytes the modem acknowledged) is at least `every` bytes past `last_saved`
    /// (the offset of the last checkpoint written).
    ///
    /// Never `true` when `acked <= last_saved`: no progress, nothing new to record. A transfer that
    /// restarts from 0 is a phase-level event the caller checkpoints itself (with its attempt counters)
    /// before sending anything.
    pub const fn due(&self, last_saved: u32, acked: u32) -> bool {
        acked > last_saved && acked - last_saved >= self.every
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_images_use_the_floor() {
        assert_eq!(Cadence::for_image(0).every, 65_536);
        assert_eq!(Cadence::for_image(64 * 65_536).every, 65_536);
        assert_eq!(Cadence::for_image(64 * 65_536 + 1).every, 65_537);
    }

    #[test]
    fn large_images_get_at_most_64_checkpoints() {
        let c = Cadence::for_image(7_020_424);
        assert_eq!(c.every, 109_695);
        assert_eq!(Cadence::for_image(u32::MAX).every, u32::MAX.div_ceil(64));
    }

    #[test]
    fn due_needs_progress() {
        let c = Cadence { every: 100 };
        assert!(!c.due(0, 99));
        assert!(c.due(0, 100));
        assert!(!c.due(500, 0));
        assert!(!c.due(u32::MAX, u32::MAX));
        let zero = Cadence { every: 0 };
        assert!(!zero.due(5, 5));
        assert!(zero.due(5, 6));
    }
}
