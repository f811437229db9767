//! The simulated modem: a deterministic, time-driven state machine.
//!
//! Everything happens at explicit timestamps: bytes written by the host are queued with their arrival
//! times (paced like a UART), the modem reacts when a byte arrives or a timer expires, and its output is
//! queued with arrival times on the host side. Whoever drives it (the in-process [`crate::Sim`] on
//! virtual time, the binary on wall time) calls [`Modem::advance_to`] and collects output with
//! [`Modem::take_output`].

use crate::at::{self, Command};
use crate::checksum::WordOrder;
use crate::config::{BootMode, Model, Pacing, SimConfig};
use crate::faults::{ByteFate, FaultCounts, Faults, Phase, Point};
use crate::flash::{Flash, ProgramRecord, UpgradeReport};
use crate::package::{self, ComponentKind, PackageRules, PackageSummary};
use crate::stp::{SlaveConfig, StpSlave, StpStats};
use crate::time::{MS, Nanos, SECOND, byte_time, format_time};
use crate::transcript::{EntryKind, Transcript, escape};
use crate::version::SimVersion;
use std::collections::VecDeque;
use std::fmt;

/// Longest AT command line kept; longer lines are answered with ERROR.
const MAX_LINE: usize = 1024;
/// Guard time after `+++` before the escape is accepted.
const ESCAPE_GUARD: Nanos = SECOND;

/// Power state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    /// Running its current mode.
    On,
    /// Powered off until the timer fires.
    Off,
    /// Booting; answers nothing until the timer fires.
    Booting,
}

/// Why the STP slave was started, which decides what happens to the stream when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StpPurpose {
    /// `AT+STP` in the FFH bootloader: a loader ELF.
    Loader,
    /// `AT+SMSTPU="ON_THE_FLY"`: a package programmed right away.
    OnTheFly,
    /// `AT+SMSTPU`: a package stored for `AT+SMUPGRADE`.
    Store,
}

/// What the modem's input is parsed as.
#[derive(Debug, Clone)]
enum Input {
    /// AT command state, accumulating a line.
    Command { line: Vec<u8>, overflow: bool },
    /// PPP data mode: bytes are swallowed; `+++` and a guard time return to command mode.
    Data { pluses: u8 },
    /// STP.
    Stp {
        slave: Box<StpSlave>,
        purpose: StpPurpose,
        total: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Power comes back.
    PowerOn,
    /// A boot finishes into this mode.
    BootDone(BootMode),
    /// A reboot starts (after a reply was sent).
    Reboot,
    /// Power is lost (fault).
    PowerLoss(Phase),
    /// Programming ends.
    ProgrammingDone,
    /// A loader ELF has started.
    LoaderStarted,
    /// The baud rate changes (after the `OK` went out).
    SwitchBaud(u32),
    /// `+++` guard time elapsed.
    EscapeGuard(Nanos),
}

#[derive(Debug, Clone)]
struct Programming {
    start: Nanos,
    end: Nanos,
    summary: PackageSummary,
    bytes: usize,
}

/// A snapshot of the modem's state for reports and assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Simulated time.
    pub now: Nanos,
    /// `"on"`, `"off"` or `"booting"`.
    pub power: &'static str,
    /// Current boot mode (the last one while off or booting).
    pub mode: BootMode,
    /// Current UART rate.
    pub baud: u32,
    /// Whether the STP slave is active.
    pub in_stp: bool,
    /// Whether programming is in progress.
    pub programming: bool,
    /// Persistent state.
    pub flash: Flash,
    /// Version the running image reports (`ATI1`).
    pub running: Option<SimVersion>,
    /// Injected faults.
    pub faults: FaultCounts,
    /// STP counters, summed over all sessions.
    pub stp: StpStats,
    /// Host protocol violations seen.
    pub violations: u64,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |v: &Option<SimVersion>| {
            v.as_ref()
                .map_or("none (damaged)".to_string(), SimVersion::lr)
        };
        writeln!(f, "modem-sim state at {} s", format_time(self.now))?;
        writeln!(f, "  power            {}", self.power)?;
        writeln!(
            f,
            "  mode             {} (AT+SMOD? = {})",
            self.mode.name(),
            self.mode.smod()
        )?;
        writeln!(f, "  baud             {}", self.baud)?;
        writeln!(f, "  installed        {}", v(&self.flash.firmware))?;
        writeln!(f, "  running          {}", v(&self.running))?;
        writeln!(
            f,
            "  boot target      {} ({})",
            self.flash.boot_target,
            self.flash.boot_target_name()
        )?;
        writeln!(f, "  upgrade report   {:?}", self.flash.report)?;
        writeln!(
            f,
            "  in STP / programming  {} / {}",
            self.in_stp, self.programming
        )?;
        writeln!(
            f,
            "  stored package   {}",
            self.flash
                .stored_package
                .as_ref()
                .map_or("none".into(), |p| format!("{} B", p.len()))
        )?;
        for (i, r) in self.flash.history.iter().enumerate() {
            writeln!(
                f,
                "  programmed #{}     {} B [{}] -> {} : {:?}",
                i + 1,
                r.bytes,
                r.components.join(", "),
                r.version.as_ref().map_or("-".into(), SimVersion::lr),
                r.result
            )?;
        }
        writeln!(f, "  power losses     {}", self.flash.power_losses)?;
        writeln!(
            f,
            "  stp              {} requests, {} blocks, {} retransmissions, {} NACKs, {} bad frames, {} residue bytes, {} noise bytes",
            self.stp.requests,
            self.stp.blocks,
            self.stp.retransmissions,
            self.stp.nacks,
            self.stp.bad_frames,
            self.stp.residue_bytes,
            self.stp.noise_bytes
        )?;
        writeln!(f, "  faults           {:?}", self.faults)?;
        write!(f, "  violations       {}", self.violations)
    }
}

