//! ELF32 shape checks for the images the modem accepts: the loader sent alone in SMOD 0
//! (`updater.elf`, `mtools.elf`) and the payloads of `updater`/`fff`/`pxl` components.
//!
//! Only the fields below are read (offsets from the start of the ELF; multi-byte fields in the byte
//! order given by `EI_DATA`). Facts from the spec (§7.4) and the real files: ELF32, Andes NDS32
//! (`e_machine` 0xA7), `ET_EXEC`, big-endian on SQN3330 and little-endian on GM02S, version text in a
//! `.versionString` section. That the modem *rejects* anything else is a simulator convention.
//!
//! ELF header:
//!
//! | offset | size | field | check |
//! | --- | --- | --- | --- |
//! | 0 | 4 | magic | `7f 45 4c 46` |
//! | 4 | 1 | `EI_CLASS` | 1 (ELF32) |
//! | 5 | 1 | `EI_DATA` | 1 (little-endian) or 2 (big-endian) |
//! | 6 | 1 | `EI_VERSION` | 1 |
//! | 16 | 2 | `e_type` | 2 (`ET_EXEC`) |
//! | 18 | 2 | `e_machine` | 0xA7 (Andes) |
//! | 24 | 4 | `e_entry` | reported |
//! | 28 | 4 | `e_phoff` | program header table inside the bytes |
//! | 32 | 4 | `e_shoff` | section header table inside the bytes (when `e_shnum` > 0) |
//! | 40 | 2 | `e_ehsize` | ≥ 52 and ≤ the input length |
//! | 42 | 2 | `e_phentsize` | ≥ 32 |
//! | 44 | 2 | `e_phnum` | ≥ 1 |
//! | 46 | 2 | `e_shentsize` | ≥ 40 when `e_shnum` > 0 |
//! | 48 | 2 | `e_shnum` | 0 = no sections (then no version) |
//! | 50 | 2 | `e_shstrndx` | 0 = no names; otherwise < `e_shnum` |
//!
//! Program header (32 bytes used of `e_phentsize`): `p_type` u32 at 0 (1 = `PT_LOAD`), `p_offset` u32 at
//! 4, `p_filesz` u32 at 16; every `PT_LOAD` must have `p_offset + p_filesz` ≤ the input length.
//!
//! Section header (40 bytes used of `e_shentsize`): `sh_name` u32 at 0 (offset into the section-name
//! string table), `sh_type` u32 at 4 (8 = `SHT_NOBITS`, no file content), `sh_offset` u32 at 16,
//! `sh_size` u32 at 20. The name table's range, every section name (NUL-terminated inside it) and the
//! `.versionString` section's range must lie inside the input. The version is the section's text up
//! to its first NUL, parsed by [`SimVersion::parse_version_string`].
//!
//! Bytes after the furthest table or segment are allowed (the CATM1 fff payload carries raw data
//! after its ELF).

use std::ops::Range;

use super::bytes::{array, range_within, until_nul};
use crate::version::SimVersion;

const ELF32_HEADER_LEN: usize = 52;
const PHDR_MIN: usize = 32;
const SHDR_MIN: usize = 40;
const ET_EXEC: u16 = 2;
const EM_ANDES: u16 = 0xA7;
const PT_LOAD: u32 = 1;
const SHT_NOBITS: u32 = 8;
const VERSION_SECTION: &[u8] = b".versionString";

/// What the checks learned about a valid ELF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ElfInfo {
    pub big_endian: bool,
    pub entry: u32,
    /// Parsed `.versionString`, if the section exists and its text parses.
    pub version: Option<SimVersion>,
}

/// Why an ELF failed: the offset of the offending field or structure (relative to the ELF's first
/// byte) and a short description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ElfError {
    pub at: usize,
    pub detail: String,
}

fn fail<T>(at: usize, detail: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError {
        at,
        detail: detail.into(),
    })
}

/// Byte-order-aware bounded reader.
struct Reader<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Result<u16, ElfError> {
        match array(self.bytes, at) {
            Some(a) if self.big => Ok(u16::from_be_bytes(a)),
            Some(a) => Ok(u16::from_le_bytes(a)),
            None => fail(at, format!("field at {at:#x} runs past the end")),
        }
    }

    fn u32(&self, at: usize) -> Result<u32, ElfError> {
        match array(self.bytes, at) {
            Some(a) if self.big => Ok(u32::from_be_bytes(a)),
            Some(a) => Ok(u32::from_le_bytes(a)),
            None => fail(at, format!("field at {at:#x} runs past the end")),
        }
    }

    /// The range `offset .. offset + size` if it lies inside the bytes.
    fn inside(&self, offset: u32, size: u32) -> Option<Range<usize>> {
        range_within(offset as usize, size as usize, self.bytes.len())
    }

    /// Start offsets of the `count` entries of a table, if the whole table lies inside the bytes.
    fn table(&self, offset: u32, count: u16, entsize: u16) -> Option<Range<usize>> {
        let len = usize::from(count).checked_mul(usize::from(entsize))?;
        range_within(offset as usize, len, self.bytes.len())
    }
}

