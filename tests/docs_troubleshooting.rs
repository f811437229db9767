//! `docs/troubleshooting.md` must list every error the library can end with, and say what the code
//! really prints.
//!
//! For each enum below:
//! - the variant list is written here by hand, in a `listed!` block that also generates an
//!   exhaustive `match` (adding a variant without listing it fails to compile; `ProblemKind` is
//!   `#[non_exhaustive]`, so for it, and for all the others too, the list is also compared with the
//!   variants declared in the source file);
//! - one value of every variant is constructed (two for variants with two message forms), and the
//!   set of constructed variants must equal the list;
//! - the doc section headed by the enum's path has a table row naming each variant in backticks
//!   (in its first cell), and no row naming anything else;
//! - the row's message cell holds the start of the `Display` text in “…” quotes, `…` standing for
//!   filled-in values: the text before the first `…` must start the message, and every later piece
//!   must follow in order. A variant that only wraps another error has no quoted message.

use std::collections::BTreeSet;

use embedded_sdmmc::SdCardError;
use modem_upgrade::image::{FirmwareVersion, ImageKind, Magic, Problem, SignatureType};
use modem_upgrade::protocol::at::{AtError, BootMode, FinalResult};
use modem_upgrade::protocol::stp::Op;
use modem_upgrade::storage::ReadExactError;
use modem_upgrade::storage::card::FileSystemName;
use modem_upgrade::storage::find::{NameList, name_of};
use modem_upgrade::upgrade::{Outcome, Stage, Target};

const DOC: &str = include_str!("../docs/troubleshooting.md");

/// Generates, in module `$module`, the hand-written variant list `ALL` of `$ty` and `name`, whose
/// exhaustive `match` stops compiling when a variant is added to the enum but not to the list.
macro_rules! listed {
    ($module:ident, $ty:ty, [$($v:ident),+ $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            pub type T = $ty;
            pub const ALL: &[&str] = &[$(stringify!($v)),+];
            pub fn name(e: &T) -> &'static str {
                match e {
                    $(T::$v { .. } => stringify!($v),)+
                }
            }
        }
    };
    // A `#[non_exhaustive]` enum of another crate needs a wildcard arm: its completeness is checked
    // against the source file only.
    (non_exhaustive $module:ident, $ty:ty, [$($v:ident),+ $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            pub type T = $ty;
            pub const ALL: &[&str] = &[$(stringify!($v)),+];
            pub fn name(e: &T) -> &'static str {
                match e {
                    $(T::$v { .. } => stringify!($v),)+
                    _ => "(a variant missing from the list in tests/docs_troubleshooting.rs)",
                }
            }
        }
    };
}

