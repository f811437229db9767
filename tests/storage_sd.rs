//! The storage layer on real FAT card images: built in pure Rust by the `sd-image` crate and, when
//! installed, by the Linux tools (`sfdisk`, `mkfs.fat`, `mcopy`). Long names, 8.3 names, scans, the
//! errors for cards and files that cannot work, streaming real firmware packages through
//! embedded-sdmmc, SD reads per image byte, and the journal's single-sector checkpoints.

#[path = "support/ram_card.rs"]
mod ram_card;
#[path = "support/sim_link.rs"]
mod sim_link;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use embedded_sdmmc::{BlockDevice, VolumeManager};
use modem_upgrade::image::inspect;
use modem_upgrade::storage::card::{CardProblem, FatKind, FileSystemName};
use modem_upgrade::storage::find::{FindOptions, FindProblem, Place};
use modem_upgrade::storage::journal::{
    Attempts, Checkpoint, ImageId, Journal, Phase, Resume, SlotState,
};
use modem_upgrade::storage::sdmmc::{Card, CountingDevice, Error, FileDisk, JOURNAL_FILE, Located};
use modem_upgrade::storage::{ImageSource, MemImage, ReadAhead, read_exact_at};
use ram_card::{FixedTime, RamCard};
use sd_image::{Entry, Layout, SparseDisk, Table, build_image, linux_tools};

type Vm<D> = VolumeManager<D, FixedTime, 4, 4, 1>;

fn note(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Deterministic bytes that are not all alike (so a wrong sector cannot pass for the right one).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn card_from(layout: &Layout, entries: &[Entry]) -> RamCard {
    RamCard::new(build_image(layout, entries).expect("card image builds"))
}

fn read_all<S: ImageSource>(source: &mut S) -> Vec<u8> {
    let mut out = vec![0u8; source.len() as usize];
    read_exact_at(source, 0, &mut out).expect("whole file reads");
    out
}

const LONG: &str = "GM02RB6Q_LR8.0.5.13-59577.dup";

/// The contents of a typical card: a long-named package, a loader, a macOS resource fork, a text
/// file, and a diff package in a folder.
struct Files {
    package: Vec<u8>,
    loader: Vec<u8>,
    diff: Vec<u8>,
}

impl Files {
    fn new() -> Self {
        Self {
            package: pattern(300_123, 1),
            loader: pattern(40_000, 2),
            diff: pattern(77_777, 3),
        }
    }

    fn entries(&self) -> Vec<Entry<'_>> {
        vec![
            Entry {
                path: LONG,
                data: &self.package,
            },
            Entry {
                path: "updater-37781.elf",
                data: &self.loader,
            },
            Entry {
                path: "._GM02RB6Q_LR8.0.5.13-59577.dup",
                data: &[0u8; 4096],
            },
            Entry {
                path: "README.txt",
                data: b"firmware for the modem",
            },
            Entry {
                path: "FIRMWARE/upgdiff_33080-to-39529.dup",
                data: &self.diff,
            },
        ]
    }
}

fn find<D: BlockDevice>(
    card: &Card<'_, D, FixedTime, 4, 4, 1>,
    options: FindOptions<'_>,
) -> Located {
    card.find(&options)
        .unwrap_or_else(|e| panic!("{options:?}: {e}"))
}

fn find_err<D: BlockDevice>(
    card: &Card<'_, D, FixedTime, 4, 4, 1>,
    options: FindOptions<'_>,
) -> FindProblem {
    match card.find(&options) {
        Err(Error::Find(p)) => p,
        other => panic!("{options:?}: expected a finder problem, got {other:?}"),
    }
}

