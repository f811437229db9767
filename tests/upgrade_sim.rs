//! The Upgrader against `modem-sim` in-process on virtual time: every starting mode, STP v1 and v2,
//! loader-wait with and without the loader ELF, link noise, modem power loss in each phase, host
//! restarts at every checkpoint (the restarted host keeps only its journal), the version rules, and
//! damaged packages refused with the modem untouched.
//!
//! Every "upgraded" is checked against the simulator's own flash: the installed firmware is the
//! package's target. A test never trusts the report alone.

#![allow(
    clippy::result_large_err,
    reason = "the upgrader's failure carries its report"
)]

#[path = "support/sim_link.rs"]
mod sim_link;

use std::convert::Infallible;
use std::ops::ControlFlow;

use modem_sim::{BootMode as SimMode, FaultSpec, Model, Sim, SimConfig, synth};
use modem_upgrade::protocol::at::{BootMode, StartStp};
use modem_upgrade::storage::MemImage;
use modem_upgrade::storage::journal::{MemJournal, Phase, ResumePolicy};
use modem_upgrade::upgrade::{
    BLOCK_BUFFER_LEN, Buffers, Error, Event, Failure, Observer, Options, Outcome, READ_AHEAD_LEN,
    Refusal, Report, Source, Stage, Upgrader,
};
use sim_link::{SimLink, context, link};

const TARGET: &str = "5.1.2.0 [39529]";
const TARGET_GM02S: &str = "8.0.6.0 [60000]";

type Fail = Failure<std::io::Error, Infallible, Infallible>;

/// Records what the upgrader reported; optionally stops at the `stop_at`-th checkpoint (a host
/// switched off right after that write reached the card).
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
    checkpoints: usize,
    stop_at: Option<usize>,
    stages: Vec<Stage>,
    detected: Vec<(BootMode, bool, bool)>,
    progress_events: usize,
    waiting_events: usize,
}

