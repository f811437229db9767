//! Self-tests of the test-support image builder (`tests/support/builder.rs`).
//!
//! These do not use the `modem_upgrade` crate: they check the builder's checksums and layouts
//! against hand-computed values, an independent modular definition of Fletcher-32, small
//! readers written here, and (when `MODEM_FW_FIXTURES` points at the directory holding the
//! real Sequans files) against the real images byte for byte.

#[path = "support/builder.rs"]
mod builder;

use builder::*;
use std::ops::Range;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------------
// Tiny independent readers (for structural checks only)
// ---------------------------------------------------------------------------------------------

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[derive(Debug)]
struct V3 {
    magic: [u8; 4],
    flags: u16,
    sig_type: u16,
    descr: String,
    data: Range<usize>,
    sig: Range<usize>,
    total: usize,
}

/// Read a CABA v3 at `at`; checks version 3, NUL-terminated description, bounds, and that the
/// signature (types 0, 1, 4) verifies.
fn read_v3(buf: &[u8], at: usize) -> V3 {
    let h = &buf[at..];
    assert!(h.len() >= 18, "short v3 header at {at:#x}");
    assert_eq!(le16(h, 4), 3, "version at {at:#x}");
    let size = le32(h, 8) as usize;
    let sig_type = le16(h, 12);
    let sig_size = le16(h, 14) as usize;
    let descr_size = le16(h, 16) as usize;
    assert!(descr_size >= 1);
    let descr_bytes = &h[18..18 + descr_size];
    assert_eq!(descr_bytes[descr_size - 1], 0, "description NUL");
    let descr = String::from_utf8(descr_bytes[..descr_size - 1].to_vec()).unwrap();
    let data = at + 18 + descr_size..at + 18 + descr_size + size;
    let sig = data.end..data.end + sig_size;
    assert!(sig.end <= buf.len(), "v3 at {at:#x} overruns the buffer");
    let signed = &buf[at..data.end];
    match sig_type {
        0 => assert_eq!(sig_size, 0),
        1 => {
            assert_eq!(sig_size, 4);
            assert_eq!(
                le32(buf, sig.start),
                fletcher32_be(signed),
                "Fletcher at {at:#x}"
            );
        }
        4 => {
            assert_eq!(sig_size, 4);
            assert_eq!(le32(buf, sig.start), crc32(signed), "CRC-32 at {at:#x}");
        }
        _ => {}
    }
    V3 {
        magic: [h[0], h[1], h[2], h[3]],
        flags: le16(h, 6),
        sig_type,
        descr,
        data,
        total: 18 + descr_size + size + sig_size,
        sig,
    }
}

/// Check a `FFF!` slim block (header + payload + trailer, exactly) and return the payload range
/// relative to `fff`.
fn check_fff(fff: &[u8], order: WordOrder) -> Range<usize> {
    assert_eq!(&fff[0..4], b"FFF!");
    assert_eq!(le32(fff, 4), 0);
    assert_eq!(le32(fff, 8), 1);
    for off in [12, 16, 20, 24] {
        assert_eq!(le32(fff, off), 0);
    }
    let plen = le32(fff, 28) as usize;
    assert_eq!(
        (le16(fff, 32), le16(fff, 34), le16(fff, 36), le16(fff, 38)),
        (0, 0, 1, 4)
    );
    assert_eq!(fff.len(), 40 + plen + 4, "FFF block length");
    let trailer = le32(fff, 40 + plen);
    let expect = match order {
        WordOrder::Big => fletcher32_be(&fff[..40 + plen]),
        WordOrder::Little => fletcher32_le(&fff[..40 + plen]),
    };
    assert_eq!(trailer, expect, "FFF trailer");
    40..40 + plen
}

/// Check an ELF32 (bounds of every header / section) and return (big_endian, machine,
/// .versionString content up to the first NUL). Synthesized ELFs must also have a `.text`
/// (the real ones use other section names, e.g. `.mt`, `.sram`, and call the string table
/// `.strtab`).
fn check_elf(e: &[u8]) -> (bool, u16, Option<String>) {
    let (be, machine, version, names) = check_elf_names(e);
    assert!(
        names.iter().any(|n| n == ".text"),
        "synthesized ELF has .text"
    );
    (be, machine, version)
}

