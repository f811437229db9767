//! Test-support builder that synthesizes Sequans modem firmware images byte by byte.
//!
//! This module was written **from the format description alone** (the CABA / `.dup` / `FFF!` /
//! `IELF` / ELF32 facts in `sequans-protocol.md` §7, with the `IELF` correction that its second
//! word is the offset of the ELF measured from the start of the `IELF` header), **independently
//! of the image parser in `src/image/`**. It deliberately does not depend on the `modem_upgrade`
//! crate, so golden tests can check the parser against bytes the parser did not produce.
//!
//! It is plain `std` Rust without external crates and can be included from integration tests,
//! benches and examples with
//!
//! ```ignore
//! #[path = "support/builder.rs"]
//! mod builder;
//! ```
//!
//! Its own self-tests live in `tests/builder_selftest.rs` (they check the checksums and the
//! container layout against the real files in `MODEM_FW_FIXTURES`, when that is set).
//!
//! # Formats (all little-endian unless noted)
//!
//! * CABA v1 (20-byte header, Fletcher data CRC + header CRC), v2 (16-byte header, trailing
//!   signature over header + data), v3 (18-byte header, NUL-terminated description, trailing
//!   signature over header + description + data). See [`caba_v1`], [`caba_v2`], [`caba_v3`].
//! * Signatures ([`Sig`]): 0 none, 1 Fletcher-32 (big-endian 16-bit words, stored LE u32),
//!   2 ECDSA-256 (64 opaque bytes), 3 RSA-SHA256 (256 opaque bytes), 4 zlib CRC-32 (LE u32).
//! * `UPGR` package data = u32 LE component type + body ([`upgr`]).
//! * `FFF!` slim header (40 bytes) + payload + Fletcher trailer ([`fff_slim`]); SQN3330 uses
//!   big-endian 16-bit words, GM02S little-endian words ([`WordOrder`]).
//! * `IELF` wrapper: `IELF`, elf_offset (from the start of the `IELF` header), elf_length,
//!   0xFFFFFFFF; then raw bytes, the ELF, padding ([`ielf`]).
//! * ELF32 (either endianness) with null, `.text`, optional `.versionString` and `.shstrtab`
//!   sections and one `PT_LOAD` ([`elf`]).
//!
//! # Samples
//!
//! * [`sample_dup`] (SQN3330, like `CATM1-38638.dup`): one `PACK` v3 (Fletcher) holding
//!   1. bootrom `UPGR` (Fletcher), body = 4,096 pseudo-random bytes with the decoy version
//!      string [`BOOTROM_DECOY_VERSION`] spliced in at offset 100 (the real NB1 bootrom also
//!      contains a version-looking string that is *not* the target version);
//!   2. updater `UPGR` (Fletcher): `FFF!` (BE words) + plain big-endian ELF, text 512 B,
//!      `.versionString` = [`SAMPLE_UPDATER_VERSION`] (deliberately different from the target);
//!   3. fff `UPGR` (Fletcher): `FFF!` (BE words) + plain big-endian ELF, text 1,024 B,
//!      `.versionString` = `version`, followed by 8,191 raw bytes (odd payload length, so the
//!      FFF trailer exercises the odd-length Fletcher path);
//!   4. fs `UPGR` (Fletcher): body = 2,000 pseudo-random bytes (the signed region
//!      18 + 19 + 4 + 2,000 = 2,041 bytes is odd, like the real fs package).
//! * [`sample_dup_unpacked`] (SQN3330, like `NB1-37781.dup`): the same four packages, but the
//!   updater and fff payloads are `IELF`-wrapped, and they are simply concatenated (no `PACK`).
//! * [`sample_dup_gm02s`] (GM02S): one `PACK` with zlib CRC-32 holding bootrom, updater
//!   (`IELF`), fff (`IELF` with 4,097 raw bytes before the ELF), pxl (`IELF`, 3 bytes of 0xFF
//!   padding after the ELF) and fs, all `UPGR`s signed with CRC-32, every ELF little-endian,
//!   every `FFF!` trailer Fletcher over little-endian words. Updater and pxl carry versions
//!   [`SAMPLE_UPDATER_VERSION`] and [`SAMPLE_PXL_VERSION`].
//! * [`sample_dup_of_size`]: like [`sample_dup`], with the fff package's raw data grown so the
//!   whole file is exactly `total` bytes (when `total` is at least the minimum size).
//!
//! Parity note: a v3 signature covers 18 + descr_size + size bytes. With the description
//! "fs upgrade package" (descr_size 19) the signed length is odd exactly when the *data* length
//! (4 + body) is even, i.e. when the fs body length is even.
#![allow(dead_code)]