/// The simulated modem.
#[derive(Debug)]
pub struct Modem {
    cfg: SimConfig,
    flash: Flash,
    faults: Faults,
    log: Transcript,
    now: Nanos,
    power: Power,
    mode: BootMode,
    baud: u32,
    running: Option<SimVersion>,
    echo: bool,
    cfun: u8,
    input: Input,
    rx: VecDeque<(Nanos, u8)>,
    rx_line_free: Nanos,
    last_rx: Nanos,
    out: VecDeque<(Nanos, u8)>,
    out_line_free: Nanos,
    host_baud: Option<u32>,
    timers: Vec<(Nanos, Timer)>,
    programming: Option<Programming>,
    /// A loader ELF was accepted and is starting (the modem listens to nobody meanwhile).
    loader_starting: bool,
    answered: u64,
    stp_totals: StpStats,
}

impl Modem {
    /// A modem powered on and ready in `cfg.initial_mode` at time 0.
    pub fn new(cfg: SimConfig) -> Self {
        let needs_loader = matches!(cfg.initial_mode, BootMode::LoaderWait | BootMode::Loader);
        let flash = Flash {
            firmware: if needs_loader {
                None
            } else {
                cfg.firmware.clone()
            },
            bootloader: cfg.bootloader.clone(),
            updater: cfg.firmware.clone(),
            boot_target: match cfg.initial_mode {
                BootMode::App => 1,
                BootMode::Updater => 2,
                _ => 3,
            },
            report: UpgradeReport::NoReport,
            stored_package: None,
            history: Vec::new(),
            power_losses: 0,
        };
        let mut log = Transcript::new(cfg.transcript_limit);
        let mode = cfg.initial_mode;
        let baud = if mode == BootMode::LoaderWait {
            cfg.bootloader_baud
        } else {
            cfg.app_baud
        };
        log.push(
            0,
            EntryKind::State,
            format!(
                "power on in {} (SMOD {}) at {} baud",
                mode.name(),
                mode.smod(),
                baud
            ),
        );
        let input = if cfg.start_in_data_mode && mode == BootMode::App {
            Input::Data { pluses: 0 }
        } else {
            Input::Command {
                line: Vec::new(),
                overflow: false,
            }
        };
        Self {
            faults: Faults::new(cfg.faults.clone()),
            running: flash.firmware.clone(),
            flash,
            log,
            now: 0,
            power: Power::On,
            mode,
            baud,
            echo: true,
            cfun: 1,
            input,
            rx: VecDeque::new(),
            rx_line_free: 0,
            last_rx: 0,
            out: VecDeque::new(),
            out_line_free: 0,
            host_baud: None,
            timers: Vec::new(),
            programming: None,
            loader_starting: false,
            answered: 0,
            stp_totals: StpStats::default(),
            cfg,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Current simulated time.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// The transcript so far.
    pub fn transcript(&self) -> &Transcript {
        &self.log
    }

    /// Mutable transcript access (for example to echo it live).
    pub fn transcript_mut(&mut self) -> &mut Transcript {
        &mut self.log
    }

    /// Declares the host UART's baud rate (`None`: always matches the modem, for transports without a
    /// rate such as TCP). A mismatch garbles bytes in both directions, as on a real line.
    pub fn set_host_baud(&mut self, baud: Option<u32>) {
        self.host_baud = baud;
    }

    /// A snapshot of the state.
    pub fn status(&self) -> Status {
        let mut stp = self.stp_totals.clone();
        if let Input::Stp { slave, .. } = &self.input {
            add_stats(&mut stp, &slave.stats);
        }
        Status {
            now: self.now,
            power: match self.power {
                Power::On => "on",
                Power::Off => "off",
                Power::Booting => "booting",
            },
            mode: self.mode,
            baud: self.baud,
            in_stp: matches!(self.input, Input::Stp { .. }),
            programming: self.programming.is_some(),
            flash: self.flash.clone(),
            running: self.running.clone(),
            faults: self.faults.counts.clone(),
            stp,
            violations: self.log.violations,
        }
    }

    fn line_byte_time(&self) -> Nanos {
        match self.cfg.pacing {
            Pacing::Instant => 0,
            Pacing::Fixed(b) => byte_time(b),
            Pacing::LineRate => byte_time(self.baud),
        }
    }

    fn rate_mismatch(&self) -> bool {
        self.host_baud.is_some_and(|b| b != self.baud)
    }

    /// Bytes written by the host at `now` (the caller has advanced to `now` first).
    pub fn host_write(&mut self, now: Nanos, bytes: &[u8]) {
        self.advance_to(now);
        let bt = self.line_byte_time();
        let mut crossed = Vec::with_capacity(bytes.len());
        for &b in bytes {
            self.cross_line(b, "host->modem", &mut crossed);
        }
        for c in crossed {
            let t = self.rx_line_free.max(now) + bt;
            self.rx_line_free = t;
            self.rx.push_back((t, c));
        }
    }

    /// What becomes of one byte on the line: injected faults, then garbling when the two ends disagree
    /// on the baud rate. Appends 0, 1 or 2 bytes to `out`.
    fn cross_line(&mut self, b: u8, direction: &str, out: &mut Vec<u8>) {
        let copies: &[u8] = match self.faults.byte(b) {
            ByteFate::Clean => &[b],
            ByteFate::Flipped(x) => {
                self.log.push(
                    self.now,
                    EntryKind::Fault,
                    format!("{direction}: byte 0x{b:02x} flipped to 0x{x:02x}"),
                );
                &[x]
            }
            ByteFate::Dropped => {
                self.log.push(
                    self.now,
                    EntryKind::Fault,
                    format!("{direction}: byte 0x{b:02x} dropped"),
                );
                &[]
            }
            ByteFate::Duplicated => {
                self.log.push(
                    self.now,
                    EntryKind::Fault,
                    format!("{direction}: byte 0x{b:02x} doubled"),
                );
                &[b, b]
            }
        };
        for &c in copies {
            if !self.rate_mismatch() {
                out.push(c);
            } else if let Some(g) = self.faults.garbage() {
                out.push(g);
            }
        }
    }

    /// Copies host-side bytes that have arrived by `now` into `buf`; returns how many.
    pub fn take_output(&mut self, now: Nanos, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for slot in buf.iter_mut() {
            match self.out.front() {
                Some(&(t, b)) if t <= now => {
                    *slot = b;
                    self.out.pop_front();
                    n += 1;
                }
                _ => break,
            }
        }
        n
    }

    /// Arrival time of the next output byte, if any is queued.
    pub fn next_output_at(&self) -> Option<Nanos> {
        self.out.front().map(|&(t, _)| t)
    }

    /// Bytes queued towards the host (including those still on the line).
    pub fn output_queued(&self) -> usize {
        self.out.len()
    }

    /// Drops the oldest queued output beyond `keep` bytes (the binary's bounded offline buffer).
    pub fn trim_output(&mut self, keep: usize) -> usize {
        let excess = self.out.len().saturating_sub(keep);
        self.out.drain(..excess);
        excess
    }

    /// The earliest time at which the modem has something to do (a byte arrives, a timer fires).
    pub fn next_event_at(&self) -> Option<Nanos> {
        let rx = self.rx.front().map(|&(t, _)| t);
        let timer = self.timers.iter().map(|&(t, _)| t).min();
        let idle = match &self.input {
            Input::Stp { slave, .. } if self.power == Power::On => {
                slave.idle_deadline(self.cfg.frame_gap)
            }
            _ => None,
        };
        [rx, timer, idle].into_iter().flatten().min()
    }

    /// Runs the modem up to time `t`: every byte arriving and every timer expiring by then is handled
    /// in time order.
    pub fn advance_to(&mut self, t: Nanos) {
        loop {
            let rx = self.rx.front().map(|&(at, _)| at).filter(|&at| at <= t);
            let timer = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (at, _))| *at <= t)
                .min_by_key(|(_, (at, _))| *at)
                .map(|(i, &(at, _))| (i, at));
            let idle = match &self.input {
                Input::Stp { slave, .. } if self.power == Power::On => slave
                    .idle_deadline(self.cfg.frame_gap)
                    .filter(|&at| at <= t),
                _ => None,
            };
            // Timers first on ties: a reboot that is due wins over a byte arriving at the same instant.
            let next_timer_at = timer.map(|(_, at)| at);
            let earliest = [rx, next_timer_at, idle].into_iter().flatten().min();
            let Some(at) = earliest else { break };
            self.now = self.now.max(at);
            if let Some((i, tat)) = timer.filter(|&(_, tat)| tat == at) {
                let (_, which) = self.timers.swap_remove(i);
                let _ = tat;
                self.on_timer(which);
            } else if idle == Some(at) && rx != Some(at) {
                self.on_stp_idle();
            } else if let Some((_, b)) = self.rx.pop_front() {
                self.last_rx = at;
                self.on_byte(b);
            }
        }
        self.now = self.now.max(t);
    }