fn check_elf_names(e: &[u8]) -> (bool, u16, Option<String>, Vec<String>) {
    assert_eq!(&e[0..4], b"\x7fELF");
    assert_eq!(e[4], 1);
    let be = match e[5] {
        1 => false,
        2 => true,
        x => panic!("bad EI_DATA {x}"),
    };
    assert_eq!(e[6], 1);
    assert!(e[7..16].iter().all(|&b| b == 0));
    let u16_at = |at: usize| {
        let b = [e[at], e[at + 1]];
        if be {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let u32_at = |at: usize| {
        let b = [e[at], e[at + 1], e[at + 2], e[at + 3]];
        (if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }) as usize
    };
    assert_eq!(u16_at(16), 2);
    let machine = u16_at(18);
    assert_eq!(u32_at(20), 1);
    let phoff = u32_at(28);
    let shoff = u32_at(32);
    assert_eq!((u16_at(40), u16_at(42), u16_at(46)), (52, 32, 40));
    let phnum = u16_at(44) as usize;
    let shnum = u16_at(48) as usize;
    let shstrndx = u16_at(50) as usize;
    assert!(phoff + phnum * 32 <= e.len());
    assert!(shoff + shnum * 40 <= e.len());
    assert!(shstrndx < shnum);
    for i in 0..phnum {
        let p = phoff + i * 32;
        assert!(
            u32_at(p + 4) + u32_at(p + 16) <= e.len(),
            "segment inside file"
        );
    }
    let sh = |i: usize, field: usize| u32_at(shoff + i * 40 + field * 4);
    // Only the type of the null section is checked: the real mtools.elf has a non-zero
    // sh_offset in section 0.
    assert_eq!(sh(0, 1), 0, "null section type");
    let (str_off, str_size) = (sh(shstrndx, 4), sh(shstrndx, 5));
    assert_eq!(sh(shstrndx, 1), 3);
    assert!(str_off + str_size <= e.len());
    let strtab = &e[str_off..str_off + str_size];
    let mut version = None;
    let mut names = Vec::new();
    for i in 1..shnum {
        let (name, ty, off, size) = (sh(i, 0), sh(i, 1), sh(i, 4), sh(i, 5));
        // SHT_NOBITS (8) occupies no file space.
        assert!(ty == 8 || off + size <= e.len(), "section {i} inside file");
        let nend = name + strtab[name..].iter().position(|&b| b == 0).unwrap();
        let n = std::str::from_utf8(&strtab[name..nend]).unwrap();
        names.push(n.to_string());
        if n == ".versionString" {
            assert_eq!(ty, 1);
            let c = &e[off..off + size];
            let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
            version = Some(String::from_utf8(c[..end].to_vec()).unwrap());
        }
    }
    (be, machine, version, names)
}

/// Check an FFF-carrying UPGR body (after the type word) and return the ELF's check results.
fn check_fw_body(
    body: &[u8],
    order: WordOrder,
    ielf_expected: bool,
) -> (bool, u16, Option<String>) {
    let pr = check_fff(body, order);
    let payload = &body[pr];
    if ielf_expected {
        assert_eq!(&payload[0..4], b"IELF");
        let off = le32(payload, 4) as usize;
        let len = le32(payload, 8) as usize;
        assert_eq!(le32(payload, 12), 0xFFFF_FFFF);
        assert!(off >= 16 && off + len <= payload.len());
        check_elf(&payload[off..off + len])
    } else {
        assert_eq!(&payload[0..4], b"\x7fELF");
        check_elf(payload)
    }
}

// ---------------------------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------------------------

#[test]
fn crc32_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"a"), 0xE8B7_BE43);
}

