//! STP engine throughput: how fast `protocol::stp::Session` frames a 6 MB image (header, payload CRC,
//! response parsing and checking) against an in-process slave that answers every request at once, and
//! how fast CRC-16/XMODEM runs with the `crc` crate's three table sizes. A 921,600-baud UART moves
//! 92,160 B/s; the host budget for all protocol work is ≤ 15 instructions per image byte.
//!
//! `cargo bench --bench stp_engine [-- --json]`. With `--json`, one `{"metric","value","unit","how"}`
//! object per line. `-- --once MODE` (MODE = `none`, `engine`, `notable`, `table1`, `table16`) runs one
//! pass of one thing and prints nothing, for instruction counts:
//! `valgrind --tool=callgrind target/release/deps/stp_engine-* --once engine` minus `--once none`,
//! divided by 6,000,000. A benchmark, not a test: nothing here asserts a time.

use crc::{CRC_16_XMODEM, Crc, NoTable, Table};
use modem_upgrade::protocol::stp::{
    Direction, Header, HeaderRepr, Op, Poll, Session, SessionConfig,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const IMAGE_BYTES: usize = 6_000_000;
const LINE_RATE_BYTES_PER_S: f64 = 921_600.0 / 10.0;

static CRC_NOTABLE: Crc<u16, NoTable> = Crc::<u16, NoTable>::new(&CRC_16_XMODEM);
static CRC_TABLE1: Crc<u16, Table<1>> = Crc::<u16, Table<1>>::new(&CRC_16_XMODEM);
static CRC_TABLE16: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_XMODEM);

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

/// The slave's answer to a request header (built with the library's own encoder: this measures the
/// host engine, not an independent check — the tests do that).
fn answer(req: &[u8; 16], version: u8, out: &mut Vec<u8>) {
    let h = Header::new_unchecked(&req[..]);
    let payload: &[u8] = match Op::from_code(h.op()) {
        Some(Op::SessionOpen) => &[1, version, 0x20, 0x00],
        Some(Op::TransferBlock) => &[0, 0],
        _ => &[],
    };
    let mut hdr = Header::new_unchecked([0u8; 16]);
    HeaderRepr {
        direction: Direction::Response,
        op: h.op() | 0x80,
        sid: h.sid(),
        plen: payload.len() as u16,
        tid: h.tid(),
        pcrc: if payload.is_empty() {
            0
        } else {
            CRC_TABLE1.checksum(payload)
        },
        hcrc: 0,
    }
    .emit(&mut hdr);
    hdr.fill_hcrc();
    out.clear();
    out.extend_from_slice(&hdr.into_inner());
    out.extend_from_slice(payload);
}

/// One whole session over `img`; returns the number of blocks.
fn run_session(img: &[u8], block_cap: u16) -> u32 {
    let cfg = SessionConfig {
        block_cap,
        ..SessionConfig::default()
    };
    let mut s = Session::new(cfg, img.len() as u32, 0).expect("session");
    let mut line = Vec::with_capacity(32);
    let mut sink = 0u64;
    loop {
        match s.poll() {
            Poll::Transmit { data, .. } => {
                let bytes = data.map_or(&[][..], |r| {
                    &img[r.offset as usize..r.offset as usize + usize::from(r.len)]
                });
                let out = s.frame(bytes).expect("frame");
                // "Send": touch the frame so nothing is optimised away.
                sink = sink.wrapping_add(u64::from(out.header()[12]));
                answer(out.header(), 1, &mut line);
            }
            Poll::Await { .. } => {
                let used = s.receive(&line).expect("receive");
                assert_eq!(used, line.len());
            }
            Poll::Done => break,
            Poll::Failed(e) => panic!("{e}"),
        }
    }
    black_box(sink);
    assert_eq!(s.acknowledged() as usize, img.len());
    s.stats().blocks
}

