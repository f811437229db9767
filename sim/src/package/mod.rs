//! The simulated modem's firmware package verifier.
//!
//! A real modem checks a package after receiving it and before "programming" it; the host tools
//! check nothing (spec §7.6), so the simulator has to be at least as strict as a modem for the tests
//! of the host library to mean anything. [`verify_package`] checks a `.dup`-style stream,
//! [`verify_loader_elf`] checks the loader ELF pushed in SMOD 0.
//!
//! # Stream layout (spec §7.2)
//!
//! Either one `PACK` CABA container whose data is a concatenation of `UPGR` CABA containers (and
//! nothing after the PACK), or one or more `UPGR` containers concatenated directly. CABA v1/v2/v3
//! headers and signatures are described in the `caba` submodule. Each UPGR's data:
//!
//! | offset | size | field | meaning |
//! | --- | --- | --- | --- |
//! | 0 | 4 | component type (LE u32) | `0x626F6F74` bootrom, 8 updater, 2 fff, 0x10 pxl, 3 fs |
//! | 4 | rest | body | bootrom, fs: opaque; updater, fff, pxl: `FFF!` image (fff may also be `DIFF`) |
//!
//! The `FFF!`, `IELF` and `DIFF` layouts are in the `fff` submodule, the ELF checks in the `elf`
//! submodule (each with its byte table).
//!
//! # Checks, in the order they are made
//!
//! 1. Empty stream → [`RejectReason::Empty`].
//! 2. Each container: magic (`PACK`/`UPGR` at top level, only `UPGR` inside a PACK) → `BadMagic`;
//!    CABA version 1–3 → `BadVersion`; header and declared extent inside the stream → `Truncated`
//!    (inside a PACK: inside the PACK data → `BadLayout`).
//! 3. Each UPGR, in stream order: CRCs/signature → `BadSignature` / `UnsupportedSignature` (or
//!    `BadLayout` when the signature size contradicts its type); at least the 4-byte type word →
//!    `BadLayout`; known type → `UnknownComponent`; order bootrom < updater < fff < pxl < fs →
//!    `ComponentOrder`, each at most once → `DuplicateComponent`; body checks (`BadFlashHeader`,
//!    `BadSignature` for an `FFF!` trailer, `BadElf`, `NoTargetVersion`, `DiffBaseMismatch`).
//! 4. PACK: at least one UPGR (`BadLayout`), then the PACK's own signature, then nothing after it
//!    (`TrailingBytes`). Without a PACK: whatever follows a complete UPGR must be another UPGR
//!    (starts with `UPGR`), else `TrailingBytes`.
//!
//! Inner containers are verified before the PACK signature so that a corrupted byte is reported
//! against the component that holds it.
//!
//! # Facts and conventions
//!
//! Facts from the spec and the real files: every layout above, the signature algorithms, the
//! component type words, the component order seen in every real package (bootrom, updater, fff, pxl,
//! fs), the `FFF!` trailer and its per-modem word order, ELF32/Andes images with `.versionString`.
//! Simulator conventions (what a real modem does is not public): rejecting out-of-order or
//! duplicate components, unknown component types, ECDSA/RSA signatures, trailing bytes; the ELF
//! shape rules; the `DIFF` layout; requiring a parsable target version in the fff component; and
//! accepting a full (non-`DIFF`) package whatever is installed.

mod bytes;
mod caba;
mod elf;
mod fff;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::checksum::WordOrder;
use crate::version::SimVersion;

use caba::{PACK, Place, UPGR};
use fff::FlashContent;

/// What the simulated modem is, and what it has installed: the inputs that change the verdict on
/// the same bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageRules {
    /// Word order of the Fletcher-32 `FFF!` trailer: [`WordOrder::Big`] on SQN3330 (Monarch 1),
    /// [`WordOrder::Little`] on GM02S (Monarch 2).
    pub trailer_order: WordOrder,
    /// Build number of the installed firmware (`None` = no valid firmware installed); a `DIFF`
    /// package applies only on top of its base build.
    pub installed_build: Option<u32>,
    /// Whether ECDSA/RSA-signed containers pass unchecked. The simulator has no keys, so by default
    /// (`false`) it rejects them rather than pretend to have verified them.
    pub accept_unverifiable_signatures: bool,
}

