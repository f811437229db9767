//! What the caller can tune: version policy, resume policy, baud rates, STP session and the waits.

use crate::protocol::stp::SessionConfig;
use crate::storage::journal::ResumePolicy;
use crate::transport::BaudProbe;

/// Baud rates tried to find the modem, in order: an SQN3330 application answers at 921,600, its FFH
/// bootloader ("recovery", `AT+SMOD?` 0) and a GM02S at 115,200 (sequans-protocol.md §1, §3.2).
pub const DEFAULT_PROBE_RATES: &[u32] = &[921_600, 115_200];

/// How long the upgrader waits for each thing the modem does on its own. Every wait reports progress
/// to the observer at least once a second (see [`Event::Waiting`](super::Event::Waiting)), so none of
/// them looks like a hang.
///
/// The defaults are generous on purpose: the most common way users brick modems is giving up (and
/// cutting power) while the modem is still programming, which real users report taking 5 to 30
/// minutes (user-needs.md rows 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timing {
    /// A reboot: from `AT+SMSWBOOT`/`AT^RESET` until the modem answers `AT` (Pycom waits 300 s).
    pub reboot_ms: u32,
    /// A pushed loader ELF: until it answers `AT` (Pycom: 100 s; its README warns of "several
    /// minutes").
    pub loader_start_ms: u32,
    /// Programming: the fixed part of the time limit.
    pub programming_base_ms: u32,
    /// Programming: added to the limit per started MiB of the package.
    pub programming_per_mib_ms: u32,
    /// Programming: the typical time per started MiB, only for the "expected" figure reported to the
    /// observer (the sources report about 5 minutes for a 6 MB SQN3330 package, transfer included).
    pub programming_expected_per_mib_ms: u32,
    /// Time between two `AT+SMUPGRADE?` polls.
    pub poll_interval_ms: u32,
    /// Silence during programming after which the upgrader looks for the modem again (it may have
    /// lost power and come back in another mode). It keeps polling as long as the modem answers.
    pub silence_ms: u32,
    /// `AT+SMUPGRADE?` answering `No report` for longer than this during the programming wait means
    /// the modem is not programming (it lost power after the transfer): detect again (Pycom waits
    /// through `No report` for 300 s).
    pub no_report_ms: u32,
    /// Wait after `AT+SMSWBOOT=…,1` answered `ERROR` before trying the `,0` form (Pycom: 5 s).
    pub switch_fallback_ms: u32,
    /// Quiet time after a reboot command before the first `AT` probe, so the old firmware cannot
    /// answer it in the moment before it resets (Pycom sleeps 3 s after `AT+SMSWBOOT=3,1`).
    pub settle_ms: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            reboot_ms: 300_000,
            loader_start_ms: 300_000,
            programming_base_ms: 20 * 60_000,
            programming_per_mib_ms: 3 * 60_000,
            programming_expected_per_mib_ms: 30_000,
            poll_interval_ms: 1_000,
            silence_ms: 30_000,
            no_report_ms: 300_000,
            switch_fallback_ms: 5_000,
            settle_ms: 2_000,
        }
    }
}

impl Timing {
    /// The programming time limit for a package of `len` bytes.
    pub const fn programming_limit_ms(&self, len: u32) -> u64 {
        let mib = len.div_ceil(1 << 20) as u64;
        self.programming_base_ms as u64 + mib * self.programming_per_mib_ms as u64
    }

    /// The typical programming time for a package of `len` bytes (for progress display only).
    pub const fn programming_expected_ms(&self, len: u32) -> u64 {
        let mib = len.div_ceil(1 << 20) as u64;
        mib * self.programming_expected_per_mib_ms as u64
    }
}

/// Limits that keep a hopeless upgrade from running for ever. Counted across host restarts through
/// the journal, for the same image only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Transfers of the package (each from byte 0, or a continuation under
    /// [`ResumePolicy::FromAcknowledged`]).
    pub transfers: u8,
    /// Rounds of "find the modem's state, act on it" in one run: each mode switch, loader push,
    /// transfer, programming wait and reboot that did not end where it should costs one.
    pub rounds: u8,
    /// Pushes of the loader ELF in one run.
    pub loader_pushes: u8,
    /// Reboots into the new firmware for verification (counted across restarts through the
    /// journal): a modem that keeps coming back elsewhere is not rebooted for ever.
    pub verifications: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            transfers: 4,
            rounds: 16,
            loader_pushes: 3,
            verifications: 3,
        }
    }
}

/// Everything [`Upgrader`](super::Upgrader) can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Options {
    /// Install even when the modem already runs the target version, or a newer one. Never overrides a
    /// diff package's base check (the modem would refuse the package anyway).
    pub force: bool,
    /// Whether a transfer interrupted by a link failure or a host restart continues from the last
    /// acknowledged offset. Default [`ResumePolicy::Restart`]: no public source shows a modem
    /// accepting a continuation (see `docs/resume.md`).
    pub resume: ResumePolicy,
    /// Baud rates tried, in order, to find the modem (also after every reboot).
    pub probe_rates: &'static [u32],
    /// How each rate is probed.
    pub probe: BaudProbe,
    /// Rate to move the FFH bootloader to (`AT+IPR`) before pushing the loader ELF, as Pycom does;
    /// `None` keeps the rate it answered at.
    pub loader_baud: Option<u32>,
    /// The STP session for the package; `data_type` is set by the upgrader (CABA for the package,
    /// ELF for the loader).
    pub session: SessionConfig,
    /// Send `AT+CFUN=4` (radio off) before switching to upgrade mode, as Pycom does. A refusal is
    /// ignored.
    pub radio_off: bool,
    /// The waits.
    pub timing: Timing,
    /// The attempt limits.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            force: false,
            resume: ResumePolicy::Restart,
            probe_rates: DEFAULT_PROBE_RATES,
            probe: BaudProbe::default(),
            loader_baud: Some(921_600),
            session: SessionConfig::default(),
            radio_off: true,
            timing: Timing::default(),
            limits: Limits::default(),
        }
    }
}
