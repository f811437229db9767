//! What the upgrader tells its caller while it runs: the stage it is in, how far it got, how long
//! each wait is expected to take, and when the modem must not lose power.
//!
//! Users who see a silent phase interrupt it, and an interrupted programming phase is how modems get
//! bricked (user-needs.md rows 1–2). So every wait of the upgrader emits [`Event::Waiting`] at least
//! once per poll, and the stages in which a power cut is dangerous say so.

use core::fmt;
use core::ops::ControlFlow;

use crate::image::FirmwareVersion;
use crate::protocol::at::BootMode;
use crate::storage::journal::{Phase, Plan};

/// The stages of an upgrade, in order. Each is reported once when it starts
/// ([`Event::Stage`]) and its duration ends up in the report; stages run again (a second transfer
/// after a failed verdict) add to their time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stage {
    /// Find and verify the image (and the loader ELF) completely; read the journal.
    Preflight = 0,
    /// Find the modem: baud rate, PPP escape, a modem left in STP mode, `AT+SMOD?`, version.
    Detect = 1,
    /// Decide what to do: already current, refuse (diff base, downgrade, loader missing), or where to
    /// continue.
    Decide = 2,
    /// Bring the modem to accept the package: switch to upgrade mode, or push the loader ELF.
    Enter = 3,
    /// Send the package over STP.
    Transfer = 4,
    /// The modem programs its flash; the upgrader polls `AT+SMUPGRADE?`.
    Programming = 5,
    /// Reboot into the application and read the version back.
    Verify = 6,
    /// Clear the journal.
    Finish = 7,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 8] = [
        Stage::Preflight,
        Stage::Detect,
        Stage::Decide,
        Stage::Enter,
        Stage::Transfer,
        Stage::Programming,
        Stage::Verify,
        Stage::Finish,
    ];

    /// The lower-case name used in reports (`preflight`, `detect`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Preflight => "preflight",
            Stage::Detect => "detect",
            Stage::Decide => "decide",
            Stage::Enter => "enter",
            Stage::Transfer => "transfer",
            Stage::Programming => "programming",
            Stage::Verify => "verify",
            Stage::Finish => "finish",
        }
    }

    /// Index into [`Report::stage_ms`](super::Report::stage_ms).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether cutting the modem's power during this stage risks its firmware. Programming rewrites
    /// the flash; a reboot right after it installs the new image (user-needs.md, safety facts).
    /// The transfer itself is not dangerous on its own, but the modem programs while it receives
    /// (`ON_THE_FLY`), so it is flagged too.
    pub const fn do_not_power_off(self) -> bool {
        matches!(self, Stage::Transfer | Stage::Programming | Stage::Verify)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is being sent in an [`Event::Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Payload {
    /// The firmware package (`.dup`).
    Package,
    /// The loader ELF (`updater.elf` / `mtools.elf`).
    Loader,
}

/// What the upgrader is waiting for in an [`Event::Waiting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Wait {
    /// The modem reboots (into upgrade mode, or into the application).
    Reboot,
    /// The pushed loader ELF starts.
    LoaderStart,
    /// The modem programs the package (`AT+SMUPGRADE?` says on-going, or nothing yet).
    Programming,
    /// The modem does not answer while it should be programming; still waiting.
    Silent,
}

/// One thing the upgrader reports. Borrowed data lives only for the call.
#[derive(Clone, Copy)]
pub enum Event<'a> {
    /// A stage starts.
    Stage {
        /// The stage.
        stage: Stage,
        /// How long it typically takes, when known (milliseconds).
        expected_ms: Option<u64>,
        /// Cutting the modem's power now risks its firmware.
        do_not_power_off: bool,
    },
    /// The modem was found.
    Detected {
        /// `AT+SMOD?`.
        mode: BootMode,
        /// The baud rate it answered at (`None` when it was not probed).
        baud: Option<u32>,
        /// The installed firmware, from `ATI1` (application mode only).
        version: Option<FirmwareVersion>,
        /// It was still waiting in STP mode (a host died mid-transfer) and was released.
        was_in_stp: bool,
        /// It was in PPP data mode and left it after `+++`.
        left_data_mode: bool,
    },
    /// The decision, and the journal's part in it.
    Decided {
        /// What the upgrader will do.
        plan: Plan,
        /// The phase the journal had recorded for this image, if any.
        journal_phase: Option<Phase>,
    },
    /// Bytes of a transfer acknowledged by the modem.
    Progress {
        /// What is being sent.
        payload: Payload,
        /// Bytes acknowledged.
        done: u32,
        /// Bytes in total.
        total: u32,
    },
    /// A wait is going on.
    Waiting {
        /// What for.
        what: Wait,
        /// Time waited so far (milliseconds).
        elapsed_ms: u64,
        /// Typical duration, when known (milliseconds).
        expected_ms: Option<u64>,
        /// When the upgrader gives up (milliseconds since the wait began).
        limit_ms: u64,
    },
    /// Something failed and is being tried again.
    Retry {
        /// The stage it happened in.
        stage: Stage,
        /// What went wrong.
        reason: &'a dyn fmt::Display,
    },
    /// A checkpoint reached the journal on the card.
    Checkpoint {
        /// The phase recorded.
        phase: Phase,
        /// The acknowledged offset recorded.
        offset: u32,
    },
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Stage {
                stage,
                expected_ms,
                do_not_power_off,
            } => write!(
                f,
                "Stage({stage}, expected {expected_ms:?} ms, do_not_power_off {do_not_power_off})"
            ),
            Event::Detected {
                mode,
                baud,
                version,
                was_in_stp,
                left_data_mode,
            } => write!(
                f,
                "Detected({mode}, baud {baud:?}, version {version:?}, was_in_stp {was_in_stp}, \
                 left_data_mode {left_data_mode})"
            ),
            Event::Decided {
                plan,
                journal_phase,
            } => write!(f, "Decided({plan:?}, journal {journal_phase:?})"),
            Event::Progress {
                payload,
                done,
                total,
            } => write!(f, "Progress({payload:?} {done}/{total})"),
            Event::Waiting {
                what,
                elapsed_ms,
                expected_ms,
                limit_ms,
            } => write!(
                f,
                "Waiting({what:?} {elapsed_ms} ms, expected {expected_ms:?}, limit {limit_ms})"
            ),
            Event::Retry { stage, reason } => write!(f, "Retry({stage}: {reason})"),
            Event::Checkpoint { phase, offset } => write!(f, "Checkpoint({phase} @ {offset})"),
        }
    }
}

/// Receives the upgrader's [`Event`]s. Returning [`ControlFlow::Break`] stops the upgrade at once, as
/// if the host had been switched off at that point (the journal keeps what was saved; nothing is sent
/// to the modem to "clean up"). Stopping while the modem programs does not stop the modem: keep it
/// powered.
pub trait Observer {
    /// Called for every event.
    fn on_event(&mut self, event: &Event<'_>) -> ControlFlow<()>;
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn on_event(&mut self, _event: &Event<'_>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// A closure as an observer.
#[derive(Debug, Clone, Copy)]
pub struct FnObserver<F>(pub F);

impl<F: FnMut(&Event<'_>) -> ControlFlow<()>> Observer for FnObserver<F> {
    fn on_event(&mut self, event: &Event<'_>) -> ControlFlow<()> {
        (self.0)(event)
    }
}

impl<O: Observer + ?Sized> Observer for &mut O {
    fn on_event(&mut self, event: &Event<'_>) -> ControlFlow<()> {
        (**self).on_event(event)
    }
}