    fn schedule(&mut self, at: Nanos, timer: Timer) {
        self.timers.push((at, timer));
    }

    /// Sends bytes from the modem at `self.now + delay`; returns when the last byte reaches the host.
    fn emit_after(&mut self, delay: Nanos, bytes: &[u8]) -> Nanos {
        let start = self.now + delay;
        let bt = self.line_byte_time();
        let mut t = self.out_line_free.max(start);
        let mut crossed = Vec::with_capacity(bytes.len());
        for &b in bytes {
            self.cross_line(b, "modem->host", &mut crossed);
        }
        for c in crossed {
            t += bt;
            self.out.push_back((t, c));
        }
        self.out_line_free = t;
        t
    }

    /// An AT reply after the turnaround (and a possible stall); returns when it has been sent.
    fn reply(&mut self, bytes: &[u8]) -> Nanos {
        let delay = self.cfg.at_turnaround + self.stall();
        self.log.push(self.now, EntryKind::AtOut, escape(bytes));
        self.emit_after(delay, bytes)
    }

    /// A reply stall, if one strikes (logged).
    fn stall(&mut self) -> Nanos {
        let stall = self.faults.stall();
        if stall > 0 {
            self.log.push(
                self.now,
                EntryKind::Fault,
                format!("reply stalled {} ms", stall / MS),
            );
        }
        stall
    }

