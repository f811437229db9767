//! Plain data describing what the reader found: containers, signatures, payloads, versions.

use super::checksum::WordOrder;
use core::fmt;

/// Four magic bytes as found in the file.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Magic(pub [u8; 4]);

impl Magic {
    /// `PACK`: the outer container of a `.dup`, holding `UPGR` packages.
    pub const PACK: Magic = Magic(*b"PACK");
    /// `UPGR`: one upgrade package (component).
    pub const UPGR: Magic = Magic(*b"UPGR");
    /// `\x7fELF`: an ELF file.
    pub const ELF: Magic = Magic(*b"\x7fELF");
    /// `FFF!`: flash image header inside updater / fff / pxl packages.
    pub const FFF: Magic = Magic(*b"FFF!");
    /// `IELF`: wrapper placing an ELF inside a raw flash image.
    pub const IELF: Magic = Magic(*b"IELF");
}

impl fmt::Display for Magic {
    /// Printable ASCII as text (`PACK`), anything else as hex bytes (`7f 45 4c 46`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic()) {
            for &b in &self.0 {
                fmt::Write::write_char(f, char::from(b))?;
            }
            Ok(())
        } else {
            let [a, b, c, d] = self.0;
            write!(f, "{a:02x} {b:02x} {c:02x} {d:02x}")
        }
    }
}

impl fmt::Debug for Magic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Magic({self})")
    }
}

/// What an `UPGR` package carries, from the little-endian `u32` at the start of its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Component {
    /// `0x626F6F74` (bytes `74 6f 6f 62`): modem bootloader.
    Bootrom,
    /// `8`: the updater that programs the other components.
    Updater,
    /// `2`: "fff", the main modem firmware (its version is the image's target version).
    Firmware,
    /// `3`: file-system overlay.
    FileSystem,
    /// `0x10`: pxl package (GM02S only).
    Pxl,
    /// Any other type word.
    Other(u32),
}

impl Component {
    /// Decodes the type word.
    pub const fn from_word(word: u32) -> Self {
        match word {
            0x626F_6F74 => Self::Bootrom,
            8 => Self::Updater,
            2 => Self::Firmware,
            3 => Self::FileSystem,
            0x10 => Self::Pxl,
            other => Self::Other(other),
        }
    }

    /// The type word.
    pub const fn word(self) -> u32 {
        match self {
            Self::Bootrom => 0x626F_6F74,
            Self::Updater => 8,
            Self::Firmware => 2,
            Self::FileSystem => 3,
            Self::Pxl => 0x10,
            Self::Other(w) => w,
        }
    }

    /// Short name as used by the vendor descriptions and in reports: `bootrom`, `updater`, `fff`, `fs`,
    /// `pxl`, `other`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bootrom => "bootrom",
            Self::Updater => "updater",
            Self::Firmware => "fff",
            Self::FileSystem => "fs",
            Self::Pxl => "pxl",
            Self::Other(_) => "other",
        }
    }

    /// Whether packages of this kind carry an `FFF!` flash image (and so an inner trailer and ELF).
    pub const fn carries_flash_image(self) -> bool {
        matches!(self, Self::Updater | Self::Firmware | Self::Pxl)
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(w) => write!(f, "other(0x{w:x})"),
            known => f.write_str(known.name()),
        }
    }
}

/// CABA signature type (`sig_type` field), also used by `FFF!` trailers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SignatureType {
    /// 0: no signature.
    None,
    /// 1: Fletcher-32, Sequans variant (4 bytes).
    Fletcher32,
    /// 2: ECDSA-256 — cannot be verified without the vendor key.
    Ecdsa256,
    /// 3: RSA-SHA256 (256 bytes) — cannot be verified without the vendor key.
    RsaSha256,
    /// 4: CRC-32 as in zlib (4 bytes).
    Crc32,
    /// Any other code.
    Unknown(u16),
}

