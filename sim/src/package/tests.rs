//! Verifier tests: a private builder synthesizes packages (all checksums computed by this crate's
//! own `checksum` module, whose check values are tested separately), then valid packages are
//! accepted, every corruption is rejected with the right reason, random input never panics, and —
//! when `MODEM_FW_FIXTURES` is set — the real Sequans files verify.

use std::collections::HashSet;
use std::io::Write as _;

use super::*;
use crate::checksum::{WordOrder, fletcher32};

use crate::synth::*;

const TARGET: &str = "5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46";
const UPDATER: &str = "6.0.0.0 [37781] by robot-soft at 2018-07-05 20:21:02";

fn bootrom_data() -> Vec<u8> {
    let mut body = vec![0, 0, 0, 0, 1];
    body.extend_from_slice(b"sbpk\0\0booosqn1\0 12.3 junk 5.1.1.0 [41065]'\n\0");
    body.extend_from_slice(&[0x00, 0xFF, 0x10]); // odd total length on purpose
    raw_data(0x626F_6F74, &body)
}

fn fs_data() -> Vec<u8> {
    raw_data(3, b".overlay/etc/config\0\0\0\x01")
}

/// The four SQN3330 components (bootrom, updater, fff, fs) as UPGR containers.
fn sqn_upgrs() -> Vec<Vec<u8>> {
    let mut fff_payload = build_elf(true, Some(TARGET));
    fff_payload.extend_from_slice(&[0x77; 101]); // raw data after the ELF, like CATM1
    vec![
        upgr(&bootrom_data()),
        upgr(&fff_data(
            8,
            &build_elf(true, Some(UPDATER)),
            WordOrder::Big,
        )),
        upgr(&fff_data(2, &fff_payload, WordOrder::Big)),
        upgr(&fs_data()),
    ]
}

fn sqn_rules() -> PackageRules {
    PackageRules::sqn3330(Some(37781))
}

fn v(text: &str, build: u32) -> SimVersion {
    SimVersion {
        text: text.to_owned(),
        build,
    }
}

#[track_caller]
fn rejected(stream: &[u8], rules: &PackageRules) -> Rejection {
    match verify_package(stream, rules) {
        Ok(summary) => panic!("accepted: {summary:?}"),
        Err(r) => r,
    }
}

#[track_caller]
fn expect_reason(stream: &[u8], rules: &PackageRules, reason: RejectReason) -> Rejection {
    let r = rejected(stream, rules);
    assert_eq!(r.reason, reason, "{r}");
    r
}

/// Rewrites the UPGR at `offset` (v3, Fletcher) after its data was edited in place: recomputes the
/// signature so only the deliberate change is wrong.
fn resign_v3(stream: &mut [u8], offset: usize) {
    let size = u32::from_le_bytes(stream[offset + 8..offset + 12].try_into().unwrap()) as usize;
    let descr = u16::from_le_bytes(stream[offset + 16..offset + 18].try_into().unwrap()) as usize;
    let sig_at = offset + 18 + descr + size;
    let sig = fletcher32(&stream[offset..sig_at], WordOrder::Big);
    stream[sig_at..sig_at + 4].copy_from_slice(&sig.to_le_bytes());
}

// ---------------------------------------------------------------------------------------------
// Accepted packages
// ---------------------------------------------------------------------------------------------

#[test]
fn accepts_bare_and_packed_sqn3330_packages() {
    let upgrs = sqn_upgrs();
    let bare = upgrs.concat();
    let packed = pack(&upgrs);
    for (stream, first) in [(&bare, 0usize), (&packed, 18 + 17)] {
        let s = verify_package(stream, &sqn_rules()).unwrap();
        assert_eq!(
            s.kinds(),
            [
                ComponentKind::Bootrom,
                ComponentKind::Updater,
                ComponentKind::Firmware,
                ComponentKind::FileSystem
            ]
        );
        let mut offset = first;
        for (c, u) in s.components.iter().zip(&upgrs) {
            assert_eq!((c.offset, c.total_len), (offset, u.len()));
            offset += u.len();
        }
        assert_eq!(s.target, Some(v("5.1.1.0", 38638)));
        assert_eq!(s.updater_version, Some(v("6.0.0.0", 37781)));
        assert_eq!(s.bootrom_version, Some(v("5.1.1.0", 41065)));
        assert_eq!(s.diff_base, None);
        assert!(s.has(ComponentKind::Firmware) && !s.has(ComponentKind::Pxl));
    }
    // A full package does not depend on what is installed.
    assert!(verify_package(&bare, &PackageRules::sqn3330(None)).is_ok());
}

#[test]
fn accepts_every_caba_version_and_checksum_type() {
    let data = fff_data(2, &build_elf(false, Some("1.2.3.4 [5]")), WordOrder::Big);
    for version in 1..=3u16 {
        for sig_type in [0u16, 1, 4] {
            let inner = caba(b"UPGR", version, sig_type, "fff upgrade package", &data);
            let s = verify_package(&inner, &sqn_rules())
                .unwrap_or_else(|e| panic!("v{version} t{sig_type}: {e}"));
            assert_eq!(s.target, Some(v("1.2.3.4", 5)));
            for pack_version in 1..=3u16 {
                let outer = caba(b"PACK", pack_version, sig_type, "Packed dup files", &inner);
                let s = verify_package(&outer, &sqn_rules())
                    .unwrap_or_else(|e| panic!("PACK v{pack_version}: {e}"));
                assert_eq!(
                    s.components[0].offset,
                    outer.len()
                        - inner.len()
                        - if pack_version == 1 {
                            0
                        } else {
                            sign(sig_type, b"").len()
                        }
                );
            }
        }
    }
}