impl PackageRules {
    /// Rules for an SQN3330 (Monarch 1) with `installed_build` installed.
    pub fn sqn3330(installed_build: Option<u32>) -> Self {
        PackageRules {
            trailer_order: WordOrder::Big,
            installed_build,
            accept_unverifiable_signatures: false,
        }
    }

    /// Rules for a GM02S (Monarch 2) with `installed_build` installed.
    pub fn gm02s(installed_build: Option<u32>) -> Self {
        PackageRules {
            trailer_order: WordOrder::Little,
            installed_build,
            accept_unverifiable_signatures: false,
        }
    }
}

/// The kind of a `UPGR` component, from its type word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    /// Type `0x626F6F74` ("boot" as LE bytes `74 6f 6f 62`): the bootloader.
    Bootrom,
    /// Type 8: the updater (the loader that runs the upgrade).
    Updater,
    /// Type 2: the main firmware ("fff").
    Firmware,
    /// Type 0x10: GM02S-only "pxl" image.
    Pxl,
    /// Type 3: the file-system overlay.
    FileSystem,
}

impl ComponentKind {
    /// All kinds, in the order a package must list them.
    pub const ALL: [ComponentKind; 5] = [
        ComponentKind::Bootrom,
        ComponentKind::Updater,
        ComponentKind::Firmware,
        ComponentKind::Pxl,
        ComponentKind::FileSystem,
    ];

    /// The kind for a UPGR type word, `None` if unknown.
    pub fn from_type_word(word: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.type_word() == word)
    }

    /// The UPGR type word of this kind.
    pub fn type_word(self) -> u32 {
        match self {
            ComponentKind::Bootrom => 0x626F_6F74,
            ComponentKind::Updater => 8,
            ComponentKind::Firmware => 2,
            ComponentKind::Pxl => 0x10,
            ComponentKind::FileSystem => 3,
        }
    }

    /// Short name as the Sequans descriptions use it ("bootrom", "updater", "fff", "pxl", "fs").
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::Bootrom => "bootrom",
            ComponentKind::Updater => "updater",
            ComponentKind::Firmware => "fff",
            ComponentKind::Pxl => "pxl",
            ComponentKind::FileSystem => "fs",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One verified component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentSummary {
    /// What it is.
    pub kind: ComponentKind,
    /// Offset of its `UPGR` header in the stream.
    pub offset: usize,
    /// Length of the whole `UPGR` container (header, description, data, signature).
    pub total_len: usize,
}

/// What a verified package contains: enough for the simulator to decide what it would install.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackageSummary {
    /// The components, in stream order.
    pub components: Vec<ComponentSummary>,
    /// The firmware version the package installs: the fff ELF's `.versionString`, or a DIFF's
    /// target. `None` when the package has no fff component.
    pub target: Option<SimVersion>,
    /// For a DIFF package, the build it applies on top of.
    pub diff_base: Option<u32>,
    /// First `d.d.d.d [n]` text found in the bootrom blob, if any (the bootrom has no section table).
    pub bootrom_version: Option<SimVersion>,
    /// The updater ELF's `.versionString`, if present and parsable.
    pub updater_version: Option<SimVersion>,
}

impl PackageSummary {
    /// The component kinds, in stream order.
    pub fn kinds(&self) -> Vec<ComponentKind> {
        self.components.iter().map(|c| c.kind).collect()
    }

    /// Whether the package contains a component of `kind`.
    pub fn has(&self, kind: ComponentKind) -> bool {
        self.components.iter().any(|c| c.kind == kind)
    }
}

