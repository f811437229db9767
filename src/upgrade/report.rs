//! What an upgrade did: the outcome, the versions, the bytes, the retries and the time per stage.

use core::fmt;

use super::observer::Stage;
use super::target::Target;
use crate::image::FirmwareVersion;
use crate::protocol::at::BootMode;

/// How an upgrade ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// The modem runs the package's version now, proven by its own verdict and the version read back.
    Upgraded,
    /// The modem already ran the package's version; nothing was sent.
    AlreadyCurrent,
    /// The upgrade failed; the error says the modem's state and what to do.
    Failed,
    /// Refused before anything on the modem changed (bad image, missing file, version rules).
    Rejected,
}

impl Outcome {
    /// `upgraded`, `already_current`, `failed` or `rejected`: the JSON report's words.
    pub const fn name(self) -> &'static str {
        match self {
            Outcome::Upgraded => "upgraded",
            Outcome::AlreadyCurrent => "already_current",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
        }
    }

    /// The process exit code the host example uses: 0 upgraded or already current, 1 failed,
    /// 2 rejected.
    pub const fn exit_code(self) -> u8 {
        match self {
            Outcome::Upgraded | Outcome::AlreadyCurrent => 0,
            Outcome::Failed => 1,
            Outcome::Rejected => 2,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The facts of one run, returned on success and inside every failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report {
    /// How it ended.
    pub outcome: Outcome,
    /// The firmware the modem ran when the run began (`ATI1`; `None` outside application mode).
    pub version_before: Option<FirmwareVersion>,
    /// The firmware read back at the end (`None` unless the run got that far).
    pub version_after: Option<FirmwareVersion>,
    /// What the package installs (`None` if pre-flight did not get that far).
    pub target: Option<Target>,
    /// Size of the package file.
    pub image_bytes: u32,
    /// Bytes the modem acknowledged over STP in this run (package and loader, every attempt).
    pub bytes_sent: u64,
    /// Set when this run continued an upgrade of the same image recorded in the journal: the offset
    /// its first transfer started from (0 under [`ResumePolicy::Restart`](crate::storage::journal::ResumePolicy)).
    pub resumed_from: Option<u32>,
    /// Frames sent again (STP retransmissions) plus transfers started again.
    pub retries: u32,
    /// Transfers of the package started in this run.
    pub transfers: u32,
    /// Loader ELF pushes started in this run.
    pub loader_pushes: u32,
    /// Milliseconds spent in each [`Stage`], indexed by [`Stage::index`].
    pub stage_ms: [u64; 8],
    /// Which stages ran: bit [`Stage::index`] set.
    pub stages_run: u8,
    /// Milliseconds from start to end.
    pub duration_ms: u64,
    /// The modem's mode when last seen.
    pub modem_mode: Option<BootMode>,
    /// The baud rate the modem last answered at.
    pub baud: Option<u32>,
    /// The modem's last `+SMUPGRADE:` failure reason, if it gave one.
    pub modem_reason: Option<heapless::String<{ crate::protocol::at::REASON_CAPACITY }>>,
}

impl Default for Report {
    /// An empty report (outcome `Failed` until a run says otherwise).
    fn default() -> Self {
        Self::new()
    }
}

impl Report {
    pub(super) fn new() -> Self {
        Self {
            outcome: Outcome::Failed,
            version_before: None,
            version_after: None,
            target: None,
            image_bytes: 0,
            bytes_sent: 0,
            resumed_from: None,
            retries: 0,
            transfers: 0,
            loader_pushes: 0,
            stage_ms: [0; 8],
            stages_run: 0,
            duration_ms: 0,
            modem_mode: None,
            baud: None,
            modem_reason: None,
        }
    }

    /// Milliseconds spent in `stage`.
    pub fn ms(&self, stage: Stage) -> u64 {
        self.stage_ms.get(stage.index()).copied().unwrap_or(0)
    }

    /// Whether `stage` ran.
    pub fn ran(&self, stage: Stage) -> bool {
        self.stages_run & (1 << stage.index()) != 0
    }

    /// The stages that ran, in order, with their milliseconds.
    pub fn stages(&self) -> impl Iterator<Item = (Stage, u64)> + '_ {
        Stage::ALL
            .into_iter()
            .filter(|&s| self.ran(s))
            .map(|s| (s, self.ms(s)))
    }
}
