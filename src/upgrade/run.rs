//! [`Upgrader`]: the phase machine. One loop of "find out what state the modem is in, reconcile it
//! with the journal, do the one next thing", bounded by [`Limits`](super::Limits), so a modem power
//! loss or a host restart in any phase is handled the same way as a fresh start.

use core::marker::PhantomData;

use embedded_io::{Read, ReadReady, Write};

use super::error::{Error, Failure};
use super::observer::{Event, Observer, Quiet, Stage};
use super::options::Options;
use super::report::{Outcome, Report};
use super::target::{self, Target};
use crate::image::{self, ImageKind};
use crate::protocol::at::UpgradeStatus;
use crate::storage::ImageSource;
use crate::storage::journal::{
    Checkpoint, ImageId, Journal, JournalStore, ModemEntry, ModemView, Phase, Plan, Resume,
    Verdict, reconcile,
};
use crate::transport::{Clock, Link, SetBaud};

/// A block buffer large enough for the default STP block cap (2016 bytes).
pub const BLOCK_BUFFER_LEN: usize = crate::protocol::stp::DEFAULT_BLOCK_CAP as usize;
/// The recommended read-ahead window: one 2016-byte block rounded up to whole 512-byte sectors, plus
/// one sector (see [`ReadAhead`](crate::storage::ReadAhead)).
pub const READ_AHEAD_LEN: usize = 2560;

/// An image file: its bytes and its name (the name goes into the journal and into the diff-base
/// check; give the long name when there is one).
#[derive(Debug)]
pub struct Source<'a, S> {
    /// The file's name, for example `CATM1-38638.dup`.
    pub name: &'a str,
    /// Its bytes.
    pub source: S,
}

impl<'a, S> Source<'a, S> {
    /// The file `name` read through `source`.
    pub fn new(name: &'a str, source: S) -> Self {
        Self { name, source }
    }
}

/// The caller's buffers: the upgrader allocates nothing and keeps no large state of its own.
#[derive(Debug)]
pub struct Buffers<'a> {
    /// One STP block: at least the session's block cap ([`BLOCK_BUFFER_LEN`] by default).
    pub block: &'a mut [u8],
    /// The card read-ahead window, also the pre-flight read buffer ([`READ_AHEAD_LEN`] recommended;
    /// an empty slice disables read-ahead).
    pub window: &'a mut [u8],
}

/// The loader type of an upgrader given no loader ELF: an image source that is never read.
#[derive(Debug, Clone, Copy)]
pub struct NoLoader<E>(PhantomData<E>);

impl<E: core::fmt::Debug> ImageSource for NoLoader<E> {
    type Error = E;
    fn len(&self) -> u32 {
        0
    }
    fn read_at(&mut self, _offset: u32, _buf: &mut [u8]) -> Result<usize, E> {
        Ok(0)
    }
}

/// One call from a firmware file to a verified modem.
///
/// ```no_run
/// # use modem_upgrade::storage::{MemImage, journal::MemJournal};
/// # use modem_upgrade::transport::Link;
/// # use modem_upgrade::upgrade::{Buffers, Source, Upgrader, BLOCK_BUFFER_LEN, READ_AHEAD_LEN};
/// # fn demo<U, C>(link: &mut Link<U, C>, package: &[u8]) where
/// #   U: embedded_io::Read + embedded_io::Write + embedded_io::ReadReady + modem_upgrade::transport::SetBaud,
/// #   C: modem_upgrade::transport::Clock {
/// let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
/// let mut journal = MemJournal::new(); // on a board: the SD card's journal (Card::open_journal)
/// let buffers = Buffers { block: &mut block, window: &mut window };
/// let result = Upgrader::new(link, Source::new("CATM1-38638.dup", MemImage::new(package)), &mut journal, buffers)
///     .run();
/// match result {
///     Ok(report) => { /* report.version_after is the package's version, read back */ }
///     Err(failure) => { /* failure.error says what happened and what to do */ }
/// }
/// # }
/// ```
///
/// One image per run. A plan of several images (a bootrom refresh first, or the `-1.dup`/`-2.dup`
/// steps of a two-step release) is several runs in order, each with its own image: the journal is
/// keyed to the image, so a restart continues the step it was in, and each run's version check
/// is the precondition of the next.
#[derive(Debug)]
pub struct Upgrader<'a, U, C, S, L, J, O> {
    link: &'a mut Link<U, C>,
    package: Source<'a, S>,
    loader: Option<Source<'a, L>>,
    journal: J,
    observer: O,
    options: Options,
    buffers: Buffers<'a>,
}