listed! { upgrade_error, modem_upgrade::upgrade::Error<(), (), ()>, [
    ImageRead, ImageInvalid, Unusable, LoaderRead, LoaderInvalid, LoaderNotElf, Journal, Refused,
    ModemSilent, Link, SwitchRefused, TransferFailed, ImageReadDuringTransfer, PackageRefused,
    TransfersUsedUp, BaudLost, ProgrammingTimeout, NoReturn, VersionMismatch, GaveUp, Stopped,
] }
listed! { refusal, modem_upgrade::upgrade::Refusal, [
    LoaderNeeded, DiffWithoutFirmware, DiffBaseMismatch, DiffBaseUnknown, Downgrade,
] }
listed! { unusable, modem_upgrade::upgrade::Unusable, [
    NotAPackage, NoTargetVersion, DiffTargetUnknown,
] }
listed! { sdmmc_error, modem_upgrade::storage::sdmmc::Error<SdCardError>, [
    CardInit, Device, Card, FileSystem, Find, Journal,
] }
listed! { card_problem, modem_upgrade::storage::card::CardProblem, [
    NoMbrSignature, Superfloppy, Gpt, NoPartitions, InvalidPartitionStatus,
    UnsupportedPartitionType, ExFat, Ntfs, Fat12, BadBootSector, PartitionOutsideCard,
    BadClusterChain,
] }
listed! { probe_error, modem_upgrade::storage::card::ProbeError<SdCardError>, [Device, Card] }
listed! { find_problem, modem_upgrade::storage::find::FindProblem, [
    NotFound, FolderNotFound, Ambiguous, Empty, Truncated,
] }
listed! { journal_problem, modem_upgrade::storage::sdmmc::JournalProblem, [
    IsDirectory, BadEntry, Chain, MappingMismatch,
] }
listed! { non_exhaustive problem_kind, modem_upgrade::image::ProblemKind, [
    Empty, HeaderTruncated, Truncated, ChildOverrunsParent, UnknownMagic, UnsupportedCabaVersion,
    DescriptionNotTerminated, NestedPack, TooManyContainers, SignatureSizeMismatch,
    UnknownSignatureType, SignatureMismatch, HeaderCrcMismatch, UnverifiableSignature,
    MissingComponentWord, FlashLengthMismatch, FlashTrailerMismatch, IelfOutOfBounds, ElfField,
    ElfNotSequans, ElfOutOfBounds, SourceEnded,
] }
listed! { link_error, modem_upgrade::transport::LinkError<()>, [
    Io, WriteZero, NoAnswer, At, Stp, NoUrc, BufferTooSmall,
] }
listed! { at_error, modem_upgrade::protocol::at::AtError, [
    Rejected, MissingInfo, Unparsable, LineTooLong, CommandTooLong,
] }
listed! { stp_error, modem_upgrade::protocol::stp::StpError, [
    EmptyImage, StartOffset, NotReadyToSend, DataLength, OpenRefused, UnsupportedVersion,
    MaxTransferTooSmall, AttemptsExhausted, RetryBudgetExhausted, BlockOutcomeUnknown,
] }
listed! { response_fault, modem_upgrade::protocol::stp::ResponseFault, [
    Signature, Op, Sid, Tid, HeaderCrc, PayloadLength, PayloadCrc, Nack, NackUnknown, Timeout,
    Residue,
] }
listed! { baud_error, modem_upgrade::transport::BaudError<(), ()>, [Link, SetBaud, Silent, Lost] }

/// One constructed value: its variant, and its message (`None`: the variant only wraps another
/// error, whose message it prints).
struct Sample {
    variant: &'static str,
    message: Option<String>,
}

fn own(variant: &'static str, value: &dyn std::fmt::Display) -> Sample {
    Sample {
        variant,
        message: Some(value.to_string()),
    }
}

/// One sample per value: its own message, or (`false`) a wrapper whose message is another type's.
fn samples<T: std::fmt::Display>(
    values: &[(T, bool)],
    name: fn(&T) -> &'static str,
) -> Vec<Sample> {
    values
        .iter()
        .map(|(e, has_own)| {
            if *has_own {
                own(name(e), e)
            } else {
                wrapper(name(e))
            }
        })
        .collect()
}

fn wrapper(variant: &'static str) -> Sample {
    Sample {
        variant,
        message: None,
    }
}

fn version(build: u32) -> FirmwareVersion {
    FirmwareVersion {
        numbers: [5, 1, 1, 0],
        build,
    }
}

fn target() -> Target {
    Target {
        version: Some(version(39529)),
        build: 39529,
        diff_base: None,
        is_diff: false,
    }
}

fn problem() -> Problem {
    Problem {
        offset: 0x23,
        container: None,
        kind: modem_upgrade::image::ProblemKind::Empty,
    }
}

fn fault() -> modem_upgrade::protocol::stp::ResponseFault {
    modem_upgrade::protocol::stp::ResponseFault::Timeout { waited_ms: 2000 }
}

