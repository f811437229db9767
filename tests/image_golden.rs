//! Golden tests: images synthesized by the independent test builder (`tests/support/builder.rs`), one
//! per format branch and one per kind of bad input, checked against what the reader reports.

#[path = "support/builder.rs"]
mod builder;
#[path = "support/crc32_reference.rs"]
mod crc32_reference;

use crc32_reference::crc32_reference;

use builder::{Sig, WordOrder as Order};
use modem_upgrade::image::*;
use modem_upgrade::storage::{ImageSource, MemImage};

fn inspect_bytes(bytes: &[u8]) -> Report {
    // A deliberately odd scratch size so chunk edges fall inside words and headers.
    modem_upgrade::image::inspect_bytes(bytes, &mut [0u8; 333])
}

fn kinds(r: &Report) -> Vec<ProblemKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

/// Asserts the report is invalid with exactly one problem, returns it.
fn single_problem(r: &Report) -> &Problem {
    assert!(!r.is_valid(), "expected invalid: {r:#?}");
    assert_eq!(
        r.problems.len(),
        1,
        "expected one problem, got {:#?}",
        r.problems
    );
    &r.problems[0]
}

fn v(text: &str) -> FirmwareVersion {
    FirmwareVersion::parse_prefix(text.as_bytes()).expect("test version parses")
}

/// Offset of the data area (component word) of a v3 package built with `descr`.
fn data_at(descr: &str) -> usize {
    builder::CABA_V3_HEADER + descr.len() + 1
}

// ---------------------------------------------------------------------------------------------
// Valid images: every format branch
// ---------------------------------------------------------------------------------------------

#[test]
fn packed_sqn3330_dup() {
    let packages = builder::sample_packages(builder::DEFAULT_VERSION, 8191, false);
    let offsets = builder::package_offsets_in_pack(&packages);
    let img = builder::pack(&packages, Sig::Fletcher);
    let r = inspect_bytes(&img);
    assert!(r.is_valid(), "{:#?}", r.problems);
    assert_eq!(r.kind, ImageKind::Dup);
    assert_eq!(r.size as usize, img.len());
    assert_eq!(r.containers.len(), 5);
    let pack = &r.containers[0];
    assert_eq!(
        (pack.magic, pack.depth, pack.offset, pack.total_len),
        (Magic::PACK, 0, 0, img.len() as u64)
    );
    assert_eq!(pack.description.as_str(), "Packed dup files");
    let comps: Vec<_> = r.containers[1..].iter().map(|c| c.component).collect();
    assert_eq!(
        comps,
        [
            Some(Component::Bootrom),
            Some(Component::Updater),
            Some(Component::Firmware),
            Some(Component::FileSystem)
        ]
    );
    for (c, &off) in r.containers[1..].iter().zip(&offsets) {
        assert_eq!((c.offset as usize, c.depth, c.magic), (off, 1, Magic::UPGR));
        assert_eq!(
            c.signature,
            Signature {
                ty: SignatureType::Fletcher32,
                status: SignatureStatus::Valid
            }
        );
    }
    // The target version comes from the fff package, not the bootrom decoy or the updater.
    let target = r.target_version.expect("fff version");
    assert_eq!(target.version, v(builder::DEFAULT_VERSION));
    assert_eq!(target.version.to_string(), "5.1.1.0 [38638]");
    assert_eq!(target.version.ati1().to_string(), "LR5.1.1.0-38638");
    let fff_offset = offsets[2] as u32;
    assert!(
        target.offset > fff_offset && target.offset < fff_offset + r.containers[3].total_len as u32
    );
    for c in [&r.containers[2], &r.containers[3]] {
        let Payload::Flash(f) = c.payload else {
            panic!("flash image expected: {c:#?}")
        };
        assert_eq!(f.trailer.status, SignatureStatus::Valid);
        assert_eq!(f.trailer_order, Some(modem_upgrade::image::WordOrder::Big));
        let FlashContent::Elf(e) = f.content else {
            panic!("plain ELF expected")
        };
        assert!(e.big_endian);
        assert_eq!(e.machine, 0xA7);
    }
    let Payload::Flash(updater) = r.containers[2].payload else {
        unreachable!()
    };
    let FlashContent::Elf(e) = updater.content else {
        unreachable!()
    };
    assert_eq!(e.version, Some(v(builder::SAMPLE_UPDATER_VERSION)));
    assert_eq!(r.containers[1].payload, Payload::Raw);
    assert_eq!(r.containers[4].payload, Payload::Raw);
}