impl<'a, U, C, S, J> Upgrader<'a, U, C, S, NoLoader<S::Error>, J, Quiet>
where
    S: ImageSource,
{
    /// An upgrader that installs `package` on the modem at the end of `link`, keeping its journal in
    /// `journal`, with default [`Options`], no loader ELF and no observer.
    pub fn new(
        link: &'a mut Link<U, C>,
        package: Source<'a, S>,
        journal: J,
        buffers: Buffers<'a>,
    ) -> Self {
        Self {
            link,
            package,
            loader: None,
            journal,
            observer: Quiet,
            options: Options::default(),
            buffers,
        }
    }
}

impl<'a, U, C, S, L, J, O> Upgrader<'a, U, C, S, L, J, O> {
    /// The loader ELF (`updater.elf` / `mtools.elf`) for a modem found in loader-wait mode.
    pub fn with_loader<L2>(self, loader: Source<'a, L2>) -> Upgrader<'a, U, C, S, L2, J, O> {
        self.with_optional_loader(Some(loader))
    }

    /// The loader ELF if the card has one: the same upgrader type either way, so a firmware that
    /// may or may not find `updater.elf` calls [`Upgrader::run`] from one place and carries one copy
    /// of its code (two `run` instantiations, with and without a loader type, cost 13.6 KB more
    /// `.text` in `examples/firmware`). `None` behaves like no [`Upgrader::with_loader`] at all.
    pub fn with_optional_loader<L2>(
        self,
        loader: Option<Source<'a, L2>>,
    ) -> Upgrader<'a, U, C, S, L2, J, O> {
        Upgrader {
            link: self.link,
            package: self.package,
            loader,
            journal: self.journal,
            observer: self.observer,
            options: self.options,
            buffers: self.buffers,
        }
    }

    /// Who hears about progress.
    pub fn with_observer<O2>(self, observer: O2) -> Upgrader<'a, U, C, S, L, J, O2> {
        Upgrader {
            link: self.link,
            package: self.package,
            loader: self.loader,
            journal: self.journal,
            observer,
            options: self.options,
            buffers: self.buffers,
        }
    }

    /// Options other than the defaults.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }
}

/// The error type of a UART.
pub type UartError<U> = <U as embedded_io::ErrorType>::Error;

/// The error type of an upgrader's run.
pub type RunError<U, S, J> = Error<
    <U as embedded_io::ErrorType>::Error,
    <S as ImageSource>::Error,
    <J as JournalStore>::Error,
>;

impl<'a, U, C, S, L, J, O> Upgrader<'a, U, C, S, L, J, O>
where
    U: Read + Write + ReadReady + SetBaud,
    C: Clock,
    S: ImageSource,
    L: ImageSource<Error = S::Error>,
    J: JournalStore,
    O: Observer,
{
    /// Runs the upgrade to its end: verified success, or a failure saying what the modem's state is
    /// and what to do.
    #[allow(clippy::type_complexity)]
    pub fn run(self) -> Result<Report, Failure<UartError<U>, S::Error, J::Error>> {
        let started = self.link.now_ms();
        let mut run = Run {
            link: self.link,
            package: self.package,
            loader: self.loader,
            journal: None,
            store: Some(self.journal),
            observer: self.observer,
            options: self.options,
            buffers: self.buffers,
            report: Report::new(),
            stage: None,
            stage_since: started,
            changed: false,
            image: None,
            target: None,
            resume: Resume::Fresh,
            baud: None,
            last_link_error: None,
            continuation_refused: false,
            last_transfer_from: 0,
        };
        let result = run.execute();
        run.close_stage();
        let now = run.link.now_ms();
        run.report.duration_ms = now.saturating_sub(started);
        match result {
            Ok(outcome) => {
                run.report.outcome = outcome;
                Ok(run.report)
            }
            Err(error) => {
                run.report.outcome = if !run.changed && error.is_about_input() {
                    Outcome::Rejected
                } else {
                    Outcome::Failed
                };
                Err(Failure {
                    error,
                    report: run.report,
                })
            }
        }
    }
}

