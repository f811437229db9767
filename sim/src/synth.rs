//! Synthesized firmware files: packages and loader ELFs built from the format facts, for tests and
//! demos that must not depend on the real (non-redistributable) Sequans files.
//!
//! Every checksum comes from this crate's own [`crate::checksum`]; the layouts are those documented in
//! [`crate::package`]. The high-level builders ([`full_dup`], [`diff_dup`], [`loader_elf`]) produce files
//! shaped like the real ones of each modem family: SQN3330 packages are a `PACK` of Fletcher-signed `UPGR`s
//! holding big-endian ELFs with big-endian-word trailers; GM02S packages are CRC-32 signed, wrap
//! little-endian ELFs in `IELF` and carry a `pxl` component.

use crate::checksum::{WordOrder, crc32_ieee, fletcher32};
use crate::config::Model;

fn put16(out: &mut Vec<u8>, big: bool, v: u16) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put32(out: &mut Vec<u8>, big: bool, v: u32) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Offset of `e_machine` in a [`build_elf`] image (for tests that corrupt it).
pub const ELF_MACHINE_AT: usize = 18;
/// Offset of the program header table in a [`build_elf`] image.
pub const ELF_PHDR_AT: usize = 52;

/// A tiny Andes ELF32 executable: header, one PT_LOAD over 16 code bytes, and sections
/// (null, `.text`, optionally `.versionString`, `.shstrtab`).
pub fn build_elf(big: bool, version_text: Option<&str>) -> Vec<u8> {
    build_elf_sized(big, version_text, 16)
}

/// [`build_elf`] with `code_len` bytes of (pseudo-random, incompressible) code, to make images of a
/// realistic size.
pub fn build_elf_sized(big: bool, version_text: Option<&str>, code_len: usize) -> Vec<u8> {
    let code_at = 52 + 32;
    let code = filler(code_len, 0xA5);
    let mut body = Vec::new(); // everything after the program header
    body.extend_from_slice(&code);
    let version_at = code_at + body.len();
    let version_len = version_text.map_or(0, |t| t.len() + 4); // text + NUL padding, like the real files
    if let Some(t) = version_text {
        body.extend_from_slice(t.as_bytes());
        body.extend_from_slice(&[0; 4]);
    }
    pad4(&mut body);
    let strtab_at = code_at + body.len();
    let names = b"\0.text\0.versionString\0.shstrtab\0";
    body.extend_from_slice(names);
    pad4(&mut body);
    let shoff = code_at + body.len();
    let shnum: u16 = if version_text.is_some() { 4 } else { 3 };

    let mut out = Vec::new();
    out.extend_from_slice(&[0x7F, b'E', b'L', b'F', 1, if big { 2 } else { 1 }, 1, 0]);
    out.extend_from_slice(&[0; 8]);
    put16(&mut out, big, 2); // e_type EXEC
    put16(&mut out, big, 0xA7); // e_machine Andes
    put32(&mut out, big, 1); // e_version
    put32(&mut out, big, 0x1000); // e_entry
    put32(&mut out, big, 52); // e_phoff
    put32(&mut out, big, shoff as u32);
    put32(&mut out, big, 0); // e_flags
    put16(&mut out, big, 52); // e_ehsize
    put16(&mut out, big, 32);
    put16(&mut out, big, 1); // e_phnum
    put16(&mut out, big, 40);
    put16(&mut out, big, shnum);
    put16(&mut out, big, shnum - 1); // .shstrtab is last
    debug_assert_eq!(out.len(), 52);
    // PT_LOAD
    for v in [
        1,
        code_at as u32,
        0x1000,
        0x1000,
        code_len as u32,
        code_len as u32,
        5,
        4,
    ] {
        put32(&mut out, big, v);
    }
    out.extend_from_slice(&body);
    // Section headers: name, type, flags, addr, offset, size, link, info, addralign, entsize.
    let section = |out: &mut Vec<u8>, name: u32, ty: u32, offset: usize, size: usize| {
        for v in [name, ty, 0, 0, offset as u32, size as u32, 0, 0, 1, 0] {
            put32(out, big, v);
        }
    };
    section(&mut out, 0, 0, 0, 0);
    section(&mut out, 1, 1, code_at, code_len);
    if version_text.is_some() {
        section(&mut out, 7, 1, version_at, version_len);
    }
    section(&mut out, 22, 3, strtab_at, names.len());
    out
}