#[test]
fn unverifiable_signatures_need_permission() {
    let data = fs_data();
    let strict = sqn_rules();
    let lenient = PackageRules {
        accept_unverifiable_signatures: true,
        ..sqn_rules()
    };
    for sig_type in [2u16, 3] {
        let stream = caba(b"UPGR", 3, sig_type, "fs upgrade package", &data);
        let r = expect_reason(&stream, &strict, RejectReason::UnsupportedSignature);
        assert_eq!(r.reason.code(), "unsupported-signature");
        assert!(verify_package(&stream, &lenient).is_ok());
    }
    // Unknown signature types are never accepted.
    let stream = caba(b"UPGR", 2, 9, "", &data);
    expect_reason(&stream, &lenient, RejectReason::UnsupportedSignature);
    // RSA must be 256 bytes even when accepted.
    let mut rsa = caba(b"UPGR", 2, 3, "", &data);
    rsa[14..16].copy_from_slice(&255u16.to_le_bytes());
    rsa.pop();
    expect_reason(&rsa, &lenient, RejectReason::BadLayout);
    // ECDSA of size 0.
    let mut ecdsa = caba(b"UPGR", 2, 2, "", &data);
    ecdsa[14..16].copy_from_slice(&0u16.to_le_bytes());
    ecdsa.truncate(16 + data.len());
    expect_reason(&ecdsa, &lenient, RejectReason::BadLayout);
}

#[test]
fn accepts_gm02s_package_with_ielf_pxl_and_crc32() {
    let little = WordOrder::Little;
    let upgrs = [
        caba(b"UPGR", 3, 4, "bootrom upgrade package", &bootrom_data()),
        caba(
            b"UPGR",
            3,
            4,
            "updater upgrade package",
            &fff_data(
                8,
                &ielf(&build_elf(false, Some("8.2.1.0 [61488] x")), 0, 0),
                little,
            ),
        ),
        caba(
            b"UPGR",
            3,
            4,
            "fff upgrade package",
            &fff_data(
                2,
                &ielf(&build_elf(false, Some("8.0.5.13 [59577]")), 333, 1),
                little,
            ),
        ),
        caba(
            b"UPGR",
            3,
            4,
            "pxl upgrade package",
            &fff_data(0x10, &ielf(&build_elf(false, None), 0, 3), little),
        ),
        caba(b"UPGR", 3, 4, "fs upgrade package", &fs_data()),
    ];
    let stream = caba(b"PACK", 3, 4, "Packed dup files", &upgrs.concat());
    let s = verify_package(&stream, &PackageRules::gm02s(Some(1))).unwrap();
    assert_eq!(s.kinds(), ComponentKind::ALL);
    assert_eq!(s.target, Some(v("8.0.5.13", 59577)));
    assert_eq!(s.updater_version, Some(v("8.2.1.0", 61488)));
    // The same bytes on an SQN3330 fail at the first FFF! trailer (updater), which is LE-ordered.
    let r = expect_reason(&stream, &sqn_rules(), RejectReason::BadSignature);
    assert!(r.detail.contains("updater FFF! trailer"), "{r}");
}

