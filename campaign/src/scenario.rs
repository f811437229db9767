//! One scenario: drawn from its seed, run until the upgrader finishes or gives up cleanly (with host
//! restarts in between), then checked against the simulator's own flash, and — after a failure — re-run
//! once with faults off to prove the modem is still recoverable.

use std::fmt;
use std::ops::ControlFlow;

use modem_sim::rng::Rng;
use modem_sim::{BootMode as SimMode, FaultSpec, Model, Sim, SimConfig, SimVersion, synth};
use modem_upgrade::storage::MemImage;
use modem_upgrade::storage::journal::{MemJournal, ResumePolicy};
use modem_upgrade::upgrade::{
    BLOCK_BUFFER_LEN, Buffers, Error, Event, Observer, Options, Outcome, READ_AHEAD_LEN, Report,
    Source, Upgrader,
};

use crate::link::link;

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reported upgraded (or already current) and the modem runs the target.
    Upgraded,
    /// Reported a failure (or a refusal), and a clean re-run brought the modem to the target.
    CleanFailure,
    /// Reported success, but the modem does not run the target.
    FalseSuccess,
    /// The clean re-run could not bring the modem to the target.
    Unrecovered,
}

/// What the scenario is made of (all drawn from its seed).
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The seed everything was drawn from; `--scenarios 1 --seed <seed>` replays it alone.
    pub seed: u64,
    model: Model,
    start: SimMode,
    installed: SimVersion,
    target: SimVersion,
    /// `Some(base)`: a diff package from `base`.
    diff_base: Option<u32>,
    code_len: usize,
    loader_given: bool,
    faults: String,
    /// Each host run stops right after its n-th checkpoint (the host is switched off there).
    host_stops: Vec<usize>,
    resume: ResumePolicy,
    stp_version: u8,
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The scenario.
    pub scenario: Scenario,
    /// Its class.
    pub class: Class,
    /// How the upgrader's last run ended, in words.
    pub detail: String,
    /// Host runs made (1 + restarts).
    pub host_runs: usize,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {:?} STP v{} from {} running {} → {}{} ({} B fff), loader {}, faults `{}`, host stops {:?}, {:?}",
            self.seed,
            self.model,
            self.stp_version,
            self.start.name(),
            self.installed.lr(),
            self.target.lr(),
            self.diff_base
                .map(|b| format!(" (diff from {b})"))
                .unwrap_or_default(),
            self.code_len,
            if self.loader_given { "given" } else { "absent" },
            self.faults,
            self.host_stops,
            self.resume,
        )
    }
}

fn version(text: &str, build: u32) -> SimVersion {
    SimVersion {
        text: text.into(),
        build,
    }
}

impl Scenario {
    /// Draws a scenario from `seed`.
    pub fn draw(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5EED_CA4A_1617_0001);
        let model = if rng.chance(0.7) {
            Model::Sqn3330
        } else {
            Model::Gm02s
        };
        let (installed, newer, older) = match model {
            Model::Sqn3330 => (
                version("5.1.1.0", 38638),
                version("5.1.2.0", 39529),
                version("5.1.0.0", 37000),
            ),
            Model::Gm02s => (
                version("8.0.5.13", 59577),
                version("8.0.6.0", 60000),
                version("8.0.4.0", 58000),
            ),
        };
        let target = match rng.range(0, 100) {
            0..=89 => newer,
            90..=94 => installed.clone(),
            _ => older,
        };
        let start = match rng.range(0, 100) {
            0..=59 => SimMode::App,
            60..=74 => SimMode::Upgrade,
            75..=84 => SimMode::Loader,
            _ => SimMode::LoaderWait,
        };
        let diff_base = (rng.chance(0.15) && target.build > installed.build).then(|| {
            if rng.chance(0.85) {
                installed.build
            } else {
                installed.build - 1
            }
        });
        let code_len = rng.range(20_000, 400_000) as usize;
        let loader_given = rng.chance(0.9);
        let stp_version = match model {
            Model::Sqn3330 => 1,
            Model::Gm02s => 2,
        };
        let faults = draw_faults(&mut rng, seed, stp_version);
        let host_stops = (0..rng.range(0, 4))
            .map(|_| rng.range(1, 14) as usize)
            .collect();
        let resume = if rng.chance(0.2) {
            ResumePolicy::FromAcknowledged
        } else {
            ResumePolicy::Restart
        };
        Scenario {
            seed,
            model,
            start,
            installed,
            target,
            diff_base,
            code_len,
            loader_given,
            faults,
            host_stops,
            resume,
            stp_version,
        }
    }

    fn package(&self) -> Vec<u8> {
        match self.diff_base {
            Some(base) => synth::diff_dup(self.model, base, &self.target.showver()),
            None => synth::full_dup(self.model, &self.target.showver(), self.code_len),
        }
    }

    fn package_name(&self) -> String {
        match self.diff_base {
            Some(base) => format!("upgdiff_{base}-to-{}.dup", self.target.build),
            None => format!("FW-{}.dup", self.target.build),
        }
    }

    fn loader(&self) -> Vec<u8> {
        synth::loader_elf(&self.target.showver(), self.model == Model::Sqn3330)
    }

    fn config(&self) -> SimConfig {
        let mut cfg = match self.model {
            Model::Sqn3330 => SimConfig::sqn3330(),
            Model::Gm02s => SimConfig::gm02s(),
        }
        .with_mode(self.start);
        cfg.firmware = Some(self.installed.clone());
        cfg.faults = FaultSpec::parse(&self.faults).unwrap_or_default();
        cfg.transcript_limit = 2_000;
        cfg
    }
}

