//! The library's `Link` on `modem-sim` in-process, on virtual time: the UART and clock adapters and
//! the AT/STP steps the protocol and storage tests share.
#![allow(dead_code)]

use modem_sim::{Sim, SimClock, SimPort, SimVersion};
use modem_upgrade::protocol::at::{
    Attention, BootMode, Identify, QueryBootMode, QueryUpgrade, SelectBoot, StartStp, UpgradeStatus,
};
use modem_upgrade::protocol::stp::{Session, SessionConfig};
use modem_upgrade::storage::{ImageSource, MemImage};
use modem_upgrade::transport::{Clock, Link, LinkError, SetBaud};

/// The simulator's port with a settable host baud rate (the line model garbles bytes on a mismatch).
pub struct SimUart(pub SimPort);

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
pub struct SimTime(pub SimClock);

impl Clock for SimTime {
    fn now_ms(&mut self) -> u64 {
        self.0.now_ms()
    }
}

pub type SimLink = Link<SimUart, SimTime>;

pub fn link(sim: &Sim) -> SimLink {
    Link::new(SimUart(sim.port()), SimTime(sim.clock()))
}

pub fn version(text: &str, build: u32) -> SimVersion {
    SimVersion {
        text: text.into(),
        build,
    }
}

/// Everything a failing test should show: the simulator's status and the transcript tail.
pub fn context(sim: &Sim) -> String {
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
pub fn wait_for_at(link: &mut SimLink, seconds: u64) -> bool {
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
pub fn retry<T, E: std::fmt::Debug>(mut f: impl FnMut() -> Result<T, E>) -> T {
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
pub fn verdict(link: &mut SimLink) -> UpgradeStatus {
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
pub struct Outcome {
    pub sessions: u32,
    pub retransmissions: u32,
    pub timeouts: u32,
    pub nacks: u32,
    pub residues: u32,
    pub stale: u32,
    pub failures: Vec<String>,
}

/// Enters STP with `enter` and streams `image`; when a session fails for good (for example a v2 block
/// whose answer was lost), closes it with a RESET and starts a fresh session from byte 0, as the
/// simulator (like every known modem) cannot continue a stream at an offset.
pub fn transfer(
    link: &mut SimLink,
    sim: &Sim,
    image: &[u8],
    config: SessionConfig,
    enter: impl Fn(&mut SimLink) -> Result<(), LinkError<std::io::Error>>,
    max_sessions: u32,
) -> Outcome {
    transfer_from(
        link,
        sim,
        &mut MemImage::new(image),
        config,
        enter,
        max_sessions,
    )
}

/// [`transfer`] from any image source (an SD card file, a read-ahead window…).
pub fn transfer_from<S: ImageSource>(
    link: &mut SimLink,
    sim: &Sim,
    image: &mut S,
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
        let mut session = Session::new(config, image.len(), 0).expect("session");
        let result = link.stp_transfer(&mut session, image, &mut buf, |_| {});
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

pub fn on_the_fly(link: &mut SimLink) -> Result<(), LinkError<std::io::Error>> {
    link.command(StartStp { on_the_fly: true })
}

/// Application → upgrade mode (`AT+SMSWBOOT=3,1`, wait for `AT`, `AT+SMOD?` = 4).
pub fn enter_upgrade_mode(link: &mut SimLink, sim: &Sim) {
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
pub fn finish_and_verify(link: &mut SimLink, sim: &Sim, target: (&str, u32)) {
    let status = verdict(link);
    assert_eq!(status, UpgradeStatus::Success, "\n{}", context(sim));
    reboot_and_verify(link, sim, target);
}

/// `AT+SMSWBOOT=1,1`, `+SYSSTART`, application mode, and the version read back equals `target`.
pub fn reboot_and_verify(link: &mut SimLink, sim: &Sim, target: (&str, u32)) {
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
