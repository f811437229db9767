//! Why an upgrade did not succeed: one error type whose every variant says what was found, what was
//! expected and what the user does next (docs/troubleshooting.md lists them all).

use core::fmt;

use super::observer::Stage;
use super::report::Report;
use super::target::{Refusal, Target, Unusable};
use crate::image::{FirmwareVersion, ImageKind, Problem};
use crate::protocol::at::{BootMode, REASON_CAPACITY};
use crate::storage::ReadExactError;
use crate::transport::LinkError;

/// Why an upgrade failed. `UE` is the UART's error, `SE` the image source's (card or file), `JE` the
/// journal store's; none is ever erased.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<UE, SE, JE> {
    /// Reading the package failed during pre-flight.
    ImageRead(SE),
    /// The package is damaged or truncated (its first problem; `more` others were found).
    ImageInvalid {
        /// The first problem.
        problem: Problem,
        /// How many more.
        more: u16,
    },
    /// The file is valid but cannot be used as the package.
    Unusable(Unusable),
    /// Reading the loader ELF failed.
    LoaderRead(SE),
    /// The loader ELF is damaged.
    LoaderInvalid {
        /// The first problem.
        problem: Problem,
    },
    /// The loader file is not an ELF.
    LoaderNotElf {
        /// What it is.
        kind: ImageKind,
    },
    /// The journal on the card could not be read or written.
    Journal(JE),
    /// The package does not fit the modem (checked before anything on it changed), or the modem needs
    /// a file that was not given.
    Refused(Refusal),
    /// Nothing answered: no `OK` to `AT` at any rate, after `+++`, nor an STP RESET.
    ModemSilent {
        /// Rates tried.
        rates_tried: u8,
    },
    /// The UART link failed in `stage`.
    Link {
        /// Where.
        stage: Stage,
        /// What happened.
        error: LinkError<UE>,
    },
    /// `AT+SMSWBOOT=<target>,1` and the `,0` + `AT^RESET` fallback were both refused.
    SwitchRefused {
        /// The boot target asked for.
        target: u8,
    },
    /// Every transfer attempt failed on the link.
    TransferFailed {
        /// Transfers made (this run and earlier runs of the same image).
        attempts: u8,
        /// The last failure.
        last: LinkError<UE>,
    },
    /// Reading the package failed while it was being sent.
    ImageReadDuringTransfer(ReadExactError<SE>),
    /// The modem refused the package after every transfer attempt (`+SMUPGRADE: fail`).
    PackageRefused {
        /// Transfers made.
        attempts: u8,
        /// The modem's reason, if it gave one.
        reason: heapless::String<REASON_CAPACITY>,
    },
    /// Earlier runs already used up the transfers allowed for this image (the journal counts them
    /// across restarts, so a device that reboots after each failure does not retry for ever).
    TransfersUsedUp {
        /// Transfers the journal records for this image.
        attempts: u8,
    },
    /// After `AT+IPR` the modem answered at neither the new nor the old rate.
    BaudLost {
        /// The rate asked for.
        requested: u32,
        /// The rate in use before.
        previous: u32,
    },
    /// Programming did not end within the limit.
    ProgrammingTimeout {
        /// How long the upgrader waited.
        waited_ms: u64,
    },
    /// The modem did not come back within the limit after a reboot or a loader push.
    NoReturn {
        /// What it waited for.
        stage: Stage,
        /// How long.
        waited_ms: u64,
    },
    /// After the upgrade the modem runs something else than the package's version.
    VersionMismatch {
        /// What the package installs.
        expected: Target,
        /// What `ATI1` reported (`None`: no readable version).
        found: Option<FirmwareVersion>,
    },
    /// The modem keeps ending in a state the upgrader cannot move forward from.
    GaveUp {
        /// Rounds of detect-and-act made.
        rounds: u8,
        /// The mode it was last seen in.
        mode: Option<BootMode>,
    },
    /// The observer asked to stop.
    Stopped {
        /// The stage it stopped in.
        stage: Stage,
    },
}

impl<UE, SE, JE> Error<UE, SE, JE> {
    /// Whether the error is about the inputs (image, loader, journal, version rules) rather than the
    /// modem or the link.
    pub fn is_about_input(&self) -> bool {
        matches!(
            self,
            Error::ImageRead(_)
                | Error::ImageInvalid { .. }
                | Error::Unusable(_)
                | Error::LoaderRead(_)
                | Error::LoaderInvalid { .. }
                | Error::LoaderNotElf { .. }
                | Error::Journal(_)
                | Error::Refused(_)
        )
    }
}