#[test]
fn concatenated_packages_with_ielf() {
    let img = builder::sample_dup_unpacked(builder::DEFAULT_VERSION);
    let r = inspect_bytes(&img);
    assert!(r.is_valid(), "{:#?}", r.problems);
    assert_eq!(r.kind, ImageKind::Dup);
    assert_eq!(r.containers.len(), 4);
    assert!(
        r.containers
            .iter()
            .all(|c| c.depth == 0 && c.magic == Magic::UPGR)
    );
    let Payload::Flash(f) = r.containers[2].payload else {
        panic!()
    };
    let FlashContent::Ielf {
        elf_offset,
        elf_len,
        elf: Some(e),
    } = f.content
    else {
        panic!("{f:#?}")
    };
    assert_eq!(elf_offset, 16 + 8191, "raw flash bytes precede the ELF");
    assert_eq!(e.offset, f.offset + 40 + elf_offset);
    assert_eq!(e.region_len, elf_len);
    assert_eq!(
        r.target_version.map(|t| t.version),
        Some(v(builder::DEFAULT_VERSION))
    );
}

#[test]
fn gm02s_dup_with_crc32_and_little_endian_trailers() {
    let img = builder::sample_dup_gm02s(builder::GM02S_VERSION);
    let r = inspect_bytes(&img);
    assert!(r.is_valid(), "{:#?}", r.problems);
    assert_eq!(r.containers.len(), 6);
    assert!(
        r.containers
            .iter()
            .all(|c| c.signature.ty == SignatureType::Crc32)
    );
    assert_eq!(r.containers[4].component, Some(Component::Pxl));
    for c in &r.containers[2..5] {
        let Payload::Flash(f) = c.payload else {
            panic!("{c:#?}")
        };
        assert_eq!(
            f.trailer_order,
            Some(modem_upgrade::image::WordOrder::Little)
        );
        let FlashContent::Ielf { elf: Some(e), .. } = f.content else {
            panic!()
        };
        assert!(!e.big_endian);
    }
    assert_eq!(
        r.target_version.map(|t| t.version.to_string()).as_deref(),
        Some("8.0.5.13 [59577]")
    );
}

#[test]
fn standalone_package_is_caba_without_version() {
    let img = builder::bootrom_package(3000, Sig::Fletcher);
    let r = inspect_bytes(&img);
    assert!(r.is_valid());
    assert_eq!(r.kind, ImageKind::Caba);
    assert_eq!(r.containers.len(), 1);
    assert_eq!(r.target_version, None);
}

#[test]
fn plain_elf_either_endianness() {
    for big_endian in [true, false] {
        let spec = builder::ElfSpec {
            big_endian,
            ..Default::default()
        };
        let img = builder::elf(&spec);
        let r = inspect_bytes(&img);
        assert!(r.is_valid(), "{:#?}", r.problems);
        assert_eq!(r.kind, ImageKind::Elf);
        let e = r.elf.expect("elf info");
        assert_eq!((e.big_endian, e.machine, e.offset), (big_endian, 0xA7, 0));
        assert_eq!(
            r.target_version.map(|t| t.version),
            Some(v(builder::DEFAULT_VERSION))
        );
    }
}

#[test]
fn elf_without_version_section_is_valid_without_version() {
    let img = builder::elf(&builder::ElfSpec {
        version_string: None,
        ..Default::default()
    });
    let r = inspect_bytes(&img);
    assert!(r.is_valid());
    assert_eq!(r.target_version, None);
}

