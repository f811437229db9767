//! `modem-sim`: a simulated Sequans Monarch modem (see `docs/simulator.md`).
//!
//! Written from the protocol facts in the project's spec, independently of the `modem-upgrade` library's
//! codecs: it has its own CRCs, its own STP frame decoder and its own package verifier, so a mistake made
//! on one side cannot pass on the other.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checksum;
pub mod package;
pub mod version;

pub mod at;
pub mod config;
pub mod faults;
pub mod flash;
pub mod host;
pub mod modem;
pub mod rng;
pub mod serve;
pub mod stp;
pub mod synth;
pub mod time;
pub mod transcript;

pub use config::{BootMode, Model, Pacing, ResponseCrc, SimConfig};
pub use faults::{FaultSpec, FaultSpecError};
pub use flash::{Flash, UpgradeReport};
pub use host::{Sim, SimClock, SimPort};
pub use modem::{Modem, Status};
pub use version::SimVersion;