/// Names, scans and reads on one card; shared by the pure-Rust and the Linux-tools cards.
fn check_finding<D: BlockDevice>(vm: &Vm<D>, files: &Files) {
    let card = Card::open(vm).expect("card opens");
    // A scan of the root takes the one .dup and skips the macOS `._` file.
    let located = find(&card, FindOptions::image());
    assert_eq!(located.found.name, LONG);
    assert_eq!(located.found.place, Place::Root);
    assert_eq!(located.found.size, files.package.len() as u32);
    let mut image = card.open_image(&located).expect("opens");
    assert_eq!(read_all(&mut image), files.package);
    drop(image);
    // The long name in another case, and the 8.3 alias the file system generated for it.
    let by_long = find(&card, FindOptions::named("gm02rb6q_lr8.0.5.13-59577.DUP"));
    let short = by_long.found.short_name.clone();
    assert!(short.ends_with(".DUP") && short.len() <= 12, "{short}");
    assert_eq!(find(&card, FindOptions::named(&short)).found.name, LONG);
    // Loaders are found by extension too.
    let loader = FindOptions {
        extensions: FindOptions::LOADER_EXTENSIONS,
        ..FindOptions::image()
    };
    let located = find(&card, loader);
    assert_eq!(located.found.name, "updater-37781.elf");
    assert_eq!(
        read_all(&mut card.open_image(&located).unwrap()),
        files.loader
    );
    // A file in the folder, found by name; the folder matched case-insensitively.
    let options = FindOptions::named("upgdiff_33080-to-39529.dup").in_folder("firmware");
    let located = find(&card, options);
    assert_eq!(located.found.place, Place::Folder);
    assert_eq!(
        read_all(&mut card.open_image(&located).unwrap()),
        files.diff
    );
    // Scanning root and folder finds two .dup files: both are named, none is guessed.
    let problem = find_err(&card, FindOptions::image().in_folder("FIRMWARE"));
    let text = problem.to_string();
    assert!(
        matches!(problem, FindProblem::Ambiguous { .. })
            && text.contains(LONG)
            && text.contains("upgdiff_33080-to-39529.dup"),
        "{text}"
    );
    // Not there: the error lists what is.
    let problem = find_err(&card, FindOptions::named("CATM1-38638.dup"));
    let text = problem.to_string();
    // mtools stores a name that fits 8.3 without a long name, so `README.txt` lists as `README.TXT`.
    assert!(
        text.contains("CATM1-38638.dup")
            && text.contains(LONG)
            && text.to_ascii_lowercase().contains("readme.txt"),
        "{text}"
    );
    let problem = find_err(&card, FindOptions::image().in_folder("FW"));
    assert!(
        matches!(problem, FindProblem::FolderNotFound { .. })
            && problem.to_string().contains("`FIRMWARE`"),
        "{problem}"
    );
}

#[test]
fn long_names_scans_and_folders_on_a_pure_rust_card() {
    let files = Files::new();
    for layout in [
        Layout::fat32_small(),
        Layout::fat16_small(),
        Layout::fat32_for(500_000),
    ] {
        let vm = Vm::new_with_limits(card_from(&layout, &files.entries()), FixedTime, 5000);
        check_finding(&vm, &files);
        let card = Card::open(&vm).unwrap();
        let kind = card.layout().geometry.kind;
        let expected = if layout.fat == sd_image::Fat::Fat16 {
            FatKind::Fat16
        } else {
            FatKind::Fat32
        };
        assert_eq!(kind, expected, "{layout:?}");
    }
}

/// A scratch directory under the target directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("modem-upgrade-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tools_card(
    scratch: &Scratch,
    name: &str,
    layout: &Layout,
    entries: &[Entry],
) -> Option<PathBuf> {
    if let Some(tool) = linux_tools::missing() {
        note(format!(
            "skipped: {tool} not installed (Debian: dosfstools, mtools, fdisk); the Linux-tools card is not tested"
        ));
        return None;
    }
    let path = scratch.path(name);
    linux_tools::build(&path, layout, entries).expect("mkfs.fat + mcopy build the card");
    Some(path)
}

#[test]
fn long_names_scans_and_folders_on_a_card_made_by_mkfs_fat_and_mcopy() {
    let files = Files::new();
    let scratch = Scratch::new("tools-card");
    let Some(path) = tools_card(
        &scratch,
        "tools.img",
        &Layout::fat32_small(),
        &files.entries(),
    ) else {
        return;
    };
    let vm = Vm::new_with_limits(FileDisk::open(&path).expect("image opens"), FixedTime, 5000);
    check_finding(&vm, &files);
}

