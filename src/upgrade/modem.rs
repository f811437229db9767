//! The AT side of the phase machine: finding the modem, switching its mode, waiting for it, and
//! verifying the result. Every wait reports [`Event::Waiting`] and is bounded by [`Timing`].
//!
//! [`Timing`]: super::Timing

use core::ops::ControlFlow;

use embedded_io::{Read, ReadReady, Write};

use super::error::Error;
use super::observer::{Event, Observer, Payload, Stage, Wait};
use super::run::{Run, RunResult, Seen, UartError};
use super::target::Refusal;
use crate::protocol::at::{
    AtCommand, AtError, BootMode, EchoOff, Identify, LoaderStp, QueryBootMode, QueryUpgrade,
    SelectBoot, SetFunctionality, SoftReset, Terminator, UpgradeStatus,
};
use crate::protocol::stp::{DataType, Session, SessionConfig};
use crate::storage::journal::{JournalStore, Phase};
use crate::storage::{ImageSource, MemImage, ReadAhead};
use crate::transport::{BaudError, BaudProbe, Clock, LinkError, SetBaud, TransferError};
use crate::transport::{probe_baud, switch_baud};

/// Guard time around `+++` (Pycom waits 1150 ms after it; V.250 asks for silence before and after).
const ESCAPE_GUARD_MS: u32 = 1_200;
/// Wait for the RESET ACK of a modem left in STP mode (a stalled answer may take seconds).
const STP_PROBE_MS: u32 = 3_000;
/// Detection attempts (find the modem, ask its mode) before the modem counts as silent.
const DETECT_ATTEMPTS: u8 = 3;
/// Longest single wait for `+SYSSTART` before probing with `AT` (the baud rate may have changed).
const SYSSTART_WAIT_MS: u64 = 60_000;
/// Sends of an AT command whose answer was garbled (silence is already re-sent by the link).
const AT_TRIES: u8 = 3;