    fn urc(&mut self, text: &str) -> Nanos {
        let bytes = at::urc(text);
        self.log.push(self.now, EntryKind::AtOut, escape(&bytes));
        self.emit_after(0, &bytes)
    }

    fn on_byte(&mut self, b: u8) {
        if self.power != Power::On {
            return;
        }
        if self.programming.is_some() && !self.cfg.at_during_programming {
            return;
        }
        if self.loader_starting {
            // The bootloader has jumped to the loader, which is still initialising: nobody listens.
            return;
        }
        match &mut self.input {
            Input::Command { .. } if self.mode == BootMode::LoaderWait => self.bootloader_byte(b),
            Input::Command { .. } => self.command_byte(b),
            Input::Data { pluses } => {
                if b == b'+' {
                    *pluses = pluses.saturating_add(1);
                    if *pluses == 3 {
                        let at = self.now;
                        self.schedule(at + ESCAPE_GUARD, Timer::EscapeGuard(at));
                    }
                } else {
                    *pluses = 0;
                }
            }
            Input::Stp { .. } => self.stp_byte(b),
        }
    }

    fn command_byte(&mut self, b: u8) {
        if self.echo {
            self.emit_after(0, &[b]);
        }
        let Input::Command { line, overflow } = &mut self.input else {
            return;
        };
        match b {
            b'\r' => {
                let text = std::mem::take(line);
                let too_long = std::mem::replace(overflow, false);
                self.execute(&text, too_long);
            }
            b'\n' => {}
            0x08 => {
                line.pop();
            }
            _ if line.len() >= MAX_LINE => *overflow = true,
            _ => line.push(b),
        }
    }

    fn bootloader_byte(&mut self, b: u8) {
        let Input::Command { line, overflow } = &mut self.input else {
            return;
        };
        if b != b'\n' {
            if line.len() >= MAX_LINE {
                *overflow = true;
            } else {
                line.push(b);
            }
            return;
        }
        let mut text = std::mem::take(line);
        let too_long = std::mem::replace(overflow, false);
        while text.last() == Some(&b'\r') {
            text.pop();
        }
        if text.is_empty() && !too_long {
            return;
        }
        self.log.push(
            self.now,
            EntryKind::AtIn,
            format!("(bootloader) {}", escape(&text)),
        );
        let upper = String::from_utf8_lossy(&text).to_ascii_uppercase();
        let command = if too_long {
            Command::Unknown(String::new())
        } else {
            at::parse(upper.strip_prefix("AT").unwrap_or("\u{0}"))
        };
        self.answered += 1;
        let done = match command {
            Command::Attention => self.reply(b"OK\r\n"),
            Command::BootModeQuery => self.reply(b"0\r\nOK\r\n"),
            Command::SetBaud(rate) => {
                let done = self.reply(b"OK\r\n");
                self.schedule(done, Timer::SwitchBaud(rate));
                done
            }
            Command::Stp => {
                let done = self.reply(b"OK\r\n");
                self.enter_stp(StpPurpose::Loader);
                done
            }
            _ => self.reply(b"ERROR\r\n"),
        };
        self.after_answer(done);
    }

    /// Executes one command line (V.250: everything before the `AT` prefix is ignored; a line without
    /// one gets no answer).
    fn execute(&mut self, text: &[u8], too_long: bool) {
        let Some(start) = text.windows(2).position(|w| w.eq_ignore_ascii_case(b"AT")) else {
            if !text.is_empty() {
                self.log.push(
                    self.now,
                    EntryKind::AtIn,
                    format!("ignored, no AT prefix: {}", escape(text)),
                );
            }
            return;
        };
        let body = text.get(start + 2..).unwrap_or_default();
        self.log.push(
            self.now,
            EntryKind::AtIn,
            escape(text.get(start..).unwrap_or_default()),
        );
        self.answered += 1;
        if too_long {
            let done = self.reply(&at::reply(&[], false));
            self.after_answer(done);
            return;
        }
        let command = at::parse(&String::from_utf8_lossy(body));
        let done = self.run(command);
        self.after_answer(done);
    }

    fn after_answer(&mut self, done: Nanos) {
        if let Some(Point::Count(n)) = self.faults.power_loss_point(Phase::Idle)
            && self.answered >= n.max(1)
            && self.programming.is_none()
        {
            self.schedule(done, Timer::PowerLoss(Phase::Idle));
            self.faults.fire_power_loss(Phase::Idle);
        }
    }

    fn ok(&mut self) -> Nanos {
        self.reply(&at::reply(&[], true))
    }

    fn error(&mut self) -> Nanos {
        self.reply(&at::reply(&[], false))
    }

    fn info(&mut self, lines: &[String]) -> Nanos {
        self.reply(&at::reply(lines, true))
    }