#[test]
fn fletcher_known_answers_by_hand() {
    // b"abcde" = 61 62 63 64 65, big-endian words 0x6162, 0x6364, odd byte 0x65:
    //   s1 = 0xFFFF + 0x6162 = 0x16161        s2 = 0xFFFF  + 0x16161 = 0x26160
    //   s1 = 0x16161 + 0x6364 = 0x1C4C5       s2 = 0x26160 + 0x1C4C5 = 0x42625
    //   odd: s1 += 0x6500 -> 0x229C5          s2 += s1 -> 0x64FEA
    //   fold: s1 = 0x29C5 + 0x2 = 0x29C7     s2 = 0x4FEA + 0x6 = 0x4FF0 (second fold: no-op)
    //   result = 0x4FF0_29C7
    assert_eq!(fletcher32_be(b"abcde"), 0x4FF0_29C7);
    // Little-endian words 0x6261, 0x6463, odd byte 0x65 as the low byte:
    //   s1 = 0x16260, s2 = 0x2625F; s1 = 0x1C6C3, s2 = 0x42922;
    //   odd: s1 = 0x1C728, s2 = 0x5F04A; fold: s1 = 0xC729, s2 = 0xF04F
    assert_eq!(fletcher32_le(b"abcde"), 0xF04F_C729);
    // Empty input: both sums stay 0xFFFF.
    assert_eq!(fletcher32_be(b""), 0xFFFF_FFFF);
    assert_eq!(fletcher32_le(b""), 0xFFFF_FFFF);
}

/// Independent definition: each sum is the representative in 1..=0xFFFF of its value mod 65535.
fn fletcher_modular(data: &[u8], be: bool) -> u32 {
    let m = 65535u64;
    let (mut s1, mut s2) = (0xFFFFu64 % m, 0xFFFFu64 % m);
    let mut words: Vec<u64> = data
        .chunks_exact(2)
        .map(|w| {
            u64::from(if be {
                u16::from_be_bytes([w[0], w[1]])
            } else {
                u16::from_le_bytes([w[0], w[1]])
            })
        })
        .collect();
    if data.len() % 2 == 1 {
        let b = u64::from(data[data.len() - 1]);
        words.push(if be { b << 8 } else { b });
    }
    for w in words {
        s1 = (s1 + w) % m;
        s2 = (s2 + s1) % m;
    }
    let canon = |x: u64| if x == 0 { 0xFFFF } else { x };
    ((canon(s2) << 16) | canon(s1)) as u32
}

#[test]
fn fletcher_matches_modular_definition() {
    let data = pseudo_random(3000, 42);
    for len in (0..60).chain([719, 720, 721, 722, 1439, 1440, 1441, 2999, 3000]) {
        let d = &data[..len];
        assert_eq!(fletcher32_be(d), fletcher_modular(d, true), "be len {len}");
        assert_eq!(fletcher32_le(d), fletcher_modular(d, false), "le len {len}");
    }
    // Worst case for the accumulators: all 0xFF.
    let ff = vec![0xFFu8; 100_001];
    assert_eq!(fletcher32_be(&ff), fletcher_modular(&ff, true));
    assert_eq!(fletcher32_le(&ff), fletcher_modular(&ff, false));
}

#[test]
fn pseudo_random_is_deterministic() {
    assert_eq!(pseudo_random(100, 7), pseudo_random(100, 7));
    assert_ne!(pseudo_random(100, 7), pseudo_random(100, 8));
    assert_eq!(pseudo_random(13, 7)[..], pseudo_random(100, 7)[..13]);
    assert_eq!(pseudo_random(0, 1).len(), 0);
}

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

#[test]
fn caba_v1_layout() {
    let data = b"hello, world!";
    let c = caba_v1(b"TEST", data);
    assert_eq!(c.len(), 20 + data.len());
    assert_eq!(&c[0..4], b"TEST");
    assert_eq!(
        (le16(&c, 4), le16(&c, 6), le32(&c, 8)),
        (1, 0, data.len() as u32)
    );
    assert_eq!(le32(&c, 12), fletcher32_be(data));
    let mut h = c[..20].to_vec();
    put_u32_le(&mut h, 16, 0);
    assert_eq!(le32(&c, 16), fletcher32_be(&h));
    assert_eq!(&c[20..], data);
}