/// What [`verify_loader_elf`] learned about a valid loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoaderInfo {
    /// `EI_DATA` = 2 (SQN3330 updater) rather than 1 (GM02S mtools).
    pub big_endian: bool,
    /// `e_entry`.
    pub entry: u32,
    /// The `.versionString` version, if present and parsable.
    pub version: Option<SimVersion>,
}

/// Why the modem refused a package or loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Nothing was sent.
    Empty,
    /// A container runs past the end of the stream.
    Truncated,
    /// Bytes follow the last complete container (or anything follows a PACK).
    TrailingBytes,
    /// Not a `PACK`/`UPGR` container where one was expected (or not an ELF, for a loader).
    BadMagic,
    /// CABA version other than 1, 2 or 3.
    BadVersion,
    /// A CABA CRC/signature or an `FFF!` trailer does not match the bytes.
    BadSignature,
    /// ECDSA/RSA (not verifiable here) or an unknown signature type.
    UnsupportedSignature,
    /// Components not in the order bootrom, updater, fff, pxl, fs.
    ComponentOrder,
    /// The same component twice.
    DuplicateComponent,
    /// A UPGR type word that is not one of the five known components.
    UnknownComponent,
    /// A malformed `FFF!` (or `DIFF`) header, or a length that does not add up.
    BadFlashHeader,
    /// An ELF (or its `IELF` wrapper) failing the shape checks.
    BadElf,
    /// An fff component whose version cannot be found or parsed.
    NoTargetVersion,
    /// A DIFF whose base build is not the installed build.
    DiffBaseMismatch,
    /// Containers that do not add up: a UPGR overrunning or not filling its PACK, an empty PACK, a
    /// UPGR too short for its type word, a signature size contradicting its type.
    BadLayout,
}

impl RejectReason {
    /// Every reason, for exhaustive tests and tables.
    pub const ALL: [RejectReason; 15] = [
        RejectReason::Empty,
        RejectReason::Truncated,
        RejectReason::TrailingBytes,
        RejectReason::BadMagic,
        RejectReason::BadVersion,
        RejectReason::BadSignature,
        RejectReason::UnsupportedSignature,
        RejectReason::ComponentOrder,
        RejectReason::DuplicateComponent,
        RejectReason::UnknownComponent,
        RejectReason::BadFlashHeader,
        RejectReason::BadElf,
        RejectReason::NoTargetVersion,
        RejectReason::DiffBaseMismatch,
        RejectReason::BadLayout,
    ];

    /// A short stable identifier (one per reason) for logs, state reports and test assertions.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Empty => "empty",
            RejectReason::Truncated => "truncated",
            RejectReason::TrailingBytes => "trailing",
            RejectReason::BadMagic => "magic",
            RejectReason::BadVersion => "caba-version",
            RejectReason::BadSignature => "signature",
            RejectReason::UnsupportedSignature => "unsupported-signature",
            RejectReason::ComponentOrder => "order",
            RejectReason::DuplicateComponent => "duplicate",
            RejectReason::UnknownComponent => "unknown-component",
            RejectReason::BadFlashHeader => "fff-header",
            RejectReason::BadElf => "elf",
            RejectReason::NoTargetVersion => "no-version",
            RejectReason::DiffBaseMismatch => "diff-base",
            RejectReason::BadLayout => "format",
        }
    }

    /// A short human phrase for the reason.
    fn phrase(&self) -> &'static str {
        match self {
            RejectReason::Empty => "empty package",
            RejectReason::Truncated => "truncated",
            RejectReason::TrailingBytes => "trailing bytes",
            RejectReason::BadMagic => "bad magic",
            RejectReason::BadVersion => "bad CABA version",
            RejectReason::BadSignature => "signature mismatch",
            RejectReason::UnsupportedSignature => "unsupported signature",
            RejectReason::ComponentOrder => "components out of order",
            RejectReason::DuplicateComponent => "duplicate component",
            RejectReason::UnknownComponent => "unknown component",
            RejectReason::BadFlashHeader => "bad flash header",
            RejectReason::BadElf => "bad ELF",
            RejectReason::NoTargetVersion => "no target version",
            RejectReason::DiffBaseMismatch => "diff base mismatch",
            RejectReason::BadLayout => "bad layout",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal: why, where (byte offset in the verified input) and the specifics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The category, for programmatic decisions.
    pub reason: RejectReason,
    /// Offset in the input of the container, field or structure at fault.
    pub offset: usize,
    /// Human details (which container, stored vs computed values, ...).
    pub detail: String,
}