    fn run(&mut self, command: Command) -> Nanos {
        let busy = self.programming.is_some();
        match command {
            Command::Attention | Command::Accepted(_) => self.ok(),
            Command::Echo(on) => {
                self.echo = on;
                self.ok()
            }
            Command::Identify(0) => {
                let product = match self.cfg.model {
                    Model::Sqn3330 => "VZM20Q",
                    Model::Gm02s => "GM02S",
                };
                let ue = self
                    .running
                    .as_ref()
                    .map_or("UE0.0.0.0".into(), |v| self.ue_line(v));
                self.info(&["SEQUANS Communications".into(), product.into(), ue])
            }
            Command::Identify(_) => match self.running.clone() {
                Some(v) => {
                    let ue = self.ue_line(&v);
                    self.info(&[ue, v.lr()])
                }
                None => self.error(),
            },
            Command::ShowVersion => {
                let boot = self.flash.bootloader.showver();
                let sw = self.running.as_ref().map_or("none".into(), |v| {
                    format!("{} by robot-soft (simulated)", v.showver())
                });
                let ue = self.running.as_ref().map_or("none".into(), |v| {
                    self.ue_line(v).trim_start_matches("UE").to_string()
                });
                let lines = vec![
                    "SYSTEM VERSION".to_string(),
                    "--------------".into(),
                    format!("  Bootloader0  : {boot}"),
                    format!("  Bootloader1  : {boot}"),
                    format!("  Bootloader2* : {boot}"),
                    "  NV Info      : 1.1,0,0".into(),
                    format!("  Software     : {sw}"),
                    format!("  UE           : {ue}"),
                    "COMPONENTS".into(),
                    "----------".into(),
                    "  ZSP0         : 1.0.99-13604".into(),
                    "  ZSP1         : 1.0.99-12341".into(),
                ];
                self.info(&lines)
            }
            Command::BootModeQuery => self.info(&[self.mode.smod().to_string()]),
            Command::BootSelectionQuery => {
                let line = format!(
                    "+SMSWBOOT: {},\"{}\"",
                    self.flash.boot_target,
                    self.flash.boot_target_name()
                );
                self.info(&[line])
            }
            Command::SelectBoot { target, reset } => {
                if busy || target > 3 || reset > 1 || BootMode::from_boot_target(target).is_none() {
                    return self.error();
                }
                self.flash.boot_target = target;
                self.log.push(
                    self.now,
                    EntryKind::State,
                    format!(
                        "boot target {target} ({}) stored",
                        self.flash.boot_target_name()
                    ),
                );
                let done = self.ok();
                if reset == 1 {
                    self.schedule(done, Timer::Reboot);
                }
                done
            }
            Command::Reset => {
                if busy {
                    return self.error();
                }
                self.ok();
                let done = self.urc("+SHUTDOWN");
                self.schedule(done, Timer::Reboot);
                done
            }
            Command::SetFunctionality(fun, rst) => {
                if !matches!(fun, 0 | 1 | 4 | 5) || rst.is_some_and(|r| r != 0) {
                    return self.error();
                }
                self.cfun = fun;
                self.ok()
            }
            Command::FunctionalityQuery => self.info(&[format!("+CFUN: {}", self.cfun)]),
            Command::LogQuery => self.info(&["+SMLOG: 0".into()]),
            Command::StpOnTheFly => {
                self.accept_stp(&[BootMode::Upgrade, BootMode::Loader], StpPurpose::OnTheFly)
            }
            Command::StpStore => {
                self.accept_stp(&[BootMode::App, BootMode::Loader], StpPurpose::Store)
            }
            Command::StartUpgrade => {
                if busy || !matches!(self.mode, BootMode::App | BootMode::Loader) {
                    return self.error();
                }
                let Some(package) = self.flash.stored_package.take() else {
                    return self.error();
                };
                let done = self.ok();
                self.start_programming(package);
                done
            }
            Command::UpgradeQuery => {
                let state = match (&self.programming, &self.flash.report) {
                    (Some(_), _) => "\"on-going\"".to_string(),
                    (None, UpgradeReport::NoReport) => "\"No report\"".into(),
                    (None, UpgradeReport::Success) => "\"success\"".into(),
                    (None, UpgradeReport::Fail(why)) => {
                        format!("\"fail\",\"{}\"", why.replace('"', "'"))
                    }
                };
                self.info(&[format!("+SMUPGRADE: {state}")])
            }
            Command::Imei => {
                let imei = self.cfg.imei.clone();
                self.info(&[imei])
            }
            Command::SetBaud(rate) => {
                let done = self.ok();
                self.schedule(done, Timer::SwitchBaud(rate));
                done
            }
            Command::BaudQuery => self.info(&[format!("+IPR: {}", self.baud)]),
            Command::Stp | Command::Unknown(_) => self.error(),
        }
    }

    /// The `UE…` line of `ATI`/`ATI1`: SQN3330 shows `UE5.0.0.0d` next to `LR5.1.1.0-…` (spec §3.13);
    /// GM02S shows the full version (`UE8.0.5.11`), which Microchip's tool reads as the version.
    fn ue_line(&self, v: &SimVersion) -> String {
        match self.cfg.model {
            Model::Sqn3330 => format!("{}d", v.ue()),
            Model::Gm02s => format!("UE{}", v.text),
        }
    }

    /// `AT+SMSTPU[...]`: OK and STP when the running image offers it and nothing is programming.
    fn accept_stp(&mut self, modes: &[BootMode], purpose: StpPurpose) -> Nanos {
        if self.programming.is_some() || !modes.contains(&self.mode) {
            return self.error();
        }
        let done = self.ok();
        self.enter_stp(purpose);
        done
    }

    fn enter_stp(&mut self, purpose: StpPurpose) {
        let max_transfer = match purpose {
            StpPurpose::Loader => self.cfg.bootloader_max_transfer,
            _ => self.cfg.max_transfer,
        };
        let cfg = SlaveConfig {
            version: self.cfg.stp_version,
            max_transfer,
            response_crc: self.cfg.response_crc,
        };
        self.log.push(
            self.now,
            EntryKind::State,
            format!(
                "STP slave started ({purpose:?}, version {}, max_transfer {max_transfer})",
                cfg.version
            ),
        );
        self.input = Input::Stp {
            slave: Box::new(StpSlave::new(cfg)),
            purpose,
            total: None,
        };
    }

