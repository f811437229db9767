//! ELF32 shape checks for Sequans loaders (`updater.elf`, `mtools.elf`) and for the ELF inside a
//! package's flash image, and extraction of the `.versionString` section. The checked fields are the
//! "ELF32" table in `docs/image-format.md`.

use super::problem::{ContainerRef, ProblemKind};
use super::read::{Checked, bad, bytes_at, read_array, read_into};
use super::types::{ElfInfo, FirmwareVersion};
use crate::storage::ImageSource;

const EHDR_LEN: u32 = 52;
const PHDR_LEN: u16 = 32;
const SHDR_LEN: u16 = 40;
const EM_ANDES_NDS32: u16 = 0xA7;
const ET_EXEC: u16 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_NOBITS: u32 = 8;
const VERSION_SECTION: &[u8] = b".versionString";

/// Reads fields in the ELF's byte order.
#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let bytes = bytes_at(b, at);
        if self.big {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        }
    }
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let bytes = bytes_at(b, at);
        if self.big {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    }
}

/// Where the ELF is: `base` (file offset of its header) and `limit` (bytes available to it).
struct Region<'c> {
    base: u32,
    limit: u32,
    container: Option<&'c ContainerRef>,
}

impl Region<'_> {
    /// File offset of `rel` inside the region; fails (as out-of-bounds) when `rel + len` passes the limit.
    fn span<E>(&self, what: &'static str, index: u16, rel: u32, len: u32) -> Checked<u32, E> {
        let end = u64::from(rel) + u64::from(len);
        if end > u64::from(self.limit) {
            return bad(
                self.base,
                self.container,
                ProblemKind::ElfOutOfBounds {
                    what,
                    index,
                    end,
                    limit: self.limit,
                },
            );
        }
        // rel < limit and base + limit is inside the file (checked by the caller).
        Ok(self.base.saturating_add(rel))
    }

    fn field<T, E>(&self, field: &'static str, expected: u32, found: u32) -> Checked<T, E> {
        bad(
            self.base,
            self.container,
            ProblemKind::ElfField {
                field,
                expected,
                found,
            },
        )
    }
}

