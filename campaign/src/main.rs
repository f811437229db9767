//! `modem-campaign --scenarios N --seed S [--json] [--verbose]` (run through `cargo xtask campaign`):
//! a deterministic, seeded fault campaign of the `modem-upgrade` Upgrader against `modem-sim` on
//! virtual time. See `docs/testing.md`.
//!
//! Scenario `i` has the seed `S + i`, so a bad scenario replays alone with `--scenarios 1 --seed
//! <its seed>`. Exit code 0 when there is no false success and no unrecovered modem, 1 otherwise,
//! 2 for bad arguments.

#![allow(
    clippy::result_large_err,
    reason = "the upgrader's failure carries its report"
)]

// The simulator's port and clock as the library's UART and clock: the same adapters the tests use.
#[path = "../../tests/support/sim_link.rs"]
mod link;
mod scenario;

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use scenario::{Class, Scenario, Verdict};

const USAGE: &str = "usage: modem-campaign --scenarios N --seed S [--json] [--verbose]";

struct Args {
    scenarios: u64,
    seed: u64,
    json: bool,
    verbose: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        scenarios: 200,
        seed: 1,
        json: false,
        verbose: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let value = it.next().ok_or(format!("{name} needs a value"))?;
            value
                .parse()
                .map_err(|_| format!("{name} takes a whole number, found `{value}`"))
        };
        match arg.as_str() {
            "--scenarios" => out.scenarios = number("--scenarios")?,
            "--seed" => out.seed = number("--seed")?,
            "--json" => out.json = true,
            "--verbose" | "-v" => out.verbose = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(out)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("modem-campaign: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let verdicts = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.scenarios {
                        break;
                    }
                    let verdict = scenario::run(Scenario::draw(args.seed.wrapping_add(i)));
                    if args.verbose {
                        eprintln!(
                            "{:?} ({} host runs) {}",
                            verdict.class, verdict.host_runs, verdict.scenario
                        );
                    }
                    verdicts
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(verdict);
                }
            });
        }
    });
    let mut verdicts: Vec<Verdict> = verdicts.into_inner().unwrap_or_else(|e| e.into_inner());
    verdicts.sort_by_key(|v| v.scenario.seed);
    let count = |c: Class| verdicts.iter().filter(|v| v.class == c).count();
    let (upgraded, clean, false_successes, unrecovered) = (
        count(Class::Upgraded),
        count(Class::CleanFailure),
        count(Class::FalseSuccess),
        count(Class::Unrecovered),
    );
    for v in verdicts
        .iter()
        .filter(|v| matches!(v.class, Class::FalseSuccess | Class::Unrecovered))
    {
        eprintln!(
            "BAD {:?} — {}\n    {}\n    replay: cargo xtask campaign --scenarios 1 --seed {}",
            v.class, v.scenario, v.detail, v.scenario.seed
        );
    }
    let restarts: usize = verdicts.iter().map(|v| v.host_runs - 1).sum();
    eprintln!(
        "campaign: {} scenarios from seed {} in {:.1} s ({} workers): {upgraded} upgraded, {clean} clean failures, \
         {false_successes} false successes, {unrecovered} unrecovered; {restarts} host restarts",
        verdicts.len(),
        args.seed,
        started.elapsed().as_secs_f64(),
        workers,
    );
    if args.verbose {
        for v in verdicts.iter().filter(|v| v.class == Class::CleanFailure) {
            eprintln!("clean failure, seed {}: {}", v.scenario.seed, v.detail);
        }
    }
    if args.json {
        println!(
            "{{\"scenarios\":{},\"upgraded\":{upgraded},\"clean_failures\":{clean},\"false_successes\":{false_successes},\"unrecovered\":{unrecovered},\"seed\":{}}}",
            verdicts.len(),
            args.seed
        );
    }
    if false_successes == 0 && unrecovered == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