    fn stp_byte(&mut self, b: u8) {
        let now = self.now;
        let Input::Stp { slave, total, .. } = &mut self.input else {
            return;
        };
        let before = slave.stream.len();
        let out = slave.push(now, b, &mut self.faults, &mut self.log);
        let after = slave.stream.len();
        if total.is_none() {
            *total = announced_length(&slave.stream);
        }
        let total = *total;
        if after > before && self.transfer_fault(after as u64, total) {
            return;
        }
        if let Some(out) = out {
            self.send_stp(out.bytes, out.close);
        }
    }

    fn on_stp_idle(&mut self) {
        let now = self.now;
        let Input::Stp { slave, .. } = &mut self.input else {
            return;
        };
        if let Some(out) = slave.on_idle(now, &mut self.log) {
            self.send_stp(out.bytes, out.close);
        }
    }

    fn send_stp(&mut self, bytes: Vec<u8>, close: bool) {
        let delay = self.cfg.stp_turnaround + self.stall();
        self.emit_after(delay, &bytes);
        if close {
            self.close_stp();
        }
    }

    /// Checks the one-shot transfer faults after `received` stream bytes; true when one fired.
    fn transfer_fault(&mut self, received: u64, total: Option<u64>) -> bool {
        let reached = |p: Point| match p {
            Point::Count(n) => received >= n,
            Point::Fraction(f) => total.is_some_and(|t| received as f64 >= t as f64 * f),
        };
        if self
            .faults
            .power_loss_point(Phase::Transfer)
            .is_some_and(reached)
        {
            self.faults.fire_power_loss(Phase::Transfer);
            self.log.push(
                self.now,
                EntryKind::Fault,
                format!("power loss during the transfer after {received} bytes"),
            );
            self.power_loss();
            return true;
        }
        if self.faults.reboot_point().is_some_and(reached) {
            self.faults.fire_reboot();
            self.log.push(
                self.now,
                EntryKind::Fault,
                format!("modem resets itself during the transfer after {received} bytes"),
            );
            self.reboot();
            return true;
        }
        false
    }

    fn close_stp(&mut self) {
        let input = std::mem::replace(
            &mut self.input,
            Input::Command {
                line: Vec::new(),
                overflow: false,
            },
        );
        let Input::Stp {
            slave,
            purpose,
            total,
        } = input
        else {
            return;
        };
        if total.is_none()
            && matches!(
                self.faults.power_loss_point(Phase::Transfer),
                Some(Point::Fraction(_))
            )
        {
            // A fraction needs the announced length; without one the fault must not leak into the
            // next transfer.
            self.faults.fire_power_loss(Phase::Transfer);
            self.log.push(
                self.now,
                EntryKind::Fault,
                "power-loss=transfer@FRACTION dropped: the stream announced no length",
            );
        }
        add_stats(&mut self.stp_totals, &slave.stats);
        let slave = *slave;
        self.log.push(
            self.now,
            EntryKind::State,
            format!(
                "STP session closed after {} stream bytes; back to AT",
                slave.stream.len()
            ),
        );
        if slave.stream.is_empty() {
            return;
        }
        let stream = match slave.data_type {
            Some(3 | 5) => match miniz_oxide::inflate::decompress_to_vec_zlib(&slave.stream) {
                Ok(data) => data,
                Err(e) => {
                    let why = format!("compressed stream does not inflate ({:?})", e.status);
                    self.refuse(purpose, why, slave.stream.len());
                    return;
                }
            },
            _ => slave.stream,
        };
        match purpose {
            StpPurpose::Loader => match package::verify_loader_elf(&stream) {
                Ok(info) => {
                    self.log.push(
                        self.now,
                        EntryKind::State,
                        format!(
                            "loader ELF accepted ({} B, version {}); starting",
                            stream.len(),
                            info.version
                                .as_ref()
                                .map_or("unknown".into(), SimVersion::showver)
                        ),
                    );
                    self.loader_starting = true;
                    let at = self.now + self.cfg.loader_start_time;
                    self.schedule(at, Timer::LoaderStarted);
                }
                Err(why) => self.refuse(purpose, why.to_string(), stream.len()),
            },
            StpPurpose::Store => {
                if stream.len() > self.cfg.store_limit {
                    let why = format!(
                        "package of {} B exceeds the {} B store (use ON_THE_FLY)",
                        stream.len(),
                        self.cfg.store_limit
                    );
                    self.refuse(purpose, why, stream.len());
                } else {
                    self.log.push(
                        self.now,
                        EntryKind::State,
                        format!(
                            "package stored ({} B); waiting for AT+SMUPGRADE",
                            stream.len()
                        ),
                    );
                    self.flash.stored_package = Some(stream);
                }
            }
            StpPurpose::OnTheFly => self.start_programming(stream),
        }
    }

    fn refuse(&mut self, purpose: StpPurpose, why: String, bytes: usize) {
        self.log.push(
            self.now,
            EntryKind::State,
            format!("{purpose:?} transfer refused: {why}"),
        );
        if purpose != StpPurpose::Loader {
            self.flash.report = UpgradeReport::Fail(why.clone());
            self.flash.history.push(ProgramRecord {
                components: Vec::new(),
                version: None,
                result: UpgradeReport::Fail(why),
                bytes,
            });
        }
    }