// ---------------------------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------------------------

fn fletcher32(data: &[u8], big_endian_words: bool) -> u32 {
    // u64 accumulators: the folding schedule below keeps values small anyway, and the result
    // (the canonical representative in 1..=0xFFFF of each sum modulo 65535) does not depend on
    // where the intermediate folds happen as long as nothing overflows.
    fn fold(x: u64) -> u64 {
        (x & 0xFFFF) + (x >> 16)
    }
    let mut s1: u64 = 0xFFFF;
    let mut s2: u64 = 0xFFFF;
    let even = data.len() & !1;
    for block in data[..even].chunks(720) {
        for w in block.chunks_exact(2) {
            let word = if big_endian_words {
                u16::from_be_bytes([w[0], w[1]])
            } else {
                u16::from_le_bytes([w[0], w[1]])
            };
            s1 += u64::from(word);
            s2 += s1;
        }
        s1 = fold(s1);
        s2 = fold(s2);
    }
    if data.len() % 2 == 1 {
        let b = u64::from(data[data.len() - 1]);
        s1 += if big_endian_words { b << 8 } else { b };
        s2 += s1;
    }
    for _ in 0..2 {
        s1 = fold(s1);
        s2 = fold(s2);
    }
    ((s2 as u32) << 16) | (s1 as u32)
}

/// Sequans Fletcher-32, 16-bit words big-endian (first byte high); a trailing odd byte is the
/// high byte of a last word. Used by CABA signature type 1 and SQN3330 `FFF!` trailers.
pub fn fletcher32_be(data: &[u8]) -> u32 {
    fletcher32(data, true)
}

/// Sequans Fletcher-32, 16-bit words little-endian (first byte low); a trailing odd byte is the
/// low byte. Used by GM02S `FFF!` trailers.
pub fn fletcher32_le(data: &[u8]) -> u32 {
    fletcher32(data, false)
}

/// CRC-32 IEEE / zlib (reflected, poly 0xEDB88320, init and final xor 0xFFFFFFFF), bitwise.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    crc ^ 0xFFFF_FFFF
}

// ---------------------------------------------------------------------------------------------
// Deterministic filler
// ---------------------------------------------------------------------------------------------

/// `len` deterministic pseudo-random bytes (xorshift64*), reproducible for a given `seed`.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    if state == 0 {
        state = 0x2545_F491_4F6C_DD1D;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------------------------------
// Little helpers / mutators
// ---------------------------------------------------------------------------------------------