/// Runs the shape checks on `bytes` (which must start with the ELF header) and reads the version.
pub(crate) fn check_elf(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    if bytes.len() < ELF32_HEADER_LEN {
        return fail(
            0,
            format!("{} bytes, shorter than a 52-byte ELF32 header", bytes.len()),
        );
    }
    let ident: [u8; 16] = match array(bytes, 0) {
        Some(a) => a,
        None => return fail(0, "no ELF identification"),
    };
    if ident[..4] != *b"\x7fELF" {
        return fail(0, "no \\x7fELF magic");
    }
    if ident[4] != 1 {
        return fail(4, format!("EI_CLASS {} is not 1 (ELF32)", ident[4]));
    }
    let big = match ident[5] {
        1 => false,
        2 => true,
        other => return fail(5, format!("EI_DATA {other} is neither 1 (LE) nor 2 (BE)")),
    };
    if ident[6] != 1 {
        return fail(6, format!("EI_VERSION {} is not 1", ident[6]));
    }
    let r = Reader { bytes, big };
    let e_type = r.u16(16)?;
    if e_type != ET_EXEC {
        return fail(16, format!("e_type {e_type} is not 2 (EXEC)"));
    }
    let machine = r.u16(18)?;
    if machine != EM_ANDES {
        return fail(18, format!("e_machine {machine:#x} is not 0xa7 (Andes)"));
    }
    let entry = r.u32(24)?;
    let phoff = r.u32(28)?;
    let shoff = r.u32(32)?;
    let ehsize = r.u16(40)?;
    let phentsize = r.u16(42)?;
    let phnum = r.u16(44)?;
    let shentsize = r.u16(46)?;
    let shnum = r.u16(48)?;
    let shstrndx = r.u16(50)?;

    if usize::from(ehsize) < ELF32_HEADER_LEN || usize::from(ehsize) > bytes.len() {
        return fail(
            40,
            format!("e_ehsize {ehsize} is not between 52 and the image length"),
        );
    }
    if phnum == 0 {
        return fail(44, "no program headers");
    }
    if usize::from(phentsize) < PHDR_MIN {
        return fail(42, format!("e_phentsize {phentsize} < 32"));
    }
    let Some(ph_table) = r.table(phoff, phnum, phentsize) else {
        return fail(
            28,
            format!("program header table ({phnum} x {phentsize} at {phoff:#x}) outside the image"),
        );
    };
    for entry_at in ph_table.step_by(usize::from(phentsize)) {
        let p_type = r.u32(entry_at)?;
        let p_offset = r.u32(entry_at + 4)?;
        let p_filesz = r.u32(entry_at + 16)?;
        if p_type == PT_LOAD && r.inside(p_offset, p_filesz).is_none() {
            return fail(
                entry_at,
                format!(
                    "PT_LOAD segment {p_offset:#x}+{p_filesz:#x} outside the image ({:#x} bytes)",
                    bytes.len()
                ),
            );
        }
    }

    let version = if shnum == 0 {
        None
    } else {
        if usize::from(shentsize) < SHDR_MIN {
            return fail(46, format!("e_shentsize {shentsize} < 40"));
        }
        let Some(sh_table) = r.table(shoff, shnum, shentsize) else {
            return fail(
                32,
                format!(
                    "section header table ({shnum} x {shentsize} at {shoff:#x}) outside the image"
                ),
            );
        };
        find_version(&r, sh_table, shentsize, shnum, shstrndx)?
    };
    Ok(ElfInfo {
        big_endian: big,
        entry,
        version,
    })
}

/// Looks up `.versionString` through the section-name string table.
fn find_version(
    r: &Reader<'_>,
    sh_table: Range<usize>,
    shentsize: u16,
    shnum: u16,
    shstrndx: u16,
) -> Result<Option<SimVersion>, ElfError> {
    if shstrndx == 0 {
        return Ok(None); // SHN_UNDEF: sections have no names.
    }
    if shstrndx >= shnum {
        return fail(50, format!("e_shstrndx {shstrndx} >= e_shnum {shnum}"));
    }
    let header_at = |index: u16| sh_table.start + usize::from(index) * usize::from(shentsize);
    let strtab_at = header_at(shstrndx);
    let strtab_type = r.u32(strtab_at + 4)?;
    let strtab_range = r.inside(r.u32(strtab_at + 16)?, r.u32(strtab_at + 20)?);
    let strtab = match strtab_range.and_then(|range| r.bytes.get(range)) {
        Some(s) if strtab_type != SHT_NOBITS => s,
        _ => return fail(strtab_at, "section-name string table outside the image"),
    };
    // A name starting at `o` is NUL-terminated inside the table iff `o` <= the last NUL's position;
    // knowing that position keeps the loop linear even for 65535 names in a huge table.
    let last_nul = strtab.iter().rposition(|&b| b == 0);
    let mut wanted = VERSION_SECTION.to_vec();
    wanted.push(0);
    for index in 0..shnum {
        let at = header_at(index);
        let name_offset = r.u32(at)? as usize;
        if name_offset >= strtab.len() {
            return fail(
                at,
                format!("section {index} name offset {name_offset:#x} outside .shstrtab"),
            );
        }
        if last_nul.is_none_or(|nul| name_offset > nul) {
            return fail(at, format!("section {index} name is not NUL-terminated"));
        }
        if !strtab
            .get(name_offset..)
            .is_some_and(|tail| tail.starts_with(&wanted))
        {
            continue;
        }
        if r.u32(at + 4)? == SHT_NOBITS {
            return Ok(None);
        }
        let (offset, size) = (r.u32(at + 16)?, r.u32(at + 20)?);
        let Some(content) = r.inside(offset, size).and_then(|range| r.bytes.get(range)) else {
            return fail(
                at,
                format!(".versionString {offset:#x}+{size:#x} outside the image"),
            );
        };
        let text = std::str::from_utf8(until_nul(content)).ok();
        return Ok(text.and_then(SimVersion::parse_version_string));
    }
    Ok(None)
}