    fn rules(&self) -> PackageRules {
        PackageRules {
            trailer_order: match self.cfg.model {
                Model::Sqn3330 => WordOrder::Big,
                Model::Gm02s => WordOrder::Little,
            },
            installed_build: self.flash.firmware.as_ref().map(|v| v.build),
            accept_unverifiable_signatures: self.cfg.accept_unverifiable_signatures,
        }
    }

    fn start_programming(&mut self, package: Vec<u8>) {
        match package::verify_package(&package, &self.rules()) {
            Ok(summary) => {
                let start = self.now;
                let end = start + self.cfg.flash_time;
                self.log.push(
                    start,
                    EntryKind::State,
                    format!(
                        "package verified ({} B, {}); programming until {} s",
                        package.len(),
                        component_names(&summary).join(", "),
                        format_time(end)
                    ),
                );
                self.schedule(end, Timer::ProgrammingDone);
                if let Some(p) = self.faults.power_loss_point(Phase::Programming) {
                    self.faults.fire_power_loss(Phase::Programming);
                    let at = start + phase_offset(p, self.cfg.flash_time);
                    self.schedule(
                        at.min(end.saturating_sub(1)),
                        Timer::PowerLoss(Phase::Programming),
                    );
                }
                self.programming = Some(Programming {
                    start,
                    end,
                    summary,
                    bytes: package.len(),
                });
            }
            Err(why) => {
                let text = why.to_string();
                self.log.push(
                    self.now,
                    EntryKind::State,
                    format!("package refused: {text}"),
                );
                self.flash.report = UpgradeReport::Fail(text.clone());
                self.flash.history.push(ProgramRecord {
                    components: Vec::new(),
                    version: None,
                    result: UpgradeReport::Fail(text),
                    bytes: package.len(),
                });
            }
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::PowerOn => {
                self.log
                    .push(self.now, EntryKind::State, "power restored; booting");
                self.begin_boot();
            }
            Timer::BootDone(mode) => self.boot_done(mode),
            Timer::Reboot => self.reboot(),
            Timer::PowerLoss(phase) => {
                self.log.push(
                    self.now,
                    EntryKind::Fault,
                    format!("power loss ({})", phase.name()),
                );
                self.power_loss();
            }
            Timer::ProgrammingDone => self.programming_done(),
            Timer::LoaderStarted => {
                if self.loader_starting && self.power == Power::On {
                    self.loader_starting = false;
                    self.mode = BootMode::Loader;
                    self.echo = true;
                    self.log.push(
                        self.now,
                        EntryKind::State,
                        "loader running: mode loader (SMOD 1)",
                    );
                }
            }
            Timer::SwitchBaud(rate) => {
                self.baud = rate;
                self.log
                    .push(self.now, EntryKind::State, format!("baud rate now {rate}"));
            }
            Timer::EscapeGuard(third_plus) => {
                if matches!(self.input, Input::Data { pluses: 3 }) && self.last_rx <= third_plus {
                    self.input = Input::Command {
                        line: Vec::new(),
                        overflow: false,
                    };
                    self.log
                        .push(self.now, EntryKind::State, "+++ escape: command mode");
                    self.ok();
                }
            }
        }
    }

    fn programming_done(&mut self) {
        let Some(p) = self.programming.take() else {
            return;
        };
        let s = &p.summary;
        if let Some(v) = &s.target {
            self.flash.firmware = Some(v.clone());
        }
        if let Some(v) = &s.updater_version {
            self.flash.updater = Some(v.clone());
        }
        if let Some(v) = &s.bootrom_version {
            self.flash.bootloader = v.clone();
        }
        self.flash.report = UpgradeReport::Success;
        self.flash.history.push(ProgramRecord {
            components: component_names(s),
            version: s.target.clone(),
            result: UpgradeReport::Success,
            bytes: p.bytes,
        });
        self.log.push(
            self.now,
            EntryKind::State,
            format!(
                "programming done after {} s: success, installed {}",
                format_time(p.end - p.start),
                self.flash
                    .firmware
                    .as_ref()
                    .map_or("-".into(), SimVersion::lr)
            ),
        );
    }

    /// Cuts the power now.
    pub fn power_loss(&mut self) {
        self.flash.power_losses += 1;
        if let Some(p) = self.programming.take() {
            self.flash.firmware = None;
            let result = UpgradeReport::Fail("power lost while programming".into());
            self.flash.report = result.clone();
            self.flash.history.push(ProgramRecord {
                components: component_names(&p.summary),
                version: None,
                result,
                bytes: p.bytes,
            });
            self.log.push(
                self.now,
                EntryKind::State,
                "programming interrupted: firmware damaged, the modem will need a loader ELF",
            );
        }
        self.power = Power::Off;
        self.shutdown();
        self.log.push(self.now, EntryKind::State, "power off");
        let at = self.now + self.cfg.power_off_time;
        self.schedule(at, Timer::PowerOn);
    }

