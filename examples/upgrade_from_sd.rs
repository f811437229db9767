//! Upgrades a Sequans Monarch modem from the firmware package on an SD card: the project's main job.
//!
//! ```text
//! cargo run --release --example upgrade_from_sd                     # demo: built-in simulator
//! cargo run --release --example upgrade_from_sd -- --sd /dev/sdb --port /dev/ttyUSB0
//! ```
//!
//! With no arguments it builds a demo card image, `target/demo/sd.img` (FAT32 behind an MBR, holding a
//! synthesized package under a long file name and a loader ELF), and upgrades the built-in simulated
//! modem (SQN3330 running 5.1.1.0 [38638]) from it, on the simulator's virtual time: a run of about
//! 70 simulated seconds takes a fraction of a second.
//!
//! The card is read the way a board reads it (embedded-sdmmc through the library's `Card`), the
//! upgrade is the library's one call (`Upgrader::run`), and its resume journal is written to the card
//! (`UPGRADE.JNL` next to the package), so an interrupted run continues where the modem is.
//!
//! Exit code: 0 upgraded and verified, or already current; 1 the upgrade failed (the error says the
//! modem's state and what to do); 2 bad input (bad arguments, card or file problems, package
//! rejected) — the modem untouched.

#[path = "upgrade_from_sd/adapters.rs"]
mod adapters;
#[path = "upgrade_from_sd/args.rs"]
mod args;
#[path = "upgrade_from_sd/demo.rs"]
mod demo;
#[path = "upgrade_from_sd/ui.rs"]
mod ui;

use std::fmt::Debug;
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

use adapters::{ModemClock, Uart};
use args::{Args, Modem, Stop, USAGE, parse_args};
use embedded_sdmmc::{TimeSource, Timestamp, VolumeManager};
use modem_sim::{Sim, SimConfig};
use modem_upgrade::storage::find::FindOptions;
use modem_upgrade::storage::journal::{FileJournal, JournalStore};
use modem_upgrade::storage::sdmmc::{Card, FileDisk};
use modem_upgrade::storage::{FileImage, ImageSource, find_in_dir};
use modem_upgrade::transport::Link;
use modem_upgrade::transport::serial::SerialUart;
use modem_upgrade::transport::std_io::{StdClock, connect_tcp};
use modem_upgrade::upgrade::{
    BLOCK_BUFFER_LEN, Buffers, DEFAULT_PROBE_RATES, Options, Outcome, READ_AHEAD_LEN, Report,
    Source, Upgrader,
};
use ui::{Summary, Ui};

/// embedded-sdmmc stamps files it creates (the journal, once); a fixed date keeps cards reproducible.
struct FixedTime;

impl TimeSource for FixedTime {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp::from_fat(0x5A21, 0) // 2025-01-01 00:00
    }
}

