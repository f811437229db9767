//! The library's AT and STP engines, driven by `transport::Link`, against `modem-sim` in-process on
//! virtual time: real byte streams, the simulator's own package verifier as the judge, and every line
//! fault the simulator can inject.
//!
//! The simulator is written independently of the library (CI checks that it does not depend on it), so
//! a framing or CRC mistake cannot pass both sides.

use std::io::Write as _;
use std::time::Duration;

use modem_sim::synth;
use modem_sim::{FaultSpec, Model, Sim, SimClock, SimConfig, SimPort, SimVersion, UpgradeReport};
use modem_upgrade::protocol::at::LoaderStp;
use modem_upgrade::protocol::at::{
    Attention, BootMode, EchoOff, Identify, QueryBootMode, QueryImei, QueryUpgrade, SelectBoot,
    ShowVersion, StartStp, Terminator, UpgradeStatus,
};
use modem_upgrade::protocol::stp::{DataType, Session, SessionConfig};
use modem_upgrade::storage::MemImage;
use modem_upgrade::transport::{
    BaudProbe, Clock, Link, LinkError, SetBaud, probe_baud, switch_baud,
};

/// The simulator's port with a settable host baud rate (the line model garbles bytes on a mismatch).
struct SimUart(SimPort);

impl embedded_io::ErrorType for SimUart {
    type Error = std::io::Error;
}
impl embedded_io::Read for SimUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        embedded_io::Read::read(&mut self.0, buf)
    }
}
impl embedded_io::ReadReady for SimUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        embedded_io::ReadReady::read_ready(&mut self.0)
    }
}
impl embedded_io::Write for SimUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        embedded_io::Write::write(&mut self.0, buf)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
impl SetBaud for SimUart {
    type Error = std::convert::Infallible;
    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        self.0.set_baud(Some(baud));
        Ok(())
    }
}

/// Virtual time; `read_ready` on the port already lets 1 ms pass per empty poll.
struct SimTime(SimClock);

impl Clock for SimTime {
    fn now_ms(&mut self) -> u64 {
        self.0.now_ms()
    }
}

type SimLink = Link<SimUart, SimTime>;

fn link(sim: &Sim) -> SimLink {
    Link::new(SimUart(sim.port()), SimTime(sim.clock()))
}

fn version(text: &str, build: u32) -> SimVersion {
    SimVersion {
        text: text.into(),
        build,
    }
}

/// Everything a failing test should show: the simulator's status and the transcript tail.
fn context(sim: &Sim) -> String {
    let text = sim.transcript_text();
    let tail: Vec<&str> = text.lines().rev().take(60).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(
        "{}\n--- transcript tail ---\n{}",
        sim.status(),
        tail.join("\n")
    )
}

/// `AT` until it answers (a host waiting for a reboot), at most `seconds` of virtual time.
fn wait_for_at(link: &mut SimLink, seconds: u64) -> bool {
    let deadline = link.now_ms() + seconds * 1000;
    while link.now_ms() < deadline {
        if link.command(Attention).is_ok() {
            return true;
        }
    }
    false
}