    /// Volatile state is lost: queued bytes, STP session, timers, pending loader.
    fn shutdown(&mut self) {
        let now = self.now;
        self.out.retain(|&(t, _)| t <= now);
        self.out_line_free = self.out_line_free.min(now);
        self.rx.clear();
        // A software reset does not stop a pending power loss (it belongs to the supply, not the modem).
        self.timers
            .retain(|(_, t)| matches!(t, Timer::PowerLoss(_)) && self.power == Power::On);
        if let Input::Stp { slave, .. } = &self.input {
            let stats = slave.stats.clone();
            add_stats(&mut self.stp_totals, &stats);
        }
        self.input = Input::Command {
            line: Vec::new(),
            overflow: false,
        };
        self.loader_starting = false;
    }

    /// A software reset (AT^RESET, `AT+SMSWBOOT=x,1`, or a self-reset fault).
    fn reboot(&mut self) {
        if self.programming.is_some() {
            // Only a fault can get here while programming; treat it like a power loss.
            self.power_loss();
            return;
        }
        self.shutdown();
        self.log.push(self.now, EntryKind::State, "rebooting");
        self.begin_boot();
    }

    fn target_mode(&self) -> BootMode {
        if self.flash.firmware.is_none() {
            BootMode::LoaderWait
        } else {
            BootMode::from_boot_target(self.flash.boot_target).unwrap_or(BootMode::LoaderWait)
        }
    }

    fn begin_boot(&mut self) {
        self.power = Power::Booting;
        let mode = self.target_mode();
        let start = self.now;
        let end = start + self.cfg.boot_time;
        self.schedule(end, Timer::BootDone(mode));
        let phase = match mode {
            BootMode::Upgrade => Some(Phase::Switching),
            BootMode::App => Some(Phase::Reboot),
            _ => None,
        };
        if let Some(phase) = phase
            && let Some(p) = self.faults.power_loss_point(phase)
        {
            self.faults.fire_power_loss(phase);
            let at = start + phase_offset(p, self.cfg.boot_time);
            self.schedule(at.min(end.saturating_sub(1)), Timer::PowerLoss(phase));
        }
    }

    fn boot_done(&mut self, mode: BootMode) {
        self.power = Power::On;
        self.mode = mode;
        self.baud = if mode == BootMode::LoaderWait {
            self.cfg.bootloader_baud
        } else {
            self.cfg.app_baud
        };
        self.running = if mode == BootMode::LoaderWait {
            None
        } else {
            self.flash.firmware.clone()
        };
        self.echo = true;
        self.cfun = 1;
        self.input = Input::Command {
            line: Vec::new(),
            overflow: false,
        };
        self.log.push(
            self.now,
            EntryKind::State,
            format!(
                "booted into {} (SMOD {}) at {} baud",
                mode.name(),
                mode.smod(),
                self.baud
            ),
        );
        if mode == BootMode::App {
            self.urc("+SYSSTART");
        }
    }

    /// Replaces the fault injection from now on (a campaign's clean re-run turns faults off).
    /// Pending one-shot faults (power loss, self-reset) are dropped with the old specification.
    pub fn set_faults(&mut self, spec: crate::faults::FaultSpec) {
        self.cfg.faults = spec.clone();
        self.faults = Faults::new(spec);
    }

    /// Test hook: pull the power now (as a user unplugging the board).
    pub fn pull_power(&mut self) {
        self.log
            .push(self.now, EntryKind::Fault, "power pulled by the test");
        self.power_loss();
    }
}

fn phase_offset(p: Point, len: Nanos) -> Nanos {
    match p {
        Point::Fraction(_) => p.resolve(len),
        Point::Count(ms) => ms * MS,
    }
}

fn add_stats(total: &mut StpStats, s: &StpStats) {
    total.requests += s.requests;
    total.blocks += s.blocks;
    total.retransmissions += s.retransmissions;
    total.nacks += s.nacks;
    total.bad_frames += s.bad_frames;
    total.noise_bytes += s.noise_bytes;
    total.residue_bytes += s.residue_bytes;
}

fn component_names(s: &PackageSummary) -> Vec<String> {
    s.components
        .iter()
        .map(|c| {
            match c.kind {
                ComponentKind::Bootrom => "bootrom",
                ComponentKind::Updater => "updater",
                ComponentKind::Firmware => "fff",
                ComponentKind::Pxl => "pxl",
                ComponentKind::FileSystem => "fs",
            }
            .to_string()
        })
        .collect()
}

/// The stream length its first header announces: a CABA container's total length, or an ELF's extent
/// (its section header table end). `None` until enough bytes arrived, or for other streams.
fn announced_length(stream: &[u8]) -> Option<u64> {
    let le16 = |o: usize| {
        stream
            .get(o..o + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let le32 = |o: usize| {
        stream
            .get(o..o + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let magic = stream.get(..4)?;
    if magic == b"PACK" || magic == b"UPGR" {
        return match le16(4)? {
            1 => Some(20 + le32(8)?),
            2 => Some(16 + le32(8)? + le16(14)?),
            3 => Some(18 + le32(8)? + le16(14)? + le16(16)?),
            _ => None,
        };
    }
    if magic == b"\x7fELF" {
        let big = *stream.get(5)? == 2;
        let rd16 = |o: usize| {
            stream.get(o..o + 2).map(|b| {
                u64::from(if big {
                    u16::from_be_bytes([b[0], b[1]])
                } else {
                    u16::from_le_bytes([b[0], b[1]])
                })
            })
        };
        let rd32 = |o: usize| {
            stream.get(o..o + 4).map(|b| {
                u64::from(if big {
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
                } else {
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
                })
            })
        };
        return Some(rd32(32)? + rd16(46)? * rd16(48)?);
    }
    None
}