/// `IELF` wrapper: the ELF at offset 16 + `gap` (gap filled with 0xFF), then `tail` raw bytes.
pub fn ielf(elf: &[u8], gap: usize, tail: usize) -> Vec<u8> {
    let mut out = b"IELF".to_vec();
    out.extend_from_slice(&(16 + gap as u32).to_le_bytes());
    out.extend_from_slice(&(elf.len() as u32).to_le_bytes());
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend(std::iter::repeat_n(0xFF, gap));
    out.extend_from_slice(elf);
    out.extend(std::iter::repeat_n(0xEE, tail));
    out
}

/// UPGR data for a flash component: type word, `FFF!` slim header, payload, Fletcher trailer.
pub fn fff_data(type_word: u32, payload: &[u8], order: WordOrder) -> Vec<u8> {
    let mut image = b"FFF!".to_vec();
    for v in [0u32, 1, 0, 0, 0, 0, payload.len() as u32] {
        image.extend_from_slice(&v.to_le_bytes());
    }
    for v in [0u16, 0, 1, 4] {
        image.extend_from_slice(&v.to_le_bytes());
    }
    image.extend_from_slice(payload);
    let trailer = fletcher32(&image, order);
    let mut out = type_word.to_le_bytes().to_vec();
    out.extend_from_slice(&image);
    out.extend_from_slice(&trailer.to_le_bytes());
    out
}