/// Overwrite 4 bytes at `at` with `v` little-endian. Panics if out of range.
pub fn put_u32_le(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Overwrite 2 bytes at `at` with `v` little-endian. Panics if out of range.
pub fn put_u16_le(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Read a little-endian u32 at `at` (None if out of range).
pub fn get_u32_le(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Read a little-endian u16 at `at` (None if out of range).
pub fn get_u16_le(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Invert bit `bit` (0..=7) of byte `at`. Panics if out of range.
pub fn flip_bit(buf: &mut [u8], at: usize, bit: u8) {
    buf[at] ^= 1u8 << (bit & 7);
}

/// Concatenate packages (the `NB1-37781.dup` style of `.dup`, without an outer `PACK`).
pub fn concat(packages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packages.iter().map(Vec::len).sum());
    for p in packages {
        out.extend_from_slice(p);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// CABA containers
// ---------------------------------------------------------------------------------------------

/// CABA signature kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// Type 0, no signature bytes.
    None,
    /// Type 1, Fletcher-32 over big-endian words, 4 bytes LE.
    Fletcher,
    /// Type 2, 64 opaque (deterministic pseudo-random) bytes.
    Ecdsa,
    /// Type 3, 256 opaque (deterministic pseudo-random) bytes.
    Rsa,
    /// Type 4, zlib CRC-32, 4 bytes LE.
    Crc32,
    /// Arbitrary type with `bytes` bytes of 0xA5 (to build unknown / malformed types).
    Raw { sig_type: u16, bytes: usize },
}

pub const SIG_NONE: u16 = 0;
pub const SIG_FLETCHER: u16 = 1;
pub const SIG_ECDSA: u16 = 2;
pub const SIG_RSA: u16 = 3;
pub const SIG_CRC32: u16 = 4;

impl Sig {
    /// The sig_type field value.
    pub fn sig_type(self) -> u16 {
        match self {
            Sig::None => SIG_NONE,
            Sig::Fletcher => SIG_FLETCHER,
            Sig::Ecdsa => SIG_ECDSA,
            Sig::Rsa => SIG_RSA,
            Sig::Crc32 => SIG_CRC32,
            Sig::Raw { sig_type, .. } => sig_type,
        }
    }

    /// The sig_size field value (number of signature bytes).
    pub fn size(self) -> usize {
        match self {
            Sig::None => 0,
            Sig::Fletcher | Sig::Crc32 => 4,
            Sig::Ecdsa => 64,
            Sig::Rsa => 256,
            Sig::Raw { bytes, .. } => bytes,
        }
    }

    /// The signature bytes for `signed` (the bytes the signature covers).
    pub fn compute(self, signed: &[u8]) -> Vec<u8> {
        match self {
            Sig::None => Vec::new(),
            Sig::Fletcher => fletcher32_be(signed).to_le_bytes().to_vec(),
            Sig::Crc32 => crc32(signed).to_le_bytes().to_vec(),
            Sig::Ecdsa => pseudo_random(64, 0xEC05A),
            Sig::Rsa => pseudo_random(256, 0x25A),
            Sig::Raw { bytes, .. } => vec![0xA5; bytes],
        }
    }
}

fn size_u32(len: usize) -> u32 {
    u32::try_from(len).expect("length does not fit a u32 field")
}

fn size_u16(len: usize) -> u16 {
    u16::try_from(len).expect("length does not fit a u16 field")
}

/// Header length of a CABA v1 container.
pub const CABA_V1_HEADER: usize = 20;
/// Header length of a CABA v2 container.
pub const CABA_V2_HEADER: usize = 16;
/// Header length of a CABA v3 container.
pub const CABA_V3_HEADER: usize = 18;

/// CABA v1: 20-byte header (magic, version 1, flags 0, size, crc = Fletcher(data),
/// hcrc = Fletcher(header with hcrc = 0)) followed by the data. No trailer.
pub fn caba_v1(magic: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CABA_V1_HEADER + data.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&size_u32(data.len()).to_le_bytes());
    out.extend_from_slice(&fletcher32_be(data).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let hcrc = fletcher32_be(&out[..CABA_V1_HEADER]);
    put_u32_le(&mut out, 16, hcrc);
    out.extend_from_slice(data);
    out
}

/// CABA v2: 16-byte header (magic, version 2, flags 0, size, sig_type, sig_size), data,
/// signature over header + data.
pub fn caba_v2(magic: &[u8; 4], data: &[u8], sig: Sig) -> Vec<u8> {
    let mut out = Vec::with_capacity(CABA_V2_HEADER + data.len() + sig.size());
    out.extend_from_slice(magic);
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&size_u32(data.len()).to_le_bytes());
    out.extend_from_slice(&sig.sig_type().to_le_bytes());
    out.extend_from_slice(&size_u16(sig.size()).to_le_bytes());
    out.extend_from_slice(data);
    let s = sig.compute(&out);
    out.extend_from_slice(&s);
    out
}

/// CABA v3 with flags 0; see [`caba_v3_flags`].
pub fn caba_v3(magic: &[u8; 4], descr: &str, data: &[u8], sig: Sig) -> Vec<u8> {
    caba_v3_flags(magic, 0, descr, data, sig)
}

/// CABA v3: 18-byte header (magic, version 3, flags, size (data only), sig_type, sig_size,
/// descr_size incl. NUL), description + NUL, data, signature over everything before it.
/// Total = 18 + descr.len() + 1 + data.len() + sig.size().
pub fn caba_v3_flags(magic: &[u8; 4], flags: u16, descr: &str, data: &[u8], sig: Sig) -> Vec<u8> {
    let descr_size = descr.len() + 1;
    let mut out = Vec::with_capacity(CABA_V3_HEADER + descr_size + data.len() + sig.size());
    out.extend_from_slice(magic);
    out.extend_from_slice(&3u16.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&size_u32(data.len()).to_le_bytes());
    out.extend_from_slice(&sig.sig_type().to_le_bytes());
    out.extend_from_slice(&size_u16(sig.size()).to_le_bytes());
    out.extend_from_slice(&size_u16(descr_size).to_le_bytes());
    out.extend_from_slice(descr.as_bytes());
    out.push(0);
    out.extend_from_slice(data);
    let s = sig.compute(&out);
    out.extend_from_slice(&s);
    out
}

/// Total length of a CABA v3 container with this description, data length and signature.
pub fn caba_v3_len(descr: &str, data_len: usize, sig: Sig) -> usize {
    CABA_V3_HEADER + descr.len() + 1 + data_len + sig.size()
}

/// Recompute the trailing signature of the CABA v3 container starting at `at` in `buf` from
/// its (possibly mutated) header fields, for negative tests that want a structurally broken
/// but correctly signed container. Only types 1 (Fletcher) and 4 (CRC-32) are recomputed.
/// Returns false (leaving `buf` unchanged) if the header is unreadable, the container does not
/// fit, or the type is not recomputable.
pub fn resign_caba_v3(buf: &mut [u8], at: usize) -> bool {
    let (Some(size), Some(sig_type), Some(sig_size), Some(descr_size)) = (
        get_u32_le(buf, at + 8),
        get_u16_le(buf, at + 12),
        get_u16_le(buf, at + 14),
        get_u16_le(buf, at + 16),
    ) else {
        return false;
    };
    let signed_len = CABA_V3_HEADER + usize::from(descr_size) + size as usize;
    let Some(sig_at) = at.checked_add(signed_len) else {
        return false;
    };
    if sig_size != 4 || sig_at + 4 > buf.len() {
        return false;
    }
    let v = match sig_type {
        SIG_FLETCHER => fletcher32_be(&buf[at..sig_at]),
        SIG_CRC32 => crc32(&buf[at..sig_at]),
        _ => return false,
    };
    put_u32_le(buf, sig_at, v);
    true
}

// ---------------------------------------------------------------------------------------------
// UPGR packages
// ---------------------------------------------------------------------------------------------

pub const COMP_BOOTROM: u32 = 0x626F_6F74;
pub const COMP_UPDATER: u32 = 8;
pub const COMP_FFF: u32 = 2;
pub const COMP_FS: u32 = 3;
pub const COMP_PXL: u32 = 0x10;

pub const DESCR_PACK: &str = "Packed dup files";
pub const DESCR_BOOTROM: &str = "bootrom upgrade package";
pub const DESCR_UPDATER: &str = "updater upgrade package";
pub const DESCR_FFF: &str = "fff upgrade package";
pub const DESCR_FS: &str = "fs upgrade package";
pub const DESCR_PXL: &str = "pxl upgrade package";

/// Offset of the first inner package inside a [`pack`] output (18 + 17).
pub const PACK_DATA_OFFSET: usize = CABA_V3_HEADER + DESCR_PACK.len() + 1;

/// Default version string (the CATM1-38638 build).
pub const DEFAULT_VERSION: &str = "5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46";
/// A GM02S-style version string for tests.
pub const GM02S_VERSION: &str = "8.0.5.13 [59577] by robot-soft at 2024-03-11 10:20:30";
/// Version string of the updater ELF in the samples (never the target version).
pub const SAMPLE_UPDATER_VERSION: &str = "4.4.4.4 [44444] by robot-soft at 2018-01-02 03:04:05";
/// Version string of the pxl ELF in the GM02S sample (never the target version).
pub const SAMPLE_PXL_VERSION: &str = "7.7.7.7 [77777] by robot-soft at 2024-01-02 03:04:05";
/// Decoy version-looking string spliced into the sample bootrom bodies.
pub const BOOTROM_DECOY_VERSION: &str = "3.3.3.0 [33080] by robot-soft at 2017-06-01 12:00:00";

/// A `UPGR` CABA v3 package: data = component.to_le_bytes() ++ body.
pub fn upgr(component: u32, descr: &str, body: &[u8], sig: Sig) -> Vec<u8> {
    let mut data = Vec::with_capacity(4 + body.len());
    data.extend_from_slice(&component.to_le_bytes());
    data.extend_from_slice(body);
    caba_v3(b"UPGR", descr, &data, sig)
}

/// The outer `PACK` v3 container ("Packed dup files") around the concatenated packages.
pub fn pack(packages: &[Vec<u8>], sig: Sig) -> Vec<u8> {
    caba_v3(b"PACK", DESCR_PACK, &concat(packages), sig)
}

/// File offsets of each package inside `pack(packages, _)`.
pub fn package_offsets_in_pack(packages: &[Vec<u8>]) -> Vec<usize> {
    let mut at = PACK_DATA_OFFSET;
    packages
        .iter()
        .map(|p| {
            let o = at;
            at += p.len();
            o
        })
        .collect()
}

/// Bootrom package: body = `len` pseudo-random bytes.
pub fn bootrom_package(len: usize, sig: Sig) -> Vec<u8> {
    upgr(
        COMP_BOOTROM,
        DESCR_BOOTROM,
        &pseudo_random(len, 0xB007),
        sig,
    )
}

/// Bootrom package whose body contains `decoy` (a version-looking string) at offset 100 (or at
/// 0 if the body is too short; truncated if it does not fit).
pub fn bootrom_package_with_decoy(len: usize, decoy: &str, sig: Sig) -> Vec<u8> {
    let mut body = pseudo_random(len, 0xB007);
    let at = if len >= 100 + decoy.len() { 100 } else { 0 };
    let n = decoy.len().min(len - at);
    body[at..at + n].copy_from_slice(&decoy.as_bytes()[..n]);
    upgr(COMP_BOOTROM, DESCR_BOOTROM, &body, sig)
}

/// File-system package: body = `len` pseudo-random bytes. The Fletcher-signed length is
/// 18 + 19 + 4 + len, i.e. odd when `len` is even.
pub fn fs_package(len: usize, sig: Sig) -> Vec<u8> {
    upgr(COMP_FS, DESCR_FS, &pseudo_random(len, 0xF5), sig)
}

// ---------------------------------------------------------------------------------------------
// FFF! and IELF
// ---------------------------------------------------------------------------------------------

/// Word order of the Fletcher-32 `FFF!` trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordOrder {
    /// Big-endian 16-bit words (SQN3330).
    Big,
    /// Little-endian 16-bit words (GM02S).
    Little,
}

impl WordOrder {
    /// Fletcher-32 in this word order.
    pub fn fletcher(self, data: &[u8]) -> u32 {
        match self {
            WordOrder::Big => fletcher32_be(data),
            WordOrder::Little => fletcher32_le(data),
        }
    }
}

/// Length of the slim `FFF!` header.
pub const FFF_HEADER: usize = 40;
/// Length of the `IELF` header.
pub const IELF_HEADER: usize = 16;

/// The 40-byte slim `FFF!` header for a payload of `payload_len` bytes.
pub fn fff_header(payload_len: usize) -> [u8; FFF_HEADER] {
    let mut h = [0u8; FFF_HEADER];
    h[0..4].copy_from_slice(b"FFF!");
    put_u32_le(&mut h, 4, 0);
    put_u32_le(&mut h, 8, 1); // features: bit 0 = slim
    put_u32_le(&mut h, 28, size_u32(payload_len));
    put_u16_le(&mut h, 32, 0);
    put_u16_le(&mut h, 34, 0);
    put_u16_le(&mut h, 36, 1); // sig type: Fletcher-32
    put_u16_le(&mut h, 38, 4); // sig size
    h
}

/// `FFF!` slim header + payload + 4-byte trailer (Fletcher-32 in `order` over header +
/// payload, stored LE u32).
pub fn fff_slim(payload: &[u8], order: WordOrder) -> Vec<u8> {
    let mut out = Vec::with_capacity(FFF_HEADER + payload.len() + 4);
    out.extend_from_slice(&fff_header(payload.len()));
    out.extend_from_slice(payload);
    let t = order.fletcher(&out);
    out.extend_from_slice(&t.to_le_bytes());
    out
}

/// `IELF` header (`IELF`, elf_offset = 16 + raw_prefix.len(), elf.len(), 0xFFFFFFFF) +
/// raw_prefix + elf + `pad_after` bytes of 0xFF.
pub fn ielf(elf: &[u8], raw_prefix: &[u8], pad_after: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(IELF_HEADER + raw_prefix.len() + elf.len() + pad_after);
    out.extend_from_slice(b"IELF");
    out.extend_from_slice(&size_u32(IELF_HEADER + raw_prefix.len()).to_le_bytes());
    out.extend_from_slice(&size_u32(elf.len()).to_le_bytes());
    out.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    out.extend_from_slice(raw_prefix);
    out.extend_from_slice(elf);
    out.resize(out.len() + pad_after, 0xFF);
    out
}

// ---------------------------------------------------------------------------------------------
// ELF32
// ---------------------------------------------------------------------------------------------

/// What [`elf`] builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfSpec {
    /// ELFDATA2MSB (true) or ELFDATA2LSB (false).
    pub big_endian: bool,
    /// e_machine (0xA7 = Andes NDS32).
    pub machine: u16,
    /// Content of `.versionString` (without NULs; 4 NULs are appended). None = no such section.
    pub version_string: Option<String>,
    /// Length of `.text` (pseudo-random bytes).
    pub text_len: usize,
}

impl Default for ElfSpec {
    fn default() -> Self {
        ElfSpec {
            big_endian: true,
            machine: 0xA7,
            version_string: Some(DEFAULT_VERSION.to_string()),
            text_len: 256,
        }
    }
}

pub const EM_NDS32: u16 = 0xA7;
pub const ELF_EHSIZE: usize = 52;
pub const ELF_PHENTSIZE: usize = 32;
pub const ELF_SHENTSIZE: usize = 40;
/// Virtual address of `.text` and the entry point.
pub const ELF_TEXT_ADDR: u32 = 0x1000;

struct EndianWriter {
    buf: Vec<u8>,
    be: bool,
}

impl EndianWriter {
    fn u16(&mut self, v: u16) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn pad_to(&mut self, len: usize) {
        assert!(self.buf.len() <= len, "ELF layout overlap");
        self.buf.resize(len, 0);
    }
}

fn align4(x: usize) -> usize {
    (x + 3) & !3
}

/// Where [`elf`] placed things (all offsets from the start of the ELF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfLayout {
    pub phoff: usize,
    pub shoff: usize,
    pub shnum: usize,
    pub shstrndx: usize,
    pub text_offset: usize,
    pub text_len: usize,
    /// (offset, size) of the `.versionString` section content, if present.
    pub version_section: Option<(usize, usize)>,
    pub shstrtab_offset: usize,
    pub shstrtab_len: usize,
    pub total_len: usize,
}