impl<UE: fmt::Debug, SE: fmt::Debug, JE: fmt::Debug> fmt::Display for Error<UE, SE, JE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ImageRead(e) => write!(
                f,
                "reading the package failed ({e:?}); check the card (re-seat it, try another) and run \
                 again"
            ),
            Error::ImageInvalid { problem, more } => {
                write!(f, "the package is damaged: {problem}")?;
                if *more > 0 {
                    write!(f, " (and {more} more problem(s))")?;
                }
                f.write_str(
                    "; copy the file from the vendor's archive to the card again; the modem was not touched",
                )
            }
            Error::Unusable(u) => write!(f, "{u}; the modem was not touched"),
            Error::LoaderRead(e) => write!(
                f,
                "reading the loader ELF failed ({e:?}); check the card and run again"
            ),
            Error::LoaderInvalid { problem } => write!(
                f,
                "the loader ELF is damaged: {problem}; copy updater.elf / mtools.elf from the same \
                 firmware archive again"
            ),
            Error::LoaderNotElf { kind } => write!(
                f,
                "the loader is not an ELF file (found: {}); give updater.elf (SQN3330) or mtools.elf \
                 (GM02S) from the firmware archive",
                kind.name()
            ),
            Error::Journal(e) => write!(
                f,
                "the upgrade journal on the card could not be read or written ({e:?}); check that the \
                 card is not write-protected or failing"
            ),
            Error::Refused(r) => write!(f, "{r}"),
            Error::ModemSilent { rates_tried } => write!(
                f,
                "the modem did not answer: no OK to AT at {rates_tried} baud rate(s), none after the \
                 +++ data-mode escape, no answer to an STP RESET; check its power supply, the TX/RX \
                 wiring and that no other program holds the port, then power-cycle the modem (a reset \
                 button is not enough on some boards) and run again"
            ),
            Error::Link { stage, error } => write!(
                f,
                "the link to the modem failed during {stage}: {error}; run again: the upgrader detects \
                 the modem's state and continues from there"
            ),
            Error::SwitchRefused { target } => write!(
                f,
                "the modem refused AT+SMSWBOOT={target},1 and AT+SMSWBOOT={target},0; power-cycle it \
                 and run again"
            ),
            Error::TransferFailed { attempts, last } => write!(
                f,
                "the package transfer failed {attempts} time(s), last: {last}; the modem waits in \
                 upgrade mode (keep it powered); check the cable, lower the baud rate or enable RTS/CTS, \
                 and run again"
            ),
            Error::ImageReadDuringTransfer(ReadExactError::UnexpectedEnd { offset }) => write!(
                f,
                "the package ended at byte {offset} while it was being sent (the file changed or the \
                 card is failing); the modem waits in upgrade mode: fix the card and run again"
            ),
            Error::ImageReadDuringTransfer(ReadExactError::Source(e)) => write!(
                f,
                "reading the package failed while it was being sent ({e:?}); the modem waits in \
                 upgrade mode: fix the card and run again"
            ),
            Error::PackageRefused { attempts, reason } => {
                write!(
                    f,
                    "the modem refused the package after {attempts} transfer(s)"
                )?;
                if !reason.is_empty() {
                    write!(f, " (+SMUPGRADE: fail, \"{reason}\")")?;
                }
                f.write_str(
                    "; it stays in upgrade mode with its old firmware not running: check that the \
                     package is for this modem model and family, then run again with the right package",
                )
            }
            Error::TransfersUsedUp { attempts } => write!(
                f,
                "the journal on the card records {attempts} transfer(s) of this package that did not \
                 end in an upgrade, the limit (Limits::transfers); stopping so that a device that \
                 restarts does not retry for ever. Fix the cause the earlier runs reported (cable, \
                 baud rate, a package for another modem), then delete UPGRADE.JNL to allow new attempts"
            ),
            Error::BaudLost {
                requested,
                previous,
            } => write!(
                f,
                "after AT+IPR={requested} the modem answered at neither {requested} nor {previous} \
                 baud; power-cycle the modem and run again. If the host UART cannot change its rate, \
                 set Options::loader_baud to None"
            ),
            Error::ProgrammingTimeout { waited_ms } => write!(
                f,
                "the modem was still not done programming after {} s; DO NOT POWER IT OFF: leave it \
                 powered for at least 30 more minutes, then run again (the upgrader picks up where the \
                 modem is)",
                waited_ms / 1000
            ),
            Error::NoReturn { stage, waited_ms } => write!(
                f,
                "the modem did not answer again within {} s during {stage}; keep it powered for a few \
                 minutes, then run again (it will be detected in whatever mode it is)",
                waited_ms / 1000
            ),
            Error::VersionMismatch { expected, found } => match found {
                Some(v) => write!(
                    f,
                    "after the upgrade the modem runs {v}, not the package's {expected}; the upgrade \
                     did not take: run again, and if it repeats, check that the package is for this \
                     modem"
                ),
                None => write!(
                    f,
                    "after the upgrade the modem reports no firmware version (expected {expected}); \
                     run again"
                ),
            },
            Error::GaveUp { rounds, mode } => {
                write!(
                    f,
                    "the modem did not reach the next step in {rounds} rounds"
                )?;
                if let Some(mode) = mode {
                    write!(f, " (last seen in {mode})")?;
                }
                f.write_str("; keep it powered, power-cycle it if it stays silent, and run again")
            }
            Error::Stopped { stage } => write!(
                f,
                "stopped by the caller during {stage}; run again to continue (keep the modem powered \
                 if it was programming)"
            ),
        }
    }
}

impl<UE: fmt::Debug, SE: fmt::Debug, JE: fmt::Debug> core::error::Error for Error<UE, SE, JE> {}

/// An upgrade that did not succeed: the error and the report of what happened until then
/// (`report.outcome` is [`Outcome::Failed`](super::Outcome::Failed) or
/// [`Outcome::Rejected`](super::Outcome::Rejected)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure<UE, SE, JE> {
    /// What went wrong.
    pub error: Error<UE, SE, JE>,
    /// What happened until then.
    pub report: Report,
}

impl<UE: fmt::Debug, SE: fmt::Debug, JE: fmt::Debug> fmt::Display for Failure<UE, SE, JE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl<UE: fmt::Debug, SE: fmt::Debug, JE: fmt::Debug> core::error::Error for Failure<UE, SE, JE> {}