impl SignatureType {
    /// Decodes a `sig_type` field.
    pub const fn from_code(code: u16) -> Self {
        match code {
            0 => Self::None,
            1 => Self::Fletcher32,
            2 => Self::Ecdsa256,
            3 => Self::RsaSha256,
            4 => Self::Crc32,
            other => Self::Unknown(other),
        }
    }

    /// The `sig_type` code.
    pub const fn code(self) -> u16 {
        match self {
            Self::None => 0,
            Self::Fletcher32 => 1,
            Self::Ecdsa256 => 2,
            Self::RsaSha256 => 3,
            Self::Crc32 => 4,
            Self::Unknown(c) => c,
        }
    }

    /// The signature size this type requires, where the format fixes it.
    pub const fn required_size(self) -> Option<u16> {
        match self {
            Self::None => Some(0),
            Self::Fletcher32 | Self::Crc32 => Some(4),
            Self::RsaSha256 => Some(256),
            Self::Ecdsa256 | Self::Unknown(_) => None,
        }
    }

    /// Stable lower-case name used in reports: `none`, `fletcher32`, `ecdsa256`, `rsa_sha256`, `crc32`,
    /// `unknown`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Fletcher32 => "fletcher32",
            Self::Ecdsa256 => "ecdsa256",
            Self::RsaSha256 => "rsa_sha256",
            Self::Crc32 => "crc32",
            Self::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for SignatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Fletcher32 => f.write_str("Fletcher-32"),
            Self::Ecdsa256 => f.write_str("ECDSA-256"),
            Self::RsaSha256 => f.write_str("RSA-SHA256"),
            Self::Crc32 => f.write_str("CRC-32"),
            Self::Unknown(c) => write!(f, "unknown type {c}"),
        }
    }
}

/// The verdict on one signature or trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SignatureStatus {
    /// Recomputed and equal to the stored value.
    Valid,
    /// Recomputed and different from the stored value.
    Mismatch {
        /// Value stored in the file.
        stored: u32,
        /// Value computed over the covered bytes.
        computed: u32,
    },
    /// Present, but of a kind this library cannot verify (ECDSA, RSA, unknown). Never counts as valid.
    Unverifiable,
    /// Signature type 0: nothing to verify.
    Absent,
    /// Not verified because the structure around it is broken (truncated, sizes that disagree).
    NotChecked,
}

impl SignatureStatus {
    /// `Some(true)` valid, `Some(false)` mismatch, `None` for everything that was not verified.
    pub const fn ok(self) -> Option<bool> {
        match self {
            Self::Valid => Some(true),
            Self::Mismatch { .. } => Some(false),
            Self::Unverifiable | Self::Absent | Self::NotChecked => None,
        }
    }
}

/// A signature (or trailer) and its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Signature {
    /// Its type.
    pub ty: SignatureType,
    /// The verdict.
    pub status: SignatureStatus,
}

/// A container's description string, as far as it is printable (at most 32 characters are kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {
    text: heapless::String<32>,
    truncated: bool,
}

impl Description {
    /// Builds a description from raw bytes: stops at the first NUL, replaces non-printable bytes by `?`,
    /// keeps at most 32 characters.
    pub fn from_bytes(raw: &[u8]) -> Self {
        let mut d = Self::default();
        for &b in raw.iter().take_while(|&&b| b != 0) {
            let c = if b == b' ' || b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            };
            if d.text.push(c).is_err() {
                d.truncated = true;
                break;
            }
        }
        d
    }

    /// The kept text.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// Whether the description was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Description {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

/// A firmware version as Sequans writes it in `.versionString`: `5.1.1.0 [38638]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FirmwareVersion {
    /// The four dotted numbers (`5.1.1.0`).
    pub numbers: [u16; 4],
    /// The build number in brackets (`38638`); also the 5-digit suffix of `ATI1`'s `LR5.1.1.0-38638`.
    pub build: u32,
}

