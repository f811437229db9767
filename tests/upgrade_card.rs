//! The Upgrader reading from real FAT card images — built by the `sd-image` crate (what
//! `cargo xtask sd-image` writes) and, when installed, by `mkfs.fat` + mtools — with its journal on
//! the card, against `modem-sim` in-process. A host restart keeps nothing but the card.
//!
//! With `MODEM_FW_FIXTURES` set, a real 6 MB package goes from a card to the simulated modem at a
//! simulated 921,600 baud, and the transfer time is printed next to the line-rate floor.

#![allow(
    clippy::result_large_err,
    reason = "the upgrader's failure carries its report"
)]

#[path = "support/ram_card.rs"]
mod ram_card;
#[path = "support/sim_link.rs"]
mod sim_link;

use std::ops::ControlFlow;
use std::path::PathBuf;

use embedded_sdmmc::{BlockDevice, VolumeManager};
use modem_sim::{BootMode as SimMode, Model, Sim, SimConfig, SimVersion, synth};
use modem_upgrade::storage::find::FindOptions;
use modem_upgrade::storage::sdmmc::{Card, FileDisk};
use modem_upgrade::upgrade::{
    BLOCK_BUFFER_LEN, Buffers, Event, FnObserver, Outcome, READ_AHEAD_LEN, Report, Source, Stage,
    Upgrader,
};
use ram_card::{FixedTime, RamCard};
use sd_image::{Entry, Layout, build_image, linux_tools};
use sim_link::{context, link};

const PACKAGE: &str = "CATM1-39529_upgrade-package-with-a-long-name.dup";
const LOADER: &str = "updater.elf";

type Vm<D> = VolumeManager<D, FixedTime, 4, 4, 1>;

/// One host run from the card: find the package (and loader), open the journal, upgrade. Stops at
/// the `stop_at`-th checkpoint when asked (the host switched off there). Returns the report or the
/// error text.
fn run_from_card<D: BlockDevice>(
    vm: &Vm<D>,
    sim: &Sim,
    stop_at: Option<usize>,
) -> Result<Report, (String, Report)>
where
    D::Error: core::fmt::Debug,
{
    let card = Card::open(vm).expect("card mounts");
    let found = card.find(&FindOptions::image()).expect("package found");
    assert_eq!(found.found.name.as_str(), PACKAGE, "found by its long name");
    let loader_found = card
        .find(&FindOptions::named(LOADER))
        .expect("loader found");
    let package = card.open_image(&found).expect("package opens");
    let loader = card.open_image(&loader_found).expect("loader opens");
    let journal = card.open_journal(&found).expect("journal opens");
    let mut link = link(sim);
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let mut checkpoints = 0;
    let result = Upgrader::new(
        &mut link,
        Source::new(PACKAGE, package),
        journal,
        Buffers {
            block: &mut block,
            window: &mut window,
        },
    )
    .with_loader(Source::new(LOADER, loader))
    .with_observer(FnObserver(|e: &Event<'_>| {
        if matches!(e, Event::Checkpoint { .. }) {
            checkpoints += 1;
            if Some(checkpoints) == stop_at {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }))
    .run();
    result.map_err(|f| (f.error.to_string(), f.report))
}

fn files() -> (Vec<u8>, Vec<u8>) {
    (
        synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 250_000),
        synth::loader_elf("5.1.2.0 [39529]", true),
    )
}

/// The card's files: the long-named package and the loader.
fn card_entries<'a>(package: &'a [u8], loader: &'a [u8]) -> [Entry<'a>; 2] {
    [
        Entry {
            path: PACKAGE,
            data: package,
        },
        Entry {
            path: LOADER,
            data: loader,
        },
    ]
}

fn assert_installed(sim: &Sim, build: u32) {
    let fw = sim.status().flash.firmware.expect("firmware installed");
    assert_eq!(fw.build, build, "\n{}", context(sim));
    assert_eq!(sim.status().mode, SimMode::App);
}

#[test]
fn upgrade_from_a_card_built_in_pure_rust() {
    let (package, loader) = files();
    let entries = card_entries(&package, &loader);
    let vm = Vm::new_with_limits(
        RamCard::new(build_image(&Layout::fat32_for(600_000), &entries).unwrap()),
        FixedTime,
        5000,
    );
    // A modem whose programming was interrupted: only the bootloader answers.
    let sim = Sim::new(SimConfig::sqn3330().with_mode(SimMode::LoaderWait));
    let report = run_from_card(&vm, &sim, None)
        .unwrap_or_else(|(e, r)| panic!("{e}\n{r:?}\n{}", context(&sim)));
    assert_eq!(report.outcome, Outcome::Upgraded);
    assert_eq!(report.loader_pushes, 1);
    assert_installed(&sim, 39529);
}