#[test]
fn empty_and_truncated_files_are_refused_before_anything_is_sent() {
    let files = [
        Entry {
            path: "EMPTY.DUP",
            data: &[],
        },
        Entry {
            path: "tiny-38638.dup",
            data: b"PACK",
        },
    ];
    let vm = Vm::new_with_limits(card_from(&Layout::fat32_small(), &files), FixedTime, 5000);
    let card = Card::open(&vm).unwrap();
    let problem = find_err(&card, FindOptions::named("empty.dup"));
    assert!(matches!(problem, FindProblem::Empty { .. }), "{problem}");
    assert!(problem.to_string().contains("copy the file again"));
    let problem = find_err(&card, FindOptions::named("tiny-38638.dup"));
    assert!(
        matches!(problem, FindProblem::Truncated { size: 4, .. }),
        "{problem}"
    );
}

fn card_problem(card: RamCard) -> CardProblem {
    let vm = Vm::new_with_limits(card, FixedTime, 5000);
    match Card::open(&vm) {
        Err(Error::Card(p)) => p,
        other => panic!("expected a card problem, got {other:?}"),
    }
}

#[test]
fn cards_that_cannot_work_get_a_reason_and_advice() {
    let files = Files::new();
    let entries = files.entries();
    let blank = RamCard::new(SparseDisk::new(64 << 20));
    assert!(matches!(
        card_problem(blank),
        CardProblem::NoMbrSignature { found: [0, 0] }
    ));
    let superfloppy = Layout {
        table: Table::Superfloppy,
        ..Layout::fat32_small()
    };
    let p = card_problem(card_from(&superfloppy, &entries));
    assert_eq!(
        p,
        CardProblem::Superfloppy {
            file_system: FileSystemName::Fat32
        }
    );
    let gpt = Layout {
        table: Table::GptProtective,
        ..Layout::fat32_small()
    };
    assert_eq!(card_problem(card_from(&gpt, &entries)), CardProblem::Gpt);
    let p = card_problem(card_from(&Layout::fat12_tiny(), &[]));
    assert!(
        matches!(
            p,
            CardProblem::Fat12 { .. } | CardProblem::UnsupportedPartitionType { .. }
        ),
        "{p:?}"
    );
    for p in [
        CardProblem::Gpt,
        CardProblem::Superfloppy {
            file_system: FileSystemName::Fat32,
        },
        CardProblem::ExFat { index: 0 },
    ] {
        let text = p.to_string();
        assert!(text.contains("FAT32") && text.contains("erase"), "{text}");
    }
}

/// A card whose size query fails, as an SD card that does not initialise.
struct DeadCard;

impl BlockDevice for DeadCard {
    type Error = ram_card::CardFault;
    fn read(
        &self,
        _: &mut [embedded_sdmmc::Block],
        _: embedded_sdmmc::BlockIdx,
    ) -> Result<(), Self::Error> {
        Err(ram_card::CardFault::PowerLost)
    }
    fn write(
        &self,
        _: &[embedded_sdmmc::Block],
        _: embedded_sdmmc::BlockIdx,
    ) -> Result<(), Self::Error> {
        Err(ram_card::CardFault::PowerLost)
    }
    fn num_blocks(&self) -> Result<embedded_sdmmc::BlockCount, Self::Error> {
        Err(ram_card::CardFault::PowerLost)
    }
}

