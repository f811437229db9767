//! Property tests: the reader never panics, never overflows (tests run with overflow checks on) and
//! never loops unbounded, on arbitrary bytes and on arbitrary mutations of valid images; and no
//! single-bit corruption of a valid image goes unnoticed.

#[path = "support/builder.rs"]
mod builder;

use modem_upgrade::image::{Report, inspect, inspect_into};
use modem_upgrade::storage::MemImage;
use proptest::prelude::*;
use std::sync::OnceLock;

fn run(bytes: &[u8], scratch: usize) -> Report {
    let mut buf = vec![0u8; scratch];
    inspect(&mut MemImage::new(bytes), &mut buf).unwrap()
}

/// Valid images of each layout (built once).
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        vec![
            builder::sample_dup(builder::DEFAULT_VERSION),
            builder::sample_dup_unpacked(builder::DEFAULT_VERSION),
            builder::sample_dup_gm02s(builder::GM02S_VERSION),
            builder::elf(&builder::ElfSpec {
                big_endian: false,
                ..Default::default()
            }),
            builder::caba_v1(b"UPGR", &[3, 0, 0, 0, 1, 2, 3]),
            builder::caba_v2(b"UPGR", &[8, 0, 0, 0, 1, 2, 3], builder::Sig::Crc32),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    SetByte(usize, u8),
    /// Overwrite a little-endian u32 with an extreme value (sizes, offsets).
    SetU32(usize, u32),
    /// Big-endian too (ELF fields).
    SetU32Be(usize, u32),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let extreme = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0xFFFF_FFFF),
        Just(0x8000_0000),
        Just(0xFFFF_FFFC),
        any::<u32>()
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::SetByte(a, b)),
        (any::<usize>(), extreme.clone()).prop_map(|(a, v)| Mutation::SetU32(a, v)),
        (any::<usize>(), extreme).prop_map(|(a, v)| Mutation::SetU32Be(a, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn apply(img: &mut Vec<u8>, m: &Mutation) {
    let len = img.len().max(1);
    match *m {
        Mutation::SetByte(at, b) => {
            if let Some(x) = img.get_mut(at % len) {
                *x = b;
            }
        }
        Mutation::SetU32(at, v) | Mutation::SetU32Be(at, v) => {
            let at = at % len;
            let bytes = if matches!(m, Mutation::SetU32(..)) {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            for (i, b) in bytes.into_iter().enumerate() {
                if let Some(x) = img.get_mut(at + i) {
                    *x = b;
                }
            }
        }
        Mutation::Truncate(at) => img.truncate(at % len),
        Mutation::Insert(at, b) => img.insert(at % len, b),
        Mutation::Remove(at) => {
            if !img.is_empty() {
                img.remove(at % len);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), scratch in 0usize..700) {
        let r = run(&bytes, scratch);
        prop_assert!(r.containers.len() <= modem_upgrade::image::MAX_CONTAINERS);
        // Deterministic, whatever the scratch size.
        prop_assert_eq!(&r, &run(&bytes, 4096));
    }

    #[test]
    fn arbitrary_bytes_behind_a_real_magic_never_panic(
        magic in prop_oneof![Just(*b"PACK"), Just(*b"UPGR"), Just(*b"\x7fELF")],
        version in 0u16..5,
        rest in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&rest);
        run(&bytes, 100);
    }

    #[test]
    fn mutated_valid_images_never_panic(
        seed in 0usize..6,
        mutations in proptest::collection::vec(mutation(), 1..6),
        scratch in 1usize..3000,
    ) {
        let mut img = seeds()[seed].clone();
        for m in &mutations {
            apply(&mut img, m);
        }
        let r = run(&img, scratch);
        prop_assert_eq!(&r, &run(&img, 512));
        if img == seeds()[seed] {
            prop_assert!(r.is_valid());
        }
    }

    /// `inspect_into` replaces whatever the report held: a report reused after another image (a
    /// valid one with containers, or mutated garbage with problems) equals a fresh `inspect`.
    #[test]
    fn a_reused_report_equals_a_fresh_one(
        first in 0usize..6,
        second in 0usize..6,
        mutations in proptest::collection::vec(mutation(), 0..4),
    ) {
        let mut img = seeds()[second].clone();
        for m in &mutations {
            apply(&mut img, m);
        }
        let mut report = run(&seeds()[first], 512);
        inspect_into(&mut MemImage::new(&img), &mut [0u8; 512], &mut report).unwrap();
        prop_assert_eq!(&report, &run(&img, 512));
    }

    /// Every byte of a signed image is covered by a signature (a plain ELF, seed 3, has none: only its
    /// shape can be checked, which the docs say).
    #[test]
    fn no_single_bit_flip_goes_unnoticed(seed in prop_oneof![0usize..3, 4usize..6], at in any::<usize>(), bit in 0u8..8) {
        let mut img = seeds()[seed].clone();
        let at = at % img.len();
        img[at] ^= 1 << bit;
        let r = run(&img, 512);
        prop_assert!(!r.is_valid(), "flip at {} bit {} of seed {} went unnoticed", at, bit, seed);
    }
}

#[test]
fn seeds_are_valid() {
    for (i, s) in seeds().iter().enumerate() {
        let r = run(s, 512);
        assert!(r.is_valid(), "seed {i}: {:#?}", r.problems);
    }
}