#[test]
fn caba_v1_and_v2() {
    let body = [
        &builder::COMP_FS.to_le_bytes()[..],
        &builder::pseudo_random(777, 1),
    ]
    .concat();
    let r = inspect_bytes(&builder::caba_v1(b"UPGR", &body));
    assert!(r.is_valid(), "{:#?}", r.problems);
    let c = &r.containers[0];
    assert_eq!(
        (c.format, c.header_crc, c.component),
        (1, Some(SignatureStatus::Valid), Some(Component::FileSystem))
    );
    assert_eq!(c.signature.status, SignatureStatus::Valid);
    for (sig, ty, status) in [
        (
            Sig::Fletcher,
            SignatureType::Fletcher32,
            SignatureStatus::Valid,
        ),
        (Sig::Crc32, SignatureType::Crc32, SignatureStatus::Valid),
        (Sig::None, SignatureType::None, SignatureStatus::Absent),
    ] {
        let r = inspect_bytes(&builder::caba_v2(b"UPGR", &body, sig));
        assert!(r.is_valid(), "{sig:?}: {:#?}", r.problems);
        assert_eq!(r.containers[0].format, 2);
        assert_eq!(r.containers[0].signature, Signature { ty, status });
    }
}

#[test]
fn unsigned_v3_is_valid_but_reports_absent_signature() {
    let r = inspect_bytes(&builder::fs_package(100, Sig::None));
    assert!(r.is_valid());
    assert_eq!(r.containers[0].signature.status, SignatureStatus::Absent);
    assert_eq!(r.containers[0].signature.status.ok(), None);
}

#[test]
fn ecdsa_and_rsa_are_never_reported_valid() {
    for (sig, ty) in [
        (Sig::Ecdsa, SignatureType::Ecdsa256),
        (Sig::Rsa, SignatureType::RsaSha256),
    ] {
        let r = inspect_bytes(&builder::fs_package(100, sig));
        let p = single_problem(&r);
        assert_eq!(p.kind, ProblemKind::UnverifiableSignature { ty });
        assert_eq!(
            r.containers[0].signature.status,
            SignatureStatus::Unverifiable
        );
        assert_eq!(r.containers[0].signature.status.ok(), None);
    }
}

#[test]
fn opaque_and_full_header_payloads_are_reported_not_rejected() {
    let diff = builder::upgr(
        builder::COMP_FFF,
        builder::DESCR_FFF,
        b"DIFF-some-diff-bytes",
        Sig::Fletcher,
    );
    let r = inspect_bytes(&diff);
    assert!(r.is_valid());
    assert_eq!(r.containers[0].payload, Payload::Opaque(Magic(*b"DIFF")));
    assert_eq!(r.target_version, None);

    let mut full = builder::fff_header(8).to_vec();
    full[8..12].copy_from_slice(&0u32.to_le_bytes()); // features: not slim
    full.extend_from_slice(&[0u8; 12]);
    let r = inspect_bytes(&builder::upgr(
        builder::COMP_UPDATER,
        builder::DESCR_UPDATER,
        &full,
        Sig::Fletcher,
    ));
    assert!(r.is_valid());
    assert_eq!(r.containers[0].payload, Payload::FlashFullHeader);
}

#[test]
fn unknown_component_types_are_named_other() {
    let r = inspect_bytes(&builder::upgr(0x77, "mystery", b"abcd", Sig::Fletcher));
    assert!(r.is_valid());
    assert_eq!(r.containers[0].component, Some(Component::Other(0x77)));
    assert_eq!(
        r.containers[0].component.unwrap().to_string(),
        "other(0x77)"
    );
}

#[test]
fn ielf_with_padding_after_the_elf() {
    let r = inspect_bytes(&builder::pxl_package(
        Some(builder::SAMPLE_PXL_VERSION),
        Order::Little,
        Sig::Crc32,
        false,
        5,
    ));
    assert!(r.is_valid(), "{:#?}", r.problems);
    let Payload::Flash(f) = r.containers[0].payload else {
        panic!()
    };
    assert!(matches!(
        f.content,
        FlashContent::Ielf {
            elf_offset: 16,
            elf: Some(_),
            ..
        }
    ));
    assert_eq!(
        r.target_version, None,
        "only the fff package sets the target version"
    );
}