impl FirmwareVersion {
    /// Parses `x.y.z.w [NNNNN]` at the start of `text` (anything after the closing bracket is ignored).
    /// Returns `None` for anything else.
    pub fn parse_prefix(text: &[u8]) -> Option<Self> {
        let (numbers, rest) = take_dotted(text)?;
        let rest = rest.strip_prefix(b" [")?;
        let (build, after) = take_number(rest, 9)?;
        after.strip_prefix(b"]")?;
        Some(Self { numbers, build })
    }

    /// Parses the `LR` line of an `ATI1` reply: `LR5.1.1.0-38638` (SQN3330) or `LR8.0.5.13-59577`
    /// (GM02S) gives numbers `5.1.1.0` and build `38638`.
    ///
    /// Padding around the line is ignored, `LR` may be in either case, and text after the build
    /// number that does not continue it (a suffix letter, a space) is ignored. Returns `None` for
    /// anything else, including a build number of more than 9 digits.
    pub fn parse_ati1_line(line: &[u8]) -> Option<Self> {
        let line = trim_spaces(line);
        let (lr, rest) = line.split_at_checked(2)?;
        if !lr.eq_ignore_ascii_case(b"LR") {
            return None;
        }
        let (numbers, rest) = take_dotted(rest)?;
        let rest = rest.strip_prefix(b"-")?;
        let (build, _) = take_number(rest, 9)?;
        Some(Self { numbers, build })
    }

    /// Parses the value column of an `AT!="showver"` row: `5.1.1.0 [38638]` or
    /// `5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46`.
    ///
    /// Unlike [`parse_prefix`](Self::parse_prefix) it accepts any number of spaces (including none)
    /// around the value and before `[`, because the table's spacing varies between firmware releases.
    /// Returns `None` for anything else (for example `none` on a modem without application firmware).
    pub fn parse_showver(value: &[u8]) -> Option<Self> {
        let (numbers, rest) = take_dotted(trim_spaces(value))?;
        let rest = trim_spaces(rest).strip_prefix(b"[")?;
        let (build, after) = take_number(trim_spaces(rest), 9)?;
        trim_spaces(after).strip_prefix(b"]")?;
        Some(Self { numbers, build })
    }

    /// The form `ATI1` answers with on the modem: `LR5.1.1.0-38638`.
    pub fn ati1(&self) -> impl fmt::Display + '_ {
        struct Ati1<'v>(&'v FirmwareVersion);
        impl fmt::Display for Ati1<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let [a, b, c, d] = self.0.numbers;
                write!(f, "LR{a}.{b}.{c}.{d}-{}", self.0.build)
            }
        }
        Ati1(self)
    }
}

/// Parses `a.b.c.d` (each 1–5 digits, fitting `u16`); returns the numbers and the rest.
fn take_dotted(text: &[u8]) -> Option<([u16; 4], &[u8])> {
    let mut rest = text;
    let mut numbers = [0u16; 4];
    for (i, slot) in numbers.iter_mut().enumerate() {
        let (value, after) = take_number(rest, 5)?;
        *slot = u16::try_from(value).ok()?;
        rest = after;
        if i < 3 {
            rest = rest.strip_prefix(b".")?;
        }
    }
    Some((numbers, rest))
}

/// `text` without leading and trailing spaces and tabs.
fn trim_spaces(text: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = text.iter().position(|b| !is_space(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i.saturating_add(1));
    text.get(start..end).unwrap_or_default()
}

/// Parses 1..=`max_digits` ASCII digits; returns the value and the rest.
fn take_number(s: &[u8], max_digits: usize) -> Option<(u32, &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > max_digits {
        return None;
    }
    let (num, rest) = s.split_at_checked(digits)?;
    let value = num.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })?;
    Some((value, rest))
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.numbers;
        write!(f, "{a}.{b}.{c}.{d} [{}]", self.build)
    }
}