/// A minimal ELF32 executable: header, one `PT_LOAD`, null / `.text` / `.versionString` /
/// `.shstrtab` sections. See [`elf_with_layout`].
pub fn elf(spec: &ElfSpec) -> Vec<u8> {
    elf_with_layout(spec).0
}

/// [`elf`] plus where everything went. File layout: ELF header at 0, program header at 52,
/// section headers at 84, then `.text` contents, `.versionString` contents (4-aligned),
/// `.shstrtab` contents (4-aligned). The `PT_LOAD` maps `.text` (and `.versionString`, when
/// present) at [`ELF_TEXT_ADDR`]; e_entry = [`ELF_TEXT_ADDR`].
pub fn elf_with_layout(spec: &ElfSpec) -> (Vec<u8>, ElfLayout) {
    // .shstrtab content and name offsets.
    let mut shstrtab = vec![0u8];
    let name_text = shstrtab.len();
    shstrtab.extend_from_slice(b".text\0");
    let name_vs = shstrtab.len();
    if spec.version_string.is_some() {
        shstrtab.extend_from_slice(b".versionString\0");
    }
    let name_shstrtab = shstrtab.len();
    shstrtab.extend_from_slice(b".shstrtab\0");

    let vs_content: Option<Vec<u8>> = spec.version_string.as_ref().map(|s| {
        let mut v = s.as_bytes().to_vec();
        v.extend_from_slice(&[0, 0, 0, 0]);
        v
    });

    let shnum = if vs_content.is_some() { 4 } else { 3 };
    let shstrndx = shnum - 1;
    let phoff = ELF_EHSIZE;
    let shoff = phoff + ELF_PHENTSIZE;
    let text_offset = align4(shoff + shnum * ELF_SHENTSIZE);
    let text_end = text_offset + spec.text_len;
    let vs_offset = align4(text_end);
    let vs_len = vs_content.as_ref().map_or(0, Vec::len);
    let load_end = if vs_content.is_some() {
        vs_offset + vs_len
    } else {
        text_end
    };
    let shstrtab_offset = align4(load_end);
    let total_len = shstrtab_offset + shstrtab.len();

    let text = pseudo_random(spec.text_len, 0x7E47 ^ spec.text_len as u64);
    let addr_of = |off: usize| ELF_TEXT_ADDR + size_u32(off - text_offset);

    let mut w = EndianWriter {
        buf: Vec::with_capacity(total_len),
        be: spec.big_endian,
    };
    // e_ident
    w.buf.extend_from_slice(&[0x7F, b'E', b'L', b'F', 1]);
    w.buf.push(if spec.big_endian { 2 } else { 1 });
    w.buf.push(1);
    w.pad_to(16);
    w.u16(2); // e_type ET_EXEC
    w.u16(spec.machine);
    w.u32(1); // e_version
    w.u32(ELF_TEXT_ADDR); // e_entry
    w.u32(size_u32(phoff));
    w.u32(size_u32(shoff));
    w.u32(0x3000_0242); // e_flags (as in the real Andes images)
    w.u16(ELF_EHSIZE as u16);
    w.u16(ELF_PHENTSIZE as u16);
    w.u16(1); // e_phnum
    w.u16(ELF_SHENTSIZE as u16);
    w.u16(shnum as u16);
    w.u16(shstrndx as u16);
    debug_assert_eq!(w.buf.len(), ELF_EHSIZE);

    // Program header: PT_LOAD
    let load_len = size_u32(load_end - text_offset);
    w.u32(1); // p_type
    w.u32(size_u32(text_offset));
    w.u32(ELF_TEXT_ADDR); // p_vaddr
    w.u32(ELF_TEXT_ADDR); // p_paddr
    w.u32(load_len); // p_filesz
    w.u32(load_len); // p_memsz
    w.u32(5); // p_flags R+X
    w.u32(4); // p_align

    // Section headers.
    fn sh(w: &mut EndianWriter, f: [u32; 10]) {
        for v in f {
            w.u32(v);
        }
    }
    sh(&mut w, [0; 10]);
    sh(
        &mut w,
        [
            size_u32(name_text),
            1, // SHT_PROGBITS
            6, // SHF_ALLOC | SHF_EXECINSTR
            ELF_TEXT_ADDR,
            size_u32(text_offset),
            size_u32(spec.text_len),
            0,
            0,
            4,
            0,
        ],
    );
    if vs_content.is_some() {
        sh(
            &mut w,
            [
                size_u32(name_vs),
                1, // SHT_PROGBITS
                2, // SHF_ALLOC
                addr_of(vs_offset),
                size_u32(vs_offset),
                size_u32(vs_len),
                0,
                0,
                4,
                0,
            ],
        );
    }
    sh(
        &mut w,
        [
            size_u32(name_shstrtab),
            3, // SHT_STRTAB
            0,
            0,
            size_u32(shstrtab_offset),
            size_u32(shstrtab.len()),
            0,
            0,
            1,
            0,
        ],
    );

    w.pad_to(text_offset);
    w.buf.extend_from_slice(&text);
    if let Some(v) = &vs_content {
        w.pad_to(vs_offset);
        w.buf.extend_from_slice(v);
    }
    w.pad_to(shstrtab_offset);
    w.buf.extend_from_slice(&shstrtab);
    debug_assert_eq!(w.buf.len(), total_len);

    let layout = ElfLayout {
        phoff,
        shoff,
        shnum,
        shstrndx,
        text_offset,
        text_len: spec.text_len,
        version_section: vs_content.as_ref().map(|_| (vs_offset, vs_len)),
        shstrtab_offset,
        shstrtab_len: shstrtab.len(),
        total_len,
    };
    (w.buf, layout)
}

