//! Example firmware: upgrades the modem on UART1 from the `.dup` package on the SD card, on QEMU's
//! `lm3s6965evb` (Cortex-M3), and reports through semihosting.
//!
//! `cargo xtask qemu` does everything: builds this firmware and a card image, starts `modem-sim`,
//! runs QEMU and checks the report against the simulator (docs/testing.md, "The firmware in QEMU").
//! By hand:
//!
//! ```text
//! cd examples/firmware && cargo build --release
//! qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -display none -monitor none \
//!   -semihosting-config enable=on,target=native -drive if=sd,format=raw,file=sd.img \
//!   -serial null -chardev socket,id=u1,host=127.0.0.1,port=PORT,nodelay=on -serial chardev:u1 \
//!   -kernel target/thumbv7m-none-eabi/release/modem-upgrade-firmware
//! ```
//!
//! The card needs an MBR with a FAT32 (or FAT16) partition (its size a power of two for QEMU), the
//! package in its root (one `.dup`) and, for a modem found in loader-wait mode, `updater.elf` or
//! `mtools.elf`. Semihosting output: one line per stage, one per 64 KiB acknowledged, the summary
//! `upgrade_from_sd` prints, the RAM used (statics, stack peak), then the report as one JSON line with
//! the keys, in the order, of `upgrade_from_sd --json`. Exit status (semihosting): 0 upgraded or
//! already current, 1 failed (or a fault), 2 rejected (card, file or package unusable; the modem
//! untouched).
//!
//! `board.rs` is all the board glue; this file is what any board's firmware would contain.

#![no_std]
#![no_main]
#![deny(unsafe_code)]

// Register access, the SD workaround and the semihosting exit, each with a SAFETY note.
#[allow(unsafe_code)]
mod board;

use core::fmt::{self, Display, Write as _};
use core::ops::ControlFlow;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use embedded_sdmmc::{SdCard, VolumeManager};
use modem_upgrade::storage::find::{FindOptions, FindProblem};
use modem_upgrade::storage::sdmmc::{self, Card, SdImage, SdJournal};
use modem_upgrade::transport::Link;
use modem_upgrade::upgrade::{
    BLOCK_BUFFER_LEN, Buffers, Event, Observer, Outcome, Payload, READ_AHEAD_LEN, Report, Source,
    Upgrader,
};
use panic_semihosting as _;

use board::{Board, BusyDelay, FixedTime, Millis, SdSpi, Uart1};

/// The card behind SSI0, in a volume manager with room for 4 directories, 4 files and 1 volume.
type Sd = SdCard<SdSpi, BusyDelay>;
type Volumes = VolumeManager<Sd, FixedTime, 4, 4, 1>;
type Image<'v> = SdImage<'v, Sd, FixedTime, 4, 4, 1>;
type Journal<'v> = SdJournal<'v, Sd, FixedTime, 4, 4, 1>;
/// The upgrader as `main` builds it, with or without a loader ELF on the card.
type FirmwareUpgrader<'a> = Upgrader<'a, Uart1, Millis, Image<'a>, Image<'a>, Journal<'a>, Console>;

/// The upgrader's own state (links, sources, journal, observer, options; not the caller's buffers),
/// kept in the ELF for `cargo xtask bench` (`upgrader_static_ram_bytes`).
// `no_mangle` only: a plain constant under a fixed name.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
#[used]
static UPGRADER_STATE_BYTES: usize = core::mem::size_of::<FirmwareUpgrader<'static>>();

/// The UART link the upgrader borrows for the whole run (receive chunk, AT line buffer, URC
/// listener), for the same metric.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
#[used]
static LINK_STATE_BYTES: usize = core::mem::size_of::<Link<Uart1, Millis>>();

/// Progress is printed every this many bytes acknowledged.
const PROGRESS_STEP: u32 = 64 * 1024;

#[entry]
fn main() -> ! {
    board::paint_stack();
    let outcome = match Board::take() {
        Some(board) => upgrade(board),
        None => Outcome::Failed, // only if `main` ran twice
    };
    board::exit(outcome.exit_code())
}