#[test]
fn caba_v2_layout() {
    for sig in [
        Sig::None,
        Sig::Fletcher,
        Sig::Ecdsa,
        Sig::Rsa,
        Sig::Crc32,
        Sig::Raw {
            sig_type: 9,
            bytes: 7,
        },
    ] {
        let data = pseudo_random(33, 3);
        let c = caba_v2(b"UPGR", &data, sig);
        assert_eq!(c.len(), 16 + 33 + sig.size());
        assert_eq!(
            (
                le16(&c, 4),
                le32(&c, 8),
                le16(&c, 12),
                le16(&c, 14) as usize
            ),
            (2, 33, sig.sig_type(), sig.size())
        );
        assert_eq!(&c[16..49], &data[..]);
        match sig {
            Sig::Fletcher => assert_eq!(le32(&c, 49), fletcher32_be(&c[..49])),
            Sig::Crc32 => assert_eq!(le32(&c, 49), crc32(&c[..49])),
            Sig::Raw { .. } => assert!(c[49..].iter().all(|&b| b == 0xA5)),
            _ => {}
        }
    }
}

#[test]
fn caba_v3_layout_and_sizes() {
    for sig in [
        Sig::None,
        Sig::Fletcher,
        Sig::Ecdsa,
        Sig::Rsa,
        Sig::Crc32,
        Sig::Raw {
            sig_type: 0x77,
            bytes: 5,
        },
    ] {
        let data = pseudo_random(101, 9);
        let c = caba_v3(b"UPGR", "some description", &data, sig);
        assert_eq!(c.len(), 18 + 17 + 101 + sig.size());
        assert_eq!(c.len(), caba_v3_len("some description", 101, sig));
        let v = read_v3(&c, 0);
        assert_eq!(&v.magic, b"UPGR");
        assert_eq!(
            (v.flags, v.sig_type, v.descr.as_str()),
            (0, sig.sig_type(), "some description")
        );
        assert_eq!(&c[v.data.clone()], &data[..]);
        assert_eq!(v.sig.end, c.len());
        assert_eq!(v.total, c.len());
    }
    let f = caba_v3_flags(b"PACK", 0x8001, "", b"", Sig::Fletcher);
    assert_eq!((le16(&f, 6), le16(&f, 16), f[18]), (0x8001, 1, 0));
    assert_eq!(f.len(), 18 + 1 + 4);
}

#[test]
fn upgr_and_pack_layout() {
    let a = upgr(COMP_FS, DESCR_FS, b"xyz", Sig::Fletcher);
    assert_eq!(le32(&a, 18 + 19), COMP_FS);
    let b = bootrom_package(10, Sig::Crc32);
    assert_eq!(&b[18 + 24..18 + 24 + 4], &[0x74, 0x6f, 0x6f, 0x62]);
    let p = pack(&[a.clone(), b.clone()], Sig::Fletcher);
    let v = read_v3(&p, 0);
    assert_eq!((&v.magic, v.descr.as_str()), (b"PACK", "Packed dup files"));
    assert_eq!(v.data.start, PACK_DATA_OFFSET);
    assert_eq!(
        package_offsets_in_pack(&[a.clone(), b.clone()]),
        vec![35, 35 + a.len()]
    );
    assert_eq!(&p[35..35 + a.len()], &a[..]);
    assert_eq!(&p[35 + a.len()..35 + a.len() + b.len()], &b[..]);
}

#[test]
fn fff_and_ielf_layout() {
    let payload = pseudo_random(77, 1);
    for order in [WordOrder::Big, WordOrder::Little] {
        let f = fff_slim(&payload, order);
        assert_eq!(f.len(), 40 + 77 + 4);
        let r = check_fff(&f, order);
        assert_eq!(&f[r], &payload[..]);
    }
    assert_ne!(
        fff_slim(&payload, WordOrder::Big),
        fff_slim(&payload, WordOrder::Little)
    );

    let e = elf(&ElfSpec::default());
    let w = ielf(&e, b"RAWRAW", 5);
    assert_eq!(&w[0..4], b"IELF");
    assert_eq!(
        (le32(&w, 4), le32(&w, 8), le32(&w, 12)),
        (22, e.len() as u32, 0xFFFF_FFFF)
    );
    assert_eq!(&w[16..22], b"RAWRAW");
    assert_eq!(&w[22..22 + e.len()], &e[..]);
    assert_eq!(&w[22 + e.len()..], &[0xFF; 5]);
    assert_eq!(le32(&ielf(&e, b"", 0), 4), 16);
}