impl Observer for Recorder {
    fn on_event(&mut self, event: &Event<'_>) -> ControlFlow<()> {
        match event {
            Event::Progress { .. } => self.progress_events += 1,
            Event::Waiting { .. } => self.waiting_events += 1,
            other => self.events.push(format!("{other:?}")),
        }
        match *event {
            Event::Stage { stage, .. } => self.stages.push(stage),
            Event::Detected {
                mode,
                was_in_stp,
                left_data_mode,
                ..
            } => self.detected.push((mode, was_in_stp, left_data_mode)),
            Event::Checkpoint { .. } => {
                self.checkpoints += 1;
                if Some(self.checkpoints) == self.stop_at {
                    return ControlFlow::Break(());
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

struct Host<'a> {
    package: &'a [u8],
    name: &'a str,
    loader: Option<&'a [u8]>,
    options: Options,
}

impl<'a> Host<'a> {
    fn new(package: &'a [u8]) -> Self {
        Self {
            package,
            name: "CATM1-39529.dup",
            loader: None,
            options: Options::default(),
        }
    }

    /// One host run over a fresh link (a restarted host has nothing but the journal).
    fn run(&self, sim: &Sim, journal: &mut MemJournal, rec: &mut Recorder) -> Result<Report, Fail> {
        let mut link: SimLink = link(sim);
        let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
        let buffers = Buffers {
            block: &mut block,
            window: &mut window,
        };
        let upgrader = Upgrader::new(
            &mut link,
            Source::new(self.name, MemImage::new(self.package)),
            journal,
            buffers,
        )
        .with_observer(&mut *rec)
        .with_options(self.options);
        // `with_optional_loader(None)` must behave like no loader at all: every test without one
        // goes through it.
        let loader = self
            .loader
            .map(|loader| Source::new("updater.elf", MemImage::new(loader)));
        upgrader.with_optional_loader(loader).run()
    }
}

impl Host<'_> {
    /// One run with a fresh journal that must end upgraded to `target` (checked on the simulator's
    /// flash); returns the report and what the upgrader reported.
    fn upgrade(&self, sim: &Sim, target: (&str, u32)) -> (Report, Recorder) {
        let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
        let result = self.run(sim, &mut journal, &mut rec);
        assert_upgraded(sim, &result, &rec, target);
        (result.unwrap(), rec)
    }
}

impl Host<'_> {
    /// A first host switched off right after its `stop_at`-th checkpoint, then a second host with
    /// the same journal, which must end upgraded to `target`. `None` when the first host finished
    /// before reaching that checkpoint; else the stage the first one stopped in, and the second
    /// one's report.
    fn restarted(&self, sim: &Sim, stop_at: usize, target: (&str, u32)) -> Option<(Stage, Report)> {
        let mut journal = MemJournal::new();
        let mut first = Recorder {
            stop_at: Some(stop_at),
            ..Recorder::default()
        };
        let failure = self.run(sim, &mut journal, &mut first).err()?;
        let Error::Stopped { stage } = failure.error else {
            panic!("stop {stop_at}: {}", failure.error);
        };
        let mut second = Recorder::default();
        let result = self.run(sim, &mut journal, &mut second);
        assert_upgraded(sim, &result, &second, target);
        Some((stage, result.unwrap()))
    }
}

fn package() -> Vec<u8> {
    synth::full_dup(Model::Sqn3330, TARGET, 150_000)
}

fn loader() -> Vec<u8> {
    synth::loader_elf(TARGET, true)
}

fn installed(sim: &Sim) -> Option<(String, u32)> {
    sim.status()
        .flash
        .firmware
        .map(|v| (v.text.clone(), v.build))
}

fn assert_upgraded(sim: &Sim, result: &Result<Report, Fail>, rec: &Recorder, target: (&str, u32)) {
    let report = match result {
        Ok(r) => r,
        Err(f) => panic!(
            "{}\nreport {:?}\nevents {:#?}\n{}",
            f.error,
            f.report,
            rec.events,
            context(sim)
        ),
    };
    assert_eq!(report.outcome, Outcome::Upgraded, "{report:?}");
    assert_eq!(
        installed(sim),
        Some((target.0.to_string(), target.1)),
        "\n{}",
        context(sim)
    );
    let after = report.version_after.expect("version read back");
    assert_eq!(after.build, target.1);
    assert_eq!(sim.status().mode, SimMode::App, "ends in the application");
}

/// Host commands that change the modem: none may appear when a run is refused.
fn changing_commands(sim: &Sim) -> Vec<String> {
    sim.transcript_text()
        .lines()
        .filter(|l| {
            [
                "AT+SMSWBOOT=",
                "AT+SMSTPU",
                "AT+STP",
                "AT+IPR",
                "AT+CFUN",
                "AT^RESET",
                "SESSION_OPEN",
            ]
            .iter()
            .any(|c| l.contains(c))
        })
        .map(str::to_string)
        .collect()
}

fn sqn(mode: SimMode) -> Sim {
    Sim::new(SimConfig::sqn3330().with_mode(mode))
}

#[test]
fn from_application_mode_stp_v1() {
    let sim = sqn(SimMode::App);
    let dup = package();
    let mut journal = MemJournal::new();
    let mut rec = Recorder::default();
    let result = Host::new(&dup).run(&sim, &mut journal, &mut rec);
    assert_upgraded(&sim, &result, &rec, ("5.1.2.0", 39529));
    let report = result.unwrap();
    assert_eq!(report.version_before.map(|v| v.build), Some(38638));
    assert_eq!(report.bytes_sent, dup.len() as u64);
    assert_eq!(report.transfers, 1);
    assert_eq!(report.resumed_from, None);
    for stage in Stage::ALL {
        assert!(report.ran(stage), "{stage} ran");
    }
    assert!(
        report.ms(Stage::Programming) >= 60_000,
        "programming is timed: {report:?}"
    );
    assert!(rec.progress_events > 50 && rec.waiting_events > 30);
    // Finished: the journal holds nothing to resume.
    let (_, loaded) = modem_upgrade::storage::Journal::open(&mut journal).unwrap();
    assert!(loaded.newest.is_none_or(|(_, cp)| cp.phase == Phase::Done));
}

#[test]
fn from_upgrade_mode_goes_straight_to_the_transfer() {
    let sim = sqn(SimMode::Upgrade);
    let dup = package();
    Host::new(&dup).upgrade(&sim, ("5.1.2.0", 39529));
    assert!(
        !sim.transcript_text().contains("AT+SMSWBOOT=3"),
        "no mode switch needed"
    );
}

#[test]
fn from_loader_mode() {
    let sim = sqn(SimMode::Loader);
    let dup = package();
    Host::new(&dup).upgrade(&sim, ("5.1.2.0", 39529));
}

#[test]
fn loader_wait_with_the_loader_elf() {
    let sim = sqn(SimMode::LoaderWait);
    let (dup, elf) = (package(), loader());
    let mut host = Host::new(&dup);
    host.loader = Some(&elf);
    let (report, rec) = host.upgrade(&sim, ("5.1.2.0", 39529));
    assert_eq!(report.loader_pushes, 1);
    assert_eq!(report.bytes_sent, (dup.len() + elf.len()) as u64);
    assert_eq!(
        rec.detected.first().map(|d| d.0),
        Some(BootMode::LoaderWait)
    );
}

/// Power lost while the loader ELF was being sent: the bootloader comes back, the loader goes again.
#[test]
fn power_loss_during_the_loader_push() {
    let sim = Sim::new(
        SimConfig::sqn3330()
            .with_mode(SimMode::LoaderWait)
            .with_faults(FaultSpec::parse("power-loss=transfer@0.5").unwrap()),
    );
    let (dup, elf) = (package(), loader());
    let mut host = Host::new(&dup);
    host.loader = Some(&elf);
    let (report, _) = host.upgrade(&sim, ("5.1.2.0", 39529));
    assert_eq!(report.loader_pushes, 2);
    assert_eq!(sim.status().flash.power_losses, 1);
}

#[test]
fn loader_wait_without_the_loader_is_refused_untouched() {
    let sim = sqn(SimMode::LoaderWait);
    let dup = package();
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let failure = Host::new(&dup)
        .run(&sim, &mut journal, &mut rec)
        .expect_err("needs the loader");
    assert!(
        matches!(failure.error, Error::Refused(Refusal::LoaderNeeded)),
        "{}",
        failure.error
    );
    assert_eq!(failure.report.outcome, Outcome::Rejected);
    assert!(failure.error.to_string().contains("updater.elf"));
    assert!(
        changing_commands(&sim).is_empty(),
        "{:?}",
        changing_commands(&sim)
    );
    assert_eq!(sim.status().mode, SimMode::LoaderWait);
}

#[test]
fn gm02s_over_stp_v2() {
    let sim = Sim::new(SimConfig::gm02s());
    let dup = synth::full_dup(Model::Gm02s, TARGET_GM02S, 150_000);
    let mut host = Host::new(&dup);
    host.name = "GM02RB6Q_LR8.0.6.0-60000.dup";
    host.upgrade(&sim, ("8.0.6.0", 60000));
}

#[test]
fn gm02s_loader_wait_pushes_mtools() {
    let sim = Sim::new(SimConfig::gm02s().with_mode(SimMode::LoaderWait));
    let dup = synth::full_dup(Model::Gm02s, TARGET_GM02S, 120_000);
    let elf = synth::loader_elf(TARGET_GM02S, false);
    let mut host = Host::new(&dup);
    host.name = "GM02RB6Q_LR8.0.6.0-60000.dup";
    host.loader = Some(&elf);
    host.upgrade(&sim, ("8.0.6.0", 60000));
}

fn noisy(spec: &str, cfg: SimConfig, dup: &[u8]) -> (Sim, Result<Report, Fail>, Recorder) {
    let sim = Sim::new(cfg.with_faults(FaultSpec::parse(spec).expect("fault spec")));
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let mut host = Host::new(dup);
    if dup.get(..4) == Some(b"PACK".as_slice()) && cfg!(test) {
        host.name = "package.dup";
    }
    let result = host.run(&sim, &mut journal, &mut rec);
    (sim, result, rec)
}

#[test]
fn link_noise_stp_v1() {
    let dup = package();
    for spec in [
        "seed=1,flip=0.00002",
        "seed=2,drop=0.00002,dup=0.00002",
        "seed=3,residue=0.05,stall=2500@0.02",
    ] {
        let (sim, result, rec) = noisy(spec, SimConfig::sqn3330(), &dup);
        assert_upgraded(&sim, &result, &rec, ("5.1.2.0", 39529));
        let report = result.unwrap();
        let faults = sim.status().faults;
        eprintln!(
            "{spec}: retries {}, transfers {}, faults {faults:?}",
            report.retries, report.transfers
        );
    }
}

#[test]
fn link_noise_stp_v2() {
    let dup = synth::full_dup(Model::Gm02s, TARGET_GM02S, 150_000);
    for spec in ["seed=4,nack=0.05", "seed=5,flip=0.00002,residue=0.02"] {
        let (sim, result, rec) = noisy(spec, SimConfig::gm02s(), &dup);
        assert_upgraded(&sim, &result, &rec, ("8.0.6.0", 60000));
        let report = result.unwrap();
        assert!(report.retries > 0, "{spec}: faults struck");
    }
}

/// Power loss in each phase, handled in the same run.
#[test]
fn modem_power_loss_in_each_phase() {
    let (dup, elf) = (package(), loader());
    for spec in [
        "power-loss=idle@3",
        "power-loss=switching@0.5",
        "power-loss=transfer@0.3",
        "power-loss=transfer@0.99",
        "power-loss=programming@0.5",
        "power-loss=reboot@0.5",
    ] {
        let sim = Sim::new(SimConfig::sqn3330().with_faults(FaultSpec::parse(spec).unwrap()));
        let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
        let mut host = Host::new(&dup);
        host.loader = Some(&elf);
        let result = host.run(&sim, &mut journal, &mut rec);
        assert_upgraded(&sim, &result, &rec, ("5.1.2.0", 39529));
        assert_eq!(sim.status().flash.power_losses, 1, "{spec} struck");
        eprintln!("{spec}: {:?}", result.unwrap());
    }
}

/// A GM02S whose programming loses power comes back in loader-wait at the same baud rate and answers
/// `ERROR` to `AT+SMUPGRADE?`: the upgrader recognises the bootloader at once (virtual time), pushes
/// mtools.elf and sends the package again, instead of polling until the programming limit.
#[test]
fn gm02s_power_loss_while_programming_is_noticed_at_once() {
    let sim = Sim::new(
        SimConfig::gm02s().with_faults(FaultSpec::parse("power-loss=programming@0.5").unwrap()),
    );
    let dup = synth::full_dup(Model::Gm02s, TARGET_GM02S, 120_000);
    let elf = synth::loader_elf(TARGET_GM02S, false);
    let mut host = Host::new(&dup);
    host.name = "GM02RB6Q_LR8.0.6.0-60000.dup";
    host.loader = Some(&elf);
    let (report, _) = host.upgrade(&sim, ("8.0.6.0", 60000));
    assert_eq!((report.loader_pushes, report.transfers), (1, 2));
    // Two programming runs of 60 s plus the boots; not the 20-minute limit.
    assert!(report.ms(Stage::Programming) < 180_000, "{report:?}");
}

/// Power lost while programming, and no loader ELF at hand: a clean failure that names the file.
#[test]
fn power_loss_while_programming_without_the_loader() {
    let sim = Sim::new(
        SimConfig::sqn3330().with_faults(FaultSpec::parse("power-loss=programming@0.5").unwrap()),
    );
    let dup = package();
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let failure = Host::new(&dup)
        .run(&sim, &mut journal, &mut rec)
        .expect_err("the loader is needed");
    assert!(
        matches!(failure.error, Error::Refused(Refusal::LoaderNeeded)),
        "{}",
        failure.error
    );
    assert_eq!(
        failure.report.outcome,
        Outcome::Failed,
        "the modem was changed"
    );
    assert_eq!(sim.status().mode, SimMode::LoaderWait);
}

/// The host is switched off right after each checkpoint write in turn; a new host with only the
/// journal finishes the job.
#[test]
fn host_restart_at_every_checkpoint() {
    let dup = package();
    let mut total = 0;
    for stop_at in 1.. {
        let sim = sqn(SimMode::App);
        let Some((_, report)) = Host::new(&dup).restarted(&sim, stop_at, ("5.1.2.0", 39529)) else {
            total = stop_at - 1;
            break;
        };
        assert!(
            report.resumed_from.is_some(),
            "stop {stop_at}: the second host continued from the journal: {report:?}"
        );
    }
    assert!(total >= 6, "every checkpoint was a restart point ({total})");
}

/// A host restart under `FromAcknowledged` continues the transfer where the journal says. The
/// simulator, like every known modem, cannot join a stream in the middle: it refuses the continued
/// package, and the upgrader falls back to one full transfer.
#[test]
fn host_restart_mid_transfer_continues_from_the_acknowledged_offset() {
    let dup = synth::full_dup(Model::Sqn3330, TARGET, 600_000);
    let sim = sqn(SimMode::App);
    let mut journal = MemJournal::new();
    let mut host = Host::new(&dup);
    host.options.resume = ResumePolicy::FromAcknowledged;
    // Checkpoints: switching, transferring@0, then offsets; stop after the second offset checkpoint.
    let mut first = Recorder {
        stop_at: Some(4),
        ..Recorder::default()
    };
    let failure = host
        .run(&sim, &mut journal, &mut first)
        .expect_err("stopped");
    assert!(matches!(
        failure.error,
        Error::Stopped {
            stage: Stage::Transfer
        }
    ));
    // The modem is left waiting in STP mode, as a dead host leaves it.
    let mut second = Recorder::default();
    let result = host.run(&sim, &mut journal, &mut second);
    assert_upgraded(&sim, &result, &second, ("5.1.2.0", 39529));
    let report = result.unwrap();
    let from = report.resumed_from.expect("continued");
    assert!(from > 0, "{report:?}");
    assert!(
        second.detected.first().is_some_and(|d| d.1),
        "found the modem in STP mode"
    );
    assert_eq!(
        report.transfers, 2,
        "the continuation, then one full transfer: {report:?}"
    );
    assert!(
        report.modem_reason.is_some(),
        "the modem refused the continuation"
    );
    let expected = (dup.len() - from as usize + dup.len()) as u64;
    assert_eq!(report.bytes_sent, expected);
}

#[test]
fn a_modem_left_in_stp_mode_is_released_and_upgraded() {
    let sim = sqn(SimMode::Upgrade);
    {
        let mut l = link(&sim);
        l.command(StartStp { on_the_fly: true }).expect("STP");
    }
    let dup = package();
    let (_, rec) = Host::new(&dup).upgrade(&sim, ("5.1.2.0", 39529));
    assert_eq!(
        rec.detected.first(),
        Some(&(BootMode::Upgrade, true, false))
    );
}

#[test]
fn a_modem_in_ppp_data_mode_is_escaped() {
    let mut cfg = SimConfig::sqn3330();
    cfg.start_in_data_mode = true;
    let sim = Sim::new(cfg);
    let dup = package();
    let (_, rec) = Host::new(&dup).upgrade(&sim, ("5.1.2.0", 39529));
    assert_eq!(
        rec.detected.first(),
        Some(&(BootMode::Application, false, true))
    );
}

#[test]
fn a_modem_silent_while_programming_is_waited_for() {
    let mut cfg = SimConfig::sqn3330();
    cfg.at_during_programming = false;
    cfg.flash_time = 120 * 1_000_000_000;
    let sim = Sim::new(cfg);
    let dup = package();
    Host::new(&dup).upgrade(&sim, ("5.1.2.0", 39529));
}

#[test]
fn already_current_sends_nothing() {
    let sim = sqn(SimMode::App);
    let dup = synth::full_dup(Model::Sqn3330, "5.1.1.0 [38638]", 100_000);
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let report = Host::new(&dup)
        .run(&sim, &mut journal, &mut rec)
        .expect("nothing to do");
    assert_eq!(report.outcome, Outcome::AlreadyCurrent);
    assert_eq!(report.bytes_sent, 0);
    assert!(changing_commands(&sim).is_empty());
}

#[test]
fn force_reinstalls_the_same_version() {
    let sim = sqn(SimMode::App);
    let dup = synth::full_dup(Model::Sqn3330, "5.1.1.0 [38638]", 100_000);
    let mut host = Host::new(&dup);
    host.options.force = true;
    host.upgrade(&sim, ("5.1.1.0", 38638));
    assert_eq!(sim.status().flash.history.len(), 1, "programmed once");
}

#[test]
fn a_downgrade_is_refused_unless_forced() {
    let dup = synth::full_dup(Model::Sqn3330, "5.1.0.0 [37000]", 100_000);
    let sim = sqn(SimMode::App);
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let failure = Host::new(&dup)
        .run(&sim, &mut journal, &mut rec)
        .expect_err("downgrade");
    assert!(matches!(
        failure.error,
        Error::Refused(Refusal::Downgrade { .. })
    ));
    assert_eq!(failure.report.outcome, Outcome::Rejected);
    assert!(changing_commands(&sim).is_empty());

    let sim = sqn(SimMode::App);
    let mut host = Host::new(&dup);
    host.options.force = true;
    host.upgrade(&sim, ("5.1.0.0", 37000));
}

#[test]
fn diff_packages_need_their_base() {
    let dup = synth::diff_dup(Model::Sqn3330, 38638, TARGET);
    // Matching base.
    let sim = sqn(SimMode::App);
    let mut host = Host::new(&dup);
    host.name = "upgdiff_38638-to-39529.dup";
    let (report, _) = host.upgrade(&sim, ("5.1.2.0", 39529));
    assert!(
        report
            .target
            .is_some_and(|t| t.is_diff && t.diff_base == Some(38638))
    );

    // A diff from another base: refused, naming both, even with force.
    let other = synth::diff_dup(Model::Sqn3330, 33080, TARGET);
    let sim = sqn(SimMode::App);
    let mut host = Host::new(&other);
    host.name = "upgdiff_33080-to-39529.dup";
    host.options.force = true;
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let failure = host
        .run(&sim, &mut journal, &mut rec)
        .expect_err("wrong base");
    let text = failure.error.to_string();
    assert!(text.contains("33080") && text.contains("38638"), "{text}");
    assert_eq!(failure.report.outcome, Outcome::Rejected);
    assert!(changing_commands(&sim).is_empty());
}

#[test]
fn damaged_packages_are_refused_before_the_modem_is_touched() {
    let dup = package();
    let mut corrupted = dup.clone();
    corrupted[dup.len() / 2] ^= 0x40;
    let truncated = &dup[..dup.len() - 1000];
    for (what, bytes) in [("corrupted", &corrupted[..]), ("truncated", truncated)] {
        let sim = sqn(SimMode::App);
        let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
        let failure = Host::new(bytes)
            .run(&sim, &mut journal, &mut rec)
            .expect_err(what);
        assert!(
            matches!(failure.error, Error::ImageInvalid { .. }),
            "{what}: {}",
            failure.error
        );
        assert_eq!(failure.report.outcome, Outcome::Rejected);
        assert!(
            !sim.transcript_text().contains("AT"),
            "{what}: not a byte went to the modem"
        );
        assert_eq!(rec.stages, vec![Stage::Preflight]);
    }
}

#[test]
fn a_loader_elf_is_not_a_package() {
    let sim = sqn(SimMode::App);
    let elf = loader();
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let failure = Host::new(&elf)
        .run(&sim, &mut journal, &mut rec)
        .expect_err("not a package");
    assert!(
        failure.error.to_string().contains("loader"),
        "{}",
        failure.error
    );
    assert_eq!(failure.report.outcome, Outcome::Rejected);
}

#[test]
fn a_package_the_modem_refuses_fails_cleanly_after_bounded_attempts() {
    // A GM02S package on an SQN3330: valid file, refused by the modem's verifier.
    let sim = sqn(SimMode::App);
    let dup = synth::full_dup(Model::Gm02s, "5.1.2.0 [39529]", 80_000);
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let result = Host::new(&dup).run(&sim, &mut journal, &mut rec);
    match result {
        Err(f) => {
            assert!(
                matches!(f.error, Error::PackageRefused { .. }),
                "{}",
                f.error
            );
            assert_eq!(f.report.outcome, Outcome::Failed);
            assert!(f.report.transfers <= 4);
            assert_eq!(installed(&sim), Some(("5.1.1.0".into(), 38638)));
        }
        Ok(r) => {
            // The simulator may accept either word order; then it must really be installed.
            assert_upgraded(&sim, &Ok(r), &rec, ("5.1.2.0", 39529));
        }
    }
}

/// A diff run again on a modem that already runs its target is "already current", not a base
/// mismatch (the installed build is the diff's target now, not its base).
#[test]
fn a_diff_run_again_after_it_was_installed_is_already_current() {
    let dup = synth::diff_dup(Model::Sqn3330, 38638, TARGET);
    let sim = sqn(SimMode::App);
    let mut host = Host::new(&dup);
    host.name = "upgdiff_38638-to-39529.dup";
    host.upgrade(&sim, ("5.1.2.0", 39529));
    let (mut journal, mut rec) = (MemJournal::new(), Recorder::default());
    let report = host
        .run(&sim, &mut journal, &mut rec)
        .unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(report.outcome, Outcome::AlreadyCurrent);
    assert_eq!(report.bytes_sent, 0);
}

/// A forced reinstall of the installed version, the host restarted after each checkpoint: the
/// second host never takes "runs the same version" for success; the modem really programs the
/// package and says success before the run reports upgraded.
#[test]
fn a_forced_reinstall_survives_host_restarts_without_false_success() {
    let dup = synth::full_dup(Model::Sqn3330, "5.1.1.0 [38638]", 100_000);
    let mut host = Host::new(&dup);
    host.options.force = true;
    for stop_at in 1..=8 {
        let sim = sqn(SimMode::App);
        if host.restarted(&sim, stop_at, ("5.1.1.0", 38638)).is_none() {
            break;
        }
        let history = sim.status().flash.history;
        assert!(
            !history.is_empty(),
            "stop {stop_at}: reported upgraded, so the modem must have programmed the package"
        );
    }
}

/// The host restarts while a modem that answers nothing during programming is programming: the
/// new host waits for it instead of sending `+++` or STP frames into it.
#[test]
fn a_host_restart_during_silent_programming_waits_for_the_modem() {
    let mut cfg = SimConfig::sqn3330();
    cfg.at_during_programming = false;
    let sim = Sim::new(cfg);
    let dup = package();
    let host = Host::new(&dup);
    // Checkpoints: switching, transferring@0, offsets…, transferred, programming.
    let stop = {
        // Find the index of the "programming" checkpoint in a clean run on another simulator.
        let probe = sqn(SimMode::App);
        let mut rec = Recorder::default();
        let _ = host.run(&probe, &mut MemJournal::new(), &mut rec);
        rec.events
            .iter()
            .filter(|e| e.starts_with("Checkpoint"))
            .position(|e| e.starts_with("Checkpoint(programming"))
            .expect("a programming checkpoint")
            + 1
    };
    let (stage, _) = host
        .restarted(&sim, stop, ("5.1.2.0", 39529))
        .expect("stopped");
    assert_eq!(stage, Stage::Programming);
    assert!(
        !sim.transcript_text().contains("+++"),
        "no data-mode escape was sent into the programming modem"
    );
}
