//! The package transfer: journal checkpoints before and during the STP session, and what a failed
//! session leaves behind for the next round.

use core::ops::ControlFlow;

use embedded_io::{Read, ReadReady, Write};

use super::error::Error;
use super::observer::{Event, Observer, Payload, Stage};
use super::run::{Run, RunResult};
use crate::protocol::at::StartStp;
use crate::protocol::stp::{DataType, Session, SessionConfig};
use crate::storage::journal::{Cadence, JournalStore, Phase, Resume};
use crate::storage::{ImageSource, ReadAhead};
use crate::transport::{Clock, LinkError, SetBaud, TransferError};

impl<U, C, S, L, J, O> Run<'_, U, C, S, L, J, O>
where
    U: Read + Write + ReadReady + SetBaud,
    C: Clock,
    S: ImageSource,
    L: ImageSource<Error = S::Error>,
    J: JournalStore,
    O: Observer,
{
    /// Sends the package from `from` (0 unless continuing). `true` when every byte was acknowledged
    /// and the session closed; `false` when it failed on the link (recorded; the next round detects
    /// the modem again).
    ///
    /// The checkpoint "transferring from `from`, one more attempt" reaches the card **before** the
    /// first byte goes out, so a host restart at any point counts the attempt and never continues
    /// beyond what the modem acknowledged.
    // A stage: its own frame (see `Run` on the stack).
    #[inline(never)]
    pub(super) fn transfer(&mut self, from: u32) -> RunResult<bool, U, S, J> {
        let len = self.package.source.len();
        let mut cp = self.checkpoint();
        let limit = self.options.limits.transfers;
        if cp.attempts.transfers >= limit {
            let attempts = cp.attempts.transfers;
            // Name what this run saw; a run that saw nothing reports the journal's count as such.
            let last = self.last_link_error.take();
            return Err(match (self.report.modem_reason.clone(), last) {
                (_, Some(last)) => Error::TransferFailed { attempts, last },
                (Some(reason), None) => Error::PackageRefused { attempts, reason },
                (None, None) => Error::TransfersUsedUp { attempts },
            });
        }
        // At 10 bits per byte on the line, plus the STP framing (about 3.5 % at 2016-byte blocks).
        let expected = self
            .baud
            .filter(|&b| b > 0)
            .map(|b| u64::from(len - from.min(len)) * 10_350 / u64::from(b));
        self.enter_stage(Stage::Transfer, expected)?;
        self.changed = true;
        let from = if from < len { from } else { 0 };
        self.last_transfer_from = from;
        let config = SessionConfig {
            data_type: DataType::Caba,
            ..self.options.session
        };
        cp.phase = Phase::Transferring;
        cp.acked_offset = from;
        cp.block_size = config.block_cap;
        cp.attempts = cp.attempts.with_transfer();
        self.save(cp.clone())?;
        if self.report.transfers > 0 {
            self.report.retries = self.report.retries.saturating_add(1);
        }
        self.report.transfers = self.report.transfers.saturating_add(1);

        // Sent once: if its OK was lost the modem may already be in STP mode, where a second
        // AT+SMSTPU would be taken for frame bytes; a RESET ends whatever it started.
        if let Err(e) = self.link.command(StartStp { on_the_fly: true }) {
            let _ = self.link.stp_reset(2_000);
            self.retry_later(&e)?;
            self.last_link_error = Some(e);
            return Ok(false);
        }
        let mut session = Session::new(config, len, from).map_err(|e| Error::Link {
            stage: Stage::Transfer,
            error: LinkError::Stp(e),
        })?;

        let cadence = Cadence::for_image(len);
        let mut last_saved = from;
        let mut last_reported = u32::MAX;
        let mut journal_error = None;
        let mut stopped = false;
        let (observer, journal) = (&mut self.observer, &mut self.journal);
        let mut reader = ReadAhead::new(&mut self.package.source, self.buffers.window);
        let result =
            self.link
                .stp_transfer_until(&mut session, &mut reader, self.buffers.block, |s| {
                    let acked = s.acknowledged();
                    if acked != last_reported {
                        last_reported = acked;
                        let event = Event::Progress {
                            payload: Payload::Package,
                            done: acked,
                            total: len,
                        };
                        stopped |= observer.on_event(&event).is_break();
                    }
                    if acked < len && cadence.due(last_saved, acked) {
                        cp.acked_offset = acked;
                        let saved = journal.as_mut().map_or(Ok(()), |j| j.save(&cp));
                        match saved {
                            Ok(()) => {
                                last_saved = acked;
                                let event = Event::Checkpoint {
                                    phase: Phase::Transferring,
                                    offset: acked,
                                };
                                stopped |= observer.on_event(&event).is_break();
                            }
                            Err(e) => journal_error = Some(e),
                        }
                    }
                    if stopped || journal_error.is_some() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
        cp.acked_offset = last_saved;
        self.resume = Resume::Continue(cp.clone());
        let acked = session.acknowledged();
        self.report.bytes_sent = self
            .report
            .bytes_sent
            .saturating_add(u64::from(acked.saturating_sub(from)));
        self.report.retries = self
            .report
            .retries
            .saturating_add(session.stats().retransmissions);
        if let Some(e) = journal_error {
            return Err(Error::Journal(e));
        }
        match result {
            Ok(()) => {
                cp.phase = Phase::Transferred;
                cp.acked_offset = len;
                self.save(cp)?;
                self.last_link_error = None;
                Ok(true)
            }
            Err(TransferError::Stopped { .. }) => Err(Error::Stopped {
                stage: Stage::Transfer,
            }),
            Err(TransferError::Image(e)) => Err(Error::ImageReadDuringTransfer(e)),
            Err(TransferError::Link(e)) => {
                // End what is left of the session so the modem returns to AT.
                let _ = self.link.stp_reset(2_000);
                cp.acked_offset = acked;
                cp.attempts = cp.attempts.with_session();
                self.save(cp)?;
                self.retry_later(&e)?;
                self.last_link_error = Some(e);
                Ok(false)
            }
        }
    }
}