fn upgrade_error_samples() -> Vec<Sample> {
    use upgrade_error::{T as E, name};
    let values: Vec<(E, bool)> = vec![
        (E::ImageRead(()), true),
        (
            E::ImageInvalid {
                problem: problem(),
                more: 2,
            },
            true,
        ),
        (
            E::ImageInvalid {
                problem: problem(),
                more: 0,
            },
            true,
        ),
        (
            E::Unusable(modem_upgrade::upgrade::Unusable::NoTargetVersion),
            true,
        ),
        (E::LoaderRead(()), true),
        (E::LoaderInvalid { problem: problem() }, true),
        (
            E::LoaderNotElf {
                kind: ImageKind::Dup,
            },
            true,
        ),
        (E::Journal(()), true),
        (
            E::Refused(modem_upgrade::upgrade::Refusal::LoaderNeeded),
            false,
        ),
        (E::ModemSilent { rates_tried: 2 }, true),
        (
            E::Link {
                stage: Stage::Detect,
                error: modem_upgrade::transport::LinkError::WriteZero,
            },
            true,
        ),
        (E::SwitchRefused { target: 3 }, true),
        (
            E::TransferFailed {
                attempts: 4,
                last: modem_upgrade::transport::LinkError::WriteZero,
            },
            true,
        ),
        (
            E::ImageReadDuringTransfer(ReadExactError::UnexpectedEnd { offset: 4096 }),
            true,
        ),
        (E::ImageReadDuringTransfer(ReadExactError::Source(())), true),
        (
            E::PackageRefused {
                attempts: 4,
                reason: heapless::String::try_from("wrong package").unwrap(),
            },
            true,
        ),
        (
            E::PackageRefused {
                attempts: 4,
                reason: heapless::String::new(),
            },
            true,
        ),
        (E::TransfersUsedUp { attempts: 4 }, true),
        (
            E::BaudLost {
                requested: 921_600,
                previous: 115_200,
            },
            true,
        ),
        (
            E::ProgrammingTimeout {
                waited_ms: 2_280_000,
            },
            true,
        ),
        (
            E::NoReturn {
                stage: Stage::Verify,
                waited_ms: 300_001,
            },
            true,
        ),
        (
            E::VersionMismatch {
                expected: target(),
                found: Some(version(38638)),
            },
            true,
        ),
        (
            E::VersionMismatch {
                expected: target(),
                found: None,
            },
            true,
        ),
        (
            E::GaveUp {
                rounds: 16,
                mode: Some(BootMode::Upgrade),
            },
            true,
        ),
        (
            E::GaveUp {
                rounds: 16,
                mode: None,
            },
            true,
        ),
        (
            E::Stopped {
                stage: Stage::Programming,
            },
            true,
        ),
    ];
    samples(&values, name)
}

fn refusal_samples() -> Vec<Sample> {
    use refusal::{T as R, name};
    let installed = version(38638);
    [
        R::LoaderNeeded,
        R::DiffWithoutFirmware {
            mode: BootMode::LoaderWait,
        },
        R::DiffWithoutFirmware {
            mode: BootMode::Loader,
        },
        R::DiffBaseMismatch {
            base: 33080,
            installed,
        },
        R::DiffBaseUnknown { installed },
        R::Downgrade {
            installed,
            target: target(),
        },
    ]
    .iter()
    .map(|r| own(name(r), r))
    .collect()
}

fn unusable_samples() -> Vec<Sample> {
    use unusable::{T as U, name};
    [
        U::NotAPackage {
            kind: ImageKind::Elf,
        },
        U::NotAPackage {
            kind: ImageKind::Caba,
        },
        U::NotAPackage {
            kind: ImageKind::Unknown,
        },
        U::NoTargetVersion,
        U::DiffTargetUnknown,
    ]
    .iter()
    .map(|u| own(name(u), u))
    .collect()
}

fn sdmmc_error_samples() -> Vec<Sample> {
    use modem_upgrade::storage::card::CardProblem;
    use modem_upgrade::storage::find::FindProblem;
    use modem_upgrade::storage::sdmmc::JournalProblem;
    use sdmmc_error::{T as E, name};
    let values = [
        (E::CardInit(SdCardError::CardNotFound), true),
        (E::Device(SdCardError::ReadError), true),
        (E::Card(CardProblem::Gpt), false),
        (E::FileSystem(embedded_sdmmc::Error::NotFound), true),
        (
            E::Find(FindProblem::Empty {
                name: name_of("a.dup"),
            }),
            false,
        ),
        (E::Journal(JournalProblem::IsDirectory), false),
    ];
    samples(&values, name)
}