/// A command retried a few times: the line faults also hit AT traffic, which is not what these tests
/// are about (the upgrader's AT policies are tested with the upgrader).
fn retry<T, E: std::fmt::Debug>(mut f: impl FnMut() -> Result<T, E>) -> T {
    let mut last = None;
    for _ in 0..6 {
        match f() {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
    }
    panic!("command kept failing: {last:?}");
}

/// Polls `AT+SMUPGRADE?` once a second until the verdict is final.
fn verdict(link: &mut SimLink) -> UpgradeStatus {
    for _ in 0..900 {
        if let Ok(status) = link.command(QueryUpgrade)
            && status != UpgradeStatus::OnGoing
        {
            return status;
        }
        link.pause(1000).expect("pause");
    }
    panic!("no final upgrade verdict within 15 minutes");
}

#[derive(Debug, Default)]
struct Outcome {
    sessions: u32,
    retransmissions: u32,
    timeouts: u32,
    nacks: u32,
    residues: u32,
    stale: u32,
    failures: Vec<String>,
}

/// Enters STP with `enter` and streams `image`; when a session fails for good (for example a v2 block
/// whose answer was lost), closes it with a RESET and starts a fresh session from byte 0, as the
/// simulator (like every known modem) cannot continue a stream at an offset.
fn transfer(
    link: &mut SimLink,
    sim: &Sim,
    image: &[u8],
    config: SessionConfig,
    enter: impl Fn(&mut SimLink) -> Result<(), LinkError<std::io::Error>>,
    max_sessions: u32,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut buf = vec![0u8; usize::from(config.block_cap)];
    for _ in 0..max_sessions {
        outcome.sessions += 1;
        if let Err(e) = enter(link) {
            outcome.failures.push(format!("enter: {e}"));
            continue;
        }
        let mut session = Session::new(config, image.len() as u32, 0).expect("session");
        let result = link.stp_transfer(&mut session, &mut MemImage::new(image), &mut buf, |_| {});
        let stats = session.stats();
        outcome.retransmissions += stats.retransmissions;
        outcome.timeouts += stats.timeouts;
        outcome.nacks += stats.nacks;
        outcome.residues += stats.residues;
        outcome.stale += stats.stale_responses;
        match result {
            Ok(()) => return outcome,
            Err(e) => {
                outcome.failures.push(e.to_string());
                // End whatever is left of the session so the modem returns to AT.
                link.stp_reset(2_000).expect("reset");
            }
        }
    }
    panic!(
        "no session completed in {max_sessions}: {:?}\n{}",
        outcome.failures,
        context(sim)
    );
}

fn on_the_fly(link: &mut SimLink) -> Result<(), LinkError<std::io::Error>> {
    link.command(StartStp { on_the_fly: true })
}

/// Application → upgrade mode (`AT+SMSWBOOT=3,1`, wait for `AT`, `AT+SMOD?` = 4).
fn enter_upgrade_mode(link: &mut SimLink, sim: &Sim) {
    retry(|| {
        link.command(SelectBoot {
            target: 3,
            reset: true,
        })
    });
    assert!(
        wait_for_at(link, 60),
        "no AT after the switch\n{}",
        context(sim)
    );
    let mode = retry(|| link.command(QueryBootMode::default()));
    assert_eq!(mode, BootMode::Upgrade, "\n{}", context(sim));
}

/// Programming verdict, then reboot to the application and read the version back.
fn finish_and_verify(link: &mut SimLink, sim: &Sim, target: (&str, u32)) {
    let status = verdict(link);
    assert_eq!(status, UpgradeStatus::Success, "\n{}", context(sim));
    reboot_and_verify(link, sim, target);
}

/// `AT+SMSWBOOT=1,1`, `+SYSSTART`, application mode, and the version read back equals `target`.
fn reboot_and_verify(link: &mut SimLink, sim: &Sim, target: (&str, u32)) {
    retry(|| {
        link.command(SelectBoot {
            target: 1,
            reset: true,
        })
    });
    link.wait_for_urc("+SYSSTART", 60_000)
        .unwrap_or_else(|e| panic!("{e}\n{}", context(sim)));
    let mode = retry(|| link.command(QueryBootMode::default()));
    assert_eq!(mode, BootMode::Application);
    let identity = retry(|| link.command(Identify));
    let v = identity.version.expect("ATI1 carries the LR line");
    assert_eq!(v.to_string(), format!("{} [{}]", target.0, target.1));
    let installed = sim.status().flash.firmware.expect("firmware installed");
    assert_eq!((installed.text.as_str(), installed.build), target);
}

fn v1_config() -> SessionConfig {
    SessionConfig::default()
}

fn v2_config() -> SessionConfig {
    SessionConfig {
        data_type: DataType::Caba,
        ..SessionConfig::default()
    }
}

#[test]
fn at_commands_read_the_modem_state() {
    let sim = Sim::new(SimConfig::sqn3330());
    let mut link = link(&sim);
    link.command(Attention).expect("AT");
    // Echo is on after boot: the digester must skip it.
    assert_eq!(
        link.command(QueryBootMode::default()).expect("SMOD"),
        BootMode::Application
    );
    link.command(EchoOff).expect("ATE0");
    let id = link.command(Identify).expect("ATI1");
    assert_eq!(id.version.expect("LR line").to_string(), "5.1.1.0 [38638]");
    let table = link.command(ShowVersion).expect("showver");
    assert_eq!(table.software.expect("Software line").build, 38638);
    assert_eq!(table.bootloader0.expect("Bootloader0 line").build, 38638);
    assert_eq!(
        link.command(QueryImei).expect("CGSN").as_str(),
        "354346099225475"
    );
    assert_eq!(
        link.command(QueryUpgrade).expect("SMUPGRADE?"),
        UpgradeStatus::NoReport
    );
    // An unknown command is an error carrying the modem's answer, not a timeout.
    let err = link
        .command(StartStp { on_the_fly: true })
        .expect_err("ON_THE_FLY is refused in application mode");
    assert!(matches!(err, LinkError::At(_)), "{err:?}");
}

#[test]
fn upgrade_over_stp_v1_synthesized_package() {
    let sim = Sim::new(SimConfig::sqn3330());
    let mut link = link(&sim);
    let target = ("5.1.2.0", 39529);
    let dup = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 300_000);
    enter_upgrade_mode(&mut link, &sim);
    let start = link.now_ms();
    let outcome = transfer(&mut link, &sim, &dup, v1_config(), on_the_fly, 1);
    let elapsed = link.now_ms() - start;
    assert_eq!(outcome.sessions, 1);
    assert_eq!(outcome.retransmissions, 0);
    let status = sim.status();
    assert_eq!(status.violations, 0, "\n{}", context(&sim));
    assert_eq!(status.stp.retransmissions, 0);
    let _ = writeln!(
        std::io::stderr(),
        "v1 clean: {} B in {elapsed} ms virtual at 921600 baud",
        dup.len()
    );
    finish_and_verify(&mut link, &sim, target);
}