/// Line faults (sometimes none), modem power losses in any phase, sometimes a self-reset.
fn draw_faults(rng: &mut Rng, seed: u64, stp_version: u8) -> String {
    let mut items = vec![format!("seed={seed}")];
    if rng.chance(0.6) {
        items.push(format!("flip={:.7}", rng.next_f64() * 3e-5));
        items.push(format!("drop={:.7}", rng.next_f64() * 1e-5));
        items.push(format!("dup={:.7}", rng.next_f64() * 1e-5));
        items.push(format!("residue={:.4}", rng.next_f64() * 0.02));
        items.push(format!(
            "stall={}@{:.3}",
            rng.range(100, 3000),
            rng.next_f64() * 0.02
        ));
        if stp_version >= 2 {
            items.push(format!("nack={:.4}", rng.next_f64() * 0.03));
        }
    }
    for _ in 0..rng.range(0, 3) {
        let item = match rng.range(0, 5) {
            0 => format!("power-loss=idle@{}", rng.range(1, 15)),
            1 => format!("power-loss=switching@{:.2}", rng.next_f64()),
            2 => format!("power-loss=transfer@{:.2}", rng.next_f64()),
            3 => format!("power-loss=programming@{:.2}", rng.next_f64()),
            _ => format!("power-loss=reboot@{:.2}", rng.next_f64()),
        };
        items.push(item);
    }
    if rng.chance(0.1) {
        items.push(format!("reboot-during-transfer@{:.2}", rng.next_f64()));
    }
    items.join(",")
}

/// Counts checkpoints and stops the run after the `stop_at`-th one.
struct Stopper {
    stop_at: Option<usize>,
    checkpoints: usize,
}