fn card_problem_samples() -> Vec<Sample> {
    use card_problem::{T as P, name};
    [
        P::NoMbrSignature { found: [0, 0] },
        P::Superfloppy {
            file_system: FileSystemName::Fat32,
        },
        P::Gpt,
        P::NoPartitions,
        P::InvalidPartitionStatus {
            index: 0,
            status: 0x12,
        },
        P::UnsupportedPartitionType {
            index: 0,
            type_id: 0x83,
        },
        P::ExFat { index: 0 },
        P::Ntfs { index: 1 },
        P::Fat12 { clusters: 2000 },
        P::BadBootSector {
            field: "bytes per sector (512)",
            found: 4096,
        },
        P::PartitionOutsideCard {
            start: 8192,
            blocks: 1 << 24,
            card_blocks: 1 << 20,
        },
        P::BadClusterChain {
            cluster: 5,
            entry: 0,
        },
    ]
    .iter()
    .map(|p| own(name(p), p))
    .collect()
}

fn probe_error_samples() -> Vec<Sample> {
    use probe_error::{T as E, name};
    let device = E::Device(SdCardError::ReadError);
    let card = E::Card(modem_upgrade::storage::card::CardProblem::Gpt);
    vec![own(name(&device), &device), wrapper(name(&card))]
}

fn find_problem_samples() -> Vec<Sample> {
    use find_problem::{T as P, name};
    let mut seen = NameList::default();
    seen.push("README.txt");
    let mut candidates = NameList::default();
    candidates.push("CATM1-38638.dup");
    candidates.push("NB1-41019.dup");
    [
        P::NotFound {
            wanted: Some(name_of("CATM1-38638.dup")),
            folder: None,
            seen: seen.clone(),
        },
        P::NotFound {
            wanted: None,
            folder: Some(name_of("FIRMWARE")),
            seen: seen.clone(),
        },
        P::FolderNotFound {
            folder: name_of("FIRMWARE"),
            seen,
        },
        P::Ambiguous {
            matched: name_of("*.dup"),
            candidates,
        },
        P::Empty {
            name: name_of("CATM1-38638.dup"),
        },
        P::Truncated {
            name: name_of("CATM1-38638.dup"),
            size: 12,
            minimum: 64,
        },
    ]
    .iter()
    .map(|p| own(name(p), p))
    .collect()
}

fn journal_problem_samples() -> Vec<Sample> {
    use journal_problem::{T as P, name};
    [
        P::IsDirectory,
        P::BadEntry {
            first_cluster: 0,
            size: 12,
        },
        P::Chain(modem_upgrade::storage::card::CardProblem::BadClusterChain {
            cluster: 9,
            entry: 0,
        }),
        P::MappingMismatch {
            slot_offset: 512,
            lba: 12345,
        },
    ]
    .iter()
    .map(|p| own(name(p), p))
    .collect()
}

fn problem_kind_samples() -> Vec<(Sample, &'static str)> {
    use problem_kind::{T as K, name};
    [
        K::Empty,
        K::HeaderTruncated {
            what: "CABA v3 header",
            needed: 35,
            available: 10,
        },
        K::Truncated {
            declared_end: 6_000_000,
            file_len: 780_000,
        },
        K::ChildOverrunsParent {
            child_end: 900,
            parent_end: 800,
        },
        K::UnknownMagic {
            found: Magic(*b"ABCD"),
        },
        K::UnsupportedCabaVersion { found: 7 },
        K::DescriptionNotTerminated { declared: 17 },
        K::NestedPack,
        K::TooManyContainers { max: 32 },
        K::SignatureSizeMismatch {
            ty: SignatureType::Crc32,
            expected: 4,
            found: 8,
        },
        K::UnknownSignatureType { found: 9 },
        K::SignatureMismatch {
            ty: SignatureType::Fletcher32,
            stored: 1,
            computed: 2,
        },
        K::HeaderCrcMismatch {
            stored: 1,
            computed: 2,
        },
        K::UnverifiableSignature {
            ty: SignatureType::Ecdsa256,
        },
        K::MissingComponentWord { data_len: 2 },
        K::FlashLengthMismatch {
            declared: 900,
            available: 800,
        },
        K::FlashTrailerMismatch {
            stored: 1,
            computed_big: 2,
            computed_little: 3,
        },
        K::IelfOutOfBounds {
            elf_offset: 64,
            elf_len: 900,
            payload_len: 800,
        },
        K::ElfField {
            field: "e_ident[EI_CLASS]",
            expected: 1,
            found: 2,
        },
        K::ElfNotSequans { machine: 0x28 },
        K::ElfOutOfBounds {
            what: "segment",
            index: 1,
            end: 900,
            limit: 800,
        },
        K::SourceEnded { at: 4096 },
    ]
    .iter()
    .map(|k| (own(name(k), k), k.advice()))
    .collect()
}