#[test]
fn ielf_wrapper_bounds() {
    let elf = build_elf(true, Some(TARGET));
    let ok = upgr(&fff_data(2, &ielf(&elf, 40, 7), WordOrder::Big));
    assert!(verify_package(&ok, &sqn_rules()).is_ok());
    // ELF length one past the payload.
    let mut payload = ielf(&elf, 0, 0);
    payload[8..12].copy_from_slice(&(elf.len() as u32 + 1).to_le_bytes());
    let r = expect_reason(
        &upgr(&fff_data(2, &payload, WordOrder::Big)),
        &sqn_rules(),
        RejectReason::BadElf,
    );
    assert!(r.detail.contains("IELF"), "{r}");
    // ELF offset inside the wrapper itself.
    let mut payload = ielf(&elf, 0, 0);
    payload[4..8].copy_from_slice(&8u32.to_le_bytes());
    expect_reason(
        &upgr(&fff_data(2, &payload, WordOrder::Big)),
        &sqn_rules(),
        RejectReason::BadElf,
    );
    // Wrapper shorter than 16 bytes.
    expect_reason(
        &upgr(&fff_data(2, b"IELF\x10\0\0", WordOrder::Big)),
        &sqn_rules(),
        RejectReason::BadElf,
    );
    // Offset + length overflowing u32 arithmetic is handled.
    let mut payload = ielf(&elf, 0, 0);
    payload[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    payload[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_reason(
        &upgr(&fff_data(2, &payload, WordOrder::Big)),
        &sqn_rules(),
        RejectReason::BadElf,
    );
}

#[test]
fn diff_packages_apply_only_on_their_base() {
    let stream = pack(&[upgr(&diff_data(38638, "5.1.1.0 [39529]", &[1, 2, 3]))]);
    let s = verify_package(&stream, &PackageRules::sqn3330(Some(38638))).unwrap();
    assert_eq!(s.target, Some(v("5.1.1.0", 39529)));
    assert_eq!(s.diff_base, Some(38638));
    assert_eq!(s.kinds(), [ComponentKind::Firmware]);
    // Empty delta and a 32-byte text without NUL are fine too.
    let full_text = "5.1.1.0 [39529] 0123456789abcdef";
    assert_eq!(full_text.len(), 32);
    let s = verify_package(
        &upgr(&diff_data(7, full_text, &[])),
        &PackageRules::sqn3330(Some(7)),
    )
    .unwrap();
    assert_eq!(s.target, Some(v("5.1.1.0", 39529)));

    let r = expect_reason(
        &stream,
        &PackageRules::sqn3330(Some(37781)),
        RejectReason::DiffBaseMismatch,
    );
    assert!(
        r.detail.contains("38638") && r.detail.contains("37781"),
        "{r}"
    );
    assert_eq!(r.reason.code(), "diff-base");
    let r = expect_reason(
        &stream,
        &PackageRules::sqn3330(None),
        RejectReason::DiffBaseMismatch,
    );
    assert!(r.detail.contains("no valid firmware"), "{r}");

    // Bad target text.
    expect_reason(
        &upgr(&diff_data(1, "5.1.1 [1]", &[])),
        &PackageRules::sqn3330(Some(1)),
        RejectReason::NoTargetVersion,
    );
    // Too short for the DIFF header.
    let mut short = diff_data(1, "5.1.1.0 [2]", &[]);
    short.truncate(4 + 39);
    expect_reason(
        &upgr(&short),
        &PackageRules::sqn3330(Some(1)),
        RejectReason::BadFlashHeader,
    );
    // DIFF is an fff-only image.
    let mut updater_diff = diff_data(1, "5.1.1.0 [2]", &[]);
    updater_diff[..4].copy_from_slice(&8u32.to_le_bytes());
    expect_reason(
        &upgr(&updater_diff),
        &PackageRules::sqn3330(Some(1)),
        RejectReason::BadFlashHeader,
    );
}

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

#[test]
fn container_level_rejections() {
    let rules = sqn_rules();
    let upgrs = sqn_upgrs();
    let bare = upgrs.concat();
    let packed = pack(&upgrs);

    let r = expect_reason(b"", &rules, RejectReason::Empty);
    assert_eq!(r.reason.code(), "empty");

    for stream in [&bare, &packed] {
        let r = expect_reason(&stream[..stream.len() - 1], &rules, RejectReason::Truncated);
        assert_eq!(r.reason.code(), "truncated");
        let mut longer = stream.clone();
        longer.push(0);
        let r = expect_reason(&longer, &rules, RejectReason::TrailingBytes);
        assert_eq!(r.offset, stream.len());
        longer.extend_from_slice(b"UPGR");
        expect_reason(&longer, &rules, RejectReason::TrailingBytes);
    }
    // A second, cut UPGR after a complete one is a truncation, not trailing bytes.
    let mut cut = bare.clone();
    cut.extend_from_slice(&upgrs[3][..10]);
    let r = expect_reason(&cut, &rules, RejectReason::Truncated);
    assert_eq!(r.offset, bare.len());
    // Anything after a PACK, even a valid UPGR.
    let mut after_pack = packed.clone();
    after_pack.extend_from_slice(&upgrs[3]);
    expect_reason(&after_pack, &rules, RejectReason::TrailingBytes);
    // Cut headers.
    expect_reason(b"PA", &rules, RejectReason::Truncated);
    expect_reason(b"UPGR\x03", &rules, RejectReason::Truncated);
    expect_reason(&packed[..20], &rules, RejectReason::Truncated);

    // Magic: an ELF sent as a package, garbage, a PACK inside a PACK.
    let r = expect_reason(&build_elf(true, None), &rules, RejectReason::BadMagic);
    assert_eq!(r.reason.code(), "magic");
    expect_reason(b"XY", &rules, RejectReason::BadMagic);
    let nested = pack(&[pack(&upgrs)]);
    let r = expect_reason(&nested, &rules, RejectReason::BadMagic);
    assert_eq!(r.offset, 35);

    // CABA version.
    let mut bad_version = bare.clone();
    bad_version[4] = 4;
    let r = expect_reason(&bad_version, &rules, RejectReason::BadVersion);
    assert_eq!(r.reason.code(), "caba-version");

    // Layout: an empty PACK, a UPGR overrunning its PACK, a PACK not filled by whole UPGRs.
    expect_reason(&pack(&[]), &rules, RejectReason::BadLayout);
    let mut overrun = upgrs[0].clone();
    overrun.pop();
    let r = expect_reason(&pack(&[overrun]), &rules, RejectReason::BadLayout);
    assert_eq!(r.reason.code(), "format");
    let r = expect_reason(
        &pack(&[upgrs[0].clone(), b"UPG".to_vec()]),
        &rules,
        RejectReason::BadLayout,
    );
    assert_eq!(r.offset, 35 + upgrs[0].len());
    let r = expect_reason(
        &pack(&[upgrs[0].clone(), b"junk".to_vec()]),
        &rules,
        RejectReason::BadMagic,
    );
    assert_eq!(r.offset, 35 + upgrs[0].len());
    // A UPGR too short for its type word.
    expect_reason(&upgr(&[2, 0, 0]), &rules, RejectReason::BadLayout);
    // Signature size contradicting its type.
    let mut sized = caba(b"UPGR", 2, 1, "", &fs_data());
    sized[14..16].copy_from_slice(&3u16.to_le_bytes());
    sized.pop();
    expect_reason(&sized, &rules, RejectReason::BadLayout);
    let mut none_sized = caba(b"UPGR", 2, 0, "", &fs_data());
    none_sized[14..16].copy_from_slice(&1u16.to_le_bytes());
    none_sized.push(0);
    expect_reason(&none_sized, &rules, RejectReason::BadLayout);
}

#[test]
fn signature_rejections() {
    let rules = sqn_rules();
    let upgrs = sqn_upgrs();
    let packed = pack(&upgrs);
    // Flip one data byte in each component (well inside its data): that UPGR is named.
    let mut offset = 35;
    for u in &upgrs {
        let mut bad = packed.clone();
        bad[offset + u.len() / 2] ^= 0x01;
        let r = expect_reason(&bad, &rules, RejectReason::BadSignature);
        assert_eq!(r.offset, offset, "{r}");
        assert_eq!(r.reason.code(), "signature");
        offset += u.len();
    }
    // A byte of the PACK's own description: only the PACK signature catches it.
    let mut bad = packed.clone();
    bad[20] ^= 0x20;
    let r = expect_reason(&bad, &rules, RejectReason::BadSignature);
    assert_eq!(r.offset, 0);
    // The stored signature itself.
    let mut bad = packed.clone();
    *bad.last_mut().unwrap() ^= 0x80;
    expect_reason(&bad, &rules, RejectReason::BadSignature);
    // CRC-32 and v1 CRCs.
    let data = fs_data();
    let mut crc = caba(b"UPGR", 3, 4, "fs", &data);
    crc[25] ^= 1;
    expect_reason(&crc, &rules, RejectReason::BadSignature);
    let mut v1_data = caba(b"UPGR", 1, 0, "", &data);
    v1_data[22] ^= 1;
    let r = expect_reason(&v1_data, &rules, RejectReason::BadSignature);
    assert!(r.detail.contains("data CRC"), "{r}");
    let mut v1_header = caba(b"UPGR", 1, 0, "", &data);
    v1_header[6] ^= 1; // flags are covered by the header CRC
    let r = expect_reason(&v1_header, &rules, RejectReason::BadSignature);
    assert!(r.detail.contains("header CRC"), "{r}");
}

#[test]
fn component_rejections() {
    let rules = sqn_rules();
    let u = sqn_upgrs();
    let r = expect_reason(
        &[u[0].clone(), u[2].clone(), u[1].clone()].concat(),
        &rules,
        RejectReason::ComponentOrder,
    );
    assert_eq!(r.reason.code(), "order");
    assert_eq!(r.offset, u[0].len() + u[2].len());
    let r = expect_reason(
        &pack(&[u[0].clone(), u[3].clone(), u[3].clone()]),
        &rules,
        RejectReason::DuplicateComponent,
    );
    assert_eq!(r.reason.code(), "duplicate");
    let r = expect_reason(
        &upgr(&raw_data(7, b"abc")),
        &rules,
        RejectReason::UnknownComponent,
    );
    assert_eq!(r.reason.code(), "unknown-component");
    // Component types are little-endian words: "boot" big-endian is not the bootrom.
    expect_reason(
        &upgr(&raw_data(0x746F_6F62, b"")),
        &rules,
        RejectReason::UnknownComponent,
    );
    // Order and duplicates count only known kinds: bootrom only, fs only are fine.
    assert!(verify_package(&u[0], &rules).is_ok());
    assert!(verify_package(&u[3], &rules).is_ok());
}

/// Rebuilds an fff UPGR from `data` edited by `edit` (signatures and trailer recomputed unless the
/// edit touches them).
fn fff_variant(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut data = fff_data(2, &build_elf(true, Some(TARGET)), WordOrder::Big);
    edit(&mut data);
    upgr(&data)
}

fn retrail(data: &mut [u8]) {
    let end = data.len() - 4;
    let t = fletcher32(&data[4..end], WordOrder::Big);
    data[end..].copy_from_slice(&t.to_le_bytes());
}

#[test]
fn flash_header_rejections() {
    let rules = sqn_rules();
    let check = |edit: &dyn Fn(&mut Vec<u8>), reason: RejectReason| {
        let stream = fff_variant(|d| edit(d));
        expect_reason(&stream, &rules, reason)
    };
    // Payload length off by one either way.
    for delta in [1u32, u32::MAX] {
        let r = check(
            &|d: &mut Vec<u8>| {
                let len = u32::from_le_bytes(d[32..36].try_into().unwrap()).wrapping_add(delta);
                d[32..36].copy_from_slice(&len.to_le_bytes());
            },
            RejectReason::BadFlashHeader,
        );
        assert_eq!(r.reason.code(), "fff-header");
    }
    check(
        &|d: &mut Vec<u8>| d[4 + 3] = b'?',
        RejectReason::BadFlashHeader,
    );
    check(
        &|d: &mut Vec<u8>| d[4 + 8] = 0,
        RejectReason::BadFlashHeader,
    );
    check(
        &|d: &mut Vec<u8>| d[4 + 36] = 2,
        RejectReason::BadFlashHeader,
    );
    check(
        &|d: &mut Vec<u8>| d[4 + 38] = 8,
        RejectReason::BadFlashHeader,
    );
    check(
        &|d: &mut Vec<u8>| d.truncate(4 + 39),
        RejectReason::BadFlashHeader,
    );
    check(&|d: &mut Vec<u8>| d.push(0), RejectReason::BadFlashHeader);
    // Trailer mismatch (CABA re-signed, so only the trailer is wrong).
    let r = check(
        &|d: &mut Vec<u8>| *d.last_mut().unwrap() ^= 1,
        RejectReason::BadSignature,
    );
    assert!(r.detail.contains("trailer"), "{r}");
    // A payload byte changed with the trailer left stale.
    check(
        &|d: &mut Vec<u8>| d[4 + 40 + 60] ^= 1,
        RejectReason::BadSignature,
    );
    // Features with extra bits besides SLIM are fine.
    let ok = fff_variant(|d| {
        d[4 + 8] = 3;
        retrail(d);
    });
    assert!(verify_package(&ok, &rules).is_ok());
}

#[test]
fn elf_rejections_inside_packages() {
    let rules = sqn_rules();
    // (name, edit on the ELF, expected reason)
    type ElfEdit = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, ElfEdit, RejectReason)> = vec![
        (
            "machine",
            Box::new(|e| e[ELF_MACHINE_AT + 1] = 0x28),
            RejectReason::BadElf,
        ),
        ("class", Box::new(|e| e[4] = 2), RejectReason::BadElf),
        ("data", Box::new(|e| e[5] = 3), RejectReason::BadElf),
        (
            "ident version",
            Box::new(|e| e[6] = 0),
            RejectReason::BadElf,
        ),
        ("type", Box::new(|e| e[17] = 1), RejectReason::BadElf),
        ("ehsize", Box::new(|e| e[41] = 40), RejectReason::BadElf),
        ("phnum", Box::new(|e| e[45] = 0), RejectReason::BadElf),
        ("phentsize", Box::new(|e| e[43] = 16), RejectReason::BadElf),
        ("phoff", Box::new(|e| e[28] = 0x7F), RejectReason::BadElf),
        (
            "segment",
            Box::new(|e| e[ELF_PHDR_AT + 16 + 2] = 0x40),
            RejectReason::BadElf,
        ),
        ("shoff", Box::new(|e| e[32] = 0x7F), RejectReason::BadElf),
        ("shentsize", Box::new(|e| e[47] = 20), RejectReason::BadElf),
        ("shstrndx", Box::new(|e| e[51] = 9), RejectReason::BadElf),
        ("short", Box::new(|e| e.truncate(51)), RejectReason::BadElf),
        ("magic", Box::new(|e| e[1] = b'X'), RejectReason::BadElf),
        (
            "cut tables",
            Box::new(|e| {
                let n = e.len() - 1;
                e.truncate(n)
            }),
            RejectReason::BadElf,
        ),
        (
            "no version section name",
            Box::new(|e| {
                // Rename ".versionString" to ".xersionString".
                let at = e.windows(14).position(|w| w == b".versionString").unwrap();
                e[at + 1] = b'x';
            }),
            RejectReason::NoTargetVersion,
        ),
        (
            "unparsable version",
            Box::new(|e| {
                let at = e.windows(7).position(|w| w == b"5.1.1.0").unwrap();
                e[at + 1] = b',';
            }),
            RejectReason::NoTargetVersion,
        ),
        (
            "no shstrtab",
            Box::new(|e| e[51] = 0),
            RejectReason::NoTargetVersion,
        ),
    ];
    for (name, edit, reason) in cases {
        let mut elf = build_elf(true, Some(TARGET));
        edit(&mut elf);
        let stream = upgr(&fff_data(2, &elf, WordOrder::Big));
        let r = rejected(&stream, &rules);
        assert_eq!(r.reason, reason, "{name}: {r}");
        if reason == RejectReason::BadElf {
            assert_eq!(r.reason.code(), "elf");
        }
    }
    // Neither ELF nor IELF.
    expect_reason(
        &upgr(&fff_data(2, b"MZ\x90\x00 not an elf", WordOrder::Big)),
        &rules,
        RejectReason::BadElf,
    );
    // A version-less ELF is fine for the updater and pxl, not for the fff.
    let no_version = build_elf(true, None);
    let s = verify_package(&upgr(&fff_data(8, &no_version, WordOrder::Big)), &rules).unwrap();
    assert_eq!(s.updater_version, None);
    let r = expect_reason(
        &upgr(&fff_data(2, &no_version, WordOrder::Big)),
        &rules,
        RejectReason::NoTargetVersion,
    );
    assert_eq!(r.reason.code(), "no-version");
    // A broken updater ELF is rejected too.
    let mut bad = build_elf(true, Some(UPDATER));
    bad[ELF_MACHINE_AT + 1] = 3;
    expect_reason(
        &upgr(&fff_data(8, &bad, WordOrder::Big)),
        &rules,
        RejectReason::BadElf,
    );
}

#[test]
fn every_reason_is_reachable() {
    let rules = sqn_rules();
    let u = sqn_upgrs();
    let packed = pack(&u);
    let mut flipped = packed.clone();
    flipped[packed.len() / 2] ^= 1;
    let mut bad_version = packed.clone();
    bad_version[4] = 9;
    let mut wrong_machine = build_elf(false, Some(TARGET));
    wrong_machine[ELF_MACHINE_AT] = 0x28;
    let mut bad_fff_len = fff_data(2, &build_elf(true, Some(TARGET)), WordOrder::Big);
    bad_fff_len[32] ^= 4;
    let streams: Vec<(Vec<u8>, PackageRules)> = vec![
        (Vec::new(), rules.clone()),
        (packed[..packed.len() - 1].to_vec(), rules.clone()),
        ([packed.clone(), vec![0]].concat(), rules.clone()),
        (build_elf(true, None), rules.clone()),
        (bad_version, rules.clone()),
        (flipped, rules.clone()),
        (caba(b"UPGR", 3, 3, "", &fs_data()), rules.clone()),
        ([u[2].clone(), u[1].clone()].concat(), rules.clone()),
        ([u[1].clone(), u[1].clone()].concat(), rules.clone()),
        (upgr(&raw_data(0x11, &[])), rules.clone()),
        (upgr(&bad_fff_len), rules.clone()),
        (
            upgr(&fff_data(2, &wrong_machine, WordOrder::Big)),
            rules.clone(),
        ),
        (
            upgr(&fff_data(2, &build_elf(false, None), WordOrder::Big)),
            rules.clone(),
        ),
        (upgr(&diff_data(1, "5.1.1.0 [2]", &[])), rules.clone()),
        (pack(&[]), rules.clone()),
    ];
    let produced: HashSet<RejectReason> =
        streams.iter().map(|(s, r)| rejected(s, r).reason).collect();
    let all: HashSet<RejectReason> = RejectReason::ALL.into_iter().collect();
    assert_eq!(produced, all);
    // Codes are unique and stable.
    let codes: HashSet<&str> = RejectReason::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), RejectReason::ALL.len());
}