/// The state of one run (the upgrader's fields, plus what it learned).
pub(super) struct Run<'a, U: embedded_io::ErrorType, C, S, L, J: JournalStore, O> {
    pub(super) link: &'a mut Link<U, C>,
    pub(super) package: Source<'a, S>,
    pub(super) loader: Option<Source<'a, L>>,
    pub(super) journal: Option<Journal<J>>,
    pub(super) store: Option<J>,
    pub(super) observer: O,
    pub(super) options: Options,
    pub(super) buffers: Buffers<'a>,
    pub(super) report: Report,
    pub(super) stage: Option<Stage>,
    pub(super) stage_since: u64,
    /// Something that changes the modem's state was sent (a mode switch, a baud change, STP).
    pub(super) changed: bool,
    pub(super) image: Option<ImageId>,
    pub(super) target: Option<Target>,
    /// The journal's view of this image, kept current with every save.
    pub(super) resume: Resume,
    pub(super) baud: Option<u32>,
    /// The modem refused a transfer that continued at an offset: send whole ones from now on.
    pub(super) continuation_refused: bool,
    /// Where the last transfer of this run started.
    pub(super) last_transfer_from: u32,
    /// The last link failure of a transfer, for the error when the attempts run out.
    pub(super) last_link_error: Option<crate::transport::LinkError<UartError<U>>>,
}

/// What one detection found.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) mode: crate::protocol::at::BootMode,
    pub(super) verdict: Option<UpgradeStatus>,
    pub(super) version: Option<image::FirmwareVersion>,
}

pub(super) type RunResult<T, U, S, J> = Result<T, RunError<U, S, J>>;