#[test]
fn elf_variants() {
    for be in [true, false] {
        for vs in [Some(DEFAULT_VERSION.to_string()), Some(String::new()), None] {
            for text_len in [0, 1, 3, 256] {
                let spec = ElfSpec {
                    big_endian: be,
                    version_string: vs.clone(),
                    text_len,
                    ..ElfSpec::default()
                };
                let (e, lay) = elf_with_layout(&spec);
                assert_eq!(e, elf(&spec));
                assert_eq!(lay.total_len, e.len());
                let (got_be, machine, got_vs) = check_elf(&e);
                assert_eq!((got_be, machine), (be, 0xA7));
                assert_eq!(got_vs, vs);
                if let (Some(v), Some((off, size))) = (&vs, lay.version_section) {
                    assert_eq!(size, v.len() + 4);
                    assert_eq!(&e[off..off + v.len()], v.as_bytes());
                    assert_eq!(&e[off + v.len()..off + size], &[0; 4]);
                }
            }
        }
    }
    let e = elf(&ElfSpec {
        machine: 0x28,
        ..ElfSpec::default()
    });
    assert_eq!(check_elf(&e).1, 0x28);
    // Default: big endian, header fields as the real updater.elf.
    let e = elf(&ElfSpec::default());
    assert_eq!(&e[0..8], &[0x7f, b'E', b'L', b'F', 1, 2, 1, 0]);
    assert_eq!(&e[16..20], &[0x00, 0x02, 0x00, 0xa7]);
}

#[test]
fn mutators_and_resign() {
    let mut b = vec![0u8; 8];
    put_u32_le(&mut b, 1, 0x0403_0201);
    put_u16_le(&mut b, 5, 0x0605);
    assert_eq!(b, [0, 1, 2, 3, 4, 5, 6, 0]);
    flip_bit(&mut b, 7, 7);
    flip_bit(&mut b, 0, 0);
    assert_eq!(b, [1, 1, 2, 3, 4, 5, 6, 0x80]);
    assert_eq!(
        (get_u32_le(&b, 4), get_u32_le(&b, 5), get_u16_le(&b, 6)),
        (Some(0x8006_0504), None, Some(0x8006))
    );

    for sig in [Sig::Fletcher, Sig::Crc32] {
        let orig = fs_package(100, sig);
        let mut m = orig.clone();
        flip_bit(&mut m, 60, 3);
        assert!(resign_caba_v3(&mut m, 0));
        read_v3(&m, 0); // verifies again
        assert_ne!(m[m.len() - 4..], orig[orig.len() - 4..]);
    }
    let mut r = fs_package(10, Sig::Rsa);
    assert!(!resign_caba_v3(&mut r, 0));
}

// ---------------------------------------------------------------------------------------------
// Samples
// ---------------------------------------------------------------------------------------------

struct Walked {
    component: u32,
    descr: String,
    offset: usize,
    total: usize,
    body: Range<usize>,
}

fn walk_upgrs(buf: &[u8], range: Range<usize>, sig_type: u16) -> Vec<Walked> {
    let mut at = range.start;
    let mut out = Vec::new();
    while at < range.end {
        let v = read_v3(buf, at);
        assert_eq!(&v.magic, b"UPGR");
        assert_eq!(v.sig_type, sig_type);
        out.push(Walked {
            component: le32(buf, v.data.start),
            descr: v.descr.clone(),
            offset: at,
            total: v.total,
            body: v.data.start + 4..v.data.end,
        });
        at += v.total;
    }
    assert_eq!(at, range.end, "packages exactly fill the range");
    out
}