/// Finds the files, runs the upgrade, prints the report; returns the outcome.
fn upgrade(board: Board) -> Outcome {
    let sd = SdCard::new(SdSpi::new(board.spi, board.sd_cs), board.delay);
    match board::init_card(&sd) {
        Ok(bytes) => hprintln!("card: {} MiB", bytes >> 20),
        Err(e) => return rejected(&format_args!("the SD card does not answer ({e:?})")),
    }
    let volumes: Volumes = VolumeManager::new(sd, board.time);
    let card = match Card::open(&volumes) {
        Ok(card) => card,
        Err(e) => return rejected(&e),
    };
    let package = match card.find(&FindOptions::image()) {
        Ok(found) => found,
        Err(e) => return rejected(&e),
    };
    // `updater.elf` / `mtools.elf`, needed only for a modem found in loader-wait mode.
    let loader_scan = FindOptions {
        extensions: FindOptions::LOADER_EXTENSIONS,
        ..FindOptions::image()
    };
    let loader = match card.find(&loader_scan) {
        Ok(found) => Some(found),
        Err(sdmmc::Error::Find(FindProblem::NotFound { .. })) => None,
        Err(e) => return rejected(&e),
    };
    let name = package.found.name.as_str();
    hprintln!("package: {} ({} bytes)", name, package.found.size);
    let image = match card.open_image(&package) {
        Ok(image) => image,
        Err(e) => return rejected(&e),
    };
    let loader = match loader.as_ref().map(|found| (found, card.open_image(found))) {
        Some((found, Ok(file))) => {
            hprintln!("loader: {}", found.found.name.as_str());
            Some(Source::new(found.found.name.as_str(), file))
        }
        Some((_, Err(e))) => return rejected(&e),
        None => None,
    };
    let journal = match card.open_journal(&package) {
        Ok(journal) => journal,
        Err(e) => return rejected(&e),
    };

    let mut link = Link::new(board.uart, board.clock);
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let buffers = Buffers {
        block: &mut block,
        window: &mut window,
    };
    // One upgrader type with or without a loader ELF: one copy of `run` in flash.
    let upgrader: FirmwareUpgrader<'_> =
        Upgrader::new(&mut link, Source::new(name, image), journal, buffers)
            .with_options(board::upgrade_options())
            .with_observer(Console::default())
            .with_optional_loader(loader);
    let result = upgrader.run();
    let (report, error) = match &result {
        Ok(report) => (report, None),
        Err(failure) => (&failure.report, Some(&failure.error as &dyn Display)),
    };
    finish(&JsonReport {
        outcome: report.outcome,
        report: Some(report),
        image: Some(name),
        error,
    });
    report.outcome
}

/// The card or its files cannot be used: the modem was not touched.
fn rejected(error: &dyn Display) -> Outcome {
    hprintln!("SD card: {}", error);
    finish(&JsonReport {
        outcome: Outcome::Rejected,
        report: None,
        image: None,
        error: Some(&format_args!("SD card: {error}")),
    });
    Outcome::Rejected
}

/// The summary (the lines `upgrade_from_sd` prints), RAM use (the stack's high-water mark, after
/// the run), and the report as the last line.
fn finish(report: &JsonReport<'_>) {
    hprintln!("{}", Summary(report));
    hprintln!(
        "RAM: {} bytes of statics, stack peak {} bytes",
        board::static_ram_bytes(),
        board::stack_peak_bytes()
    );
    hprintln!("{}", report);
}

/// The observer: a line per stage and per retry, and one per 64 KiB acknowledged.
#[derive(Debug, Default)]
struct Console {
    /// The last progress line printed: what, and which 64 KiB step (`u32::MAX` for "all").
    progress: Option<(Payload, u32)>,
}

impl Observer for Console {
    fn on_event(&mut self, event: &Event<'_>) -> ControlFlow<()> {
        match *event {
            Event::Stage {
                stage,
                do_not_power_off,
                ..
            } => {
                self.progress = None;
                if do_not_power_off {
                    hprintln!("==> {}  [DO NOT POWER OFF the modem]", stage);
                } else {
                    hprintln!("==> {}", stage);
                }
            }
            Event::Progress {
                payload,
                done,
                total,
            } => {
                let step = if done >= total {
                    u32::MAX
                } else {
                    done / PROGRESS_STEP
                };
                if self.progress != Some((payload, step)) {
                    self.progress = Some((payload, step));
                    let what = match payload {
                        Payload::Package => "package",
                        Payload::Loader => "loader",
                    };
                    hprintln!("    {}: {}/{} bytes acknowledged", what, done, total);
                }
            }
            Event::Retry { stage, reason } => hprintln!("    retry during {}: {}", stage, reason),
            Event::Detected { .. }
            | Event::Decided { .. }
            | Event::Waiting { .. }
            | Event::Checkpoint { .. } => {}
        }
        ControlFlow::Continue(())
    }
}

/// The human summary, line for line as `upgrade_from_sd` prints it.
struct Summary<'a, 'r>(&'a JsonReport<'r>);