#[test]
fn upgrade_over_stp_v2_gm02s() {
    let sim = Sim::new(SimConfig::gm02s());
    let mut link = link(&sim);
    let dup = synth::full_dup(Model::Gm02s, "8.2.1.0 [61488]", 100_000);
    enter_upgrade_mode(&mut link, &sim);
    let outcome = transfer(&mut link, &sim, &dup, v2_config(), on_the_fly, 1);
    assert_eq!(outcome.sessions, 1);
    assert_eq!(sim.status().violations, 0, "\n{}", context(&sim));
    finish_and_verify(&mut link, &sim, ("8.2.1.0", 61488));
}

#[test]
fn block_cap_up_to_max_transfer() {
    // Walter's example sends max_transfer − 16 = 8176 bytes per block; the cap is configurable up to that.
    let sim = Sim::new(SimConfig::sqn3330().with_mode(modem_sim::BootMode::Upgrade));
    let mut link = link(&sim);
    let dup = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 100_000);
    let config = SessionConfig {
        block_cap: 8176,
        ..v1_config()
    };
    let outcome = transfer(&mut link, &sim, &dup, config, on_the_fly, 1);
    assert_eq!(outcome.sessions, 1);
    let blocks = sim.status().stp.blocks;
    assert_eq!(blocks, (dup.len() as u64).div_ceil(8176));
    assert_eq!(verdict(&mut link), UpgradeStatus::Success);
}