/// UPGR data for a DIFF fff component.
pub fn diff_data(base: u32, target: &str, delta: &[u8]) -> Vec<u8> {
    let mut out = 2u32.to_le_bytes().to_vec();
    out.extend_from_slice(b"DIFF");
    out.extend_from_slice(&base.to_le_bytes());
    let mut text = [0u8; 32];
    text[..target.len()].copy_from_slice(target.as_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(delta);
    out
}

/// UPGR data with an opaque body.
pub fn raw_data(type_word: u32, body: &[u8]) -> Vec<u8> {
    let mut out = type_word.to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The signature bytes of CABA signature type `sig_type` over `signed` (types 2 and 3 get
/// placeholder bytes of the right size: the simulator cannot verify them anyway).
pub fn sign(sig_type: u16, signed: &[u8]) -> Vec<u8> {
    match sig_type {
        0 => Vec::new(),
        1 => fletcher32(signed, WordOrder::Big).to_le_bytes().to_vec(),
        4 => crc32_ieee(signed).to_le_bytes().to_vec(),
        2 => vec![0x30; 72],
        3 => vec![0x5A; 256],
        _ => vec![0; 4],
    }
}

/// A CABA container of `version` (1, 2, 3) with signature `sig_type` (ignored for v1).
pub fn caba(magic: &[u8; 4], version: u16, sig_type: u16, descr: &str, data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    if version == 1 {
        out.extend_from_slice(&fletcher32(data, WordOrder::Big).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let hcrc = fletcher32(&out, WordOrder::Big);
        out[16..20].copy_from_slice(&hcrc.to_le_bytes());
        out.extend_from_slice(data);
        return out;
    }
    let sig_len = sign(sig_type, b"").len() as u16;
    out.extend_from_slice(&sig_type.to_le_bytes());
    out.extend_from_slice(&sig_len.to_le_bytes());
    if version == 3 {
        let d = format!("{descr}\0");
        out.extend_from_slice(&(d.len() as u16).to_le_bytes());
        out.extend_from_slice(d.as_bytes());
    }
    out.extend_from_slice(data);
    let sig = sign(sig_type, &out);
    out.extend_from_slice(&sig);
    out
}

/// A CABA v3 `UPGR` container (Fletcher-32 signature) around `data`.
pub fn upgr(data: &[u8]) -> Vec<u8> {
    caba(b"UPGR", 3, 1, "some upgrade package", data)
}

/// A CABA v3 `PACK` container (Fletcher-32 signature) around concatenated UPGR containers.
pub fn pack(upgrs: &[Vec<u8>]) -> Vec<u8> {
    caba(b"PACK", 3, 1, "Packed dup files", &upgrs.concat())
}

/// Deterministic, incompressible-looking filler bytes (a 32-bit LCG), so synthesized images exercise
/// checksums and compression like real code does.
pub fn filler(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// A `.versionString` text for `version` in the real files' shape, e.g. `5.1.2.0 [39529] by robot-soft
/// at 2019-01-01 00:00:00` (`version` is `5.1.2.0 [39529]`).
pub fn version_string(version: &str) -> String {
    format!("{version} by robot-soft at 2019-01-01 00:00:00")
}

/// A loader ELF (`updater.elf` for SQN3330 is big-endian, `mtools.elf` for GM02S little-endian) whose
/// `.versionString` is `version` (e.g. `6.0.0.0 [37781]`).
pub fn loader_elf(version: &str, big_endian: bool) -> Vec<u8> {
    build_elf_sized(big_endian, Some(&version_string(version)), 4096)
}

fn container(model: Model, magic: &[u8; 4], descr: &str, data: &[u8]) -> Vec<u8> {
    let sig_type = match model {
        Model::Sqn3330 => 1,
        Model::Gm02s => 4,
    };
    caba(magic, 3, sig_type, descr, data)
}

fn flash_payload(model: Model, version: Option<&str>, code_len: usize) -> Vec<u8> {
    let text = version.map(version_string);
    match model {
        Model::Sqn3330 => build_elf_sized(true, text.as_deref(), code_len),
        Model::Gm02s => ielf(&build_elf_sized(false, text.as_deref(), code_len), 0, 0),
    }
}

fn trailer_order(model: Model) -> WordOrder {
    match model {
        Model::Sqn3330 => WordOrder::Big,
        Model::Gm02s => WordOrder::Little,
    }
}

/// A full `.dup` for `model` that installs `target` (e.g. `5.1.2.0 [39529]`): bootrom, updater, fff
/// (with `fff_code_len` bytes of code, which sets the file size), (GM02S: pxl,) fs, wrapped in a `PACK`.
pub fn full_dup(model: Model, target: &str, fff_code_len: usize) -> Vec<u8> {
    let order = trailer_order(model);
    let mut upgrs = vec![
        container(
            model,
            b"UPGR",
            "bootrom upgrade package",
            &raw_data(0x626F_6F74, &filler(2048, 1)),
        ),
        container(
            model,
            b"UPGR",
            "updater upgrade package",
            &fff_data(8, &flash_payload(model, Some(target), 8192), order),
        ),
        container(
            model,
            b"UPGR",
            "fff upgrade package",
            &fff_data(2, &flash_payload(model, Some(target), fff_code_len), order),
        ),
    ];
    if model == Model::Gm02s {
        upgrs.push(container(
            model,
            b"UPGR",
            "pxl upgrade package",
            &fff_data(0x10, &flash_payload(model, None, 1024), order),
        ));
    }
    upgrs.push(container(
        model,
        b"UPGR",
        "fs upgrade package",
        &raw_data(3, &filler(1001, 3)),
    ));
    container(model, b"PACK", "Packed dup files", &upgrs.concat())
}

/// A differential `.dup` (the simulator's `DIFF` convention) that upgrades build `base` to `target`.
pub fn diff_dup(model: Model, base: u32, target: &str) -> Vec<u8> {
    let fff = container(
        model,
        b"UPGR",
        "fff upgrade package",
        &diff_data(base, target, &filler(4000, 9)),
    );
    container(model, b"PACK", "Packed dup files", &fff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{ComponentKind, PackageRules, verify_loader_elf, verify_package};

    #[test]
    fn high_level_builders_verify() {
        for (model, rules) in [
            (Model::Sqn3330, PackageRules::sqn3330(Some(1))),
            (Model::Gm02s, PackageRules::gm02s(Some(1))),
        ] {
            let dup = full_dup(model, "5.1.2.0 [39529]", 10_000);
            let s = verify_package(&dup, &rules).unwrap();
            assert_eq!(s.target.as_ref().unwrap().lr(), "LR5.1.2.0-39529");
            assert_eq!(s.has(ComponentKind::Pxl), model == Model::Gm02s);
            let diff = diff_dup(model, 38638, "5.1.2.0 [39529]");
            let rules = PackageRules {
                installed_build: Some(38638),
                ..rules
            };
            assert_eq!(
                verify_package(&diff, &rules).unwrap().diff_base,
                Some(38638)
            );
        }
        for big in [true, false] {
            let info = verify_loader_elf(&loader_elf("6.0.0.0 [37781]", big)).unwrap();
            assert_eq!((info.big_endian, info.version.unwrap().build), (big, 37781));
        }
        assert_eq!(filler(4, 7), filler(4, 7));
        assert_ne!(filler(64, 7), filler(64, 8));
    }
}