impl Rejection {
    fn new(reason: RejectReason, offset: usize, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            offset,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    /// One line, e.g. `signature mismatch at 0x76183: UPGR at 0x76183 (fff) signature: stored
    /// 0xa7a1f6a3, computed 0xa7a1f6a2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {:#x}: {}",
            self.reason.phrase(),
            self.offset,
            self.detail
        )
    }
}

impl std::error::Error for Rejection {}

/// Verifies a package stream as the simulated modem would before programming it (see the module
/// docs for the checks); never panics, whatever the input.
///
/// # Errors
///
/// The first check that fails, as a [`Rejection`] naming the reason and the offset at fault.
pub fn verify_package(stream: &[u8], rules: &PackageRules) -> Result<PackageSummary, Rejection> {
    if stream.is_empty() {
        return Err(Rejection::new(RejectReason::Empty, 0, "no bytes"));
    }
    let mut walk = Walk {
        rules,
        summary: PackageSummary::default(),
    };
    let first = caba::parse_header(stream, 0, stream.len(), &[PACK, UPGR], Place::TopLevel)?;
    if first.magic == PACK {
        let place = Place::InPack {
            pack_offset: first.offset,
        };
        let mut offset = first.data.start;
        // Each container is at least 16 bytes long, so this loop advances and ends.
        while offset < first.data.end {
            let upgr = caba::parse_header(stream, offset, first.data.end, &[UPGR], place)?;
            walk.component(stream, &upgr)?;
            offset = upgr.end;
        }
        if walk.summary.components.is_empty() {
            return Err(Rejection::new(
                RejectReason::BadLayout,
                first.offset,
                "PACK holds no UPGR package",
            ));
        }
        caba::verify_signature(stream, &first, rules, "")?;
        if first.end != stream.len() {
            return Err(Rejection::new(
                RejectReason::TrailingBytes,
                first.end,
                format!(
                    "{} bytes after the PACK container",
                    stream.len() - first.end
                ),
            ));
        }
    } else {
        let mut upgr = first;
        loop {
            walk.component(stream, &upgr)?;
            let next = upgr.end;
            let rest = stream.get(next..).unwrap_or(&[]);
            if rest.is_empty() {
                break;
            }
            if !rest.starts_with(&UPGR) {
                return Err(Rejection::new(
                    RejectReason::TrailingBytes,
                    next,
                    format!("{} bytes after the last UPGR container", rest.len()),
                ));
            }
            upgr = caba::parse_header(stream, next, stream.len(), &[UPGR], Place::TopLevel)?;
        }
    }
    Ok(walk.summary)
}

/// State carried across the components of one package.
struct Walk<'r> {
    rules: &'r PackageRules,
    summary: PackageSummary,
}