impl Observer for Stopper {
    fn on_event(&mut self, event: &Event<'_>) -> ControlFlow<()> {
        if matches!(event, Event::Checkpoint { .. }) {
            self.checkpoints += 1;
            if Some(self.checkpoints) == self.stop_at {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// One host run, stopping after checkpoint `stop_at` if given.
fn host_run(
    sim: &Sim,
    name: &str,
    package: &[u8],
    loader: Option<&[u8]>,
    journal: &mut MemJournal,
    options: Options,
    stop_at: Option<usize>,
) -> Result<
    Report,
    (
        Error<std::io::Error, core::convert::Infallible, core::convert::Infallible>,
        Report,
    ),
> {
    let mut link = link(sim);
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let buffers = Buffers {
        block: &mut block,
        window: &mut window,
    };
    let upgrader = Upgrader::new(
        &mut link,
        Source::new(name, MemImage::new(package)),
        journal,
        buffers,
    )
    .with_observer(Stopper {
        stop_at,
        checkpoints: 0,
    })
    .with_options(options);
    let result = match loader {
        Some(l) => upgrader
            .with_loader(Source::new("updater.elf", MemImage::new(l)))
            .run(),
        None => upgrader.run(),
    };
    result.map_err(|f| (f.error, f.report))
}

/// Whether the simulated modem runs `target` in application mode, by its own flash and state.
fn on_target(sim: &Sim, target: &SimVersion) -> bool {
    let status = sim.status();
    status.mode == SimMode::App
        && status.flash.firmware.as_ref() == Some(target)
        && status.running.as_ref() == Some(target)
}

/// Runs the scenario and classifies it.
pub fn run(scenario: Scenario) -> Verdict {
    let sim = Sim::new(scenario.config());
    let package = scenario.package();
    let loader = scenario.loader();
    let name = scenario.package_name();
    let options = Options {
        resume: scenario.resume,
        ..Options::default()
    };
    let loader_arg = scenario.loader_given.then_some(&loader[..]);
    let mut journal = MemJournal::new();
    // Each planned stop is one host restart; the run after the last stop goes to the end.
    let mut host_runs = 0;
    let result = loop {
        let stop = scenario.host_stops.get(host_runs).copied();
        host_runs += 1;
        let r = host_run(
            &sim,
            &name,
            &package,
            loader_arg,
            &mut journal,
            options,
            stop,
        );
        if stop.is_none() || !matches!(r, Err((Error::Stopped { .. }, _))) {
            break r;
        }
    };
    let (class, detail) = classify(&sim, &scenario, result);
    Verdict {
        scenario,
        class,
        detail,
        host_runs,
    }
}

type RunOutcome = Result<
    Report,
    (
        Error<std::io::Error, core::convert::Infallible, core::convert::Infallible>,
        Report,
    ),
>;

/// Classifies how the upgrader's last run ended, by the simulator's own state; a failure is followed
/// by the clean re-run.
fn classify(sim: &Sim, scenario: &Scenario, result: RunOutcome) -> (Class, String) {
    match result {
        Ok(report) if matches!(report.outcome, Outcome::Upgraded | Outcome::AlreadyCurrent) => {
            if on_target(sim, &scenario.target) {
                (Class::Upgraded, format!("{}", report.outcome))
            } else {
                (
                    Class::FalseSuccess,
                    format!(
                        "reported {} but the modem is in {:?} with firmware {:?}",
                        report.outcome,
                        sim.status().mode,
                        sim.status().flash.firmware.as_ref().map(SimVersion::lr)
                    ),
                )
            }
        }
        Ok(report) => (
            Class::FalseSuccess,
            format!("Ok with outcome {}", report.outcome),
        ),
        Err((error, report)) => {
            let detail = format!("{}: {error}", report.outcome);
            (recover(sim, scenario), detail)
        }
    }
}

/// The clean re-run after a failure: faults off, a fresh journal (the user deleted `UPGRADE.JNL`
/// as the error advises), the full package of the target and the loader ELF, `force` (the target
/// may be older than what runs). The modem is recoverable when this reaches the target.
fn recover(sim: &Sim, scenario: &Scenario) -> Class {
    sim.with_modem(|m| m.set_faults(FaultSpec::default()));
    let package = synth::full_dup(
        scenario.model,
        &scenario.target.showver(),
        scenario.code_len,
    );
    let loader = scenario.loader();
    let options = Options {
        force: true,
        ..Options::default()
    };
    let result = host_run(
        sim,
        &format!("FW-{}.dup", scenario.target.build),
        &package,
        Some(&loader),
        &mut MemJournal::new(),
        options,
        None,
    );
    match result {
        Ok(_) if on_target(sim, &scenario.target) => Class::CleanFailure,
        _ => Class::Unrecovered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modem_upgrade::upgrade::Outcome;

    fn report(outcome: Outcome) -> Report {
        Report {
            outcome,
            ..Report::default()
        }
    }

    /// The campaign must be able to see a false success: "upgraded" reported while the simulated
    /// modem still runs the old firmware is classified as such.
    #[test]
    fn a_reported_success_on_the_old_firmware_is_a_false_success() {
        let mut scenario = Scenario::draw(1);
        scenario.start = SimMode::App;
        scenario.faults = String::new();
        let sim = Sim::new(scenario.config());
        assert_ne!(
            scenario.installed, scenario.target,
            "seed 1 draws an upgrade"
        );
        let (class, detail) = classify(&sim, &scenario, Ok(report(Outcome::Upgraded)));
        assert_eq!(class, Class::FalseSuccess, "{detail}");
    }

    /// A reported failure is followed by the clean re-run, which must really bring the modem to the
    /// target before the scenario counts as a clean failure.
    #[test]
    fn a_failure_is_checked_by_the_clean_rerun() {
        let mut scenario = Scenario::draw(1);
        scenario.start = SimMode::App;
        scenario.faults = String::new();
        let sim = Sim::new(scenario.config());
        let failed = Err((
            Error::Stopped {
                stage: modem_upgrade::upgrade::Stage::Transfer,
            },
            report(Outcome::Failed),
        ));
        // A healthy simulated modem: the clean re-run upgrades it.
        assert_eq!(classify(&sim, &scenario, failed).0, Class::CleanFailure);
        assert!(on_target(&sim, &scenario.target));
    }
}
