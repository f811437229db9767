//! Wire efficiency and the host's protocol cost, measured from a real STP session against `modem-sim`.
//!
//! `cargo bench --bench stp_replay [-- --json]` (run by `cargo xtask bench`):
//! - `wire_efficiency`: a 2,000,000-byte STP v1 transfer to the simulator paced as a 921,600-baud
//!   UART with zero modem turnaround, on virtual time; payload line time over total transfer time,
//!   divided by the stop-and-wait bound for the block size (2016 / (2016 + 68) bytes on the wire per
//!   block: a 16 + 2-byte BLOCK_CMD, a 16-byte BLOCK header, and 16 + 18 bytes of answers).
//!   It also writes that session's transcript to `target/stp_replay.mur`.
//! - `-- --record PATH`: only record the transcript to PATH.
//! - `-- --once replay PATH` / `-- --once baseline PATH`: replay the transcript against the host
//!   (`Link` + `Session`, no simulator) / only load it and build the image. `cargo xtask bench` runs
//!   both under callgrind: the difference divided by the image bytes is `host_instructions_per_byte`
//!   (framing, CRC-16, copying, the link's polling, and the replay UART's byte comparison, which
//!   stands in for a UART driver's copy).

#[path = "../tests/support/sim_link.rs"]
mod sim_link;

use std::path::{Path, PathBuf};
use std::time::Duration;

use modem_sim::{BootMode, Sim, SimConfig};
use modem_upgrade::protocol::at::StartStp;
use modem_upgrade::protocol::stp::{Session, SessionConfig};
use modem_upgrade::storage::MemImage;
use modem_upgrade::transport::Link;
use modem_upgrade::transport::record::{Recorder, Replay, StepClock, Transcript};
use sim_link::{SimTime, SimUart};

/// Image bytes of the measured session.
const IMAGE_BYTES: usize = 2_000_000;
const BAUD: u32 = 921_600;
const BLOCK: u16 = 2016;
/// Bytes on the wire per block besides its data (see the module docs).
const BLOCK_OVERHEAD: u32 = 16 + 2 + 16 + 16 + 18;

/// Deterministic bytes (an image the simulator will refuse at the end — only the transfer counts).
fn image() -> Vec<u8> {
    let mut x = 0x1234_5678u32;
    (0..IMAGE_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn config() -> SessionConfig {
    SessionConfig {
        block_cap: BLOCK,
        ..SessionConfig::default()
    }
}

/// One session against the simulator; returns the virtual transfer time (ms) and the transcript.
fn record(image: &[u8]) -> (f64, Vec<u8>) {
    let mut cfg = SimConfig::sqn3330().with_mode(BootMode::Upgrade);
    cfg.stp_turnaround = 0;
    cfg.at_turnaround = 0;
    let sim = Sim::new(cfg);
    let mut port = sim.port();
    port.set_poll_quantum(Duration::from_micros(1));
    let uart = Recorder::new(SimUart(port), Vec::new()).expect("recorder");
    let mut link = Link::new(uart, SimTime(sim.clock()));
    link.command(StartStp { on_the_fly: true })
        .expect("AT+SMSTPU");
    let mut session = Session::new(config(), image.len() as u32, 0).expect("session");
    let mut block = vec![0u8; usize::from(BLOCK)];
    let start = sim.now();
    link.stp_transfer(&mut session, &mut MemImage::new(image), &mut block, |_| {})
        .expect("transfer");
    let elapsed = (sim.now() - start).as_secs_f64() * 1000.0;
    let (uart, _) = link.into_parts();
    let (_, bytes) = uart.finish().expect("transcript");
    (elapsed, bytes)
}

/// Replays the session's modem side against the host engine; returns the host bytes written.
fn replay(transcript: Transcript, image: &[u8]) -> usize {
    let mut link = Link::new(Replay::new(transcript), StepClock::default());
    link.command(StartStp { on_the_fly: true })
        .expect("AT+SMSTPU");
    let mut session = Session::new(config(), image.len() as u32, 0).expect("session");
    let mut block = vec![0u8; usize::from(BLOCK)];
    link.stp_transfer(&mut session, &mut MemImage::new(image), &mut block, |_| {})
        .expect("the replay follows the recording");
    assert!(link.uart_mut().is_complete(), "replayed to the end");
    link.uart_mut().written()
}

fn transcript_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("stp_replay.mur")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--once") {
        let mode = args.get(i + 1).map(String::as_str).unwrap_or("");
        let path = args
            .get(i + 2)
            .map(PathBuf::from)
            .unwrap_or_else(transcript_path);
        let transcript = Transcript::load(&path).expect("transcript loads");
        let image = image();
        match mode {
            "replay" => {
                let written = replay(transcript, &image);
                std::hint::black_box(written);
            }
            "baseline" => {
                std::hint::black_box((&transcript, &image));
            }
            other => {
                eprintln!("unknown --once mode `{other}` (replay, baseline)");
                std::process::exit(2);
            }
        }
        return;
    }
    let image = image();
    let (ms, bytes) = record(&image);
    let path = args
        .iter()
        .position(|a| a == "--record")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(transcript_path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&path, &bytes).expect("transcript written");
    eprintln!("transcript: {} ({} bytes)", path.display(), bytes.len());
    if args.iter().any(|a| a == "--record") {
        return;
    }
    // Sanity: the replay reproduces the host's bytes before the number is trusted.
    replay(Transcript::parse(&bytes).expect("parses"), &image);
    let payload_ms = IMAGE_BYTES as f64 * 10.0 / f64::from(BAUD) * 1000.0;
    let efficiency = payload_ms / ms;
    let bound = f64::from(BLOCK) / f64::from(u32::from(BLOCK) + BLOCK_OVERHEAD);
    let value = efficiency / bound;
    let how = format!(
        "{IMAGE_BYTES}-byte STP v1 transfer (block {BLOCK}) to modem-sim paced at {BAUD} baud 8N1, modem \
         turnaround 0, virtual time: payload line time {payload_ms:.0} ms / transfer {ms:.0} ms = \
         {efficiency:.4}, divided by the stop-and-wait bound {bound:.4}; target >= 0.97"
    );
    if args.iter().any(|a| a == "--json") {
        println!(
            "{{\"metric\":\"wire_efficiency\",\"value\":{value:.4},\"unit\":\"fraction\",\"how\":\"{how}\"}}"
        );
    } else {
        println!(
            "{:<32} {:>10.4} {:<9} {}",
            "wire_efficiency", value, "fraction", how
        );
    }
}
