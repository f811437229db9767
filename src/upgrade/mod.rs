//! The upgrade: one call from a firmware file to a verified modem.
//!
//! [`Upgrader`] ties the image reader, the journal, and the AT and STP engines together. It runs a
//! loop of *detect → decide → act*: every action (a mode switch, a loader push, a transfer, the
//! programming wait, the reboot) ends by finding out again what state the modem is in, and the
//! decision is [`reconcile`](crate::storage::journal::reconcile) of that state with the journal. So a
//! modem that loses power in any phase, or a host that restarts with only its SD card, continues
//! from where the modem really is — the modem's word always beats the journal's.
//!
//! | stage | what happens | power-off safe? |
//! |---|---|---|
//! | [`Preflight`](Stage::Preflight) | the package (and loader ELF) verified completely; journal read. A bad file stops here, before the modem is touched | yes |
//! | [`Detect`](Stage::Detect) | baud probe; `+++` for a modem in data mode; an STP RESET for a modem left in STP mode; `AT+SMOD?`, `ATE0`, `AT+SMUPGRADE?`, `ATI1` | yes |
//! | [`Decide`](Stage::Decide) | already current → done; diff base mismatch, downgrade, missing loader → refused ([`target`]) | yes |
//! | [`Enter`](Stage::Enter) | application: `AT+CFUN=4`, `AT+SMSWBOOT=3,1` (fallback `,0` + `AT^RESET`), wait for `AT`; loader-wait: `AT+IPR`, `AT+STP`, loader ELF, wait for it to start | yes (the modem keeps its mode) |
//! | [`Transfer`](Stage::Transfer) | checkpoint, `AT+SMSTPU="ON_THE_FLY"`, STP session; checkpoints every [`Cadence`](crate::storage::journal::Cadence) | **no** |
//! | [`Programming`](Stage::Programming) | `AT+SMUPGRADE?` every second until `success` or `fail` (size-scaled limit, 20 min + 3 min/MiB by default) | **no** |
//! | [`Verify`](Stage::Verify) | `AT+SMSWBOOT=1,1`, `+SYSSTART`, `AT+SMOD?` = 2, `ATI1` = the package's version | **no** |
//! | [`Finish`](Stage::Finish) | journal cleared | yes |
//!
//! Success is reported only after the modem's own `success` verdict **and** the version read back
//! after the reboot equal to the package's ([`Outcome::Upgraded`]), or when the modem already runs
//! that version ([`Outcome::AlreadyCurrent`]).
//!
//! Out of scope, documented: the SQN3330 bootrom refresh for modems whose `Bootloader0` is build
//! 33080 (Pycom pushes a bootrom package it carries in its source first); the store-then-program
//! `AT+SMSTPU` + `AT+SMUPGRADE` method (every package goes `ON_THE_FLY` through upgrade mode,
//! which every tool supports); zlib compression on STP v2.

// The failure carries the run's report (a few hundred bytes) by value: without allocation there is
// no box to put it in, and it is returned once per upgrade, so its size costs nothing that matters.
#![allow(
    clippy::result_large_err,
    reason = "errors carry their report by value; no allocation, returned once per run"
)]

mod error;
mod modem;
mod observer;
mod options;
mod report;
mod run;
mod send;
pub mod target;

pub use error::{Error, Failure};
pub use observer::{Event, FnObserver, Observer, Payload, Quiet, Stage, Wait};
pub use options::{DEFAULT_PROBE_RATES, Limits, Options, Timing};
pub use report::{Outcome, Report};
pub use run::{BLOCK_BUFFER_LEN, Buffers, NoLoader, READ_AHEAD_LEN, RunError, Source, Upgrader};
pub use target::{Refusal, Target, Unusable};

#[cfg(doctest)]
#[doc = include_str!("../../docs/porting.md")]
mod porting_guide {}
