//! Pre-flight validation throughput: how fast `image::inspect` checks a whole image, compared with the
//! rate at which a 921,600-baud UART could send it.
//!
//! `cargo xtask bench [--json]` runs this (release profile). With `--json`, one line per metric:
//! `{"metric","value","unit","how"}`. A benchmark, not a test: nothing here asserts a time.

#[path = "../tests/support/builder.rs"]
mod builder;

use modem_upgrade::image::inspect;
use modem_upgrade::storage::{FileImage, ImageSource, MemImage};
use std::time::{Duration, Instant};

/// 8N1 framing: 10 bits on the wire per byte.
const LINE_RATE_BYTES_PER_S: f64 = 921_600.0 / 10.0;
const IMAGE_BYTES: usize = 6_000_000;
const SCRATCH: usize = 4096;

struct Metric {
    name: &'static str,
    value: f64,
    unit: &'static str,
    how: String,
}

/// Median seconds per run of `f` over at least `min_runs` runs and at least one second.
fn median_seconds(min_runs: usize, mut f: impl FnMut()) -> (f64, usize) {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < min_runs || start.elapsed() < Duration::from_secs(1) {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples.len())
}

fn throughput<S: ImageSource>(mut open: impl FnMut() -> S) -> (f64, usize, u32) {
    let mut scratch = vec![0u8; SCRATCH];
    let mut len = 0;
    let (secs, runs) = median_seconds(5, || {
        let mut src = open();
        len = src.len();
        let report = inspect(&mut src, &mut scratch).expect("readable");
        assert!(
            report.is_valid(),
            "benchmark image must be valid: {:?}",
            report.problems
        );
    });
    (f64::from(len) / secs / 1e6, runs, len)
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let image = builder::sample_dup_of_size(IMAGE_BYTES);
    let (mbps, runs, len) = throughput(|| MemImage::new(&image));
    let mut metrics = vec![
        Metric {
            name: "preflight_throughput",
            value: mbps,
            unit: "MB/s",
            how: format!(
                "image::inspect over a synthesized {len}-byte SQN3330 .dup in memory (PACK + 4 UPGR, Fletcher-32 \
                 everywhere, all signatures and FFF! trailers verified in one pass), {SCRATCH}-byte scratch, \
                 median of {runs} runs, release build; MB = 10^6 bytes"
            ),
        },
        Metric {
            name: "preflight_line_rate_multiple",
            value: mbps * 1e6 / LINE_RATE_BYTES_PER_S,
            unit: "x",
            how: "preflight_throughput divided by the 921,600-baud 8N1 byte rate (92,160 B/s); target >= 10".into(),
        },
    ];
    match std::env::var_os("MODEM_FW_FIXTURES")
        .map(|d| std::path::PathBuf::from(d).join("CATM1-38638.dup"))
    {
        Some(path) if path.exists() => {
            let (mbps, runs, len) = throughput(|| FileImage::open(&path).expect("fixture opens"));
            metrics.push(Metric {
                name: "preflight_throughput_real_file",
                value: mbps,
                unit: "MB/s",
                how: format!(
                    "image::inspect over the real CATM1-38638.dup ({len} bytes) read through FileImage (page \
                     cache warm), {SCRATCH}-byte scratch, median of {runs} runs"
                ),
            });
        }
        _ => eprintln!("skipped: preflight_throughput_real_file (MODEM_FW_FIXTURES not set)"),
    }
    for m in &metrics {
        if json {
            println!(
                "{}",
                serde_json::json!({"metric": m.name, "value": (m.value * 100.0).round() / 100.0, "unit": m.unit, "how": m.how})
            );
        } else {
            println!("{:<32} {:>10.2} {:<5} {}", m.name, m.value, m.unit, m.how);
        }
    }
}