/// The upgrader's result in the example's terms.
struct Ran {
    report: Report,
    image: String,
    error: Option<String>,
    virtual_time: bool,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // Known before parsing, so even bad arguments get their JSON report.
    let json = argv.iter().any(|a| a == "--json");
    let mut ui = Ui::new(json);
    let ended = parse_args(&argv).and_then(|args| run(&args, &mut ui));
    ui.done();
    let (summary_outcome, ran, stop_error) = match &ended {
        Ok(ran) => (ran.report.outcome, Some(ran), None),
        Err(Stop::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(Stop::Usage(e)) => {
            eprintln!("upgrade_from_sd: {e}\n\n{USAGE}");
            (Outcome::Rejected, None, Some(e.as_str()))
        }
        Err(Stop::Rejected(e)) => (Outcome::Rejected, None, Some(e.as_str())),
        Err(Stop::Failed(e)) => (Outcome::Failed, None, Some(e.as_str())),
    };
    let summary = Summary {
        outcome: summary_outcome,
        report: ran.map(|r| &r.report),
        image: ran.map(|r| r.image.as_str()),
        error: ran.and_then(|r| r.error.as_deref()).or(stop_error),
    };
    if !matches!(ended, Err(Stop::Usage(_))) {
        summary.print(&ui, ran.is_some_and(|r| r.virtual_time));
    }
    if json {
        println!("{}", summary.json());
    }
    ExitCode::from(summary_outcome.exit_code())
}

/// Finds the files, connects to the modem, runs the upgrade.
fn run(args: &Args, ui: &mut Ui) -> Result<Ran, Stop> {
    let (path, opened) = match &args.sd {
        Some(path) => (path.clone(), None),
        None => {
            let (path, file, size) = demo::build_card().map_err(|e| {
                Stop::Failed(format!(
                    "cannot build the demo card under {}: {e}",
                    demo::target_dir().display()
                ))
            })?;
            ui.say(format!(
                "demo card: {} (FAT32 behind an MBR, {} MiB, sparse) holding {} and {}",
                path.display(),
                size >> 20,
                demo::PACKAGE_NAME,
                demo::LOADER_NAME
            ));
            (path, Some(file))
        }
    };
    if opened.is_none() && path.is_dir() {
        run_dir(args, &path, ui)
    } else {
        run_card(args, &path, opened, ui)
    }
}

/// The package (and loader) on a FAT card image or block device.
fn run_card(args: &Args, path: &Path, opened: Option<File>, ui: &mut Ui) -> Result<Ran, Stop> {
    let disk = match opened {
        Some(file) => FileDisk::from_file(file),
        None => FileDisk::open(path),
    }
    .map_err(|e| Stop::Rejected(format!("cannot open the card {}: {e}", path.display())))?;
    let vm: VolumeManager<FileDisk, FixedTime, 4, 4, 1> = VolumeManager::new(disk, FixedTime);
    let on_card = |e: &dyn std::fmt::Display| Stop::Rejected(format!("{}: {e}", path.display()));
    let card = Card::open(&vm).map_err(|e| on_card(&e))?;
    let options = match &args.image {
        Some(name) => FindOptions::named(name),
        None => FindOptions::image(),
    };
    let located = card.find(&options).map_err(|e| on_card(&e))?;
    let image = card.open_image(&located).map_err(|e| on_card(&e))?;
    let loader = match &args.loader {
        Some(name) => {
            let found = card
                .find(&FindOptions::named(name))
                .map_err(|e| on_card(&e))?;
            let file = card.open_image(&found).map_err(|e| on_card(&e))?;
            Some((found.found.name, file))
        }
        None => None,
    };
    let journal = card.open_journal(&located).map_err(|e| on_card(&e))?;
    let geometry = &card.layout().geometry;
    ui.say(format!(
        "card: {} ({:?}, partition {}, {} clusters of {} bytes)",
        path.display(),
        geometry.kind,
        card.layout().partition.index + 1,
        geometry.cluster_count,
        u32::from(geometry.sectors_per_cluster) * 512
    ));
    ui.say(format!(
        "package: {} ({} bytes; 8.3 name {})",
        located.found.name, located.found.size, located.found.short_name
    ));
    let package = Source::new(located.found.name.as_str(), image);
    drive_named(args, package, loader, journal, ui)
}

/// The package (and loader) in a plain directory; the journal is `<dir>/UPGRADE.JNL`.
fn run_dir(args: &Args, dir: &Path, ui: &mut Ui) -> Result<Ran, Stop> {
    let options = match &args.image {
        Some(name) => FindOptions::named(name),
        None => FindOptions::image(),
    };
    let in_dir = |e: &dyn std::fmt::Display| Stop::Rejected(format!("{}: {e}", dir.display()));
    let open = |path: &Path| {
        FileImage::open(path)
            .map_err(|e| Stop::Rejected(format!("cannot read {}: {e}", path.display())))
    };
    let (image_path, found) = find_in_dir(dir, &options).map_err(|e| in_dir(&e))?;
    let image = open(&image_path)?;
    let loader = match &args.loader {
        Some(name) => {
            let (path, found) =
                find_in_dir(dir, &FindOptions::named(name)).map_err(|e| in_dir(&e))?;
            Some((found.name, open(&path)?))
        }
        None => None,
    };
    let journal_path = dir.join("UPGRADE.JNL");
    let journal = FileJournal::open_or_create(&journal_path).map_err(|e| {
        Stop::Rejected(format!(
            "cannot open the journal {}: {e}; is the directory writable?",
            journal_path.display()
        ))
    })?;
    ui.say(format!("directory: {}", dir.display()));
    ui.say(format!("package: {} ({} bytes)", found.name, found.size));
    let package = Source::new(found.name.as_str(), image);
    drive_named(args, package, loader, journal, ui)
}

/// Opens the link to the modem. Returns the simulator too, to show its state after a failure.
fn connect(args: &Args, ui: &Ui) -> Result<(Link<Uart, ModemClock>, Option<Sim>), Stop> {
    match &args.modem {
        Modem::Simulator { mode, faults, .. } => {
            let config = SimConfig::sqn3330()
                .with_mode(*mode)
                .with_faults(faults.clone());
            let firmware = config
                .firmware
                .as_ref()
                .map_or("none".into(), |v| format!("{} [{}]", v.text, v.build));
            let sim = Sim::new(config);
            let faults = if faults.is_clean() {
                String::new()
            } else {
                ", with line faults".into()
            };
            ui.say(format!(
                "modem: built-in simulator (SQN3330 in {} mode, firmware {firmware}{faults}; virtual time)",
                mode.name()
            ));
            let link = Link::new(Uart::Sim(sim.port()), ModemClock::Sim(sim.clock()));
            Ok((link, Some(sim)))
        }
        Modem::Serial { port, baud, flow } => {
            let uart = SerialUart::open(port, *baud, *flow)
                .map_err(|e| Stop::Failed(format!("cannot open the serial port {port}: {e}; check the name and that no other program holds it")))?;
            ui.say(format!(
                "modem: serial port {port} at {baud} baud, flow control {flow:?}"
            ));
            Ok((
                Link::new(Uart::Serial(uart), ModemClock::Wall(StdClock::new())),
                None,
            ))
        }
        Modem::Tcp { addr } => {
            let uart = connect_tcp(addr.as_str()).map_err(|e| {
                Stop::Failed(format!("cannot connect to {addr}: {e}; is the modem server (e.g. modem-sim --listen) running?"))
            })?;
            ui.say(format!("modem: TCP {addr}"));
            Ok((
                Link::new(Uart::Tcp(uart), ModemClock::Wall(StdClock::new())),
                None,
            ))
        }
    }
}

/// The rates to probe: `--baud` first, then the defaults.
fn probe_rates(args: &Args) -> &'static [u32] {
    match args.modem {
        Modem::Serial { baud, .. } if !DEFAULT_PROBE_RATES.starts_with(&[baud]) => {
            let mut rates = vec![baud];
            rates.extend(DEFAULT_PROBE_RATES.iter().filter(|&&r| r != baud));
            // Once per process: the options need a 'static list.
            Box::leak(rates.into_boxed_slice())
        }
        _ => DEFAULT_PROBE_RATES,
    }
}