#[test]
fn sample_dup_structure() {
    let d = sample_dup(DEFAULT_VERSION);
    let outer = read_v3(&d, 0);
    assert_eq!(
        (&outer.magic, outer.descr.as_str(), outer.sig_type),
        (b"PACK", "Packed dup files", 1)
    );
    assert_eq!(
        outer.total,
        d.len(),
        "declared sizes add up to the file length"
    );
    let pk = walk_upgrs(&d, outer.data.clone(), 1);
    let comps: Vec<u32> = pk.iter().map(|p| p.component).collect();
    assert_eq!(comps, [COMP_BOOTROM, COMP_UPDATER, COMP_FFF, COMP_FS]);
    let descrs: Vec<&str> = pk.iter().map(|p| p.descr.as_str()).collect();
    assert_eq!(descrs, [DESCR_BOOTROM, DESCR_UPDATER, DESCR_FFF, DESCR_FS]);
    assert_eq!(35 + pk.iter().map(|p| p.total).sum::<usize>() + 4, d.len());
    let offs = package_offsets_in_pack(&sample_packages(DEFAULT_VERSION, 8191, false));
    assert_eq!(pk.iter().map(|p| p.offset).collect::<Vec<_>>(), offs);

    // Bootrom carries the decoy, not the target version.
    let boot = &d[pk[0].body.clone()];
    assert!(
        boot.windows(BOOTROM_DECOY_VERSION.len())
            .any(|w| w == BOOTROM_DECOY_VERSION.as_bytes())
    );
    assert_eq!(boot.len(), 4096);
    // Updater / fff.
    let (be, m, v) = check_fw_body(&d[pk[1].body.clone()], WordOrder::Big, false);
    assert_eq!(
        (be, m, v.as_deref()),
        (true, 0xA7, Some(SAMPLE_UPDATER_VERSION))
    );
    let fff = &d[pk[2].body.clone()];
    let (be, _, v) = check_fw_body(fff, WordOrder::Big, false);
    assert_eq!((be, v.as_deref()), (true, Some(DEFAULT_VERSION)));
    assert_eq!(le32(fff, 28) % 2, 1, "fff payload length is odd");
    // fs: odd signed length.
    let fs_signed = pk[3].total - 4;
    assert_eq!(fs_signed % 2, 1);
    assert_ne!(sample_dup("1.2.3.4 [12345] by x at y"), d);
    println!(
        "sample_dup: {} bytes, packages {:?}",
        d.len(),
        pk.iter().map(|p| p.total).collect::<Vec<_>>()
    );
}

#[test]
fn sample_dup_unpacked_structure() {
    let d = sample_dup_unpacked(DEFAULT_VERSION);
    let pk = walk_upgrs(&d, 0..d.len(), 1);
    let comps: Vec<u32> = pk.iter().map(|p| p.component).collect();
    assert_eq!(comps, [COMP_BOOTROM, COMP_UPDATER, COMP_FFF, COMP_FS]);
    let (_, _, v) = check_fw_body(&d[pk[1].body.clone()], WordOrder::Big, true);
    assert_eq!(v.as_deref(), Some(SAMPLE_UPDATER_VERSION));
    let fff = &d[pk[2].body.clone()];
    let (be, _, v) = check_fw_body(fff, WordOrder::Big, true);
    assert_eq!((be, v.as_deref()), (true, Some(DEFAULT_VERSION)));
    // IELF with 8,191 raw bytes before the ELF.
    assert_eq!(le32(fff, 40 + 4), 16 + 8191);
    println!(
        "sample_dup_unpacked: {} bytes, packages {:?}",
        d.len(),
        pk.iter().map(|p| p.total).collect::<Vec<_>>()
    );
}

#[test]
fn sample_dup_gm02s_structure() {
    let d = sample_dup_gm02s(GM02S_VERSION);
    let outer = read_v3(&d, 0);
    assert_eq!((&outer.magic, outer.sig_type), (b"PACK", 4));
    assert_eq!(outer.total, d.len());
    let pk = walk_upgrs(&d, outer.data.clone(), 4);
    let comps: Vec<u32> = pk.iter().map(|p| p.component).collect();
    assert_eq!(
        comps,
        [COMP_BOOTROM, COMP_UPDATER, COMP_FFF, COMP_PXL, COMP_FS]
    );
    assert_eq!(pk[3].descr, DESCR_PXL);
    let mut versions = Vec::new();
    for p in &pk[1..4] {
        let (be, m, v) = check_fw_body(&d[p.body.clone()], WordOrder::Little, true);
        assert_eq!((be, m), (false, 0xA7));
        versions.push(v.unwrap());
    }
    assert_eq!(
        versions,
        [SAMPLE_UPDATER_VERSION, GM02S_VERSION, SAMPLE_PXL_VERSION]
    );
    // LE-word trailer differs from what the BE variant would give (so a parser must choose).
    let fff = &d[pk[2].body.clone()];
    let plen = le32(fff, 28) as usize;
    assert_ne!(le32(fff, 40 + plen), fletcher32_be(&fff[..40 + plen]));
    assert_eq!(
        plen % 2,
        1,
        "odd FFF payload exercises the LE odd-byte path"
    );
    // pxl: IELF with padding after the ELF.
    let pxl = &d[pk[3].body.clone()];
    let p = &pxl[40..40 + le32(pxl, 28) as usize];
    assert_eq!(le32(p, 4) as usize + le32(p, 8) as usize + 3, p.len());
    println!(
        "sample_dup_gm02s: {} bytes, packages {:?}",
        d.len(),
        pk.iter().map(|p| p.total).collect::<Vec<_>>()
    );
}