#[test]
fn a_card_that_does_not_answer_says_so() {
    let vm = Vm::new_with_limits(DeadCard, FixedTime, 5000);
    let err = Card::open(&vm).unwrap_err();
    assert!(matches!(err, Error::CardInit(_)), "{err:?}");
    assert!(err.to_string().contains("did not respond"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Real packages, streamed from both kinds of card
// ---------------------------------------------------------------------------------------------

fn fixtures() -> Option<Vec<(String, Vec<u8>)>> {
    let Some(dir) = std::env::var_os("MODEM_FW_FIXTURES") else {
        note("skipped: MODEM_FW_FIXTURES not set (real firmware files absent)");
        return None;
    };
    let mut out = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "dup"))
        .collect();
    names.sort();
    for path in names {
        let name = path.file_name()?.to_str()?.to_owned();
        out.push((name, std::fs::read(&path).ok()?));
    }
    if out.is_empty() {
        note(format!(
            "skipped: no .dup files in {}",
            Path::new(&dir).display()
        ));
        return None;
    }
    Some(out)
}

/// Finds `name` on the card, pre-flights it through a read-ahead window, and checks the report is
/// the one the bytes in memory give. Returns SD blocks read per image byte.
fn preflight_from_card<D: BlockDevice>(
    vm: &Vm<CountingDevice<D>>,
    name: &str,
    bytes: &[u8],
) -> f64 {
    let card = Card::open(vm).expect("card opens");
    let located = find(&card, FindOptions::named(name));
    let mut window = vec![0u8; 4096];
    let mut scratch = vec![0u8; 2048];
    vm.device(|d| d.reset_counts());
    let mut image = ReadAhead::new(card.open_image(&located).expect("opens"), &mut window);
    let from_card = inspect(&mut image, &mut scratch).expect("card reads");
    let counts = vm.device(|d| d.counts());
    let from_memory = inspect(&mut MemImage::new(bytes), &mut scratch).unwrap();
    assert_eq!(
        from_card, from_memory,
        "{name}: the card delivered other bytes"
    );
    assert!(from_card.is_valid(), "{name}: {:?}", from_card.verdict());
    assert!(from_card.crc32.is_some());
    counts.blocks_read as f64 / bytes.len() as f64
}

#[test]
fn real_packages_stream_from_both_kinds_of_card() {
    let Some(packages) = fixtures() else {
        return;
    };
    let scratch = Scratch::new("real");
    for (name, bytes) in &packages {
        let entries = [Entry {
            path: name,
            data: bytes,
        }];
        let layout = Layout::fat32_for(bytes.len() as u64);
        let vm = Vm::new_with_limits(
            CountingDevice::new(card_from(&layout, &entries)),
            FixedTime,
            5000,
        );
        let per_byte = preflight_from_card(&vm, name, bytes);
        note(format!(
            "{name}: {} bytes from a pure-Rust FAT32 card ({} B clusters): {per_byte:.6} SD blocks read per image byte ({:.3} × the 1/512 floor)",
            bytes.len(),
            layout.cluster_bytes,
            per_byte * 512.0
        ));
        // One data block per 512 bytes; one FAT sector each time the chain moves to the next
        // 4 KiB cluster (embedded-sdmmc's single block cache swaps between the two: 9 reads per 8
        // data blocks); the structure walk's header reads and the mount.
        assert!(per_byte * 512.0 < 1.25, "{name}: {per_byte}");
        if let Some(path) = tools_card(&scratch, "real.img", &layout, &entries) {
            let disk = FileDisk::open_read_only(&path).expect("image opens");
            let vm = Vm::new_with_limits(CountingDevice::new(disk), FixedTime, 5000);
            let per_byte = preflight_from_card(&vm, name, bytes);
            note(format!(
                "{name}: from a mkfs.fat + mcopy card: {per_byte:.6} SD blocks per image byte"
            ));
            assert!(per_byte * 512.0 < 1.25, "{name}: {per_byte}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The journal on the card
// ---------------------------------------------------------------------------------------------

fn image_id(bytes: &[u8]) -> ImageId {
    let report = inspect(&mut MemImage::new(bytes), &mut [0u8; 512]).unwrap();
    ImageId::new(LONG, bytes.len() as u32, report.crc32.unwrap())
}

#[test]
fn a_checkpoint_is_one_sector_write_to_the_journal_file() {
    let files = Files::new();
    let vm = Vm::new_with_limits(
        card_from(&Layout::fat32_small(), &files.entries()),
        FixedTime,
        5000,
    );
    let card = Card::open(&vm).unwrap();
    let located = find(&card, FindOptions::image());
    let journal_store = card.open_journal(&located).expect("journal created");
    let sectors = journal_store.sectors();
    let (mut journal, loaded) = Journal::open(journal_store).unwrap();
    assert_eq!(loaded.slots, [SlotState::Blank, SlotState::Blank]);
    let id = image_id(&files.package);
    let mut cp = Checkpoint::new(id.clone(), Phase::Transferring);
    let before = vm.device(|d| d.writes());
    let mut written = Vec::new();
    for i in 1..=5u32 {
        cp.acked_offset = i * 60_000;
        journal.save(&cp).unwrap();
        written.push(vm.device(|d| d.written_blocks().last().copied().unwrap()));
    }
    assert_eq!(
        vm.device(|d| d.writes()) - before,
        5,
        "one write per checkpoint"
    );
    let expected: Vec<u64> = (0..5).map(|i| u64::from(sectors[i % 2])).collect();
    assert_eq!(
        written, expected,
        "only the two journal sectors, alternating"
    );
    // The file system sees the same bytes in the file (proves the sectors are the file's).
    let _ = journal.into_store();
    drop(card);
    let card = Card::open(&vm).unwrap();
    let located = find(&card, FindOptions::named(JOURNAL_FILE));
    let mut file = card.open_image(&located).unwrap();
    let bytes = read_all(&mut file);
    assert_eq!(bytes.len(), 1024);
    let slot_b: [u8; 512] = bytes[512..].try_into().unwrap();
    let (seq, decoded) = modem_upgrade::storage::journal::decode(&slot_b).unwrap();
    assert_eq!((seq, decoded.acked_offset), (3, 240_000));
    drop(file);
    // Reopening finds the newest record and resumes this image only.
    let (_, loaded) = Journal::open(card.open_journal(&located_image(&card)).unwrap()).unwrap();
    match loaded.resume_for(&id) {
        Resume::Continue(c) => assert_eq!(c.acked_offset, 300_000),
        other => panic!("{other:?}"),
    }
    let other = ImageId::new(LONG, id.len, id.crc32 ^ 1);
    assert!(matches!(
        loaded.resume_for(&other),
        Resume::OtherImage { .. }
    ));
}

fn located_image<D: BlockDevice>(card: &Card<'_, D, FixedTime, 4, 4, 1>) -> Located {
    find(card, FindOptions::image())
}

/// The journal history of a small upgrade, saved on a RAM card that loses power at write `n`,
/// keeping `keep` bytes of the torn sector. Returns (checkpoints whose save returned Ok, the one
/// in flight, what was loaded after the "reboot").
fn upgrade_with_power_loss(
    pristine: &SparseDisk,
    package: &[u8],
    n: u32,
    keep: usize,
) -> (
    Vec<Checkpoint>,
    Option<Checkpoint>,
    Option<Checkpoint>,
    SparseDisk,
) {
    let ram = RamCard::new(pristine.clone());
    ram.lose_power_at_write(n, keep);
    let vm = Vm::new_with_limits(ram, FixedTime, 5000);
    let id = image_id(package);
    let mut saved = Vec::new();
    let mut in_flight = None;
    'run: {
        let Ok(card) = Card::open(&vm) else {
            break 'run;
        };
        let Ok(located) = card.find(&FindOptions::image()) else {
            break 'run;
        };
        let Ok(store) = card.open_journal(&located) else {
            break 'run;
        };
        let Ok((mut journal, _)) = Journal::open(store) else {
            break 'run;
        };
        let mut history = vec![Checkpoint::new(id.clone(), Phase::Validated)];
        let mut cp = Checkpoint::new(id.clone(), Phase::SwitchingMode);
        history.push(cp.clone());
        cp.phase = Phase::Transferring;
        cp.block_size = 2016;
        cp.attempts = Attempts::NONE.with_transfer().with_session();
        for acked in (0..=package.len() as u32).step_by(65_536) {
            cp.acked_offset = acked;
            history.push(cp.clone());
        }
        cp.acked_offset = package.len() as u32;
        for phase in [
            Phase::Transferred,
            Phase::Programming,
            Phase::Verifying,
            Phase::Done,
        ] {
            cp.phase = phase;
            history.push(cp.clone());
        }
        for c in history {
            in_flight = Some(c.clone());
            if journal.save(&c).is_err() {
                break 'run;
            }
            saved.push(c);
            in_flight = None;
        }
    }
    // Reboot: a new volume manager on whatever the card now holds.
    let disk = vm.free().0.into_disk();
    let vm = Vm::new_with_limits(RamCard::new(disk.clone()), FixedTime, 5000);
    let card = Card::open(&vm).expect("the card still mounts after the power loss");
    let located = find(&card, FindOptions::image());
    assert_eq!(
        read_all(&mut card.open_image(&located).unwrap()),
        package,
        "the image must survive any power loss"
    );
    let store = card
        .open_journal(&located)
        .unwrap_or_else(|e| panic!("journal after power loss at write {n}: {e}"));
    let (_, loaded) = Journal::open(store).unwrap();
    let loaded = loaded.newest.map(|(_, c)| c);
    (saved, in_flight, loaded, disk)
}

#[test]
fn power_loss_at_every_card_write_keeps_the_card_and_a_valid_journal() {
    let files = Files::new();
    let pristine = build_image(&Layout::fat32_small(), &files.entries()).unwrap();
    // A run without power loss: the whole history is saved and loads back.
    let (saved, in_flight, loaded, _) =
        upgrade_with_power_loss(&pristine, &files.package, u32::MAX, 0);
    assert!(in_flight.is_none());
    assert_eq!(loaded.as_ref(), saved.last());
    // Replay it on a fresh card to count the writes: journal creation, then one per checkpoint.
    let vm = Vm::new_with_limits(RamCard::new(pristine.clone()), FixedTime, 5000);
    let card = Card::open(&vm).unwrap();
    let located = find(&card, FindOptions::image());
    let (mut journal, _) = Journal::open(card.open_journal(&located).unwrap()).unwrap();
    let setup = vm.device(|d| d.writes());
    for c in &saved {
        journal.save(c).unwrap();
    }
    let checkpoints = vm.device(|d| d.writes()) - setup;
    assert_eq!(
        checkpoints as usize,
        saved.len(),
        "one sector per checkpoint"
    );
    note(format!(
        "journal on a FAT32 card: {setup} writes to create and prove the file, then {checkpoints} single-sector checkpoints"
    ));
    let total = setup + checkpoints;
    let mut scenarios = 0;
    for n in 1..=total {
        for keep in [0usize, 1, 100, 163, 164, 511] {
            let (saved, in_flight, loaded, _) =
                upgrade_with_power_loss(&pristine, &files.package, n, keep);
            scenarios += 1;
            let last_ok = saved.last();
            let acceptable =
                loaded.as_ref() == last_ok || (in_flight.is_some() && loaded == in_flight);
            assert!(
                acceptable,
                "power loss at write {n} keeping {keep} bytes: loaded {loaded:?}, last saved {last_ok:?}, in flight {in_flight:?}"
            );
        }
    }
    note(format!(
        "card-level power-fail proof: {scenarios} scenarios ({total} writes × 6 tear sizes), image intact and journal valid in all"
    ));
}

// ---------------------------------------------------------------------------------------------
// A whole transfer from the card to the simulated modem
// ---------------------------------------------------------------------------------------------

/// Streams a package from the card to `modem-sim` over STP v1 with answers that arrive late
/// (retransmissions) and residues (the tail of a block is sent again), once straight from the file
/// and once through a read-ahead window, and counts SD block reads.
#[test]
fn a_transfer_from_the_card_rereads_nothing_through_the_read_ahead_window() {
    use modem_sim::{FaultSpec, Model, Sim, SimConfig, synth};
    use modem_upgrade::protocol::at::UpgradeStatus;
    use modem_upgrade::protocol::stp::SessionConfig;
    use sim_link::*;

    let dup = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 1_000_000);
    let entries = [Entry {
        path: "CATM1-39529.dup",
        data: &dup,
    }];
    // 512-byte clusters make every backward seek walk the FAT chain sector by sector (the worst
    // case); 4 KiB clusters are what `mkfs.fat` and the SD formatter use on small cards.
    for (layout, floor_factor) in [
        (Layout::fat32_small(), 2.1),
        (Layout::fat32_for(1 << 20), 1.2),
    ] {
        let pristine = build_image(&layout, &entries).unwrap();
        let mut per_byte = Vec::new();
        for window in [None, Some(2560usize)] {
            let faults = FaultSpec::parse("seed=7,residue=0.05,stall=3000@0.01").unwrap();
            let sim = Sim::new(SimConfig::sqn3330().with_faults(faults));
            let mut link = link(&sim);
            enter_upgrade_mode(&mut link, &sim);
            let vm = Vm::new_with_limits(
                CountingDevice::new(RamCard::new(pristine.clone())),
                FixedTime,
                5000,
            );
            let card = Card::open(&vm).unwrap();
            let located = find(&card, FindOptions::image());
            let mut image = card.open_image(&located).unwrap();
            vm.device(|d| d.reset_counts());
            let config = SessionConfig::default();
            let outcome = match window {
                None => transfer_from(&mut link, &sim, &mut image, config, on_the_fly, 1),
                Some(len) => {
                    let mut buf = vec![0u8; len];
                    let mut ahead = ReadAhead::new(&mut image, &mut buf);
                    transfer_from(&mut link, &sim, &mut ahead, config, on_the_fly, 1)
                }
            };
            let counts = vm.device(|d| d.counts());
            assert!(
                outcome.retransmissions > 0 && outcome.residues > 0,
                "the faults must force re-reads: {outcome:?}"
            );
            assert_eq!(
                verdict(&mut link),
                UpgradeStatus::Success,
                "\n{}",
                context(&sim)
            );
            let ratio = counts.blocks_read as f64 / dup.len() as f64;
            note(format!(
                "transfer of {} B from a card with {} B clusters, window {window:?}: {} SD blocks read = {ratio:.6} per image byte ({:.3} × the 1/512 floor); {} retransmissions, {} residues",
                dup.len(),
                layout.cluster_bytes,
                counts.blocks_read,
                ratio * 512.0,
                outcome.retransmissions,
                outcome.residues
            ));
            per_byte.push(ratio);
        }
        let (plain, windowed) = (per_byte[0], per_byte[1]);
        // With the window every image sector is read once, plus the FAT sectors of the chain.
        assert!(windowed * 512.0 < floor_factor, "{windowed}");
        assert!(
            plain > windowed,
            "re-sends without the window must cost SD reads"
        );
    }
}

/// Two bytes of a corrupted directory sector — a lone UTF-16 surrogate at the start of the last
/// long-name part — make embedded-sdmmc 0.10's `iterate_dir_lfn` panic ("Vec was full?!"). The
/// finder lists directories itself, so the card is still read and the file still found.
#[test]
fn a_corrupted_long_name_does_not_crash_the_finder() {
    use modem_upgrade::storage::card;
    let name = "ABCDEFGHIJKLMNOPQ.dup";
    let data = pattern(1000, 9);
    let mut disk = build_image(
        &Layout::fat32_small(),
        &[Entry {
            path: name,
            data: &data,
        }],
    )
    .unwrap();
    let mut sector = [0u8; 512];
    disk.read_block(0, &mut sector);
    let partition = card::parse_mbr(&sector).unwrap().first_fat().unwrap();
    disk.read_block(u64::from(partition.start_lba), &mut sector);
    let geometry = card::parse_boot_sector(&sector, &partition).unwrap();
    let root = u64::from(geometry.cluster_lba(geometry.root_cluster).unwrap());
    disk.read_block(root, &mut sector);
    let mut patched = 0;
    for entry in sector.chunks_mut(32) {
        // The last part (ordinal 2 | 0x40) of the long name: first character = 0xDC00.
        if entry[11] == 0x0F && entry[0] == 0x42 {
            entry[1..3].copy_from_slice(&0xDC00u16.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 1, "the test card must have a two-part long name");
    disk.write_block(root, &sector);
    let vm = Vm::new_with_limits(RamCard::new(disk), FixedTime, 5000);
    let card = Card::open(&vm).unwrap();
    let located = find(&card, FindOptions::image());
    assert_eq!(located.found.name, "ABCDEFGHIJKLM\u{FFFD}OPQ.dup");
    assert_eq!(read_all(&mut card.open_image(&located).unwrap()), data);
}