/// Names the loader (if any) on the console, then [`drive`]s the upgrade.
fn drive_named<S, J, N>(
    args: &Args,
    package: Source<'_, S>,
    loader: Option<(N, S)>,
    journal: J,
    ui: &mut Ui,
) -> Result<Ran, Stop>
where
    S: ImageSource,
    S::Error: Debug,
    J: JournalStore,
    J::Error: Debug,
    N: AsRef<str>,
{
    let (name, file) = loader.unzip();
    if let Some(name) = &name {
        ui.say(format!("loader: {}", name.as_ref()));
    }
    let loader = name
        .as_ref()
        .map(AsRef::as_ref)
        .zip(file)
        .map(|(n, f)| Source::new(n, f));
    drive(args, package, loader, journal, ui)
}

/// Runs the upgrader; the same code for a card and a directory.
fn drive<S, J>(
    args: &Args,
    package: Source<'_, S>,
    loader: Option<Source<'_, S>>,
    journal: J,
    ui: &mut Ui,
) -> Result<Ran, Stop>
where
    S: ImageSource,
    S::Error: Debug,
    J: JournalStore,
    J::Error: Debug,
{
    let image = package.name.to_string();
    let (mut link, sim) = connect(args, ui)?;
    let options = Options {
        force: args.force,
        probe_rates: probe_rates(args),
        ..Options::default()
    };
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let buffers = Buffers {
        block: &mut block,
        window: &mut window,
    };
    let result = Upgrader::new(&mut link, package, journal, buffers)
        .with_options(options)
        .with_observer(&mut *ui)
        .with_optional_loader(loader)
        .run();
    ui.done();
    let (report, error) = match result {
        Ok(report) => (report, None),
        Err(failure) => (failure.report, Some(failure.error.to_string())),
    };
    if let (Some(sim), Outcome::Failed) = (&sim, report.outcome) {
        ui.say(format!("\n{}", sim.status()));
    }
    if let (
        Some(sim),
        Modem::Simulator {
            transcript: Some(path),
            ..
        },
    ) = (&sim, &args.modem)
    {
        match std::fs::write(path, sim.transcript_text()) {
            Ok(()) => ui.say(format!("simulator transcript: {}", path.display())),
            Err(e) => ui.say(format!(
                "cannot write the transcript to {}: {e}",
                path.display()
            )),
        }
    }
    Ok(Ran {
        report,
        image,
        error,
        virtual_time: sim.is_some(),
    })
}