#[test]
fn rejection_display_is_one_line() {
    let mut packed = pack(&sqn_upgrs());
    let fff_at = 35 + sqn_upgrs()[0].len() + sqn_upgrs()[1].len();
    packed[fff_at + 100] ^= 1;
    let r = rejected(&packed, &sqn_rules());
    let line = r.to_string();
    assert!(
        line.starts_with(&format!(
            "signature mismatch at {fff_at:#x}: UPGR at {fff_at:#x} (fff) signature: stored 0x"
        )),
        "{line}"
    );
    assert!(
        line.contains(", computed 0x") && !line.contains('\n'),
        "{line}"
    );
    assert_eq!(RejectReason::BadSignature.to_string(), "signature");
}

// ---------------------------------------------------------------------------------------------
// Loader ELF
// ---------------------------------------------------------------------------------------------

#[test]
fn loader_elf_checks() {
    let be = verify_loader_elf(&build_elf(true, Some(UPDATER))).unwrap();
    assert_eq!(
        be,
        LoaderInfo {
            big_endian: true,
            entry: 0x1000,
            version: Some(v("6.0.0.0", 37781))
        }
    );
    let mut le_elf = build_elf(false, Some("8.2.1.0 [61488] by robot-soft"));
    le_elf.extend_from_slice(&[0; 5000]); // bytes after the furthest table are allowed
    let le = verify_loader_elf(&le_elf).unwrap();
    assert!(!le.big_endian);
    assert_eq!(le.version, Some(v("8.2.1.0", 61488)));
    assert_eq!(
        verify_loader_elf(&build_elf(true, None)).unwrap().version,
        None
    );

    assert_eq!(
        verify_loader_elf(b"").unwrap_err().reason,
        RejectReason::Empty
    );
    let r = verify_loader_elf(&pack(&sqn_upgrs())).unwrap_err();
    assert_eq!(r.reason, RejectReason::BadMagic);
    assert!(r.detail.contains("firmware package"), "{r}");
    assert_eq!(
        verify_loader_elf(b"\x7fEL").unwrap_err().reason,
        RejectReason::BadMagic
    );
    let mut wrong = build_elf(true, None);
    wrong[ELF_MACHINE_AT + 1] = 0x28;
    let r = verify_loader_elf(&wrong).unwrap_err();
    assert_eq!((r.reason, r.offset), (RejectReason::BadElf, ELF_MACHINE_AT));
    let full = build_elf(true, Some(UPDATER));
    let r = verify_loader_elf(&full[..full.len() - 1]).unwrap_err();
    assert_eq!(r.reason, RejectReason::BadElf);
    assert_eq!(
        verify_loader_elf(&full[..40]).unwrap_err().reason,
        RejectReason::BadElf
    );
}

