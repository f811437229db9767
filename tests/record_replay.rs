//! Record a whole upgrade against the simulator, then replay the modem's side of it against the
//! Upgrader with no simulator at all: the same host bytes, the same result. A host that behaves
//! differently is caught at its first different byte.

#![allow(
    clippy::result_large_err,
    reason = "the upgrader's failure carries its report"
)]

#[path = "support/sim_link.rs"]
mod sim_link;

use modem_sim::{Model, Sim, SimConfig, synth};
use modem_upgrade::storage::MemImage;
use modem_upgrade::storage::journal::MemJournal;
use modem_upgrade::transport::record::{
    MAGIC, Recorder, Replay, ReplayError, StepClock, Transcript,
};
use modem_upgrade::transport::{Link, LinkError};
use modem_upgrade::upgrade::{
    BLOCK_BUFFER_LEN, Buffers, Error, Outcome, READ_AHEAD_LEN, Source, Upgrader,
};
use sim_link::{SimTime, SimUart};

const NAME: &str = "CATM1-39529.dup";

fn record(package: &[u8]) -> Vec<u8> {
    let sim = Sim::new(SimConfig::sqn3330());
    let uart = Recorder::new(SimUart(sim.port()), Vec::new()).unwrap();
    let mut link = Link::new(uart, SimTime(sim.clock()));
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let report = Upgrader::new(
        &mut link,
        Source::new(NAME, MemImage::new(package)),
        MemJournal::new(),
        Buffers {
            block: &mut block,
            window: &mut window,
        },
    )
    .run()
    .unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(report.outcome, Outcome::Upgraded);
    let (uart, _) = link.into_parts();
    uart.finish().unwrap().1
}

#[test]
fn a_recorded_upgrade_replays_without_the_simulator() {
    let package = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 120_000);
    let bytes = record(&package);
    assert_eq!(bytes[..4], MAGIC);
    let transcript = Transcript::parse(&bytes).unwrap();
    assert!(
        transcript.host.len() > package.len(),
        "the package went out"
    );
    assert!(transcript.modem_bytes() > 1000);

    let mut link = Link::new(Replay::new(transcript), StepClock::default());
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let report = Upgrader::new(
        &mut link,
        Source::new(NAME, MemImage::new(&package)),
        MemJournal::new(),
        Buffers {
            block: &mut block,
            window: &mut window,
        },
    )
    .run()
    .unwrap_or_else(|f| panic!("{}\n{:?}", f.error, f.report));
    assert_eq!(report.outcome, Outcome::Upgraded);
    assert_eq!(report.version_after.map(|v| v.build), Some(39529));
    assert!(
        link.uart_mut().is_complete(),
        "every recorded byte was replayed"
    );
}

#[test]
fn a_host_that_sends_other_bytes_is_caught() {
    let package = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 60_000);
    let transcript = Transcript::parse(&record(&package)).unwrap();
    // The same version, other code bytes: the transfer differs from the first block on.
    let other = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 60_001);
    let mut link = Link::new(Replay::new(transcript), StepClock::default());
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let failure = Upgrader::new(
        &mut link,
        Source::new(NAME, MemImage::new(&other)),
        MemJournal::new(),
        Buffers {
            block: &mut block,
            window: &mut window,
        },
    )
    .run()
    .expect_err("diverges");
    let diverged = match &failure.error {
        Error::Link {
            error: LinkError::Io(e),
            ..
        }
        | Error::TransferFailed {
            last: LinkError::Io(e),
            ..
        } => e.clone(),
        other => panic!("{other}"),
    };
    assert!(
        matches!(diverged, ReplayError::Diverged { .. }),
        "{diverged}"
    );
}

#[test]
fn damaged_transcripts_are_refused() {
    assert_eq!(Transcript::parse(b"NOPE"), Err(ReplayError::NotATranscript));
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[0x01, 5, 0, 0, 0, b'A', b'T']); // says 5 bytes, has 2
    assert_eq!(
        Transcript::parse(&bytes),
        Err(ReplayError::Malformed { offset: 4 })
    );
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[0x09, 0, 0, 0, 0]);
    assert_eq!(
        Transcript::parse(&bytes),
        Err(ReplayError::Malformed { offset: 4 })
    );
    // Records by hand: host "AT\r\n", modem "OK\r\n", baud 115200.
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[0x01, 4, 0, 0, 0]);
    bytes.extend_from_slice(b"AT\r\n");
    bytes.extend_from_slice(&[0x02, 4, 0, 0, 0]);
    bytes.extend_from_slice(b"OK\r\n");
    bytes.extend_from_slice(&[0x03, 4, 0, 0, 0]);
    bytes.extend_from_slice(&115_200u32.to_le_bytes());
    let t = Transcript::parse(&bytes).unwrap();
    assert_eq!(t.host, b"AT\r\n");
    assert_eq!(t.modem, vec![(4, b"OK\r\n".to_vec())]);
    assert_eq!(t.bauds, vec![(4, 115_200)]);
}

#[test]
fn a_transcript_survives_a_file() {
    let package = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 30_000);
    let bytes = record(&package);
    let path = std::env::temp_dir().join(format!("replay-{}.mur", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let loaded = Transcript::load(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(loaded, Transcript::parse(&bytes).unwrap());
}
