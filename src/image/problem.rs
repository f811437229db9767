//! Everything that can be wrong with an image, each with where, what was expected, what was found, and
//! what to do about it.

use super::types::{Component, Description, Magic, SignatureType};
use core::fmt;

/// The container a problem belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    /// File offset of its header.
    pub offset: u32,
    /// Its magic.
    pub magic: Magic,
    /// Its description (may be empty).
    pub description: Description,
    /// Its component, for `UPGR`.
    pub component: Option<Component>,
}

/// One thing wrong with an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// File offset where the problem is.
    pub offset: u32,
    /// The container it belongs to (`None`: the file itself, or a plain ELF).
    pub container: Option<ContainerRef>,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong, with the expected and the found values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file has no bytes.
    Empty,
    /// A header is cut short by the end of the file.
    HeaderTruncated {
        /// What header (`"CABA v3 header"`, `"FFF! header"`, `"ELF header"`, …).
        what: &'static str,
        /// Bytes the header needs.
        needed: u32,
        /// Bytes left in the file.
        available: u32,
    },
    /// A container declares more bytes than the file has.
    Truncated {
        /// Where the container says it ends.
        declared_end: u64,
        /// Length of the file.
        file_len: u32,
    },
    /// A nested container reaches past the end of its parent's data area.
    ChildOverrunsParent {
        /// Where the child says it ends.
        child_end: u64,
        /// Where the parent's data area ends.
        parent_end: u32,
    },
    /// Neither `PACK`, `UPGR` nor an ELF where a container was expected.
    UnknownMagic {
        /// The bytes found.
        found: Magic,
    },
    /// A CABA header version other than 1, 2 or 3.
    UnsupportedCabaVersion {
        /// The version found.
        found: u16,
    },
    /// A v3 description that is not NUL-terminated inside its declared size.
    DescriptionNotTerminated {
        /// The declared `descr_size`.
        declared: u16,
    },
    /// A `PACK` inside a `PACK`.
    NestedPack,
    /// More containers than this reader keeps track of.
    TooManyContainers {
        /// The limit.
        max: u32,
    },
    /// A signature type whose size is fixed, declared with another size.
    SignatureSizeMismatch {
        /// The type.
        ty: SignatureType,
        /// The size the type requires.
        expected: u16,
        /// The declared size.
        found: u16,
    },
    /// A signature type code this reader does not know.
    UnknownSignatureType {
        /// The code.
        found: u16,
    },
    /// A signature that was recomputed and does not match.
    SignatureMismatch {
        /// The type.
        ty: SignatureType,
        /// The stored value.
        stored: u32,
        /// The computed value.
        computed: u32,
    },
    /// CABA v1 header checksum mismatch.
    HeaderCrcMismatch {
        /// The stored value.
        stored: u32,
        /// The computed value.
        computed: u32,
    },
    /// A signature that is present but cannot be verified here (ECDSA/RSA). Never counted as valid.
    UnverifiableSignature {
        /// The type.
        ty: SignatureType,
    },
    /// An `UPGR` whose data is too short to hold the 4-byte component word.
    MissingComponentWord {
        /// Its data length.
        data_len: u32,
    },
    /// The `FFF!` header's payload length disagrees with the package size.
    FlashLengthMismatch {
        /// Bytes the `FFF!` header implies (header + payload + trailer).
        declared: u64,
        /// Bytes the package has for it.
        available: u32,
    },
    /// The `FFF!` trailer does not match its flash image (checked in both word orders).
    FlashTrailerMismatch {
        /// The stored trailer.
        stored: u32,
        /// Computed with big-endian words (SQN3330).
        computed_big: u32,
        /// Computed with little-endian words (GM02S).
        computed_little: u32,
    },
    /// An `IELF` wrapper whose ELF lies outside the payload.
    IelfOutOfBounds {
        /// Declared ELF offset.
        elf_offset: u32,
        /// Declared ELF length.
        elf_len: u32,
        /// Payload length available.
        payload_len: u32,
    },
    /// An ELF identification or header field with a wrong value.
    ElfField {
        /// Which field.
        field: &'static str,
        /// The value required.
        expected: u32,
        /// The value found.
        found: u32,
    },
    /// An ELF for another processor: not a Sequans image.
    ElfNotSequans {
        /// `e_machine` found (Sequans images use 0xA7, Andes NDS32).
        machine: u16,
    },
    /// An ELF table, segment or section reaching past the ELF's region.
    ElfOutOfBounds {
        /// What (`"program header table"`, `"section header table"`, `"segment"`, `"section"`).
        what: &'static str,
        /// Its index (for segments and sections).
        index: u16,
        /// Where it ends, relative to the ELF header.
        end: u64,
        /// Bytes available to the ELF.
        limit: u32,
    },
    /// The image source delivered fewer bytes than its length promised.
    SourceEnded {
        /// Where it stopped.
        at: u32,
    },
}