fn link_error_samples() -> Vec<Sample> {
    use link_error::{T as E, name};
    let values = [
        (E::Io(()), true),
        (E::WriteZero, true),
        (
            E::NoAnswer {
                command: "AT+SMOD?",
                timeout_ms: 500,
                attempts: 3,
            },
            true,
        ),
        (
            E::At(AtError::Rejected {
                command: "AT+SMOD?",
                result: FinalResult::Error,
            }),
            false,
        ),
        (
            E::Stp(modem_upgrade::protocol::stp::StpError::OpenRefused),
            false,
        ),
        (
            E::NoUrc {
                urc: "+SYSSTART",
                timeout_ms: 1000,
            },
            true,
        ),
        (
            E::BufferTooSmall {
                needed: 2016,
                len: 512,
            },
            true,
        ),
    ];
    samples(&values, name)
}

fn at_error_samples() -> Vec<Sample> {
    use at_error::{T as E, name};
    [
        E::Rejected {
            command: "AT+SMSWBOOT",
            result: FinalResult::CmeError(3),
        },
        E::MissingInfo {
            command: "ATI1",
            expected: "a version line",
        },
        AtError::unparsable("AT+SMOD?", "a boot mode number", b"\x00\x00garbage"),
        E::LineTooLong { capacity: 256 },
        E::CommandTooLong {
            command: "AT+SMSTPU",
        },
    ]
    .iter()
    .map(|e| own(name(e), e))
    .collect()
}

fn stp_error_samples() -> Vec<Sample> {
    use stp_error::{T as E, name};
    [
        E::EmptyImage,
        E::StartOffset { offset: 10, len: 5 },
        E::NotReadyToSend,
        E::DataLength {
            expected: 2016,
            found: 12,
        },
        E::OpenRefused,
        E::UnsupportedVersion { version: 3 },
        E::MaxTransferTooSmall { max_transfer: 16 },
        E::AttemptsExhausted {
            op: Op::TransferBlock,
            tid: 7,
            attempts: 5,
            last: fault(),
        },
        E::RetryBudgetExhausted {
            budget: 384,
            last: fault(),
        },
        E::BlockOutcomeUnknown {
            offset: 2016,
            last: fault(),
        },
    ]
    .iter()
    .map(|e| own(name(e), e))
    .collect()
}

fn response_fault_samples() -> Vec<Sample> {
    use response_fault::{T as F, name};
    [
        F::Signature { found: *b"fast" },
        F::Signature { found: *b"xxxx" },
        F::Op {
            expected: 0x83,
            found: 0x82,
        },
        F::Sid {
            expected: 1,
            found: 2,
        },
        F::Tid {
            expected: 3,
            found: 4,
        },
        F::HeaderCrc {
            computed: 1,
            found: 2,
        },
        F::PayloadLength {
            expected: 2,
            found: 9,
        },
        F::PayloadCrc {
            computed: 1,
            found: 2,
        },
        F::Nack { op: 0x43 },
        F::NackUnknown,
        F::Timeout { waited_ms: 2000 },
        F::Residue {
            residue: 3000,
            block_len: 2016,
        },
        F::Residue {
            residue: 16,
            block_len: 2016,
        },
    ]
    .iter()
    .map(|f| own(name(f), f))
    .collect()
}