#[test]
fn loader_elf_section_table_checks() {
    // build_elf(big, Some(..)) sections: 0 null, 1 .text, 2 .versionString, 3 .shstrtab.
    let shoff = |e: &[u8]| u32::from_be_bytes(e[32..36].try_into().unwrap()) as usize;
    let reason = |e: &[u8]| verify_loader_elf(e).map(|i| i.version);
    let base = build_elf(true, Some(UPDATER));

    // A name offset past the string table.
    let mut e = base.clone();
    let at = shoff(&e) + 40;
    e[at..at + 4].copy_from_slice(&0x1_0000u32.to_be_bytes());
    let r = verify_loader_elf(&e).unwrap_err();
    assert_eq!((r.reason, r.offset), (RejectReason::BadElf, at), "{r}");

    // A name running off the end of the string table (its final NUL replaced).
    let mut e = build_elf(true, None); // sections: null, .text, .shstrtab
    let strtab = e.windows(9).position(|w| w == b".shstrtab").unwrap();
    e[strtab + 9] = b'x';
    let r = verify_loader_elf(&e).unwrap_err();
    assert!(r.detail.contains("NUL-terminated"), "{r}");

    // .versionString pointing outside the image.
    let mut e = base.clone();
    let at = shoff(&e) + 2 * 40;
    e[at + 16..at + 20].copy_from_slice(&(base.len() as u32 - 4).to_be_bytes());
    let r = verify_loader_elf(&e).unwrap_err();
    assert!(r.detail.contains(".versionString"), "{r}");

    // .versionString as SHT_NOBITS: no content, so no version, but not malformed.
    let mut e = base.clone();
    e[at + 4..at + 8].copy_from_slice(&8u32.to_be_bytes());
    assert_eq!(reason(&e), Ok(None));

    // The string table itself outside the image, or NOBITS.
    let mut e = base.clone();
    let st = shoff(&e) + 3 * 40;
    e[st + 20..st + 24].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        verify_loader_elf(&e).unwrap_err().reason,
        RejectReason::BadElf
    );
    let mut e = base.clone();
    e[st + 4..st + 8].copy_from_slice(&8u32.to_be_bytes());
    assert_eq!(
        verify_loader_elf(&e).unwrap_err().reason,
        RejectReason::BadElf
    );

    // Non-UTF-8 version text is "no version", not a crash.
    let mut e = base.clone();
    let text = e.windows(7).position(|w| w == b"6.0.0.0").unwrap();
    e[text + 1] = 0xFF;
    assert_eq!(reason(&e), Ok(None));

    // No sections at all: valid, no version.
    let mut e = base.clone();
    e[48..50].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(reason(&e), Ok(None));

    // A non-LOAD segment may point anywhere; a LOAD segment may not.
    let mut e = base.clone();
    e[ELF_PHDR_AT + 4..ELF_PHDR_AT + 8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        verify_loader_elf(&e).unwrap_err().reason,
        RejectReason::BadElf
    );
    e[ELF_PHDR_AT..ELF_PHDR_AT + 4].copy_from_slice(&4u32.to_be_bytes()); // PT_NOTE
    assert!(verify_loader_elf(&e).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Never panic
// ---------------------------------------------------------------------------------------------

/// xorshift64* — deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// A random small structural mutation of `input`.
    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let len = out.len();
            match self.below(7) {
                0 if len > 0 => {
                    let i = self.below(len);
                    out[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    out[i] = self.next() as u8;
                }
                2 => {
                    let n = self.below(len + 1);
                    out.truncate(n);
                }
                3 => {
                    let i = self.below(len + 1);
                    let n = 1 + self.below(8);
                    let extra = self.bytes(n);
                    out.splice(i..i, extra);
                }
                4 if len >= 4 => {
                    // Overwrite an aligned word with an extreme value (lengths, offsets, counts).
                    let i = self.below(len / 4) * 4;
                    let word = [
                        0u32,
                        1,
                        0xFFFF,
                        0x7FFF_FFFF,
                        u32::MAX,
                        len as u32,
                        (len as u32).wrapping_add(1),
                    ][self.below(7)];
                    let bytes = if self.below(2) == 0 {
                        word.to_le_bytes()
                    } else {
                        word.to_be_bytes()
                    };
                    out[i..i + 4].copy_from_slice(&bytes);
                }
                5 if len > 0 => {
                    let i = self.below(len);
                    out.truncate(i);
                    let n = self.below(64);
                    let tail = self.bytes(n);
                    out.extend_from_slice(&tail);
                }
                _ => {}
            }
        }
        out
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let all_rules = [
        sqn_rules(),
        PackageRules::gm02s(None),
        PackageRules {
            accept_unverifiable_signatures: true,
            ..PackageRules::sqn3330(Some(38638))
        },
    ];
    let u = sqn_upgrs();
    let seeds: Vec<Vec<u8>> = vec![
        pack(&u),
        u.concat(),
        upgr(&diff_data(38638, "5.1.1.0 [39529]", &[9; 10])),
        caba(b"UPGR", 1, 0, "", &fs_data()),
        caba(
            b"PACK",
            2,
            4,
            "",
            &caba(
                b"UPGR",
                2,
                4,
                "",
                &fff_data(
                    0x10,
                    &ielf(&build_elf(false, None), 3, 3),
                    WordOrder::Little,
                ),
            ),
        ),
        build_elf(true, Some(TARGET)),
        build_elf(false, Some(UPDATER)),
        b"UPGR".to_vec(),
        b"PACK\x03\0\0\0".to_vec(),
    ];
    let mut accepted = 0;
    for round in 0..6000 {
        let input = match round % 3 {
            0 => {
                let n = rng.below(200);
                let mut bytes = rng.bytes(n);
                // Give random bytes a plausible prefix half the time.
                if rng.below(2) == 0 {
                    let prefix: &[u8] = [
                        &b"UPGR\x03\0"[..],
                        b"PACK\x02\0",
                        b"UPGR\x01\0",
                        b"\x7fELF\x01\x02\x01",
                    ][rng.below(4)];
                    bytes.splice(0..0, prefix.iter().copied());
                }
                bytes
            }
            _ => {
                let seed = &seeds[rng.below(seeds.len())];
                rng.mutate(seed)
            }
        };
        let rules = &all_rules[rng.below(all_rules.len())];
        if verify_package(&input, rules).is_ok() {
            accepted += 1;
        }
        let _ = verify_loader_elf(&input);
    }
    // Mutations that leave the bytes valid do occur (e.g. truncate to full length); not required.
    let _ = accepted;
}