// ---------------------------------------------------------------------------------------------
// FFF-carrying packages (updater / fff / pxl)
// ---------------------------------------------------------------------------------------------

/// Options for [`fff_component_package`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FwOpts {
    /// `.versionString` of the ELF (None = no such section).
    pub version: Option<String>,
    /// Word order of the `FFF!` trailer.
    pub order: WordOrder,
    /// Signature of the `UPGR` container.
    pub sig: Sig,
    /// ELF endianness.
    pub big_endian_elf: bool,
    /// `.text` length.
    pub text_len: usize,
    /// Wrap the ELF in `IELF`.
    pub use_ielf: bool,
    /// With `IELF`: raw bytes between the `IELF` header and the ELF. Without: raw bytes after
    /// the ELF (like the real CATM1 fff payload).
    pub extra_raw: usize,
    /// With `IELF` only: 0xFF padding after the ELF.
    pub pad_after: usize,
}

/// The FFF payload (plain ELF + raw, or IELF) for these options.
pub fn fw_payload(o: &FwOpts) -> Vec<u8> {
    let e = elf(&ElfSpec {
        big_endian: o.big_endian_elf,
        machine: EM_NDS32,
        version_string: o.version.clone(),
        text_len: o.text_len,
    });
    let raw = pseudo_random(o.extra_raw, 0x2A3 ^ o.extra_raw as u64);
    if o.use_ielf {
        ielf(&e, &raw, o.pad_after)
    } else {
        let mut p = e;
        p.extend_from_slice(&raw);
        p
    }
}

