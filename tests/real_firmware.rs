//! The real Sequans files (test data only, never in the repository), read from the directory named by
//! `MODEM_FW_FIXTURES`. Each test prints a "skipped" line and passes when that is not set.
//!
//! Expected values are those listed in the fixtures' README and in sequans-protocol.md §7.5.

use modem_upgrade::image::*;
use modem_upgrade::storage::FileImage;
use std::io::Write;
use std::path::PathBuf;

/// Says a test was skipped, visibly: a direct write to stderr is not captured by the test harness.
fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

fn fixture(name: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("MODEM_FW_FIXTURES") else {
        skip("fixtures not present (MODEM_FW_FIXTURES is not set)");
        return None;
    };
    let path = PathBuf::from(dir).join(name);
    if !path.exists() {
        skip(&format!("fixture {} not present", path.display()));
        return None;
    }
    Some(path)
}

fn inspect_file(name: &str) -> Option<Report> {
    let path = fixture(name)?;
    let mut image = FileImage::open(&path).expect("fixture opens");
    let mut scratch = vec![0u8; 4096];
    Some(inspect(&mut image, &mut scratch).expect("fixture reads"))
}

fn summary(r: &Report) -> Vec<(u32, Magic, Option<Component>, u64, SignatureStatus)> {
    r.containers
        .iter()
        .map(|c| {
            (
                c.offset,
                c.magic,
                c.component,
                c.total_len,
                c.signature.status,
            )
        })
        .collect()
}

#[test]
fn catm1_38638_dup() {
    let Some(r) = inspect_file("CATM1-38638.dup") else {
        return;
    };
    assert!(r.is_valid(), "{:#?}", r.problems);
    assert_eq!((r.kind, r.size), (ImageKind::Dup, 5_996_938));
    let ok = SignatureStatus::Valid;
    assert_eq!(
        summary(&r),
        [
            (0x0, Magic::PACK, None, 5_996_938, ok),
            (0x23, Magic::UPGR, Some(Component::Bootrom), 54_854, ok),
            (0xD669, Magic::UPGR, Some(Component::Updater), 428_826, ok),
            (
                0x76183,
                Magic::UPGR,
                Some(Component::Firmware),
                5_461_974,
                ok
            ),
            (
                0x5AB959,
                Magic::UPGR,
                Some(Component::FileSystem),
                51_245,
                ok
            ),
        ]
    );
    let v = r.target_version.expect("target version").version;
    assert_eq!(
        (v.to_string(), v.build),
        ("5.1.1.0 [38638]".to_string(), 38638)
    );
    assert_eq!(v.ati1().to_string(), "LR5.1.1.0-38638");
    for i in [2, 3] {
        let Payload::Flash(f) = r.containers[i].payload else {
            panic!("package {i}: {:#?}", r.containers[i])
        };
        assert_eq!(
            (f.trailer.status, f.trailer_order),
            (ok, Some(WordOrder::Big))
        );
        assert!(matches!(f.content, FlashContent::Elf(e) if e.big_endian && e.machine == 0xA7));
    }
}

#[test]
fn nb1_37781_dup_takes_the_version_from_the_fff_package() {
    let Some(r) = inspect_file("NB1-37781.dup") else {
        return;
    };
    assert!(r.is_valid(), "{:#?}", r.problems);
    assert_eq!(r.kind, ImageKind::Dup);
    let offsets: Vec<u32> = r.containers.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, [0x0, 0xD646, 0x58250, 0x4F2B62]);
    // The bootrom also carries "5.1.1.0 [38638]"; the target is the fff package's version.
    let v = r.target_version.expect("target version").version;
    assert_eq!(
        (v.to_string(), v.build),
        ("6.0.0.0 [37781]".to_string(), 37781)
    );
    let Payload::Flash(f) = r.containers[2].payload else {
        panic!()
    };
    assert!(matches!(
        f.content,
        FlashContent::Ielf {
            elf_offset: 4_041_128,
            elf_len: 786_191,
            elf: Some(_)
        }
    ));
    let Payload::Flash(u) = r.containers[1].payload else {
        panic!()
    };
    assert!(matches!(
        u.content,
        FlashContent::Ielf {
            elf_offset: 16,
            elf_len: 306_076,
            elf: Some(_)
        }
    ));
}

#[test]
fn loader_elfs() {
    for (name, big_endian, build) in [
        ("updater-37781.elf", true, 37781),
        ("mtools-61488.elf", false, 61488),
    ] {
        let Some(r) = inspect_file(name) else { return };
        assert!(r.is_valid(), "{name}: {:#?}", r.problems);
        assert_eq!(r.kind, ImageKind::Elf);
        let e = r.elf.expect("elf info");
        assert_eq!((e.big_endian, e.machine), (big_endian, 0xA7), "{name}");
        assert_eq!(
            r.target_version.map(|t| t.version.build),
            Some(build),
            "{name}"
        );
    }
}

#[test]
fn standalone_bootrom_package() {
    let Some(r) = inspect_file("bootrom-upgr.bin") else {
        return;
    };
    assert!(r.is_valid(), "{:#?}", r.problems);
    assert_eq!(r.kind, ImageKind::Caba);
    assert_eq!(
        summary(&r),
        [(
            0,
            Magic::UPGR,
            Some(Component::Bootrom),
            55_570,
            SignatureStatus::Valid
        )]
    );
}

#[test]
fn real_file_truncated_by_a_bad_copy() {
    // The user-reported failure: ~780 KB of a 5.4 MB image on the card.
    let Some(path) = fixture("CATM1-38638.dup") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    let mut scratch = vec![0u8; 4096];
    let mut cut = modem_upgrade::storage::MemImage::new(&bytes[..780_000]);
    let r = inspect(&mut cut, &mut scratch).unwrap();
    assert!(!r.is_valid());
    let last = r.problems.last().unwrap();
    assert_eq!(
        last.offset, 0x76183,
        "names the fff package as the one cut short"
    );
    assert!(matches!(
        last.kind,
        ProblemKind::Truncated {
            file_len: 780_000,
            ..
        }
    ));
    assert_eq!(r.containers[1].signature.status, SignatureStatus::Valid);
    assert_eq!(r.containers[2].signature.status, SignatureStatus::Valid);
}