#[test]
fn sample_dup_of_size_structure() {
    let small = sample_dup_of_size(0);
    assert_eq!(read_v3(&small, 0).total, small.len());
    assert_eq!(sample_dup_of_size(small.len() + 1).len(), small.len() + 1);

    let t = std::time::Instant::now();
    let d = sample_dup_of_size(6_000_000);
    let elapsed = t.elapsed();
    assert_eq!(d.len(), 6_000_000);
    let outer = read_v3(&d, 0);
    assert_eq!(outer.total, d.len());
    let pk = walk_upgrs(&d, outer.data.clone(), 1);
    let (_, _, v) = check_fw_body(&d[pk[2].body.clone()], WordOrder::Big, false);
    assert_eq!(v.as_deref(), Some(DEFAULT_VERSION));
    println!(
        "sample_dup_of_size: min {} bytes; 6,000,000 bytes built in {elapsed:?} (this profile)",
        small.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Real files (MODEM_FW_FIXTURES)
// ---------------------------------------------------------------------------------------------

fn fixture(name: &str) -> Option<Vec<u8>> {
    let Some(dir) = std::env::var_os("MODEM_FW_FIXTURES") else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped: MODEM_FW_FIXTURES not set (builder fixture self-test)\n",
        );
        return None;
    };
    let path = PathBuf::from(dir).join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipped: fixture {} not readable: {e}", path.display());
            None
        }
    }
}

#[test]
fn fixture_fletcher_values() {
    let (Some(catm1), Some(boot)) = (fixture("CATM1-38638.dup"), fixture("bootrom-upgr.bin"))
    else {
        return;
    };
    assert_eq!(catm1.len(), 5_996_938);
    assert_eq!(fletcher32_be(&catm1[..5_996_934]), 0xDC21_5AD3);
    assert_eq!(boot.len(), 55_570);
    assert_eq!(fletcher32_be(&boot[..boot.len() - 4]), 0x145E_0930);
    let fs = &catm1[0x5AB959..0x5AB959 + 51_245];
    assert_eq!(fletcher32_be(&fs[..51_241]), 0xB8CB_4DEA);
    assert_eq!(le32(fs, 51_241), 0xB8CB_4DEA);
}

/// Rebuild a v3 container from its description and data with this builder.
fn rebuild_v3(buf: &[u8], at: usize) -> (V3, Vec<u8>) {
    let v = read_v3(buf, at);
    let sig = match v.sig_type {
        1 => Sig::Fletcher,
        4 => Sig::Crc32,
        t => panic!("unexpected sig type {t}"),
    };
    let magic = v.magic;
    let rebuilt = caba_v3_flags(&magic, v.flags, &v.descr, &buf[v.data.clone()], sig);
    (v, rebuilt)
}

#[test]
fn fixture_bootrom_rebuild() {
    let Some(boot) = fixture("bootrom-upgr.bin") else {
        return;
    };
    let (v, rebuilt) = rebuild_v3(&boot, 0);
    assert_eq!(
        (v.descr.as_str(), v.data.len(), v.flags),
        ("bootrom upgrade package", 55_524, 0)
    );
    // Exactly the plain API from the brief:
    let again = caba_v3(b"UPGR", &v.descr, &boot[v.data.clone()], Sig::Fletcher);
    assert_eq!(again, rebuilt);
    assert!(
        rebuilt == boot,
        "bootrom-upgr.bin is reproduced byte for byte"
    );
}