impl ProblemKind {
    /// One sentence on what the user should do.
    pub const fn advice(&self) -> &'static str {
        use ProblemKind::*;
        match self {
            Empty | HeaderTruncated { .. } | Truncated { .. } | SourceEnded { .. } => {
                "the file is incomplete: copy it again and check that its size matches the original"
            }
            SignatureMismatch { .. } | HeaderCrcMismatch { .. } | FlashTrailerMismatch { .. } => {
                "the file is corrupted: copy it again from the original download"
            }
            UnknownMagic { .. } => {
                "this is not a Sequans .dup/.elf firmware file (or its start is damaged)"
            }
            UnverifiableSignature { .. } => {
                "this signature type cannot be checked without the vendor key; the modem checks it itself"
            }
            ElfNotSequans { .. } => {
                "this ELF is not a Sequans loader: use updater.elf (SQN3330) or mtools.elf (GM02S)"
            }
            TooManyContainers { .. } => {
                "this file holds far more packages than any Sequans image; it is not a valid .dup"
            }
            UnsupportedCabaVersion { .. } | UnknownSignatureType { .. } => {
                "this container format is newer than this tool or the file is damaged; report it with the file name"
            }
            _ => {
                "the file's internal sizes disagree: it is damaged or not a Sequans image; copy it again"
            }
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProblemKind::*;
        match *self {
            Empty => f.write_str("the file is empty (expected a .dup package or a loader ELF)"),
            HeaderTruncated {
                what,
                needed,
                available,
            } => {
                write!(
                    f,
                    "{what} cut short: expected {needed} bytes, found {available} before the end of the file"
                )
            }
            Truncated {
                declared_end,
                file_len,
            } => write!(
                f,
                "truncated: the container declares {declared_end} bytes up to its end, but the file ends at {file_len} ({} bytes missing)",
                declared_end.saturating_sub(u64::from(file_len))
            ),
            ChildOverrunsParent {
                child_end,
                parent_end,
            } => write!(
                f,
                "nested sizes disagree: this package ends at offset {child_end}, past the end of its PACK's data at {parent_end}"
            ),
            UnknownMagic { found } => {
                write!(
                    f,
                    "unknown magic {found}: expected PACK, UPGR or an ELF header (7f 45 4c 46)"
                )
            }
            UnsupportedCabaVersion { found } => {
                write!(
                    f,
                    "unsupported CABA header version {found}: expected 1, 2 or 3"
                )
            }
            DescriptionNotTerminated { declared } => {
                write!(f, "description of {declared} bytes is not NUL-terminated")
            }
            NestedPack => {
                f.write_str("a PACK inside a PACK: expected only UPGR packages inside a PACK")
            }
            TooManyContainers { max } => write!(f, "more than {max} containers"),
            SignatureSizeMismatch {
                ty,
                expected,
                found,
            } => {
                write!(
                    f,
                    "{ty} signature declared with {found} bytes: expected {expected}"
                )
            }
            UnknownSignatureType { found } => {
                write!(
                    f,
                    "unknown signature type {found}: expected 0 (none), 1 (Fletcher-32), 2, 3 or 4 (CRC-32)"
                )
            }
            SignatureMismatch {
                ty,
                stored,
                computed,
            } => {
                write!(
                    f,
                    "{ty} signature mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
                )
            }
            HeaderCrcMismatch { stored, computed } => {
                write!(
                    f,
                    "CABA v1 header checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
                )
            }
            UnverifiableSignature { ty } => {
                write!(f, "{ty} signature present but not verifiable here")
            }
            MissingComponentWord { data_len } => {
                write!(
                    f,
                    "package data of {data_len} bytes cannot hold its 4-byte component type"
                )
            }
            FlashLengthMismatch {
                declared,
                available,
            } => write!(
                f,
                "FFF! header declares {declared} bytes (header + payload + trailer), the package has {available}"
            ),
            FlashTrailerMismatch {
                stored,
                computed_big,
                computed_little,
            } => write!(
                f,
                "FFF! trailer mismatch: stored 0x{stored:08x}, computed 0x{computed_big:08x} (big-endian words) / 0x{computed_little:08x} (little-endian words)"
            ),
            IelfOutOfBounds {
                elf_offset,
                elf_len,
                payload_len,
            } => write!(
                f,
                "IELF places its ELF at {elf_offset}..{} but the payload has {payload_len} bytes",
                u64::from(elf_offset) + u64::from(elf_len)
            ),
            ElfField {
                field,
                expected,
                found,
            } => {
                write!(f, "ELF {field} is {found}: expected {expected}")
            }
            ElfNotSequans { machine } => {
                write!(
                    f,
                    "ELF machine 0x{machine:x}: expected 0xa7 (Andes NDS32, every Sequans image)"
                )
            }
            ElfOutOfBounds {
                what,
                index,
                end,
                limit,
            } => {
                write!(
                    f,
                    "ELF {what} {index} ends at {end}, past the {limit} bytes of the ELF"
                )
            }
            SourceEnded { at } => write!(f, "the file could not be read past offset {at}"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at 0x{:x}", self.offset)?;
        if let Some(c) = &self.container {
            write!(f, " in {} at 0x{:x}", c.magic, c.offset)?;
            if !c.description.as_str().is_empty() {
                write!(f, " \"{}\"", c.description)?;
            }
        }
        write!(f, ": {} — {}", self.kind, self.kind.advice())
    }
}

impl core::error::Error for Problem {}

#[cfg(feature = "defmt")]
impl defmt::Format for Problem {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "image problem at 0x{=u32:x}: {}", self.offset, self.kind)
    }
}