impl<U, C, S, L, J, O> Run<'_, U, C, S, L, J, O>
where
    U: Read + Write + ReadReady + SetBaud,
    C: Clock,
    S: ImageSource,
    L: ImageSource<Error = S::Error>,
    J: JournalStore,
    O: Observer,
{
    fn execute(&mut self) -> RunResult<Outcome, U, S, J> {
        self.preflight()?;
        let mut first = true;
        let rounds = self.options.limits.rounds.max(1);
        for _ in 0..rounds {
            let seen = self.detect()?;
            self.enter_stage(Stage::Decide, None)?;
            if first {
                self.report.version_before = seen.version;
                let target = self.target()?;
                target::check(
                    &target,
                    seen.mode,
                    seen.version,
                    self.loader.is_some(),
                    self.options.force,
                )
                .map_err(Error::Refused)?;
            } else {
                // Later rounds: the modem may have lost its firmware on the way (power lost while
                // programming); the version rules were settled, the mode rules still hold.
                let target = self.target()?;
                target::check(&target, seen.mode, None, self.loader.is_some(), true)
                    .map_err(Error::Refused)?;
            }
            let decision = reconcile(&self.resume, self.view(&seen), self.options.resume);
            if first && matches!(self.resume, Resume::Continue(_)) {
                self.report.resumed_from = Some(match decision.plan {
                    Plan::Transfer { from, .. } => from,
                    _ => self.package.source.len(),
                });
            }
            first = false;
            self.emit(&Event::Decided {
                plan: decision.plan,
                journal_phase: decision.journal_phase,
            })?;
            match decision.plan {
                Plan::AlreadyInstalled => {
                    let ours = matches!(
                        decision.journal_phase,
                        Some(
                            Phase::Transferring
                                | Phase::Transferred
                                | Phase::Programming
                                | Phase::Verifying
                        )
                    );
                    self.report.version_after = seen.version;
                    self.finish()?;
                    return Ok(if ours || self.report.transfers > 0 {
                        Outcome::Upgraded
                    } else {
                        Outcome::AlreadyCurrent
                    });
                }
                Plan::AwaitVerdict => {
                    if let Some(done) = self.after_programming()? {
                        return Ok(done);
                    }
                }
                Plan::RebootAndVerify => {
                    if let Some(done) = self.reboot_and_verify()? {
                        return Ok(done);
                    }
                }
                Plan::Transfer { entry, from } => match entry {
                    ModemEntry::UpgradeMode | ModemEntry::LoaderRunning
                        if self.continuation_refused =>
                    {
                        // The modem refused a continued transfer in this run: whole ones only.
                        if self.transfer(0)?
                            && let Some(done) = self.after_programming()?
                        {
                            return Ok(done);
                        }
                    }
                    ModemEntry::SwitchFromApplication => self.switch_to_upgrade_mode()?,
                    ModemEntry::PushLoader => self.push_loader()?,
                    ModemEntry::UpgradeMode | ModemEntry::LoaderRunning => {
                        if self.transfer(from)?
                            && let Some(done) = self.after_programming()?
                        {
                            return Ok(done);
                        }
                    }
                },
            }
        }
        Err(Error::GaveUp {
            rounds,
            mode: self.report.modem_mode,
        })
    }

    /// Programming, then (on success) reboot and verify. `None`: go round again (the verdict was a
    /// failure to retry, or the modem went away).
    fn after_programming(&mut self) -> RunResult<Option<Outcome>, U, S, J> {
        match self.await_verdict()? {
            Some(UpgradeStatus::Success) => self.reboot_and_verify(),
            Some(UpgradeStatus::Failed { reason }) => {
                self.report.modem_reason = Some(reason.clone());
                self.continuation_refused |= self.last_transfer_from > 0;
                self.package_refused(reason)?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// The modem's state for [`reconcile`]; `force` hides "already installed" until this image was
    /// transferred (so a forced re-install happens once, and its own result is then recognised).
    fn view(&self, seen: &Seen) -> ModemView {
        // Under force the modem may have run the target before: only a reboot made after this
        // package's `success` verdict (journal phase Verifying) proves the new install.
        let verified_by_modem = matches!(
            &self.resume,
            Resume::Continue(cp) if cp.phase == Phase::Verifying
        );
        let runs_target = match (seen.version, self.target) {
            (Some(v), Some(t)) => {
                Some(t.is_installed(&v) && (!self.options.force || verified_by_modem))
            }
            _ => None,
        };
        ModemView {
            boot_mode: seen.mode,
            verdict: match &seen.verdict {
                Some(UpgradeStatus::OnGoing) => Verdict::OnGoing,
                Some(UpgradeStatus::Success) => Verdict::Success,
                Some(UpgradeStatus::Failed { .. }) => Verdict::Failed,
                Some(UpgradeStatus::NoReport) | None => Verdict::None,
            },
            runs_target,
        }
    }

    pub(super) fn target(&self) -> RunResult<Target, U, S, J> {
        self.target
            .ok_or(Error::Unusable(target::Unusable::NoTargetVersion))
    }

    /// Pre-flight: verify the package (and loader) completely, read the journal.
    // A stage: its own frame (see `Run` on the stack).
    #[inline(never)]
    fn preflight(&mut self) -> RunResult<(), U, S, J> {
        self.enter_stage(Stage::Preflight, None)?;
        let len = self.package.source.len();
        self.report.image_bytes = len;
        let (target, crc32) = self.verify_package()?;
        self.target = Some(target);
        self.report.target = Some(target);
        self.verify_loader()?;
        let id = ImageId::new(self.package.name, len, crc32);
        if let Some(store) = self.store.take() {
            let (journal, loaded) = Journal::open(store).map_err(Error::Journal)?;
            self.resume = loaded.resume_for(&id);
            // An earlier run of this upgrade already changed the modem: nothing this run finds
            // can be reported as "rejected, untouched".
            self.changed = matches!(
                &self.resume,
                Resume::Continue(cp) if cp.phase != Phase::Validated
            );
            self.journal = Some(journal);
        }
        self.image = Some(id);
        Ok(())
    }

    /// Reads the whole package: what it installs, and its CRC-32 (the journal's key). The
    /// inspector's report (about 4 KiB) lives only in this frame, filled in place.
    #[inline(never)]
    fn verify_package(&mut self) -> RunResult<(Target, u32), U, S, J> {
        let mut report = image::Report::default();
        image::inspect_into(&mut self.package.source, self.buffers.window, &mut report)
            .map_err(Error::ImageRead)?;
        if let Err(problem) = report.verdict() {
            return Err(Error::ImageInvalid {
                problem: problem.clone(),
                more: u16::try_from(report.problems.len().saturating_sub(1))
                    .unwrap_or(u16::MAX)
                    .saturating_add(report.problems_dropped),
            });
        }
        let target = target::target_of(&report, self.package.name).map_err(Error::Unusable)?;
        Ok((target, report.crc32.unwrap_or(0)))
    }

    /// Reads the whole loader ELF, if there is one; like [`Self::verify_package`], in its own frame.
    #[inline(never)]
    fn verify_loader(&mut self) -> RunResult<(), U, S, J> {
        let Some(loader) = self.loader.as_mut() else {
            return Ok(());
        };
        let mut report = image::Report::default();
        image::inspect_into(&mut loader.source, self.buffers.window, &mut report)
            .map_err(Error::LoaderRead)?;
        if let Err(problem) = report.verdict() {
            return Err(Error::LoaderInvalid {
                problem: problem.clone(),
            });
        }
        if report.kind != ImageKind::Elf {
            return Err(Error::LoaderNotElf { kind: report.kind });
        }
        Ok(())
    }

    /// Records `checkpoint` in the journal and in memory.
    pub(super) fn save(&mut self, checkpoint: Checkpoint) -> RunResult<(), U, S, J> {
        if let Some(journal) = self.journal.as_mut() {
            journal.save(&checkpoint).map_err(Error::Journal)?;
        }
        let (phase, offset) = (checkpoint.phase, checkpoint.acked_offset);
        self.resume = Resume::Continue(checkpoint);
        self.emit(&Event::Checkpoint { phase, offset })
    }

    /// The current checkpoint of this image (a fresh one if the journal has none).
    pub(super) fn checkpoint(&self) -> Checkpoint {
        match &self.resume {
            Resume::Continue(cp) => cp.clone(),
            Resume::Fresh | Resume::OtherImage { .. } => Checkpoint::new(
                self.image
                    .clone()
                    .unwrap_or_else(|| ImageId::new(self.package.name, 0, 0)),
                Phase::Validated,
            ),
        }
    }

    /// The end: the version is verified; clear the journal so the next boot starts fresh.
    fn finish(&mut self) -> RunResult<(), U, S, J> {
        self.enter_stage(Stage::Finish, None)?;
        if let Some(journal) = self.journal.as_mut() {
            journal.clear().map_err(Error::Journal)?;
        }
        self.resume = Resume::Fresh;
        Ok(())
    }

    /// Verified success after reboot (called by the verify step).
    pub(super) fn verified(&mut self) -> RunResult<Option<Outcome>, U, S, J> {
        self.finish()?;
        Ok(Some(Outcome::Upgraded))
    }

    /// Reports an event; the observer's `Break` stops the run.
    pub(super) fn emit(&mut self, event: &Event<'_>) -> RunResult<(), U, S, J> {
        if self.observer.on_event(event).is_break() {
            return Err(Error::Stopped {
                stage: self.stage.unwrap_or(Stage::Preflight),
            });
        }
        Ok(())
    }

    /// Switches the stage clock to `stage` and announces it (once per change).
    pub(super) fn enter_stage(
        &mut self,
        stage: Stage,
        expected_ms: Option<u64>,
    ) -> RunResult<(), U, S, J> {
        if self.stage == Some(stage) {
            return Ok(());
        }
        self.close_stage();
        self.stage = Some(stage);
        self.report.stages_run |= 1 << stage.index();
        self.emit(&Event::Stage {
            stage,
            expected_ms,
            do_not_power_off: stage.do_not_power_off(),
        })
    }

    fn close_stage(&mut self) {
        let now = self.link.now_ms();
        if let Some(stage) = self.stage
            && let Some(slot) = self.report.stage_ms.get_mut(stage.index())
        {
            *slot = slot.saturating_add(now.saturating_sub(self.stage_since));
        }
        self.stage_since = now;
    }
}