/// `UPGR(component, descr, fff_slim(fw_payload(o), o.order), o.sig)`.
pub fn fff_component_package(component: u32, descr: &str, o: &FwOpts) -> Vec<u8> {
    upgr(component, descr, &fff_slim(&fw_payload(o), o.order), o.sig)
}

/// Main firmware (`fff`, component 2) package with an ELF carrying `version` (text 1,024 B).
/// With `use_ielf`, `extra_raw` raw bytes sit between the `IELF` header and the ELF; without,
/// they follow the ELF.
pub fn firmware_package(
    version: &str,
    order: WordOrder,
    sig: Sig,
    big_endian_elf: bool,
    use_ielf: bool,
    extra_raw: usize,
) -> Vec<u8> {
    fff_component_package(
        COMP_FFF,
        DESCR_FFF,
        &FwOpts {
            version: Some(version.to_string()),
            order,
            sig,
            big_endian_elf,
            text_len: 1024,
            use_ielf,
            extra_raw,
            pad_after: 0,
        },
    )
}

/// Updater (component 8) package with an ELF carrying `version` (text 512 B, no raw bytes).
pub fn updater_package(
    version: &str,
    order: WordOrder,
    sig: Sig,
    big_endian_elf: bool,
    use_ielf: bool,
) -> Vec<u8> {
    fff_component_package(
        COMP_UPDATER,
        DESCR_UPDATER,
        &FwOpts {
            version: Some(version.to_string()),
            order,
            sig,
            big_endian_elf,
            text_len: 512,
            use_ielf,
            extra_raw: 0,
            pad_after: 0,
        },
    )
}