#[test]
fn mutated_elfs_inside_validly_signed_packages_never_panic() {
    // Re-wrapping a mutated ELF with correct CABA signatures and FFF! trailers drives the ELF
    // parser with garbage that a signature check would otherwise stop early.
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let base_be = build_elf(true, Some(TARGET));
    let base_le = build_elf(false, Some(TARGET));
    let mut reasons = HashSet::new();
    for round in 0..4000 {
        let base = if round % 2 == 0 { &base_be } else { &base_le };
        let elf = rng.mutate(base);
        let payload = if rng.below(3) == 0 {
            ielf(&elf, rng.below(5), rng.below(5))
        } else {
            elf.clone()
        };
        let kind = [2u32, 8, 0x10][rng.below(3)];
        let stream = upgr(&fff_data(kind, &payload, WordOrder::Big));
        match verify_package(&stream, &sqn_rules()) {
            Ok(_) => {}
            Err(r) => {
                reasons.insert(r.reason);
            }
        }
        let _ = verify_loader_elf(&elf);
    }
    assert!(reasons.contains(&RejectReason::BadElf));
}

#[test]
fn resign_helper_targets_only_the_edit() {
    // Edit a UPGR's fs body in place and re-sign: the package is accepted again, which shows that
    // the verifier reads only the fields the docs list (fs bodies are opaque).
    let mut stream = sqn_upgrs().concat();
    let fs_at = stream.len() - sqn_upgrs()[3].len();
    let body_at = fs_at + 18 + "some upgrade package\0".len() + 4;
    stream[body_at] ^= 0xFF;
    assert_eq!(
        rejected(&stream, &sqn_rules()).reason,
        RejectReason::BadSignature
    );
    resign_v3(&mut stream, fs_at);
    assert!(verify_package(&stream, &sqn_rules()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Real files
// ---------------------------------------------------------------------------------------------

fn fixtures() -> Option<std::path::PathBuf> {
    match std::env::var_os("MODEM_FW_FIXTURES") {
        Some(dir) => Some(std::path::PathBuf::from(dir)),
        None => {
            let _ = writeln!(std::io::stderr(), "skipped: MODEM_FW_FIXTURES not set");
            None
        }
    }
}

fn read_fixture(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

#[test]
fn real_catm1_package() {
    let Some(dir) = fixtures() else { return };
    let mut bytes = read_fixture(&dir, "CATM1-38638.dup");
    let s = verify_package(&bytes, &PackageRules::sqn3330(Some(1))).unwrap();
    let layout: Vec<(ComponentKind, usize)> =
        s.components.iter().map(|c| (c.kind, c.offset)).collect();
    assert_eq!(
        layout,
        [
            (ComponentKind::Bootrom, 0x23),
            (ComponentKind::Updater, 0xD669),
            (ComponentKind::Firmware, 0x76183),
            (ComponentKind::FileSystem, 0x5AB959)
        ]
    );
    let totals: Vec<usize> = s.components.iter().map(|c| c.total_len).collect();
    assert_eq!(totals, [54_854, 428_826, 5_461_974, 51_245]);
    assert_eq!(s.target, Some(v("5.1.1.0", 38638)));
    assert_eq!(s.updater_version, Some(v("5.1.1.0", 38638)));
    assert_eq!(s.bootrom_version, Some(v("5.1.1.0", 38638)));
    assert_eq!(s.diff_base, None);
    // GM02S trailer order does not match these SQN3330 trailers.
    let r = verify_package(&bytes, &PackageRules::gm02s(None)).unwrap_err();
    assert_eq!(
        (r.reason, r.offset),
        (
            RejectReason::BadSignature,
            0xD669 + 18 + 24 + 4 + 40 + 428_732
        )
    );
    // One flipped byte in the middle (inside the fff package).
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    let r = verify_package(&bytes, &PackageRules::sqn3330(None)).unwrap_err();
    assert_eq!(
        (r.reason, r.offset),
        (RejectReason::BadSignature, 0x76183),
        "{r}"
    );
}

#[test]
fn real_nb1_package() {
    let Some(dir) = fixtures() else { return };
    let bytes = read_fixture(&dir, "NB1-37781.dup");
    let s = verify_package(&bytes, &PackageRules::sqn3330(None)).unwrap();
    let layout: Vec<(ComponentKind, usize)> =
        s.components.iter().map(|c| (c.kind, c.offset)).collect();
    assert_eq!(
        layout,
        [
            (ComponentKind::Bootrom, 0),
            (ComponentKind::Updater, 0xD646),
            (ComponentKind::Firmware, 0x58250),
            (ComponentKind::FileSystem, 0x4F2B62)
        ]
    );
    assert_eq!(s.target, Some(v("6.0.0.0", 37781)));
    assert_eq!(s.updater_version, Some(v("6.0.0.0", 37781)));
    // The bootrom's own string is not the target.
    assert_eq!(s.bootrom_version, Some(v("5.1.1.0", 38638)));
    // Cut by one byte / one extra byte.
    assert_eq!(
        verify_package(&bytes[..bytes.len() - 1], &PackageRules::sqn3330(None))
            .unwrap_err()
            .reason,
        RejectReason::Truncated
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        verify_package(&longer, &PackageRules::sqn3330(None))
            .unwrap_err()
            .reason,
        RejectReason::TrailingBytes
    );
}

#[test]
fn real_bootrom_package() {
    let Some(dir) = fixtures() else { return };
    let bytes = read_fixture(&dir, "bootrom-upgr.bin");
    let s = verify_package(&bytes, &PackageRules::sqn3330(None)).unwrap();
    assert_eq!(s.kinds(), [ComponentKind::Bootrom]);
    assert_eq!(s.target, None);
    assert_eq!(s.bootrom_version, Some(v("5.1.1.0", 41065)));
    assert_eq!(
        u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()),
        0x145E_0930
    );
}

#[test]
fn real_loader_elfs() {
    let Some(dir) = fixtures() else { return };
    let updater = verify_loader_elf(&read_fixture(&dir, "updater-37781.elf")).unwrap();
    assert_eq!(
        updater,
        LoaderInfo {
            big_endian: true,
            entry: 0x1000,
            version: Some(v("6.0.0.0", 37781))
        }
    );
    let mtools = verify_loader_elf(&read_fixture(&dir, "mtools-61488.elf")).unwrap();
    assert_eq!(
        mtools,
        LoaderInfo {
            big_endian: false,
            entry: 0x1000,
            version: Some(v("8.2.1.0", 61488))
        }
    );
    // A package is not a loader, and a loader is not a package.
    assert_eq!(
        verify_loader_elf(&read_fixture(&dir, "NB1-37781.dup"))
            .unwrap_err()
            .reason,
        RejectReason::BadMagic
    );
    assert_eq!(
        verify_package(
            &read_fixture(&dir, "updater-37781.elf"),
            &PackageRules::sqn3330(None)
        )
        .unwrap_err()
        .reason,
        RejectReason::BadMagic
    );
}