/// Facts about an ELF image (a loader file, or the ELF inside an `FFF!` payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ElfInfo {
    /// File offset of the ELF header.
    pub offset: u32,
    /// Bytes available to the ELF (its enclosing region).
    pub region_len: u32,
    /// Byte order (`e_ident[EI_DATA]`).
    pub big_endian: bool,
    /// `e_machine` (0xA7 = Andes NDS32 for every Sequans image).
    pub machine: u16,
    /// `e_entry`.
    pub entry: u32,
    /// `e_phnum`.
    pub segments: u16,
    /// `e_shnum`.
    pub sections: u16,
    /// Highest offset (relative to the ELF header) reached by any table, section or segment.
    pub extent: u32,
    /// Version from the `.versionString` section, if present.
    pub version: Option<FirmwareVersion>,
    /// File offset of the `.versionString` section, if present.
    pub version_offset: Option<u32>,
}

/// What sits inside an `FFF!` flash image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FlashContent {
    /// A plain ELF right after the header.
    Elf(ElfInfo),
    /// An `IELF` wrapper: raw flash bytes with an ELF at `elf_offset`.
    Ielf {
        /// Offset of the ELF from the start of the `IELF` header.
        elf_offset: u32,
        /// Length of the ELF.
        elf_len: u32,
        /// The ELF, if it checked out.
        elf: Option<ElfInfo>,
    },
    /// Something else (for example a diff image); only the trailer and the container signature apply.
    Opaque(Magic),
    /// Not examined because the header around it is broken.
    NotChecked,
}

/// An `FFF!` flash image inside a package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FlashImage {
    /// File offset of the `FFF!` header.
    pub offset: u32,
    /// Declared payload length.
    pub payload_len: u32,
    /// Verdict on the trailer that follows the payload.
    pub trailer: Signature,
    /// For a valid Fletcher trailer: the word order that matched (big = SQN3330, little = GM02S).
    pub trailer_order: Option<WordOrder>,
    /// The payload.
    pub content: FlashContent,
}

/// What a package's data holds beyond the component word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Payload {
    /// Nothing this library interprets (bootrom blob, fs overlay, PACK children are listed separately).
    Raw,
    /// A slim `FFF!` flash image.
    Flash(FlashImage),
    /// An `FFF!` header in the 56-byte "full" form, whose fields are not publicly known: not interpreted.
    FlashFullHeader,
    /// A package that should carry a flash image but starts with these bytes instead (for example a
    /// diff package): only the container signature applies.
    Opaque(Magic),
}

/// One CABA container (`PACK` or `UPGR`) in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// File offset of the header.
    pub offset: u32,
    /// 0 at top level, 1 inside a `PACK`.
    pub depth: u8,
    /// `PACK` or `UPGR`.
    pub magic: Magic,
    /// CABA header version (1, 2 or 3).
    pub format: u16,
    /// `flags` field (meaning not public; reported as is).
    pub flags: u16,
    /// Description (v3 only; empty otherwise).
    pub description: Description,
    /// File offset of the data area.
    pub data_offset: u32,
    /// Length of the data area (`size` field).
    pub data_len: u32,
    /// Header + description + data + signature, as declared.
    pub total_len: u64,
    /// `UPGR` component type; `None` for `PACK` or when the data is shorter than the type word.
    pub component: Option<Component>,
    /// The container signature.
    pub signature: Signature,
    /// CABA v1 only: the header checksum.
    pub header_crc: Option<SignatureStatus>,
    /// What the data holds.
    pub payload: Payload,
}

/// The overall shape of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ImageKind {
    /// A firmware package: an outer `PACK`, or several concatenated `UPGR` packages.
    Dup,
    /// A single standalone CABA package (for example a bootrom `UPGR`).
    Caba,
    /// A plain ELF (loader: `updater.elf`, `mtools.elf`).
    Elf,
    /// Nothing recognisable.
    Unknown,
}

impl ImageKind {
    /// `dup`, `caba`, `elf` or `unknown`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Dup => "dup",
            Self::Caba => "caba",
            Self::Elf => "elf",
            Self::Unknown => "unknown",
        }
    }
}

/// Where the target version was proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TargetVersion {
    /// The version.
    pub version: FirmwareVersion,
    /// File offset of the `.versionString` it was read from.
    pub offset: u32,
}