/// Each fault kind of the simulator at a moderate rate, for STP v1 (SQN3330) and v2 (GM02S).
#[test]
fn transfer_survives_every_fault_kind() {
    let cases: &[(&str, Model, &str)] = &[
        ("v1 flip", Model::Sqn3330, "seed=1,flip=0.00002"),
        ("v1 drop", Model::Sqn3330, "seed=2,drop=0.00002"),
        ("v1 dup", Model::Sqn3330, "seed=3,dup=0.00002"),
        ("v1 stall", Model::Sqn3330, "seed=4,stall=3000@0.01"),
        ("v1 residue", Model::Sqn3330, "seed=5,residue=0.05"),
        (
            "v1 all",
            Model::Sqn3330,
            "seed=6,flip=0.00001,drop=0.00001,dup=0.00001,stall=2500@0.005,residue=0.02",
        ),
        ("v2 flip", Model::Gm02s, "seed=7,flip=0.00002"),
        ("v2 drop", Model::Gm02s, "seed=8,drop=0.00002"),
        ("v2 dup", Model::Gm02s, "seed=9,dup=0.00002"),
        ("v2 stall", Model::Gm02s, "seed=10,stall=3000@0.01"),
        ("v2 residue", Model::Gm02s, "seed=11,residue=0.05"),
        ("v2 nack", Model::Gm02s, "seed=12,nack=0.05"),
        (
            "v2 all",
            Model::Gm02s,
            "seed=13,flip=0.00001,drop=0.00001,dup=0.00001,stall=2500@0.005,residue=0.02,nack=0.02",
        ),
    ];
    let mut report = String::new();
    for &(name, model, faults) in cases {
        let base = match model {
            Model::Sqn3330 => SimConfig::sqn3330(),
            Model::Gm02s => SimConfig::gm02s(),
        };
        let sim = Sim::new(
            base.with_mode(modem_sim::BootMode::Upgrade)
                .with_faults(FaultSpec::parse(faults).expect("fault spec")),
        );
        let mut link = link(&sim);
        let (dup, config) = match model {
            Model::Sqn3330 => (
                synth::full_dup(model, "5.1.2.0 [39529]", 400_000),
                v1_config(),
            ),
            Model::Gm02s => (
                synth::full_dup(model, "8.2.1.0 [61488]", 400_000),
                v2_config(),
            ),
        };
        let outcome = transfer(&mut link, &sim, &dup, config, on_the_fly, 6);
        let status = verdict(&mut link);
        assert_eq!(
            status,
            UpgradeStatus::Success,
            "{name}: {outcome:?}\n{}",
            context(&sim)
        );
        let sim_status = sim.status();
        assert!(
            sim_status
                .flash
                .history
                .last()
                .is_some_and(|r| r.result == UpgradeReport::Success),
            "{name}: the simulator's own record says the last programming did not succeed"
        );
        report.push_str(&format!(
            "{name}: sessions {} retransmissions {} timeouts {} nacks {} residues {} stale {} | injected {:?}\n",
            outcome.sessions,
            outcome.retransmissions,
            outcome.timeouts,
            outcome.nacks,
            outcome.residues,
            outcome.stale,
            sim_status.faults
        ));
    }
    let _ = writeln!(std::io::stderr(), "{report}");
}