/// The host is switched off after each checkpoint in turn; the next host has only the card.
#[test]
fn host_restarts_keep_only_the_card() {
    let (package, loader) = files();
    let entries = card_entries(&package, &loader);
    let blank = build_image(&Layout::fat32_small(), &entries).unwrap();
    let mut restarts = 0;
    for stop_at in [1, 2, 3, 5, 8, 9, 10] {
        let sim = Sim::new(SimConfig::sqn3330());
        let vm = Vm::new_with_limits(RamCard::new(blank.clone()), FixedTime, 5000);
        match run_from_card(&vm, &sim, Some(stop_at)) {
            Ok(report) => {
                // Fewer checkpoints than `stop_at`: the run completed.
                assert_eq!(report.outcome, Outcome::Upgraded);
                continue;
            }
            Err((e, _)) => assert!(e.contains("stopped"), "{e}"),
        }
        // Power off the host: everything but the card's bytes is lost.
        let disk = vm.free().0.into_disk();
        let vm = Vm::new_with_limits(RamCard::new(disk), FixedTime, 5000);
        let report = run_from_card(&vm, &sim, None)
            .unwrap_or_else(|(e, r)| panic!("stop {stop_at}: {e}\n{r:?}"));
        assert_eq!(report.outcome, Outcome::Upgraded, "stop {stop_at}");
        assert!(
            report.resumed_from.is_some(),
            "stop {stop_at}: resumed from the card's journal"
        );
        assert_installed(&sim, 39529);
        restarts += 1;
    }
    assert!(restarts >= 5);
}

#[test]
fn upgrade_from_a_card_made_by_mkfs_fat_and_mtools() {
    if let Some(tool) = linux_tools::missing() {
        eprintln!(
            "skipped: {tool} not installed (cargo xtask ci installs dosfstools, mtools, fdisk)"
        );
        return;
    }
    let (package, loader) = files();
    let entries = card_entries(&package, &loader);
    let dir = std::env::temp_dir().join(format!("upgrade-card-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sd.img");
    linux_tools::build(&path, &Layout::fat32_for(600_000), &entries).expect("mkfs.fat card");
    let vm = Vm::new_with_limits(FileDisk::open(&path).unwrap(), FixedTime, 5000);
    let sim = Sim::new(SimConfig::sqn3330());
    let report = run_from_card(&vm, &sim, None).unwrap_or_else(|(e, r)| panic!("{e}\n{r:?}"));
    assert_eq!(report.outcome, Outcome::Upgraded);
    assert_installed(&sim, 39529);
    drop(vm);
    let _ = std::fs::remove_dir_all(&dir);
}

fn fixture(name: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("MODEM_FW_FIXTURES") else {
        eprintln!("skipped: fixtures not present (MODEM_FW_FIXTURES is not set)");
        return None;
    };
    let path = PathBuf::from(dir).join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: fixtures not present ({} missing)", path.display());
        None
    }
}

/// The real CATM1-38638 package from a card to a simulated SQN3330 running an older build, at a
/// simulated 921,600 baud: upgraded and verified; the transfer time is printed next to the floor.
#[test]
fn real_package_from_a_card() {
    let Some(path) = fixture("CATM1-38638.dup") else {
        return;
    };
    let package = std::fs::read(&path).unwrap();
    let loader = synth::loader_elf("5.1.1.0 [38638]", true);
    let name = "CATM1-38638.dup";
    let entries = [
        Entry {
            path: name,
            data: &package,
        },
        Entry {
            path: LOADER,
            data: &loader,
        },
    ];
    let vm = Vm::new_with_limits(
        RamCard::new(build_image(&Layout::fat32_for(package.len() as u64 * 2), &entries).unwrap()),
        FixedTime,
        5000,
    );
    let mut cfg = SimConfig::sqn3330();
    cfg.firmware = Some(SimVersion {
        text: "5.1.0.0".into(),
        build: 37000,
    });
    let sim = Sim::new(cfg);
    let card = Card::open(&vm).unwrap();
    let found = card.find(&FindOptions::named(name)).unwrap();
    let source = card.open_image(&found).unwrap();
    let journal = card.open_journal(&found).unwrap();
    let mut link = link(&sim);
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let report = Upgrader::new(
        &mut link,
        Source::new(name, source),
        journal,
        Buffers {
            block: &mut block,
            window: &mut window,
        },
    )
    .run()
    .unwrap_or_else(|f| panic!("{}\n{:?}\n{}", f.error, f.report, context(&sim)));
    assert_eq!(report.outcome, Outcome::Upgraded);
    assert_installed(&sim, 38638);
    let floor_ms = package.len() as f64 * 10.0 / 921_600.0 * 1000.0;
    eprintln!(
        "real package {} B: transfer {} ms virtual at 921600 baud (line-rate floor {:.0} ms, {:.1} %), \
         {} transfer(s), {} retries, whole run {} ms",
        package.len(),
        report.ms(Stage::Transfer),
        floor_ms,
        floor_ms / report.ms(Stage::Transfer) as f64 * 100.0,
        report.transfers,
        report.retries,
        report.duration_ms
    );
}