impl Walk<'_> {
    /// Verifies one UPGR container and records it.
    fn component(&mut self, stream: &[u8], upgr: &caba::Caba) -> Result<(), Rejection> {
        let data = stream.get(upgr.data.clone()).unwrap_or(&[]);
        let type_word = bytes::le_u32(data, 0);
        let label = type_word
            .and_then(ComponentKind::from_type_word)
            .map_or("", ComponentKind::name);
        caba::verify_signature(stream, upgr, self.rules, label)?;
        let Some(type_word) = type_word else {
            return Err(Rejection::new(
                RejectReason::BadLayout,
                upgr.offset,
                format!(
                    "{} has {} data bytes, too few for the 4-byte component type",
                    upgr.name(""),
                    data.len()
                ),
            ));
        };
        let Some(kind) = ComponentKind::from_type_word(type_word) else {
            return Err(Rejection::new(
                RejectReason::UnknownComponent,
                upgr.data.start,
                format!("{} has component type {type_word:#x}", upgr.name("")),
            ));
        };
        if let Some(last) = self.summary.components.last() {
            // Components so far are strictly increasing, so a repeat can only be of the last one.
            if last.kind == kind {
                return Err(Rejection::new(
                    RejectReason::DuplicateComponent,
                    upgr.offset,
                    format!(
                        "second {kind} component (the first is at {:#x})",
                        last.offset
                    ),
                ));
            }
            if last.kind > kind {
                return Err(Rejection::new(
                    RejectReason::ComponentOrder,
                    upgr.offset,
                    format!(
                        "{kind} after {}; the order is bootrom, updater, fff, pxl, fs",
                        last.kind
                    ),
                ));
            }
        }
        let body = data.get(4..).unwrap_or(&[]);
        let body_at = upgr.data.start + 4;
        match kind {
            ComponentKind::Bootrom => {
                self.summary.bootrom_version = SimVersion::find_in_bytes(body);
            }
            ComponentKind::FileSystem => {}
            ComponentKind::Updater | ComponentKind::Pxl => {
                let content = fff::check_flash(body, body_at, kind, self.rules)?;
                if let (ComponentKind::Updater, FlashContent::Image { version }) = (kind, content) {
                    self.summary.updater_version = version;
                }
            }
            ComponentKind::Firmware => match fff::check_flash(body, body_at, kind, self.rules)? {
                FlashContent::Image {
                    version: Some(version),
                } => self.summary.target = Some(version),
                FlashContent::Image { version: None } => {
                    return Err(Rejection::new(
                        RejectReason::NoTargetVersion,
                        upgr.offset,
                        format!(
                            "{}: the ELF has no parsable .versionString",
                            upgr.name("fff")
                        ),
                    ));
                }
                FlashContent::Diff { base, target } => {
                    self.summary.target = Some(target);
                    self.summary.diff_base = Some(base);
                }
            },
        }
        self.summary.components.push(ComponentSummary {
            kind,
            offset: upgr.offset,
            total_len: upgr.end - upgr.offset,
        });
        Ok(())
    }
}

/// Verifies a loader ELF sent alone (SMOD 0, `AT+STP`): the whole input must be an ELF passing the
/// shape checks of the `elf` submodule; bytes after its furthest table or segment are allowed.
///
/// # Errors
///
/// [`RejectReason::Empty`] for no bytes, [`RejectReason::BadMagic`] when the input is not an ELF
/// (for example a `.dup` package), [`RejectReason::BadElf`] when a shape check fails.
pub fn verify_loader_elf(bytes: &[u8]) -> Result<LoaderInfo, Rejection> {
    if bytes.is_empty() {
        return Err(Rejection::new(RejectReason::Empty, 0, "no bytes"));
    }
    let magic = bytes::field(bytes, 0, 4).unwrap_or(bytes);
    if magic != b"\x7fELF" {
        let what = if magic == PACK || magic == UPGR {
            "a firmware package, not a loader ELF"
        } else {
            "not an ELF"
        };
        return Err(Rejection::new(
            RejectReason::BadMagic,
            0,
            format!("starts with {}: {what}", bytes::show_magic(magic)),
        ));
    }
    match elf::check_elf(bytes) {
        Ok(info) => Ok(LoaderInfo {
            big_endian: info.big_endian,
            entry: info.entry,
            version: info.version,
        }),
        Err(e) => Err(Rejection::new(
            RejectReason::BadElf,
            e.at,
            format!("loader: {}", e.detail),
        )),
    }
}