#[test]
fn fixture_catm1_rebuild() {
    let Some(d) = fixture("CATM1-38638.dup") else {
        return;
    };
    let outer = read_v3(&d, 0);
    let pk = walk_upgrs(&d, outer.data.clone(), 1);
    let offs: Vec<usize> = pk.iter().map(|p| p.offset).collect();
    assert_eq!(offs, [0x23, 0xD669, 0x76183, 0x5AB959]);
    let mut packages = Vec::new();
    for p in &pk {
        let (_, r) = rebuild_v3(&d, p.offset);
        assert!(
            r[..] == d[p.offset..p.offset + p.total],
            "package at {:#x}",
            p.offset
        );
        packages.push(r);
    }
    assert!(
        pack(&packages, Sig::Fletcher) == d,
        "CATM1-38638.dup reproduced by pack()"
    );
    assert_eq!(package_offsets_in_pack(&packages), offs);
    // updater and fff bodies: FFF! slim (BE words) around a plain ELF (+ raw data).
    for (i, version) in [(1, "5.1.1.0 [38638]"), (2, "5.1.1.0 [38638]")] {
        let body = &d[pk[i].body.clone()];
        let pr = check_fff(body, WordOrder::Big);
        assert!(
            fff_slim(&body[pr.clone()], WordOrder::Big)[..] == body[..],
            "fff_slim rebuild {i}"
        );
        assert_eq!(&body[pr.start..pr.start + 4], b"\x7fELF");
        let (be, m, v, _) = check_elf_names(&body[pr]);
        assert_eq!((be, m), (true, 0xA7));
        assert!(v.unwrap().starts_with(version));
    }
    assert_eq!(le32(&d[pk[1].body.clone()], 28), 428_732);
    assert_eq!(le32(&d[pk[2].body.clone()], 28), 5_461_884);
}

#[test]
fn fixture_nb1_rebuild() {
    let (Some(d), Some(updater_elf)) = (fixture("NB1-37781.dup"), fixture("updater-37781.elf"))
    else {
        return;
    };
    let pk = walk_upgrs(&d, 0..d.len(), 1);
    let offs: Vec<usize> = pk.iter().map(|p| p.offset).collect();
    assert_eq!(offs, [0x0, 0xD646, 0x58250, 0x4F2B62]);
    let mut packages = Vec::new();
    for p in &pk {
        packages.push(rebuild_v3(&d, p.offset).1);
    }
    assert!(
        concat(&packages) == d,
        "NB1-37781.dup reproduced by concat()"
    );
    // The updater payload is exactly ielf(updater.elf) (elf_offset 16), wrapped in fff_slim (BE).
    let body = &d[pk[1].body.clone()];
    let expect = fff_slim(&ielf(&updater_elf, &[], 0), WordOrder::Big);
    assert!(
        expect[..] == body[..],
        "updater = fff_slim(ielf(updater.elf))"
    );
    assert_eq!(
        upgr(COMP_UPDATER, DESCR_UPDATER, &expect, Sig::Fletcher),
        packages[1]
    );
    // fff: IELF + ELF with the 6.0.0.0 build.
    let body = &d[pk[2].body.clone()];
    let pr = check_fff(body, WordOrder::Big);
    let payload = &body[pr];
    assert_eq!(&payload[0..4], b"IELF");
    // Here raw flash bytes precede the ELF: elf_offset is larger than the 16-byte header.
    let elf_off = le32(payload, 4) as usize;
    let elf_len = le32(payload, 8) as usize;
    assert!(elf_off > 16 && elf_off + elf_len <= payload.len());
    println!(
        "NB1 fff IELF: elf_offset {elf_off}, elf_length {elf_len}, payload {}",
        payload.len()
    );
    let (be, m, v, _) = check_elf_names(&payload[elf_off..elf_off + elf_len]);
    assert_eq!((be, m), (true, 0xA7));
    assert!(v.unwrap().starts_with("6.0.0.0 [37781]"));
    let (be, m, v, _) = check_elf_names(&updater_elf);
    assert_eq!(
        (be, m, v.as_deref()),
        (
            true,
            0xA7,
            Some("6.0.0.0 [37781] by robot-soft at 2018-07-05 20:21:02")
        )
    );
}

#[test]
fn fixture_mtools_is_le_elf() {
    let Some(e) = fixture("mtools-61488.elf") else {
        return;
    };
    let (be, m, v, _) = check_elf_names(&e);
    assert_eq!((be, m), (false, 0xA7));
    assert!(v.unwrap().starts_with("8.2.1.0 [61488]"));
}