impl Display for Summary<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let JsonReport {
            outcome,
            report,
            image,
            error,
        } = self.0;
        write!(f, "\noutcome: {}", outcome.name())?;
        if let Some(r) = report {
            let show = |v: Option<&dyn Display>, f: &mut fmt::Formatter<'_>| match v {
                Some(v) => write!(f, "{v}"),
                None => f.write_str("unknown"),
            };
            f.write_str("\nfirmware: ")?;
            show(r.version_before.as_ref().map(dyn_display), f)?;
            f.write_str(" -> ")?;
            show(r.version_after.as_ref().map(dyn_display), f)?;
            f.write_str(" (package installs ")?;
            show(r.target.as_ref().map(dyn_display), f)?;
            f.write_str(")")?;
            if let Some(image) = image {
                write!(f, "\npackage: {image} ({} bytes)", r.image_bytes)?;
            }
            write!(
                f,
                "\nsent: {} bytes in {} transfer(s), {} retries",
                r.bytes_sent, r.transfers, r.retries
            )?;
            if r.loader_pushes > 0 {
                write!(f, ", {} loader push(es)", r.loader_pushes)?;
            }
            if let Some(from) = r.resumed_from {
                write!(f, ", resumed from byte {from}")?;
            }
            write!(f, "\nduration: {}", Duration(r.duration_ms))?;
            f.write_str("\nstages: ")?;
            for (i, (stage, ms)) in r.stages().enumerate() {
                let comma = if i == 0 { "" } else { ", " };
                write!(f, "{comma}{stage} {}", Duration(ms))?;
            }
            if let Some(mode) = r.modem_mode {
                write!(f, "\nmodem last seen in: {mode}")?;
            }
            if let Some(reason) = &r.modem_reason {
                write!(f, "\nmodem's reason: {reason}")?;
            }
        }
        if let Some(e) = error {
            write!(f, "\nerror: {e}")?;
        }
        Ok(())
    }
}

/// Milliseconds as `upgrade_from_sd` shows them (`850 ms`, `12.3 s`, `2 min 05 s`), in integers: no
/// float formatting code in flash.
struct Duration(u64);

impl Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms < 1_000 {
            write!(f, "{ms} ms")
        } else if ms < 60_000 {
            let tenths = (ms + 50) / 100;
            write!(f, "{}.{} s", tenths / 10, tenths % 10)
        } else {
            write!(f, "{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000)
        }
    }
}

/// The report as one JSON object, with the keys (and their order) of `upgrade_from_sd --json`.
struct JsonReport<'a> {
    outcome: Outcome,
    report: Option<&'a Report>,
    image: Option<&'a str>,
    error: Option<&'a dyn Display>,
}

impl Display for JsonReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        write!(f, "{{\"outcome\":")?;
        string(f, Some(&self.outcome.name()))?;
        write!(f, ",\"version_before\":")?;
        string(
            f,
            r.and_then(|r| r.version_before).as_ref().map(dyn_display),
        )?;
        write!(f, ",\"version_after\":")?;
        string(f, r.and_then(|r| r.version_after).as_ref().map(dyn_display))?;
        write!(f, ",\"expected_version\":")?;
        string(f, r.and_then(|r| r.target).as_ref().map(dyn_display))?;
        write!(f, ",\"image\":")?;
        string(f, self.image.as_ref().map(dyn_display))?;
        write!(f, ",\"image_bytes\":")?;
        number(f, r.map(|r| u64::from(r.image_bytes)))?;
        write!(f, ",\"bytes_sent\":{}", r.map_or(0, |r| r.bytes_sent))?;
        write!(f, ",\"resumed_from\":")?;
        number(f, r.and_then(|r| r.resumed_from).map(u64::from))?;
        write!(f, ",\"retries\":{}", r.map_or(0, |r| r.retries))?;
        write!(f, ",\"phases\":[")?;
        if let Some(r) = r {
            for (i, (stage, ms)) in r.stages().enumerate() {
                let comma = if i == 0 { "" } else { "," };
                write!(f, "{comma}{{\"name\":")?;
                string(f, Some(&stage.name()))?;
                write!(f, ",\"ms\":{ms}}}")?;
            }
        }
        write!(f, "],\"duration_ms\":{}", r.map_or(0, |r| r.duration_ms))?;
        write!(f, ",\"error\":")?;
        string(f, self.error)?;
        write!(f, "}}")
    }
}

fn dyn_display<T: Display>(value: &T) -> &dyn Display {
    value
}

/// A JSON string (escaped), or `null`.
fn string(f: &mut fmt::Formatter<'_>, value: Option<&dyn Display>) -> fmt::Result {
    match value {
        Some(value) => {
            f.write_char('"')?;
            write!(Escaped(f), "{value}")?;
            f.write_char('"')
        }
        None => f.write_str("null"),
    }
}

/// A JSON number, or `null`.
fn number(f: &mut fmt::Formatter<'_>, value: Option<u64>) -> fmt::Result {
    match value {
        Some(value) => write!(f, "{value}"),
        None => f.write_str("null"),
    }
}

/// Escapes what it writes for the inside of a JSON string.
struct Escaped<'a, 'f>(&'a mut fmt::Formatter<'f>);

impl fmt::Write for Escaped<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            match c {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c if u32::from(c) < 0x20 => write!(self.0, "\\u{:04x}", u32::from(c))?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}