/// Median seconds per run of `f`, over at least `min_runs` runs and at least `min_time`.
fn median_seconds(min_runs: usize, min_time: Duration, mut f: impl FnMut()) -> (f64, usize) {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < min_runs || start.elapsed() < min_time {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples.len())
}

struct Metric {
    name: String,
    value: f64,
    unit: &'static str,
    how: String,
}

fn once(mode: &str, img: &[u8]) {
    let v = match mode {
        "none" => u64::from(img[img.len() / 2]),
        "engine" => u64::from(run_session(img, 2016)),
        "notable" => u64::from(CRC_NOTABLE.checksum(img)),
        "table1" => u64::from(CRC_TABLE1.checksum(img)),
        "table16" => u64::from(CRC_TABLE16.checksum(img)),
        other => {
            eprintln!("unknown --once mode `{other}` (none, engine, notable, table1, table16)");
            std::process::exit(2);
        }
    };
    black_box(v);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let img = image();
    if let Some(i) = args.iter().position(|a| a == "--once") {
        once(args.get(i + 1).map_or("engine", String::as_str), &img);
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let mb = IMAGE_BYTES as f64 / 1e6;
    let mut metrics = Vec::new();

    for block in [2016u16, 8176] {
        let mut blocks = 0;
        let (secs, runs) = median_seconds(5, Duration::from_millis(1500), || {
            blocks = run_session(&img, block);
        });
        let rate = mb / secs;
        if !json {
            println!(
                "stp_engine: {mb:.1} MB in {:.1} ms = {rate:.0} MB/s (block {block}; {blocks} blocks, {:.0}x line rate, median of {runs})",
                secs * 1e3,
                rate * 1e6 / LINE_RATE_BYTES_PER_S,
            );
        }
        metrics.push(Metric {
            name: format!("stp_engine_throughput_block{block}"),
            value: rate,
            unit: "MB/s",
            how: format!(
                "Session over a {IMAGE_BYTES}-byte in-memory image against an in-process slave answering at once \
                 (v1, max_transfer 8192, block cap {block}); frame(), payload CRC, receive() and the checks; \
                 median of {runs} runs, release build; MB = 10^6 bytes"
            ),
        });
    }

    type CrcFn<'a> = &'a dyn Fn(&[u8]) -> u16;
    let crcs: [(&str, &str, CrcFn); 3] = [
        ("NoTable", "0 B table", &|d| CRC_NOTABLE.checksum(d)),
        ("Table<1>", "512 B table", &|d| CRC_TABLE1.checksum(d)),
        ("Table<16>", "8 KiB table", &|d| CRC_TABLE16.checksum(d)),
    ];
    let mut check = None;
    for (name, table, f) in crcs {
        let mut c = 0;
        let (secs, runs) = median_seconds(3, Duration::from_millis(700), || {
            c = f(black_box(&img));
        });
        assert_eq!(f(b"123456789"), 0x31C3);
        assert!(check.is_none_or(|x| x == c), "implementations disagree");
        check = Some(c);
        let rate = mb / secs;
        if !json {
            println!(
                "crc16 {name:<9}: {mb:.1} MB in {:.1} ms = {rate:.0} MB/s ({table}, median of {runs})",
                secs * 1e3
            );
        }
        metrics.push(Metric {
            name: format!(
                "crc16_{}_throughput",
                name.to_lowercase().replace(['<', '>'], "")
            ),
            value: rate,
            unit: "MB/s",
            how: format!(
                "crc::Crc<u16, {name}> (CRC-16/XMODEM, {table}) over {IMAGE_BYTES} bytes, median of {runs} runs, release build"
            ),
        });
    }

    if json {
        for m in metrics {
            println!(
                "{{\"metric\":\"{}\",\"value\":{:.1},\"unit\":\"{}\",\"how\":\"{}\"}}",
                m.name,
                m.value,
                m.unit,
                m.how.replace('"', "\\\"")
            );
        }
    }
}