#[test]
fn loader_wait_modem_gets_the_loader_then_the_package() {
    // Recovery: only the FFH bootloader answers, at 115200, to `\n`-terminated commands.
    let sim = Sim::new(SimConfig::sqn3330().with_mode(modem_sim::BootMode::LoaderWait));
    let mut link = link(&sim);
    let rate = probe_baud(&mut link, &[921_600, 115_200], BaudProbe::default())
        .unwrap_or_else(|e| panic!("{e}\n{}", context(&sim)));
    assert_eq!(rate, 115_200);
    let rate = switch_baud(
        &mut link,
        115_200,
        921_600,
        Terminator::Lf,
        BaudProbe::default(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", context(&sim)));
    assert_eq!(rate, 921_600, "\n{}", context(&sim));
    assert_eq!(
        link.command(QueryBootMode::bootloader()).expect("SMOD"),
        BootMode::LoaderWait
    );
    let loader = synth::loader_elf("5.2.0.0 [40000]", true);
    let config = SessionConfig {
        data_type: DataType::Elf,
        ..SessionConfig::default()
    };
    let outcome = transfer(
        &mut link,
        &sim,
        &loader,
        config,
        |l: &mut SimLink| l.command(LoaderStp),
        1,
    );
    assert_eq!(outcome.sessions, 1);
    assert!(
        wait_for_at(&mut link, 120),
        "loader never answered\n{}",
        context(&sim)
    );
    assert_eq!(
        retry(|| link.command(QueryBootMode::default())),
        BootMode::Loader
    );
    let dup = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 100_000);
    transfer(&mut link, &sim, &dup, v1_config(), on_the_fly, 1);
    assert_eq!(
        verdict(&mut link),
        UpgradeStatus::Success,
        "\n{}",
        context(&sim)
    );
}

#[test]
fn probe_finds_the_application_rate() {
    let sim = Sim::new(SimConfig::sqn3330());
    let mut link = link(&sim);
    let rate = probe_baud(&mut link, &[115_200, 921_600], BaudProbe::default())
        .unwrap_or_else(|e| panic!("{e}\n{}", context(&sim)));
    assert_eq!(rate, 921_600);
}

#[test]
fn probe_reports_a_silent_modem() {
    let sim = Sim::new(SimConfig::sqn3330());
    sim.pull_power();
    let mut link = link(&sim);
    // Power comes back after 2 s and boots in 3 s: probe quickly, before that.
    let probe = BaudProbe {
        attempts_per_rate: 1,
        timeout_ms: 200,
    };
    let err = probe_baud(&mut link, &[921_600, 115_200], probe).expect_err("nothing answers");
    assert!(err.to_string().contains("none of the 2 rate(s)"), "{err}");
}

/// The real 6 MB CAT-M1 package, when the fixtures are present, clean and through a fault mix.
#[test]
fn real_package_streams_to_success() {
    let Some(dir) = std::env::var_os("MODEM_FW_FIXTURES") else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: MODEM_FW_FIXTURES not set (real firmware files absent)"
        );
        return;
    };
    let path = std::path::Path::new(&dir).join("CATM1-38638.dup");
    let Ok(dup) = std::fs::read(&path) else {
        let _ = writeln!(std::io::stderr(), "skipped: {} not present", path.display());
        return;
    };
    for faults in [
        "",
        "seed=21,flip=0.000002,drop=0.000002,dup=0.000002,residue=0.01,stall=2500@0.002",
    ] {
        let mut cfg = SimConfig::sqn3330();
        cfg.firmware = Some(version("5.1.1.0", 33080));
        let sim = Sim::new(cfg.with_faults(FaultSpec::parse(faults).expect("faults")));
        let mut link = link(&sim);
        enter_upgrade_mode(&mut link, &sim);
        let start = link.now_ms();
        // 3.5 % of this file's 2016-byte blocks are all zeros, whose CRC-16 is 0, which the simulator
        // (like a modem that reads 0 as "no CRC") cannot check: a bit flip there is only caught by the
        // package's own signatures, and the modem's verdict is "fail". The answer is to send the image
        // again, which is what the upgrader does; count how often that was needed.
        let mut transfers = 0;
        let mut outcomes = Vec::new();
        loop {
            transfers += 1;
            outcomes.push(transfer(&mut link, &sim, &dup, v1_config(), on_the_fly, 4));
            match verdict(&mut link) {
                UpgradeStatus::Success => break,
                other => {
                    assert!(
                        !faults.is_empty() && transfers < 4,
                        "verdict {other:?} after {transfers} transfer(s)\n{}",
                        context(&sim)
                    );
                }
            }
        }
        let elapsed = link.now_ms() - start;
        let _ = writeln!(
            std::io::stderr(),
            "CATM1-38638.dup faults [{faults}]: {} B, {transfers} transfer(s), {elapsed} ms virtual; {outcomes:?}",
            dup.len()
        );
        reboot_and_verify(&mut link, &sim, ("5.1.1.0", 38638));
    }
}

#[test]
fn sim_clock_is_the_link_clock() {
    // Guard for the harness itself: waiting on the link advances the simulator's virtual time.
    let sim = Sim::new(SimConfig::sqn3330());
    let mut link = link(&sim);
    let before = sim.now();
    link.pause(1500).expect("pause");
    assert!(sim.now() - before >= Duration::from_millis(1500));
}

#[test]
fn stp_reset_tells_a_waiting_modem_from_an_at_one() {
    let sim = Sim::new(SimConfig::sqn3330().with_mode(modem_sim::BootMode::Upgrade));
    let mut link = link(&sim);
    // In AT mode a RESET frame is just a bad command line: no STP answer.
    assert!(!link.stp_reset(1_000).expect("reset"));
    link.command(StartStp { on_the_fly: true })
        .expect("enter STP");
    // A host that died here leaves the modem deaf to AT ...
    assert!(link.command(Attention).is_err());
    // ... but a RESET is answered (before SESSION_OPEN it does not end STP mode).
    assert!(link.stp_reset(1_000).expect("reset"));
}