impl<U, C, S, L, J, O> Run<'_, U, C, S, L, J, O>
where
    U: Read + Write + ReadReady + SetBaud,
    C: Clock,
    S: ImageSource,
    L: ImageSource<Error = S::Error>,
    J: JournalStore,
    O: Observer,
{
    /// Runs `command`, sending it again when the answer was garbled or missing (line noise hits AT
    /// traffic too). `ERROR` is an answer and is returned at once.
    pub(super) fn at<Cmd: AtCommand + Clone>(
        &mut self,
        command: Cmd,
    ) -> Result<Cmd::Response, LinkError<UartError<U>>> {
        let mut last = None;
        for _ in 0..AT_TRIES {
            match self.link.command(command.clone()) {
                Ok(r) => return Ok(r),
                Err(e @ (LinkError::Io(_) | LinkError::WriteZero)) => return Err(e),
                Err(e @ LinkError::At(AtError::Rejected { .. })) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(LinkError::NoAnswer {
            command: Cmd::NAME,
            timeout_ms: command.timeout_ms(),
            attempts: AT_TRIES,
        }))
    }

    fn link_error(
        &self,
        error: LinkError<UartError<U>>,
    ) -> Error<UartError<U>, S::Error, J::Error> {
        Error::Link {
            stage: self.stage.unwrap_or(Stage::Detect),
            error,
        }
    }

    /// Finds the rate the modem answers `AT` at: the last known one first, then the configured list.
    /// `None` when nothing answers.
    fn find_rate(&mut self, probe: BaudProbe) -> RunResult<Option<u32>, U, S, J> {
        let known = self.baud;
        let rates = self.options.probe_rates;
        for rate in known
            .into_iter()
            .chain(rates.iter().copied().filter(|&r| Some(r) != known))
        {
            if let Some(rate) = self.probe_rate(rate, probe)? {
                return Ok(Some(rate));
            }
        }
        // Nothing answered: leave the host at the rate the modem was last known at, not at the last
        // rate tried (a modem that is only busy answers there again).
        if let Some(rate) = known {
            self.set_host_rate(rate);
        }
        Ok(None)
    }

    /// Sets the host rate, ignoring a UART that cannot (it stays where it was).
    fn set_host_rate(&mut self, rate: u32) {
        let _ = self.link.uart_mut().set_baud(rate);
    }

    /// `+++` with guard times at each rate, for a modem left in PPP data mode.
    fn escape_data_mode(&mut self) -> RunResult<Option<u32>, U, S, J> {
        for &rate in self.options.probe_rates {
            self.set_host_rate(rate);
            let escaped = self
                .link
                .pause(ESCAPE_GUARD_MS)
                .and_then(|()| self.link.write_all(b"+++"))
                .and_then(|()| self.link.pause(ESCAPE_GUARD_MS));
            escaped.map_err(|e| self.link_error(e))?;
            if let Ok(Some(rate)) = self.probe_rate(rate, self.options.probe) {
                return Ok(Some(rate));
            }
        }
        Ok(None)
    }

    /// `AT` at `rate` only; on an answer, `rate` becomes the known rate. A rate the host UART cannot
    /// run at counts as no answer.
    fn probe_rate(&mut self, rate: u32, probe: BaudProbe) -> RunResult<Option<u32>, U, S, J> {
        match probe_baud(self.link, &[rate], probe) {
            Ok(rate) => {
                self.baud = Some(rate);
                self.report.baud = Some(rate);
                Ok(Some(rate))
            }
            Err(BaudError::Link(e)) => Err(self.link_error(e)),
            Err(BaudError::Silent { .. } | BaudError::SetBaud { .. } | BaudError::Lost { .. }) => {
                Ok(None)
            }
        }
    }

    /// A modem left waiting in STP mode (a host died after `AT+SMSTPU`/`AT+STP`) ignores `AT` but
    /// answers an STP RESET: open and close an empty session to hand it back to AT.
    fn release_stp(&mut self) -> RunResult<Option<u32>, U, S, J> {
        for &rate in self.options.probe_rates {
            self.set_host_rate(rate);
            let answered = self
                .link
                .stp_reset(STP_PROBE_MS)
                .map_err(|e| self.link_error(e))?;
            if !answered {
                // A RESET ends an open session even when its answer is lost (a stalled or noisy
                // line): the modem may be back at its AT prompt.
                self.changed = true;
                if let Some(rate) = self.probe_rate(rate, self.options.probe)? {
                    return Ok(Some(rate));
                }
                continue;
            }
            self.changed = true;
            let mut session = Session::release(self.options.session);
            let mut nothing = MemImage::new(&[]);
            match self
                .link
                .stp_transfer(&mut session, &mut nothing, &mut [], |_| {})
            {
                Ok(()) => {}
                Err(TransferError::Link(e)) => {
                    let _ = self.link.stp_reset(STP_PROBE_MS);
                    self.emit(&Event::Retry {
                        stage: Stage::Detect,
                        reason: &e,
                    })?;
                }
                Err(_) => {}
            }
            if let Some(rate) = self.probe_rate(rate, self.options.probe)? {
                return Ok(Some(rate));
            }
        }
        Ok(None)
    }

    /// The journal says this package was sent and not yet verified: the modem may be programming.
    fn programming_expected(&self) -> bool {
        matches!(
            &self.resume,
            crate::storage::journal::Resume::Continue(cp)
                if matches!(cp.phase, Phase::Transferred | Phase::Programming | Phase::Verifying)
        )
    }

    /// `AT+SMOD?`, in the application's form, then in the FFH bootloader's (LF-terminated).
    fn query_mode(&mut self) -> Result<BootMode, LinkError<UartError<U>>> {
        match self.at(QueryBootMode::new()) {
            Ok(mode) => Ok(mode),
            Err(LinkError::Io(e)) => Err(LinkError::Io(e)),
            Err(_) => self.at(QueryBootMode::bootloader()),
        }
    }

    /// Detect: rate, data mode, STP mode, `AT+SMOD?`, verdict and version.
    // A stage: its own frame (see `Run` on the stack).
    #[inline(never)]
    pub(super) fn detect(&mut self) -> RunResult<Seen, U, S, J> {
        self.enter_stage(Stage::Detect, None)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.detect_once() {
                // A modem that answered and then went quiet (a reboot, a power loss, a stalled
                // reply) gets another look before the run gives up.
                Err(Error::ModemSilent { .. } | Error::Link { .. })
                    if attempt < DETECT_ATTEMPTS =>
                {
                    let reason = "the modem stopped answering during detection; looking again";
                    self.emit(&Event::Retry {
                        stage: Stage::Detect,
                        reason: &reason,
                    })?;
                    self.link.pause(2_000).map_err(|e| self.link_error(e))?;
                }
                other => return other,
            }
        }
    }

    fn detect_once(&mut self) -> RunResult<Seen, U, S, J> {
        let (mut left_data_mode, mut was_in_stp) = (false, false);
        let mut rate = self.find_rate(self.options.probe)?;
        if rate.is_none() && self.programming_expected() {
            // A modem programming this package may be silent for minutes: wait for it before
            // sending +++ or STP frames into it.
            let limit = self
                .options
                .timing
                .programming_limit_ms(self.package.source.len());
            match self.await_answer(Wait::Silent, u32::try_from(limit).unwrap_or(u32::MAX)) {
                Ok(()) => rate = self.baud,
                Err(Error::NoReturn { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let rate = match rate {
            Some(rate) => rate,
            None => match self.escape_data_mode()? {
                Some(rate) => {
                    left_data_mode = true;
                    rate
                }
                None => match self.release_stp()? {
                    Some(rate) => {
                        was_in_stp = true;
                        rate
                    }
                    None => {
                        return Err(Error::ModemSilent {
                            rates_tried: u8::try_from(self.options.probe_rates.len())
                                .unwrap_or(u8::MAX),
                        });
                    }
                },
            },
        };
        let mode = self.query_mode().map_err(|e| self.link_error(e))?;
        self.report.modem_mode = Some(mode);
        let mut seen = Seen {
            mode,
            verdict: None,
            version: None,
        };
        if mode != BootMode::LoaderWait {
            // Echo must be off before AT+SMSTPU (its OK is the last text before binary frames).
            let _ = self.at(EchoOff);
            seen.verdict = self.at(QueryUpgrade).ok();
            seen.version = self.at(Identify).ok().and_then(|id| id.version);
        }
        self.emit(&Event::Detected {
            mode,
            baud: Some(rate),
            version: seen.version,
            was_in_stp,
            left_data_mode,
        })?;
        Ok(seen)
    }

    /// `AT+SMSWBOOT=<target>,1`; on `ERROR`, Pycom's fallback: wait, `AT+SMSWBOOT=<target>,0`, then
    /// `AT^RESET`. A lost answer is not an error here: the modem may already be rebooting, and the
    /// next detection will tell.
    fn select_boot(&mut self, target: u8) -> RunResult<(), U, S, J> {
        self.changed = true;
        // Sent once: a lost OK may mean the modem is already rebooting, and a second
        // AT+SMSWBOOT=1,1 would reboot the new firmware again.
        match self.link.command(SelectBoot {
            target,
            reset: true,
        }) {
            Ok(()) => return Ok(()),
            Err(LinkError::At(AtError::Rejected { .. })) => {}
            Err(e @ (LinkError::Io(_) | LinkError::WriteZero)) => return Err(self.link_error(e)),
            Err(_) => return Ok(()),
        }
        let reason = "AT+SMSWBOOT=…,1 answered ERROR; trying the ,0 form and AT^RESET";
        self.emit(&Event::Retry {
            stage: self.stage.unwrap_or(Stage::Enter),
            reason: &reason,
        })?;
        let fallback = self.options.timing.switch_fallback_ms;
        self.link.pause(fallback).map_err(|e| self.link_error(e))?;
        match self.link.command(SelectBoot {
            target,
            reset: false,
        }) {
            Ok(()) => {}
            Err(LinkError::At(AtError::Rejected { .. })) => {
                return Err(Error::SwitchRefused { target });
            }
            Err(e) => return Err(self.link_error(e)),
        }
        match self.link.command(SoftReset) {
            Ok(()) | Err(LinkError::NoAnswer { .. } | LinkError::At(_)) => Ok(()),
            Err(e) => Err(self.link_error(e)),
        }
    }

    /// The quiet time after a reboot command (URCs are still noted, so `+SYSSTART` is not lost).
    fn settle(&mut self) -> RunResult<(), U, S, J> {
        let ms = self.options.timing.settle_ms;
        self.link.pause(ms).map_err(|e| self.link_error(e))
    }

    /// Waits until the modem answers `AT` again (after a reboot or a loader start), reporting while
    /// it waits.
    fn await_answer(&mut self, what: Wait, limit_ms: u32) -> RunResult<(), U, S, J> {
        let start = self.link.now_ms();
        let limit = u64::from(limit_ms);
        loop {
            let elapsed = self.link.now_ms().saturating_sub(start);
            if elapsed > limit {
                return Err(Error::NoReturn {
                    stage: self.stage.unwrap_or(Stage::Enter),
                    waited_ms: elapsed,
                });
            }
            self.emit(&Event::Waiting {
                what,
                elapsed_ms: elapsed,
                expected_ms: None,
                limit_ms: limit,
            })?;
            let quick = BaudProbe {
                attempts_per_rate: 1,
                ..self.options.probe
            };
            if self.find_rate(quick)?.is_some() {
                return Ok(());
            }
        }
    }

    /// Application → upgrade mode: radio off, `AT+SMSWBOOT=3,1`, wait for the reboot. The next
    /// detection checks that it landed in upgrade mode.
    // A stage: its own frame (see `Run` on the stack).
    #[inline(never)]
    pub(super) fn switch_to_upgrade_mode(&mut self) -> RunResult<(), U, S, J> {
        self.enter_stage(Stage::Enter, None)?;
        let mut cp = self.checkpoint();
        cp.phase = Phase::SwitchingMode;
        self.save(cp)?;
        if self.options.radio_off {
            self.changed = true;
            let _ = self.at(SetFunctionality(4));
        }
        self.select_boot(3)?;
        self.settle()?;
        self.await_answer(Wait::Reboot, self.options.timing.reboot_ms)
    }

    /// Loader-wait → loader running: move the bootloader to the loader baud rate, `AT+STP`, send the
    /// loader ELF, wait for it to start. The next detection checks that it runs (`AT+SMOD?` 1).
    // A stage: its own frame (see `Run` on the stack).
    #[inline(never)]
    pub(super) fn push_loader(&mut self) -> RunResult<(), U, S, J> {
        if self.loader.is_none() {
            return Err(Error::Refused(Refusal::LoaderNeeded));
        }
        if self.report.loader_pushes >= u32::from(self.options.limits.loader_pushes) {
            return Err(Error::GaveUp {
                rounds: self.options.limits.loader_pushes,
                mode: Some(BootMode::LoaderWait),
            });
        }
        self.enter_stage(Stage::Enter, None)?;
        self.changed = true;
        if let (Some(target), Some(current)) = (self.options.loader_baud, self.baud)
            && target != current
        {
            match switch_baud(
                self.link,
                current,
                target,
                Terminator::Lf,
                self.options.probe,
            ) {
                Ok(rate) => {
                    self.baud = Some(rate);
                    self.report.baud = Some(rate);
                }
                Err(BaudError::Link(e)) => return Err(self.link_error(e)),
                Err(BaudError::Lost {
                    requested,
                    previous,
                }) => {
                    // Often a noisy line rather than a lost modem: look at every rate once more.
                    if self.find_rate(self.options.probe)?.is_none() {
                        return Err(Error::BaudLost {
                            requested,
                            previous,
                        });
                    }
                }
                // Refused, or the host UART cannot run at the new rate: the modem answered at the
                // old rate again; carry on there.
                Err(BaudError::Silent { .. } | BaudError::SetBaud { .. }) => {}
            }
        }
        self.report.loader_pushes = self.report.loader_pushes.saturating_add(1);
        // Sent once: a second AT+STP would land in the bootloader's STP receiver.
        if let Err(e) = self.link.command(LoaderStp) {
            let _ = self.link.stp_reset(STP_PROBE_MS);
            return self.retry_later(&e);
        }
        let config = SessionConfig {
            data_type: DataType::Elf,
            ..self.options.session
        };
        let Some(loader) = self.loader.as_mut() else {
            return Err(Error::Refused(Refusal::LoaderNeeded));
        };
        let total = loader.source.len();
        let mut session = Session::new(config, total, 0).map_err(|e| Error::Link {
            stage: Stage::Enter,
            error: LinkError::Stp(e),
        })?;
        let mut reader = ReadAhead::new(&mut loader.source, self.buffers.window);
        let observer = &mut self.observer;
        let mut last_reported = u32::MAX;
        let result =
            self.link
                .stp_transfer_until(&mut session, &mut reader, self.buffers.block, |s| {
                    let done = s.acknowledged();
                    if done == last_reported {
                        return ControlFlow::Continue(());
                    }
                    last_reported = done;
                    observer.on_event(&Event::Progress {
                        payload: Payload::Loader,
                        done,
                        total,
                    })
                });
        self.report.bytes_sent = self
            .report
            .bytes_sent
            .saturating_add(u64::from(session.acknowledged()));
        self.report.retries = self
            .report
            .retries
            .saturating_add(session.stats().retransmissions);
        match result {
            Ok(()) => {}
            Err(TransferError::Stopped { .. }) => {
                return Err(Error::Stopped {
                    stage: Stage::Enter,
                });
            }
            Err(TransferError::Image(e)) => return Err(Error::ImageReadDuringTransfer(e)),
            Err(TransferError::Link(e)) => {
                let _ = self.link.stp_reset(STP_PROBE_MS);
                return self.retry_later(&e);
            }
        }
        self.await_answer(Wait::LoaderStart, self.options.timing.loader_start_ms)
    }

    /// Reports a failure that the next round of detection will deal with.
    pub(super) fn retry_later(&mut self, e: &LinkError<UartError<U>>) -> RunResult<(), U, S, J> {
        self.emit(&Event::Retry {
            stage: self.stage.unwrap_or(Stage::Enter),
            reason: e,
        })
    }

    /// Polls `AT+SMUPGRADE?` until a final verdict. `None`: the modem stopped programming without
    /// one (it answers elsewhere, for example back in loader-wait after a power loss): detect again.
    ///
    /// Silence is never taken for failure while the limit lasts: the modem keeps programming
    /// whether or not it answers.
    // A stage: its own frame (see `Run` on the stack).
    #[inline(never)]
    pub(super) fn await_verdict(&mut self) -> RunResult<Option<UpgradeStatus>, U, S, J> {
        let len = self.package.source.len();
        let timing = self.options.timing;
        let expected = timing.programming_expected_ms(len);
        let limit = timing.programming_limit_ms(len);
        self.enter_stage(Stage::Programming, Some(expected))?;
        if let crate::storage::journal::Resume::Continue(cp) = &self.resume
            && cp.phase == Phase::Transferred
        {
            let mut cp = cp.clone();
            cp.phase = Phase::Programming;
            self.save(cp)?;
        }
        let start = self.link.now_ms();
        let mut unanswered_since: Option<u64> = None;
        let mut no_report_since: Option<u64> = None;
        let mut last_on_going = start;
        loop {
            let now = self.link.now_ms();
            let elapsed = now.saturating_sub(start);
            // Never give up on a modem that still says on-going: the limit only ends a wait the
            // modem does not account for, and a hard cap of three limits ends the rest.
            let recently_on_going =
                now.saturating_sub(last_on_going) <= u64::from(timing.silence_ms);
            if elapsed > limit && !(recently_on_going && elapsed <= limit.saturating_mul(3)) {
                return Err(Error::ProgrammingTimeout { waited_ms: elapsed });
            }
            let answer = self.link.command(QueryUpgrade);
            let what = match answer {
                Ok(status @ (UpgradeStatus::Success | UpgradeStatus::Failed { .. })) => {
                    return Ok(Some(status));
                }
                Ok(UpgradeStatus::OnGoing) => {
                    unanswered_since = None;
                    no_report_since = None;
                    last_on_going = now;
                    Wait::Programming
                }
                Ok(UpgradeStatus::NoReport) => {
                    unanswered_since = None;
                    // Pycom waits through "No report" for up to 300 s. Longer than that, the modem
                    // is not programming this package (it lost power after the transfer and came
                    // back in upgrade mode): detect again.
                    let since = *no_report_since.get_or_insert(now);
                    if now.saturating_sub(since) > u64::from(timing.no_report_ms) {
                        return Ok(None);
                    }
                    Wait::Programming
                }
                Err(e @ (LinkError::Io(_) | LinkError::WriteZero)) => {
                    return Err(self.link_error(e));
                }
                // ERROR: whatever answers does not know the command. The FFH bootloader answers
                // so after a power loss while programming (on a GM02S at the same rate as before).
                Err(LinkError::At(AtError::Rejected { .. }))
                    if self.query_mode().is_ok_and(|m| m == BootMode::LoaderWait) =>
                {
                    return Ok(None);
                }
                Err(_) => {
                    let since = *unanswered_since.get_or_insert(now);
                    if now.saturating_sub(since) > u64::from(timing.silence_ms) {
                        // Is it somewhere else (rebooted, another baud rate)? Only an answer counts.
                        // Only a modem that rebooted (bootloader or application) has certainly
                        // stopped programming; one in upgrade or loader mode may still be busy.
                        if self.find_rate(self.options.probe)?.is_some()
                            && self.query_mode().is_ok_and(|m| {
                                matches!(m, BootMode::LoaderWait | BootMode::Application)
                            })
                        {
                            return Ok(None);
                        }
                        unanswered_since = Some(self.link.now_ms());
                    }
                    Wait::Silent
                }
            };
            self.emit(&Event::Waiting {
                what,
                elapsed_ms: elapsed,
                expected_ms: Some(expected),
                limit_ms: limit,
            })?;
            self.link
                .pause(timing.poll_interval_ms)
                .map_err(|e| self.link_error(e))?;
        }
    }

    /// `AT+SMSWBOOT=1,1`, `+SYSSTART`, `AT+SMOD?` = 2, and `ATI1` equal to the package's version.
    /// `None`: the modem came back in another mode; detect again.
    // A stage: its own frame (see `Run` on the stack).
    #[inline(never)]
    pub(super) fn reboot_and_verify(
        &mut self,
    ) -> RunResult<Option<super::report::Outcome>, U, S, J> {
        self.enter_stage(Stage::Verify, None)?;
        let mut cp = self.checkpoint();
        if cp.attempts.verifications >= self.options.limits.verifications {
            return Err(Error::GaveUp {
                rounds: cp.attempts.verifications,
                mode: self.report.modem_mode,
            });
        }
        cp.phase = Phase::Verifying;
        cp.attempts = cp.attempts.with_verification();
        self.save(cp)?;
        // A +SYSSTART seen earlier in the run must not end this wait.
        let _ = self.link.take_urcs();
        self.select_boot(1)?;
        let limit = u64::from(self.options.timing.reboot_ms);
        let start = self.link.now_ms();
        loop {
            let elapsed = self.link.now_ms().saturating_sub(start);
            if elapsed > limit.min(SYSSTART_WAIT_MS) {
                // Not seen: the rate may have changed with the reboot; AT below decides.
                break;
            }
            self.emit(&Event::Waiting {
                what: Wait::Reboot,
                elapsed_ms: elapsed,
                expected_ms: None,
                limit_ms: limit,
            })?;
            match self.link.wait_for_urc("+SYSSTART", 1_000) {
                Ok(()) => break,
                Err(LinkError::NoUrc { .. }) => {}
                Err(e) => return Err(self.link_error(e)),
            }
        }
        self.await_answer(Wait::Reboot, self.options.timing.reboot_ms)?;
        let mode = self.query_mode().map_err(|e| self.link_error(e))?;
        self.report.modem_mode = Some(mode);
        if mode != BootMode::Application {
            let reason = "the modem did not come back in application mode";
            self.emit(&Event::Retry {
                stage: Stage::Verify,
                reason: &reason,
            })?;
            return Ok(None);
        }
        let _ = self.at(EchoOff);
        let found = self.at(Identify).ok().and_then(|id| id.version);
        self.report.version_after = found;
        let expected = self.target()?;
        match found {
            Some(v) if expected.is_installed(&v) => self.verified(),
            Some(_) => Err(Error::VersionMismatch { expected, found }),
            // Unreadable (a garbled reply): the next detection reads ATI1 again.
            None => {
                let reason = "ATI1 gave no readable version after the reboot; asking again";
                self.emit(&Event::Retry {
                    stage: Stage::Verify,
                    reason: &reason,
                })?;
                Ok(None)
            }
        }
    }

    /// The modem said `fail`: transfer the whole package again, within the limit.
    pub(super) fn package_refused(
        &mut self,
        reason: heapless::String<{ crate::protocol::at::REASON_CAPACITY }>,
    ) -> RunResult<(), U, S, J> {
        let mut cp = self.checkpoint();
        if cp.attempts.transfers >= self.options.limits.transfers {
            return Err(Error::PackageRefused {
                attempts: cp.attempts.transfers,
                reason,
            });
        }
        cp.phase = Phase::Validated;
        cp.acked_offset = 0;
        self.save(cp)?;
        self.emit(&Event::Retry {
            stage: Stage::Programming,
            reason: &"the modem refused the package (+SMUPGRADE: fail); sending all of it again",
        })
    }
}