/// Checks the ELF whose header is at file offset `base`, with `limit` bytes available to it
/// (`base + limit` must not pass the end of the source).
pub(crate) fn check<S: ImageSource>(
    src: &mut S,
    base: u32,
    limit: u32,
    container: Option<&ContainerRef>,
) -> Checked<ElfInfo, S::Error> {
    let region = Region {
        base,
        limit,
        container,
    };
    if limit < EHDR_LEN {
        return bad(
            base,
            container,
            ProblemKind::HeaderTruncated {
                what: "ELF header",
                needed: EHDR_LEN,
                available: limit,
            },
        );
    }
    let h: [u8; 52] = read_array(src, base)?;
    if h[..4] != *b"\x7fELF" {
        return region.field(
            "magic",
            0x7f45_4c46,
            u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        );
    }
    if h[4] != 1 {
        return region.field("class (1 = ELF32)", 1, u32::from(h[4]));
    }
    let big = match h[5] {
        1 => false,
        2 => true,
        other => return region.field("data encoding (1 = LE, 2 = BE)", 2, u32::from(other)),
    };
    if h[6] != 1 {
        return region.field("ident version", 1, u32::from(h[6]));
    }
    let o = Order { big };
    let e_type = o.u16(&h, 16);
    let machine = o.u16(&h, 18);
    if machine != EM_ANDES_NDS32 {
        return bad(base, container, ProblemKind::ElfNotSequans { machine });
    }
    if e_type != ET_EXEC {
        return region.field(
            "e_type (2 = executable)",
            u32::from(ET_EXEC),
            u32::from(e_type),
        );
    }
    let entry = o.u32(&h, 24);
    let phoff = o.u32(&h, 28);
    let shoff = o.u32(&h, 32);
    let ehsize = o.u16(&h, 40);
    let phentsize = o.u16(&h, 42);
    let phnum = o.u16(&h, 44);
    let shentsize = o.u16(&h, 46);
    let shnum = o.u16(&h, 48);
    let shstrndx = o.u16(&h, 50);
    if u32::from(ehsize) != EHDR_LEN {
        return region.field("e_ehsize", EHDR_LEN, u32::from(ehsize));
    }
    let mut extent = EHDR_LEN;
    let mut grow = |end: u32| extent = extent.max(end);

    if phnum > 0 {
        if phentsize != PHDR_LEN {
            return region.field("e_phentsize", u32::from(PHDR_LEN), u32::from(phentsize));
        }
        let table_len = u32::from(phnum) * u32::from(PHDR_LEN);
        region.span::<S::Error>("program header table", 0, phoff, table_len)?;
        grow(phoff + table_len);
        for i in 0..phnum {
            let at = region.span(
                "program header",
                i,
                phoff + u32::from(i) * u32::from(PHDR_LEN),
                u32::from(PHDR_LEN),
            )?;
            let p: [u8; 32] = read_array(src, at)?;
            let (p_offset, p_filesz) = (o.u32(&p, 4), o.u32(&p, 16));
            if p_filesz > 0 {
                region.span::<S::Error>("segment", i, p_offset, p_filesz)?;
                grow(p_offset + p_filesz);
            }
        }
    }

    let mut version = None;
    let mut version_offset = None;
    if shnum > 0 {
        if shentsize != SHDR_LEN {
            return region.field("e_shentsize", u32::from(SHDR_LEN), u32::from(shentsize));
        }
        if shstrndx >= shnum {
            return region.field(
                "e_shstrndx (must be < e_shnum)",
                u32::from(shnum) - 1,
                u32::from(shstrndx),
            );
        }
        let table_len = u32::from(shnum) * u32::from(SHDR_LEN);
        region.span::<S::Error>("section header table", 0, shoff, table_len)?;
        grow(shoff + table_len);
        let section = |i: u16| shoff + u32::from(i) * u32::from(SHDR_LEN);
        let strtab: [u8; 40] = read_array(src, region.base + section(shstrndx))?;
        let (str_type, str_off, str_size) =
            (o.u32(&strtab, 4), o.u32(&strtab, 16), o.u32(&strtab, 20));
        if str_type != SHT_STRTAB {
            return region.field("section name table type (3 = STRTAB)", SHT_STRTAB, str_type);
        }
        region.span::<S::Error>("section", shstrndx, str_off, str_size)?;
        for i in 0..shnum {
            let s: [u8; 40] = read_array(src, region.base + section(i))?;
            let (name, sh_type, sh_off, sh_size) =
                (o.u32(&s, 0), o.u32(&s, 4), o.u32(&s, 16), o.u32(&s, 20));
            if sh_type == SHT_NOBITS || sh_size == 0 {
                continue;
            }
            let at = region.span("section", i, sh_off, sh_size)?;
            grow(sh_off + sh_size);
            if version.is_none() && name_is(src, &region, str_off, str_size, name, VERSION_SECTION)?
            {
                let mut text = [0u8; 40];
                let n = text
                    .len()
                    .min(usize::try_from(sh_size).unwrap_or(usize::MAX));
                let text = text.get_mut(..n).unwrap_or_default();
                read_into(src, at, text)?;
                version = FirmwareVersion::parse_prefix(text);
                version_offset = Some(at);
            }
        }
    }
    Ok(ElfInfo {
        offset: base,
        region_len: limit,
        big_endian: big,
        machine,
        entry,
        segments: phnum,
        sections: shnum,
        extent,
        version,
        version_offset,
    })
}

/// Whether the NUL-terminated name at `name_off` in the section name table equals `want`.
fn name_is<S: ImageSource>(
    src: &mut S,
    region: &Region<'_>,
    str_off: u32,
    str_size: u32,
    name_off: u32,
    want: &[u8],
) -> Checked<bool, S::Error> {
    let mut buf = [0u8; 16];
    let need = want.len() + 1; // name plus its NUL
    let Some(room) = str_size.checked_sub(name_off) else {
        return Ok(false);
    };
    if (room as usize) < need {
        return Ok(false);
    }
    let Some(buf) = buf.get_mut(..need) else {
        return Ok(false);
    };
    // str_off + str_size is inside the region (checked by the caller) and name_off + need <= str_size.
    read_into(src, region.base + str_off + name_off, buf)?;
    Ok(buf
        .split_last()
        .is_some_and(|(&nul, name)| nul == 0 && name == want))
}
