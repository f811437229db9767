//! What the user sees: a line per stage, a progress bar while bytes go out, a spinner with elapsed
//! vs expected time while the modem works on its own, the summary, and the `--json` report.
//!
//! Human text goes to stdout, or to stderr with `--json` (stdout then carries only the JSON object).
//! Bars and spinners go to stderr and only when it is a terminal (indicatif hides them otherwise);
//! `--json` hides them always.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use modem_upgrade::storage::journal::{ModemEntry, Plan};
use modem_upgrade::upgrade::{Event, Observer, Outcome, Payload, Report, Stage, Wait};
use serde_json::{Value, json};

/// What a live bar shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Live {
    Bytes(Payload),
    Wait(Wait),
}

/// The observer and printer.
pub struct Ui {
    json: bool,
    bar: Option<(Live, ProgressBar)>,
    /// The current stage says the modem must stay powered.
    keep_powered: bool,
    /// The wait going on.
    wait: Option<Waiting>,
    /// The last progress shown: the same figure reported again is not news.
    progress: Option<(Payload, u32)>,
    started: Instant,
}

/// A wait as shown: the upgrader may wait for one thing in several steps (a reboot: first for
/// `+SYSSTART`, then for an answer to `AT`), each counting from zero; the user sees one wait.
#[derive(Clone, Copy)]
struct Waiting {
    what: Wait,
    /// Time of the steps before the current one.
    before_ms: u64,
    /// The current step's elapsed time.
    step_ms: u64,
    /// The total last printed as a line, if any.
    printed_ms: Option<u64>,
}

impl Waiting {
    fn total_ms(&self) -> u64 {
        self.before_ms + self.step_ms
    }
}

/// Without a live spinner (not a terminal, or `--json`), a wait prints a line this often in its
/// first minute, and once a minute after that.
const WAIT_LINE_EVERY_MS: u64 = 10_000;
const WAIT_LINE_LATER_MS: u64 = 60_000;

/// The wait as the user sees it: a silent modem is still programming.
fn wait_kind(what: Wait) -> Wait {
    match what {
        Wait::Silent => Wait::Programming,
        other => other,
    }
}