fn baud_error_samples() -> Vec<Sample> {
    use baud_error::{T as E, name};
    let link = E::Link(modem_upgrade::transport::LinkError::WriteZero);
    let mut samples = vec![wrapper(name(&link))];
    for e in [
        E::SetBaud {
            baud: 921_600,
            error: (),
        },
        E::Silent { rates_tried: 2 },
        E::Lost {
            requested: 921_600,
            previous: 115_200,
        },
    ] {
        samples.push(own(name(&e), &e));
    }
    samples
}

// ---------------------------------------------------------------------------------------------
// Reading the doc and the sources.

/// The lines from the heading that contains `wanted` to the next heading.
fn section(wanted: &str) -> Vec<&'static str> {
    let mut lines = DOC
        .lines()
        .skip_while(|l| !(l.starts_with('#') && l.contains(wanted)));
    let heading = lines
        .next()
        .unwrap_or_else(|| panic!("docs/troubleshooting.md has no heading naming {wanted}"));
    assert!(heading.starts_with('#'));
    lines.take_while(|l| !l.starts_with('#')).collect()
}

/// A table row: the names in backticks in its first cell, and its message cell.
struct Row {
    names: Vec<String>,
    message: String,
    line: &'static str,
}

fn rows(section: &[&'static str]) -> Vec<Row> {
    let table: Vec<&'static str> = section
        .iter()
        .copied()
        .filter(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() > 2, "no table in the section");
    table
        .iter()
        .skip(2) // header and separator
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            let first = cells.get(1).copied().unwrap_or("");
            let message = cells.get(2).copied().unwrap_or("").to_string();
            let names = first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            Row {
                names,
                message,
                line,
            }
        })
        .collect()
}

/// The “…”-quoted messages of a cell.
fn quoted(cell: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = cell;
    while let Some(start) = rest.find('“') {
        let after = &rest[start + '“'.len_utf8()..];
        let end = after
            .find('”')
            .unwrap_or_else(|| panic!("unclosed quote in {cell:?}"));
        out.push(&after[..end]);
        rest = &after[end + '”'.len_utf8()..];
    }
    out
}

/// Whether `message` fits `pattern`: the text before the first `…` starts it, each later piece
/// follows in order.
fn fits(pattern: &str, message: &str) -> bool {
    let mut pieces = pattern.split('…').map(str::trim);
    let first = pieces.next().unwrap_or("");
    if !message.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    for piece in pieces.filter(|p| !p.is_empty()) {
        match message[at..].find(piece) {
            Some(i) => at += i + piece.len(),
            None => return false,
        }
    }
    true
}

/// The variants declared in `enum_name` in `source` (4-space-indented identifiers up to the closing
/// brace).
fn source_variants(source: &str, enum_name: &str) -> Vec<String> {
    let head = format!("pub enum {enum_name}");
    let mut lines = source.lines().skip_while(|l| {
        let l = l.trim_start();
        !(l.starts_with(&head) && l[head.len()..].starts_with([' ', '<', '{']))
    });
    assert!(lines.next().is_some(), "`pub enum {enum_name}` not found");
    lines
        .take_while(|l| *l != "}")
        .filter_map(|l| {
            let ident = l.strip_prefix("    ")?;
            if !ident.starts_with(|c: char| c.is_ascii_uppercase()) {
                return None;
            }
            Some(
                ident
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect(),
            )
        })
        .collect()
}