#[test]
fn scratch_size_does_not_change_the_result() {
    let img = builder::sample_dup_gm02s(builder::GM02S_VERSION);
    let reference = inspect_bytes(&img);
    for size in [0usize, 1, 64, 65, 512, 4096, img.len() + 10] {
        let mut scratch = vec![0u8; size];
        let r = inspect(&mut MemImage::new(&img), &mut scratch).unwrap();
        assert_eq!(r, reference, "scratch {size}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input: each gets its own specific problem
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_file() {
    let r = inspect_bytes(&[]);
    assert_eq!(single_problem(&r).kind, ProblemKind::Empty);
    assert_eq!(r.kind, ImageKind::Unknown);
}

#[test]
fn shorter_than_a_magic() {
    let r = inspect_bytes(b"PA");
    assert!(matches!(
        single_problem(&r).kind,
        ProblemKind::HeaderTruncated { available: 2, .. }
    ));
}

#[test]
fn random_bytes_have_unknown_magic() {
    let r = inspect_bytes(&builder::pseudo_random(10_000, 99));
    let p = single_problem(&r);
    assert!(matches!(p.kind, ProblemKind::UnknownMagic { .. }));
    assert_eq!(p.offset, 0);
    assert!(
        p.to_string()
            .contains("expected PACK, UPGR or an ELF header"),
        "{p}"
    );
}

#[test]
fn header_only() {
    let img = builder::sample_dup(builder::DEFAULT_VERSION);
    let r = inspect_bytes(&img[..builder::PACK_DATA_OFFSET]);
    let p = single_problem(&r);
    assert_eq!(
        p.kind,
        ProblemKind::Truncated {
            declared_end: img.len() as u64,
            file_len: builder::PACK_DATA_OFFSET as u32
        }
    );
    assert_eq!(
        p.container.as_ref().unwrap().description.as_str(),
        "Packed dup files"
    );
    let r = inspect_bytes(&img[..10]);
    assert!(matches!(
        single_problem(&r).kind,
        ProblemKind::HeaderTruncated {
            needed: 18,
            available: 10,
            ..
        }
    ));
}

#[test]
fn truncated_file_names_the_cut_package_and_still_checks_the_intact_ones() {
    let packages = builder::sample_packages(builder::DEFAULT_VERSION, 8191, false);
    let offsets = builder::package_offsets_in_pack(&packages);
    let img = builder::pack(&packages, Sig::Fletcher);
    let cut = offsets[2] + 100; // inside the fff package
    let r = inspect_bytes(&img[..cut]);
    assert!(!r.is_valid());
    let ks = kinds(&r);
    assert_eq!(ks.len(), 2, "{:#?}", r.problems);
    assert_eq!(
        ks[0],
        ProblemKind::Truncated {
            declared_end: img.len() as u64,
            file_len: cut as u32
        }
    );
    assert!(matches!(ks[1], ProblemKind::Truncated { .. }));
    assert_eq!(r.problems[1].offset as usize, offsets[2]);
    assert_eq!(
        r.problems[1].container.as_ref().unwrap().component,
        Some(Component::Firmware)
    );
    assert_eq!(
        r.containers[0].signature.status,
        SignatureStatus::NotChecked
    );
    assert_eq!(r.containers[1].signature.status, SignatureStatus::Valid);
    assert_eq!(r.containers[2].signature.status, SignatureStatus::Valid);
    assert_eq!(
        r.containers[3].signature.status,
        SignatureStatus::NotChecked
    );
}

#[test]
fn size_field_pointing_past_the_end() {
    let mut img = builder::fs_package(100, Sig::Fletcher);
    builder::put_u32_le(&mut img, 8, 0x7FFF_FFF0);
    let r = inspect_bytes(&img);
    let p = single_problem(&r);
    assert!(
        matches!(p.kind, ProblemKind::Truncated { declared_end, .. } if declared_end > 0x7FFF_FFF0)
    );
    assert!(p.to_string().contains("bytes missing"), "{p}");
}

/// A sample PACK whose package `index` declares 2 bytes more than it has; with `resign`, the PACK's
/// signature is recomputed so that only the nesting is wrong.
fn pack_with_grown_package(index: usize, resign: bool) -> Vec<u8> {
    let packages = builder::sample_packages(builder::DEFAULT_VERSION, 0, false);
    let size_at = builder::package_offsets_in_pack(&packages)[index] + 8;
    let mut img = builder::pack(&packages, Sig::Fletcher);
    let size = builder::get_u32_le(&img, size_at).unwrap();
    builder::put_u32_le(&mut img, size_at, size + 2);
    if resign {
        assert!(builder::resign_caba_v3(&mut img, 0));
    }
    img
}

#[test]
fn nested_sizes_that_disagree() {
    // The fs package now reaches 2 bytes past the PACK's data area (into the PACK's signature).
    let img = pack_with_grown_package(3, true);
    let r = inspect_bytes(&img);
    let p = single_problem(&r);
    let parent_end = (img.len() - 4) as u32;
    assert_eq!(
        p.kind,
        ProblemKind::ChildOverrunsParent {
            child_end: u64::from(parent_end) + 2,
            parent_end
        }
    );
    assert_eq!(
        p.container.as_ref().unwrap().component,
        Some(Component::FileSystem)
    );
    assert!(p.to_string().contains("nested sizes disagree"), "{p}");

    // Growing an earlier package instead misaligns the next header: reported where it happens.
    let r = inspect_bytes(&pack_with_grown_package(0, true));
    assert!(
        matches!(
            r.problems.last().unwrap().kind,
            ProblemKind::UnknownMagic { .. }
        ),
        "{:#?}",
        r.problems
    );
}

#[test]
fn pack_cut_in_its_signature_still_names_an_overrunning_child_as_a_nesting_error() {
    let mut img = pack_with_grown_package(3, false);
    img.truncate(img.len() - 1); // the PACK's signature is cut; its data area is whole
    let r = inspect_bytes(&img);
    let ks = kinds(&r);
    assert!(
        matches!(ks[0], ProblemKind::Truncated { .. }),
        "{:#?}",
        r.problems
    );
    assert!(
        matches!(ks[1], ProblemKind::ChildOverrunsParent { .. }),
        "{:#?}",
        r.problems
    );
}

#[test]
fn unknown_magic_inside_a_pack() {
    let packages = builder::sample_packages(builder::DEFAULT_VERSION, 0, false);
    let offsets = builder::package_offsets_in_pack(&packages);
    let mut img = builder::pack(&packages, Sig::Fletcher);
    img[offsets[1]..offsets[1] + 4].copy_from_slice(b"UPGX");
    assert!(builder::resign_caba_v3(&mut img, 0));
    let r = inspect_bytes(&img);
    let p = single_problem(&r);
    assert_eq!(
        (p.offset as usize, p.kind),
        (
            offsets[1],
            ProblemKind::UnknownMagic {
                found: Magic(*b"UPGX")
            }
        )
    );
    assert_eq!(
        p.container.as_ref().unwrap().magic,
        Magic::PACK,
        "names the enclosing PACK"
    );
}

#[test]
fn unsupported_caba_version() {
    let mut img = builder::fs_package(10, Sig::Fletcher);
    builder::put_u16_le(&mut img, 4, 7);
    assert_eq!(
        single_problem(&inspect_bytes(&img)).kind,
        ProblemKind::UnsupportedCabaVersion { found: 7 }
    );
}

#[test]
fn description_without_nul() {
    let mut img = builder::fs_package(10, Sig::Fletcher);
    let nul_at = data_at(builder::DESCR_FS) - 1;
    img[nul_at] = b'!';
    assert!(builder::resign_caba_v3(&mut img, 0));
    let r = inspect_bytes(&img);
    assert!(matches!(
        single_problem(&r).kind,
        ProblemKind::DescriptionNotTerminated { declared: 19 }
    ));
}

#[test]
fn pack_inside_pack() {
    let inner = builder::pack(&[builder::fs_package(10, Sig::Fletcher)], Sig::Fletcher);
    let r = inspect_bytes(&builder::pack(&[inner], Sig::Fletcher));
    assert_eq!(single_problem(&r).kind, ProblemKind::NestedPack);
}

#[test]
fn too_many_containers() {
    let many: Vec<Vec<u8>> = (0..20).map(|_| builder::fs_package(4, Sig::None)).collect();
    let r = inspect_bytes(&builder::concat(&many));
    assert_eq!(
        single_problem(&r).kind,
        ProblemKind::TooManyContainers {
            max: MAX_CONTAINERS as u32
        }
    );
}

#[test]
fn signature_size_and_type_errors() {
    let r = inspect_bytes(&builder::fs_package(
        10,
        Sig::Raw {
            sig_type: 1,
            bytes: 8,
        },
    ));
    assert_eq!(
        single_problem(&r).kind,
        ProblemKind::SignatureSizeMismatch {
            ty: SignatureType::Fletcher32,
            expected: 4,
            found: 8
        }
    );
    let r = inspect_bytes(&builder::fs_package(
        10,
        Sig::Raw {
            sig_type: 9,
            bytes: 4,
        },
    ));
    assert_eq!(
        single_problem(&r).kind,
        ProblemKind::UnknownSignatureType { found: 9 }
    );
}

#[test]
fn one_flipped_bit_fails_exactly_the_signatures_that_cover_it() {
    let packages = builder::sample_packages(builder::DEFAULT_VERSION, 8191, false);
    let offsets = builder::package_offsets_in_pack(&packages);
    let mut img = builder::pack(&packages, Sig::Fletcher);
    // A byte inside the fff ELF payload: covered by the FFF trailer, the fff UPGR and the PACK.
    let at = offsets[2] + data_at(builder::DESCR_FFF) + 4 + 40 + 60;
    builder::flip_bit(&mut img, at, 3);
    let r = inspect_bytes(&img);
    let ks = kinds(&r);
    assert_eq!(ks.len(), 3, "{:#?}", r.problems);
    assert!(matches!(ks[0], ProblemKind::FlashTrailerMismatch { .. }));
    assert!(matches!(
        ks[1],
        ProblemKind::SignatureMismatch {
            ty: SignatureType::Fletcher32,
            ..
        }
    ));
    assert!(matches!(
        ks[2],
        ProblemKind::SignatureMismatch {
            ty: SignatureType::Fletcher32,
            ..
        }
    ));
    assert_eq!(
        r.problems[1].container.as_ref().unwrap().component,
        Some(Component::Firmware)
    );
    assert_eq!(r.problems[2].container.as_ref().unwrap().magic, Magic::PACK);
    for i in [1, 2, 4] {
        assert_eq!(
            r.containers[i].signature.status,
            SignatureStatus::Valid,
            "package {i} untouched"
        );
    }
    let msg = r.problems[1].to_string();
    assert!(
        msg.contains("fff upgrade package") && msg.contains("copy it again"),
        "{msg}"
    );
}

#[test]
fn crc32_mismatch() {
    let mut img = builder::fs_package(100, Sig::Crc32);
    let last = img.len() - 1;
    img[last] ^= 0x80;
    assert!(matches!(
        single_problem(&inspect_bytes(&img)).kind,
        ProblemKind::SignatureMismatch {
            ty: SignatureType::Crc32,
            ..
        }
    ));
}

#[test]
fn caba_v1_header_checksum_mismatch() {
    let mut img = builder::caba_v1(b"UPGR", &[3, 0, 0, 0, 9, 9]);
    img[6] ^= 1; // flags: covered by the header checksum only
    let r = inspect_bytes(&img);
    assert!(matches!(
        single_problem(&r).kind,
        ProblemKind::HeaderCrcMismatch { .. }
    ));
}

#[test]
fn package_too_short_for_its_component_word() {
    let img = builder::caba_v3(b"UPGR", "tiny", &[1, 2], Sig::Fletcher);
    assert_eq!(
        single_problem(&inspect_bytes(&img)).kind,
        ProblemKind::MissingComponentWord { data_len: 2 }
    );
}

/// An SQN3330 updater package: plain big-endian ELF, big-endian-word trailer, Fletcher-signed.
fn plain_updater() -> Vec<u8> {
    builder::updater_package(
        builder::SAMPLE_UPDATER_VERSION,
        Order::Big,
        Sig::Fletcher,
        true,
        false,
    )
}

#[test]
fn flash_header_length_disagreeing_with_the_package() {
    let mut img = plain_updater();
    let fff = data_at(builder::DESCR_UPDATER) + 4;
    let len = builder::get_u32_le(&img, fff + 28).unwrap();
    builder::put_u32_le(&mut img, fff + 28, len + 1);
    assert!(builder::resign_caba_v3(&mut img, 0));
    let r = inspect_bytes(&img);
    assert!(matches!(
        single_problem(&r).kind,
        ProblemKind::FlashLengthMismatch { .. }
    ));
}

#[test]
fn flash_trailer_mismatch_with_valid_container_signature() {
    let mut img = plain_updater();
    let trailer = img.len() - 4 - 4; // UPGR signature is last; the FFF trailer is right before it
    img[trailer] ^= 0xFF;
    assert!(builder::resign_caba_v3(&mut img, 0));
    let r = inspect_bytes(&img);
    assert!(matches!(
        single_problem(&r).kind,
        ProblemKind::FlashTrailerMismatch { .. }
    ));
}

#[test]
fn ielf_pointing_outside_its_payload() {
    let elf = builder::elf(&builder::ElfSpec::default());
    let mut payload = builder::ielf(&elf, &[], 0);
    builder::put_u32_le(&mut payload, 8, 0x00FF_FFFF);
    let body = builder::fff_slim(&payload, Order::Big);
    let img = builder::upgr(
        builder::COMP_UPDATER,
        builder::DESCR_UPDATER,
        &body,
        Sig::Fletcher,
    );
    let r = inspect_bytes(&img);
    assert!(matches!(
        single_problem(&r).kind,
        ProblemKind::IelfOutOfBounds {
            elf_offset: 16,
            elf_len: 0x00FF_FFFF,
            ..
        }
    ));
}

/// A plain big-endian ELF with `mutate` applied.
fn bad_elf(mutate: impl FnOnce(&mut Vec<u8>, &builder::ElfLayout)) -> ProblemKind {
    let (mut img, layout) = builder::elf_with_layout(&builder::ElfSpec::default());
    mutate(&mut img, &layout);
    let r = inspect_bytes(&img);
    assert_eq!(r.kind, ImageKind::Elf);
    single_problem(&r).kind
}

fn put_be16(img: &mut [u8], at: usize, v: u16) {
    img[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_be32(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn elf_shape_errors() {
    let field = |k: ProblemKind| match k {
        ProblemKind::ElfField {
            field,
            expected,
            found,
        } => (field, expected, found),
        other => panic!("expected an ElfField problem, got {other:?}"),
    };
    assert_eq!(field(bad_elf(|b, _| b[4] = 2)).2, 2, "ELF64");
    assert_eq!(field(bad_elf(|b, _| b[5] = 3)).2, 3, "data encoding");
    assert_eq!(field(bad_elf(|b, _| b[6] = 0)).2, 0, "ident version");
    assert_eq!(
        field(bad_elf(|b, _| put_be16(b, 16, 1))).2,
        1,
        "relocatable, not executable"
    );
    assert_eq!(field(bad_elf(|b, _| put_be16(b, 40, 64))).2, 64, "e_ehsize");
    assert_eq!(
        field(bad_elf(|b, _| put_be16(b, 42, 56))).2,
        56,
        "e_phentsize"
    );
    assert_eq!(
        field(bad_elf(|b, _| put_be16(b, 46, 64))).2,
        64,
        "e_shentsize"
    );
    let (_, _, found) = field(bad_elf(|b, l| put_be16(b, 50, l.shnum as u16)));
    assert_eq!(found as usize, bad_elf_shnum());
    let k = bad_elf(|b, l| put_be32(b, l.shoff + 40 * l.shstrndx + 4, 1));
    assert_eq!(field(k).0, "section name table type (3 = STRTAB)");
}

fn bad_elf_shnum() -> usize {
    builder::elf_with_layout(&builder::ElfSpec::default())
        .1
        .shnum
}

#[test]
fn elf_for_another_processor() {
    assert_eq!(
        bad_elf(|b, _| put_be16(b, 18, 0x28)),
        ProblemKind::ElfNotSequans { machine: 0x28 }
    );
}

#[test]
fn elf_tables_and_sections_out_of_bounds() {
    let what = |k: ProblemKind| match k {
        ProblemKind::ElfOutOfBounds { what, .. } => what,
        other => panic!("expected ElfOutOfBounds, got {other:?}"),
    };
    assert_eq!(
        what(bad_elf(|b, _| put_be32(b, 32, 0xFFFF_FF00))),
        "section header table"
    );
    assert_eq!(
        what(bad_elf(|b, _| put_be32(b, 28, 0xFFFF_FF00))),
        "program header table"
    );
    // .text is section 1; push its contents past the end.
    assert_eq!(
        what(bad_elf(|b, l| put_be32(b, l.shoff + 40 + 16, 0xFFFF_0000))),
        "section"
    );
    // The only segment: grow its file size past the end.
    assert_eq!(
        what(bad_elf(|b, l| put_be32(b, l.phoff + 16, 0x0100_0000))),
        "segment"
    );
    let k = bad_elf(|b, _| b.truncate(40));
    assert!(matches!(
        k,
        ProblemKind::HeaderTruncated {
            what: "ELF header",
            needed: 52,
            available: 40
        }
    ));
}

/// A source that claims more bytes than it delivers, or fails outright.
struct Lying<'a> {
    bytes: &'a [u8],
    claimed: u32,
    fail: bool,
}

impl ImageSource for Lying<'_> {
    type Error = &'static str;
    fn len(&self) -> u32 {
        self.claimed
    }
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if self.fail {
            return Err("card removed");
        }
        MemImage::new(self.bytes)
            .read_at(offset, buf)
            .map_err(|e| match e {})
    }
}

#[test]
fn a_source_that_ends_early_or_fails() {
    let img = builder::fs_package(5000, Sig::Fletcher);
    let mut scratch = [0u8; 512];
    let mut short = Lying {
        bytes: &img[..3000],
        claimed: img.len() as u32,
        fail: false,
    };
    let r = inspect(&mut short, &mut scratch).unwrap();
    // The first read past 3000 bytes is the stored signature at the end of the package.
    assert_eq!(
        single_problem(&r).kind,
        ProblemKind::SourceEnded {
            at: img.len() as u32 - 4
        }
    );
    let mut failing = Lying {
        bytes: &img,
        claimed: img.len() as u32,
        fail: true,
    };
    assert_eq!(inspect(&mut failing, &mut scratch), Err("card removed"));
}

#[test]
fn every_problem_explains_itself() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        b"junk junk junk junk".to_vec(),
        builder::fs_package(100, Sig::Rsa),
    ];
    for img in cases {
        for p in &inspect_bytes(&img).problems {
            let text = p.to_string();
            assert!(text.starts_with("at 0x"), "{text}");
            assert!(text.contains(" — "), "advice missing: {text}");
            assert!(text.len() > 40, "{text}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Image identity: the whole-file CRC-32 the resume journal is keyed to
// ---------------------------------------------------------------------------------------------

#[test]
fn whole_image_crc32_covers_every_byte_valid_or_not() {
    assert_eq!(
        crc32_reference(b"123456789"),
        0xCBF4_3926,
        "reference check value"
    );
    let valid = builder::sample_dup_gm02s(builder::GM02S_VERSION);
    let noise = builder::pseudo_random(10_000, 7);
    for img in [&valid[..], &noise[..], b"PA", &[]] {
        let r = inspect_bytes(img);
        assert_eq!(r.crc32, Some(crc32_reference(img)), "{} bytes", img.len());
    }
    // One changed byte outside every signed region still changes the identity.
    let mut tail_changed = valid.clone();
    *tail_changed.last_mut().unwrap() ^= 1;
    assert_ne!(
        inspect_bytes(&tail_changed).crc32,
        inspect_bytes(&valid).crc32
    );
}

/// A source that claims more bytes than it delivers: no identity (the bytes are not all known).
#[test]
fn source_that_ends_early_has_no_crc32() {
    struct Short<'a>(&'a [u8]);
    impl ImageSource for Short<'_> {
        type Error = core::convert::Infallible;
        fn len(&self) -> u32 {
            self.0.len() as u32 + 100
        }
        fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
            MemImage::new(self.0).read_at(offset, buf)
        }
    }
    let img = builder::sample_dup_gm02s(builder::GM02S_VERSION);
    let r = inspect(&mut Short(&img), &mut [0u8; 512]).unwrap();
    assert_eq!(r.crc32, None);
    assert!(!r.is_valid());
}