impl Ui {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            bar: None,
            keep_powered: false,
            wait: None,
            progress: None,
            started: Instant::now(),
        }
    }

    /// Prints one line of human output (above the bar, if one is showing).
    pub fn say(&self, text: impl AsRef<str>) {
        let text = text.as_ref();
        let print = || {
            if self.json {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
        };
        match &self.bar {
            Some((_, bar)) => bar.suspend(print),
            None => print(),
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.json {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    fn end_bar(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
        // A spinner is gone once the wait is over: leave a line saying how long it took.
        if let Some(wait) = self.wait.take()
            && wait.total_ms() > 0
        {
            self.say(format!(
                "    {}: done after {}",
                wait_text(wait.what),
                duration(wait.total_ms())
            ));
        }
    }

    /// The bar for `live`, created when the kind of activity changes.
    fn bar(&mut self, live: Live, total: u64) -> &ProgressBar {
        if self.bar.as_ref().is_none_or(|(l, _)| *l != live) {
            self.end_bar();
            let bar = match live {
                Live::Bytes(payload) => {
                    let bar = ProgressBar::with_draw_target(Some(total), self.target());
                    let style = ProgressStyle::with_template(
                        "  {prefix:8} [{bar:40.cyan/blue}] {bytes:>10}/{total_bytes} {percent:>3}%",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                    bar.set_style(style);
                    bar.set_prefix(match payload {
                        Payload::Package => "package",
                        Payload::Loader => "loader",
                    });
                    bar
                }
                Live::Wait(_) => {
                    let bar = ProgressBar::with_draw_target(None, self.target());
                    let style = ProgressStyle::with_template("  {spinner} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner());
                    bar.set_style(style);
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                }
            };
            self.bar = Some((live, bar));
        }
        match &self.bar {
            Some((_, bar)) => bar,
            None => unreachable!("set just above"),
        }
    }

    /// Ends any live bar (call before the summary).
    pub fn done(&mut self) {
        self.end_bar();
    }

    /// Wall time since the program started.
    pub fn wall(&self) -> Duration {
        self.started.elapsed()
    }
}

const POWER_NOTE: &str = "DO NOT POWER OFF the modem";

fn stage_text(stage: Stage) -> &'static str {
    match stage {
        Stage::Preflight => "verifying the package completely before touching the modem",
        Stage::Detect => "finding the modem: baud rate, mode, firmware version",
        Stage::Decide => "deciding what to do",
        Stage::Enter => "bringing the modem into a mode that accepts the package",
        Stage::Transfer => "sending the package over STP",
        Stage::Programming => "the modem programs its flash",
        Stage::Verify => "rebooting into the new firmware and reading its version back",
        Stage::Finish => "clearing the journal",
    }
}

fn plan_text(plan: Plan) -> String {
    match plan {
        Plan::AlreadyInstalled => "the modem already runs the package's version".into(),
        Plan::AwaitVerdict => "the modem is programming: wait for its verdict".into(),
        Plan::RebootAndVerify => {
            "the modem accepted the package: reboot it and check the version".into()
        }
        Plan::Transfer { entry, from } => {
            let how = match entry {
                ModemEntry::SwitchFromApplication => "switch the application to upgrade mode",
                ModemEntry::UpgradeMode => "the modem is in upgrade mode: send the package",
                ModemEntry::PushLoader => "only the bootloader answers: push the loader ELF",
                ModemEntry::LoaderRunning => "the loader runs: send the package",
            };
            if from > 0 {
                format!("{how} (continuing from byte {from})")
            } else {
                how.into()
            }
        }
    }
}

fn wait_text(what: Wait) -> &'static str {
    match what {
        Wait::Programming => "programming",
        Wait::Silent => "programming (the modem is silent; still waiting)",
        Wait::Reboot => "waiting for the modem to reboot",
        Wait::LoaderStart => "waiting for the loader ELF to start",
    }
}

/// `850 ms`, `12.3 s`, `4 min 05 s`.
pub fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

impl Observer for Ui {
    fn on_event(&mut self, event: &Event<'_>) -> ControlFlow<()> {
        match *event {
            Event::Stage {
                stage,
                expected_ms,
                do_not_power_off,
            } => {
                self.end_bar();
                self.keep_powered = do_not_power_off;
                let mut line = format!("==> {stage}: {}", stage_text(stage));
                if let Some(ms) = expected_ms {
                    line.push_str(&format!(" (typically {})", duration(ms)));
                }
                if do_not_power_off {
                    line.push_str(&format!("  [{POWER_NOTE}]"));
                }
                self.say(line);
            }
            Event::Detected {
                mode,
                baud,
                version,
                was_in_stp,
                left_data_mode,
            } => {
                let mut line = format!("    modem in {mode}");
                if let Some(baud) = baud {
                    line.push_str(&format!(" at {baud} baud"));
                }
                if let Some(v) = version {
                    line.push_str(&format!(", firmware {v}"));
                }
                if was_in_stp {
                    line.push_str(" (it was still waiting in STP mode: released)");
                }
                if left_data_mode {
                    line.push_str(" (left PPP data mode with +++)");
                }
                self.say(line);
            }
            Event::Decided {
                plan,
                journal_phase,
            } => {
                let mut line = format!("    plan: {}", plan_text(plan));
                if let Some(phase) = journal_phase {
                    line.push_str(&format!(" (journal: {phase})"));
                }
                self.say(line);
            }
            Event::Progress {
                payload,
                done,
                total,
            } => {
                if self.progress.replace((payload, done)) == Some((payload, done)) {
                    return ControlFlow::Continue(());
                }
                let bar = self.bar(Live::Bytes(payload), u64::from(total));
                bar.set_position(u64::from(done));
                if done >= total {
                    self.end_bar();
                    let what = match payload {
                        Payload::Package => "package",
                        Payload::Loader => "loader ELF",
                    };
                    self.say(format!("    {what}: all {total} bytes acknowledged"));
                }
            }
            Event::Waiting {
                what,
                elapsed_ms,
                expected_ms,
                limit_ms,
            } => {
                let mut wait = match self.wait {
                    Some(w) if w.what == wait_kind(what) => w,
                    _ => Waiting {
                        what: wait_kind(what),
                        before_ms: 0,
                        step_ms: 0,
                        printed_ms: None,
                    },
                };
                if elapsed_ms < wait.step_ms {
                    wait.before_ms += wait.step_ms; // a new step of the same wait
                }
                wait.step_ms = elapsed_ms;
                let total = wait.total_ms();
                let mut msg = format!("{}: {}", wait_text(what), duration(total));
                if let Some(expected) = expected_ms {
                    msg.push_str(&format!(" of typically {}", duration(expected)));
                }
                msg.push_str(&format!(" (gives up after {})", duration(limit_ms)));
                if self.keep_powered {
                    msg.push_str(&format!(" — {POWER_NOTE}"));
                }
                let bar = self.bar(Live::Wait(wait_kind(what)), 0);
                bar.set_message(msg.clone());
                let every = if total < 60_000 {
                    WAIT_LINE_EVERY_MS
                } else {
                    WAIT_LINE_LATER_MS
                };
                let due = wait.printed_ms.is_none_or(|p| total >= p + every);
                if bar.is_hidden() && due {
                    self.say(format!("    {msg}"));
                    wait.printed_ms = Some(total);
                }
                self.wait = Some(wait);
            }
            Event::Retry { stage, reason } => {
                self.say(format!("    retry during {stage}: {reason}"));
            }
            Event::Checkpoint { .. } => {}
        }
        ControlFlow::Continue(())
    }
}

/// A JSON object from `(key, JSON text)` pairs, in the given order (serde_json's own map sorts its
/// keys, and the report promises an order).
fn object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}:{value}", Value::from(*key)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// What the run produced, for the summary and the JSON report.
pub struct Summary<'a> {
    pub outcome: Outcome,
    pub report: Option<&'a Report>,
    pub image: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl Summary<'_> {
    /// The `--json` object, keys in the documented order.
    pub fn json(&self) -> String {
        let r = self.report;
        let text = |v: Option<String>| v.map_or(Value::Null, Value::String).to_string();
        let phases: Vec<String> = r
            .map(|r| {
                r.stages()
                    .map(|(stage, ms)| {
                        object(&[
                            ("name", json!(stage.name()).to_string()),
                            ("ms", ms.to_string()),
                        ])
                    })
                    .collect()
            })
            .unwrap_or_default();
        object(&[
            ("outcome", json!(self.outcome.name()).to_string()),
            (
                "version_before",
                text(r.and_then(|r| r.version_before).map(|v| v.to_string())),
            ),
            (
                "version_after",
                text(r.and_then(|r| r.version_after).map(|v| v.to_string())),
            ),
            (
                "expected_version",
                text(r.and_then(|r| r.target).map(|t| t.to_string())),
            ),
            ("image", json!(self.image).to_string()),
            ("image_bytes", json!(r.map(|r| r.image_bytes)).to_string()),
            ("bytes_sent", r.map_or(0, |r| r.bytes_sent).to_string()),
            (
                "resumed_from",
                json!(r.and_then(|r| r.resumed_from)).to_string(),
            ),
            ("retries", r.map_or(0, |r| r.retries).to_string()),
            ("phases", format!("[{}]", phases.join(","))),
            ("duration_ms", r.map_or(0, |r| r.duration_ms).to_string()),
            ("error", json!(self.error).to_string()),
        ])
    }

    /// The human summary.
    pub fn print(&self, ui: &Ui, virtual_time: bool) {
        ui.say("");
        ui.say(format!("outcome: {}", self.outcome.name()));
        let Some(r) = self.report else {
            if let Some(e) = self.error {
                ui.say(format!("error: {e}"));
            }
            return;
        };
        let show = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
        ui.say(format!(
            "firmware: {} -> {} (package installs {})",
            show(r.version_before.map(|v| v.to_string())),
            show(r.version_after.map(|v| v.to_string())),
            show(r.target.map(|t| t.to_string())),
        ));
        if let Some(image) = self.image {
            ui.say(format!("package: {image} ({} bytes)", r.image_bytes));
        }
        let mut sent = format!(
            "sent: {} bytes in {} transfer(s), {} retries",
            r.bytes_sent, r.transfers, r.retries
        );
        if r.loader_pushes > 0 {
            sent.push_str(&format!(", {} loader push(es)", r.loader_pushes));
        }
        if let Some(from) = r.resumed_from {
            sent.push_str(&format!(", resumed from byte {from}"));
        }
        ui.say(sent);
        let clock = if virtual_time {
            format!(
                " of simulated modem time ({} wall time)",
                duration(ui.wall().as_millis() as u64)
            )
        } else {
            String::new()
        };
        ui.say(format!("duration: {}{clock}", duration(r.duration_ms)));
        let stages: Vec<String> = r
            .stages()
            .map(|(s, ms)| format!("{s} {}", duration(ms)))
            .collect();
        ui.say(format!("stages: {}", stages.join(", ")));
        if let Some(mode) = r.modem_mode {
            ui.say(format!("modem last seen in: {mode}"));
        }
        if let Some(reason) = &r.modem_reason {
            ui.say(format!("modem's reason: {reason}"));
        }
        if let Some(e) = self.error {
            ui.say(format!("error: {e}"));
        }
    }
}