/// Checks one enum: hand list = source = constructed samples; a row per variant, no stray rows;
/// every message fits the row's quoted pattern, every wrapper has none.
fn check(marker: &str, listed: &[&str], source: &str, enum_name: &str, samples: &[Sample]) {
    let listed_set: BTreeSet<&str> = listed.iter().copied().collect();
    let declared = source_variants(source, enum_name);
    let declared_set: BTreeSet<&str> = declared.iter().map(String::as_str).collect();
    assert_eq!(
        listed_set, declared_set,
        "{marker}: the list in tests/docs_troubleshooting.rs differs from the enum's source"
    );
    let sampled: BTreeSet<&str> = samples.iter().map(|s| s.variant).collect();
    assert_eq!(
        sampled, listed_set,
        "{marker}: construct a value of every variant in tests/docs_troubleshooting.rs"
    );

    let rows = rows(&section(&format!("`{marker}`")));
    for row in &rows {
        for name in &row.names {
            assert!(
                listed_set.contains(name.as_str()),
                "{marker}: the doc's row for `{name}` names no variant of the enum:\n{}",
                row.line
            );
        }
    }
    for sample in samples {
        let row = rows
            .iter()
            .find(|r| r.names.iter().any(|n| n == sample.variant))
            .unwrap_or_else(|| {
                panic!(
                    "docs/troubleshooting.md: the `{marker}` table has no row for `{}`",
                    sample.variant
                )
            });
        let patterns = quoted(&row.message);
        match &sample.message {
            None => assert!(
                patterns.is_empty(),
                "{marker}: `{}` only wraps another error; its row should point to that error's \
                 table instead of quoting a message:\n{}",
                sample.variant,
                row.line
            ),
            Some(message) => {
                assert!(
                    !patterns.is_empty(),
                    "{marker}: the row for `{}` quotes no message:\n{}",
                    sample.variant,
                    row.line
                );
                assert!(
                    patterns.iter().any(|p| fits(p, message)),
                    "{marker}: `{}` prints\n  {message}\nwhich fits none of the doc's {patterns:?}",
                    sample.variant
                );
            }
        }
    }
}

const UPGRADE_ERROR_SRC: &str = include_str!("../src/upgrade/error.rs");
const TARGET_SRC: &str = include_str!("../src/upgrade/target.rs");
const SDMMC_SRC: &str = include_str!("../src/storage/sdmmc/mod.rs");
const SD_JOURNAL_SRC: &str = include_str!("../src/storage/sdmmc/journal.rs");
const CARD_PROBLEM_SRC: &str = include_str!("../src/storage/card/problem.rs");
const FIND_SRC: &str = include_str!("../src/storage/find.rs");
const IMAGE_PROBLEM_SRC: &str = include_str!("../src/image/problem.rs");
const LINK_SRC: &str = include_str!("../src/transport/link.rs");
const BAUD_SRC: &str = include_str!("../src/transport/baud.rs");
const AT_ERROR_SRC: &str = include_str!("../src/protocol/at/error.rs");
const STP_SESSION_SRC: &str = include_str!("../src/protocol/stp/session.rs");

#[test]
fn upgrade_errors_are_all_documented() {
    check(
        "upgrade::Error",
        upgrade_error::ALL,
        UPGRADE_ERROR_SRC,
        "Error",
        &upgrade_error_samples(),
    );
    check(
        "upgrade::Refusal",
        refusal::ALL,
        TARGET_SRC,
        "Refusal",
        &refusal_samples(),
    );
    check(
        "upgrade::Unusable",
        unusable::ALL,
        TARGET_SRC,
        "Unusable",
        &unusable_samples(),
    );
}

#[test]
fn sd_card_errors_are_all_documented() {
    check(
        "storage::sdmmc::Error",
        sdmmc_error::ALL,
        SDMMC_SRC,
        "Error",
        &sdmmc_error_samples(),
    );
    check(
        "storage::card::CardProblem",
        card_problem::ALL,
        CARD_PROBLEM_SRC,
        "CardProblem",
        &card_problem_samples(),
    );
    check(
        "storage::card::ProbeError",
        probe_error::ALL,
        CARD_PROBLEM_SRC,
        "ProbeError",
        &probe_error_samples(),
    );
    check(
        "storage::find::FindProblem",
        find_problem::ALL,
        FIND_SRC,
        "FindProblem",
        &find_problem_samples(),
    );
    check(
        "storage::sdmmc::JournalProblem",
        journal_problem::ALL,
        SD_JOURNAL_SRC,
        "JournalProblem",
        &journal_problem_samples(),
    );
}