/// pxl (component 0x10, GM02S) package: always `IELF`, with `pad_after` bytes of 0xFF after the
/// ELF (text 384 B).
pub fn pxl_package(
    version: Option<&str>,
    order: WordOrder,
    sig: Sig,
    big_endian_elf: bool,
    pad_after: usize,
) -> Vec<u8> {
    fff_component_package(
        COMP_PXL,
        DESCR_PXL,
        &FwOpts {
            version: version.map(str::to_string),
            order,
            sig,
            big_endian_elf,
            text_len: 384,
            use_ielf: true,
            extra_raw: 0,
            pad_after,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Samples
// ---------------------------------------------------------------------------------------------

const SAMPLE_BOOTROM_LEN: usize = 4096;
const SAMPLE_FS_LEN: usize = 2000;
const SAMPLE_FFF_RAW: usize = 8191;

/// The four SQN3330 packages of [`sample_dup`] (bootrom, updater, fff, fs), Fletcher-signed.
pub fn sample_packages(version: &str, fff_raw: usize, use_ielf: bool) -> Vec<Vec<u8>> {
    vec![
        bootrom_package_with_decoy(SAMPLE_BOOTROM_LEN, BOOTROM_DECOY_VERSION, Sig::Fletcher),
        updater_package(
            SAMPLE_UPDATER_VERSION,
            WordOrder::Big,
            Sig::Fletcher,
            true,
            use_ielf,
        ),
        firmware_package(
            version,
            WordOrder::Big,
            Sig::Fletcher,
            true,
            use_ielf,
            fff_raw,
        ),
        fs_package(SAMPLE_FS_LEN, Sig::Fletcher),
    ]
}

/// A realistic SQN3330 `.dup` (CATM1 style): `PACK`(Fletcher) of bootrom, updater, fff
/// (`version`), fs; all Fletcher, BE-word `FFF!` trailers, plain big-endian ELFs.
pub fn sample_dup(version: &str) -> Vec<u8> {
    pack(
        &sample_packages(version, SAMPLE_FFF_RAW, false),
        Sig::Fletcher,
    )
}

/// NB1 style: the same packages with `IELF`-wrapped ELFs, concatenated without `PACK`.
pub fn sample_dup_unpacked(version: &str) -> Vec<u8> {
    concat(&sample_packages(version, SAMPLE_FFF_RAW, true))
}

/// The five GM02S packages of [`sample_dup_gm02s`], CRC-32 signed.
pub fn sample_packages_gm02s(version: &str) -> Vec<Vec<u8>> {
    let le = WordOrder::Little;
    let sig = Sig::Crc32;
    vec![
        bootrom_package_with_decoy(SAMPLE_BOOTROM_LEN, BOOTROM_DECOY_VERSION, sig),
        updater_package(SAMPLE_UPDATER_VERSION, le, sig, false, true),
        firmware_package(version, le, sig, false, true, 4097),
        pxl_package(Some(SAMPLE_PXL_VERSION), le, sig, false, 3),
        fs_package(SAMPLE_FS_LEN, sig),
    ]
}

/// A GM02S `.dup`: `PACK`(CRC-32) of bootrom, updater, fff, pxl, fs (see module docs).
pub fn sample_dup_gm02s(version: &str) -> Vec<u8> {
    pack(&sample_packages_gm02s(version), Sig::Crc32)
}

/// A valid SQN3330 `.dup` (like [`sample_dup`] with [`DEFAULT_VERSION`]) of exactly `total`
/// bytes, the fff package's raw data growing to fill it; if `total` is below the minimum
/// (8,614 bytes) the minimum-size image is returned.
pub fn sample_dup_of_size(total: usize) -> Vec<u8> {
    let base = sample_packages(DEFAULT_VERSION, 0, false);
    let base_len = caba_v3_len(DESCR_PACK, base.iter().map(Vec::len).sum(), Sig::Fletcher);
    let extra = total.saturating_sub(base_len);
    if extra == 0 {
        return pack(&base, Sig::Fletcher);
    }
    let mut packages = base;
    packages[2] = firmware_package(
        DEFAULT_VERSION,
        WordOrder::Big,
        Sig::Fletcher,
        true,
        false,
        extra,
    );
    pack(&packages, Sig::Fletcher)
}