#[test]
fn image_problems_are_all_documented_with_their_advice() {
    let (samples, advice): (Vec<Sample>, Vec<&str>) = problem_kind_samples().into_iter().unzip();
    check(
        "image::ProblemKind",
        problem_kind::ALL,
        IMAGE_PROBLEM_SRC,
        "ProblemKind",
        &samples,
    );
    let rows = rows(&section("`image::ProblemKind`"));
    for (sample, advice) in samples.iter().zip(advice) {
        let row = rows
            .iter()
            .find(|r| r.names.iter().any(|n| n == sample.variant))
            .expect("checked above");
        assert!(
            row.line.contains(advice),
            "the row for `{}` should give its advice verbatim: {advice:?}",
            sample.variant
        );
    }
}

#[test]
fn link_errors_are_all_documented() {
    check(
        "transport::LinkError",
        link_error::ALL,
        LINK_SRC,
        "LinkError",
        &link_error_samples(),
    );
    check(
        "protocol::at::AtError",
        at_error::ALL,
        AT_ERROR_SRC,
        "AtError",
        &at_error_samples(),
    );
    check(
        "protocol::stp::StpError",
        stp_error::ALL,
        STP_SESSION_SRC,
        "StpError",
        &stp_error_samples(),
    );
    check(
        "protocol::stp::ResponseFault",
        response_fault::ALL,
        STP_SESSION_SRC,
        "ResponseFault",
        &response_fault_samples(),
    );
    check(
        "transport::BaudError",
        baud_error::ALL,
        BAUD_SRC,
        "BaudError",
        &baud_error_samples(),
    );
}

#[test]
fn outcomes_exit_codes_and_json_words_are_documented() {
    let rows = rows(&section("How a run ends"));
    for outcome in [
        Outcome::Upgraded,
        Outcome::AlreadyCurrent,
        Outcome::Failed,
        Outcome::Rejected,
    ] {
        let variant = format!("Outcome::{outcome:?}");
        let row = rows
            .iter()
            .find(|r| r.names.contains(&variant))
            .unwrap_or_else(|| panic!("no row for `{variant}`"));
        let cells: Vec<&str> = row.line.split('|').map(str::trim).collect();
        assert_eq!(
            cells.get(2),
            Some(&format!("`{}`", outcome.name()).as_str()),
            "{variant}"
        );
        assert_eq!(
            cells.get(3),
            Some(&outcome.exit_code().to_string().as_str()),
            "{variant}"
        );
    }
}

#[test]
fn the_doc_names_the_symptoms_users_report() {
    let symptoms = section("Symptoms users report");
    let text = symptoms.join("\n");
    for symptom in [
        "does not answer after an interrupted upgrade",
        "Stuck at 7–10 % / 99 %",
        "seems to hang",
        "Recovery mode",
        "Wrong image",
        "AT+SMSWBOOT failed",
        "auto-negotiation failed",
        "Every error restarts from zero",
        "exFAT card",
        "Long file names",
        "truncated or corrupted file",
        "False success",
        "version unclear after the upgrade",
    ] {
        assert!(text.contains(symptom), "no row for the symptom {symptom:?}");
    }
}

#[test]
fn the_pattern_matcher_is_strict() {
    assert!(fits(
        "the modem is in … : its firmware",
        "the modem is in loader-wait (SMOD 0): its firmware is gone"
    ));
    assert!(fits("… files match …", "2 files match *.dup: `a`, `b`"));
    assert!(!fits("the modem is in", "a modem is in"));
    assert!(!fits("sector … holds …", "sector 5 is blank"));
    assert_eq!(quoted("a “one” b “two …” c"), ["one", "two …"]);
}

/// `docs/porting.md`'s stage table marks exactly the stages the code flags `do_not_power_off`.
#[test]
fn the_porting_guide_flags_the_right_stages() {
    let porting = include_str!("../docs/porting.md");
    for stage in Stage::ALL {
        let name = format!("{stage:?}");
        let row = porting
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/porting.md has no stage row for `{name}`"));
        assert_eq!(
            row.contains("**do not**"),
            stage.do_not_power_off(),
            "docs/porting.md, stage `{name}`: the power-cut column disagrees with \
             Stage::do_not_power_off\n{row}"
        );
    }
}
