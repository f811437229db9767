//! The checksums the simulated modem computes, written by hand from the spec (no `crc` crate, no code
//! shared with the `modem-upgrade` library), so a mistake made on the host side cannot hide behind
//! the same mistake here.
//!
//! | function | used for | parameters (spec section) |
//! | --- | --- | --- |
//! | [`crc16_xmodem`] | STP header and payload CRCs | poly 0x1021, init 0, no reflection, no final xor; check `123456789` → 0x31C3 (§5.4) |
//! | [`crc32_ieee`] | CABA signature type 4 (GM02S) | zlib CRC-32: reflected poly 0xEDB88320, init and final xor 0xFFFF_FFFF; check → 0xCBF4_3926 (§7.1) |
//! | [`fletcher32`] | CABA v1 CRCs, CABA signature type 1, `FFF!` trailers | Sequans Fletcher-32 variant (§7.1, §7.3) |
//!
//! The CRCs are table-driven; the 256-entry tables are computed at compile time by `const fn`s so the
//! 6 MB firmware images are checked quickly even in debug builds.

/// CRC-16/XMODEM table (MSB-first), one entry per value of the byte shifted in.
const CRC16_TABLE: [u16; 256] = crc16_table();

/// zlib CRC-32 table (LSB-first, reflected polynomial).
const CRC32_TABLE: [u32; 256] = crc32_table();

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC-16/XMODEM of `bytes` (the STP frame CRC, spec §5.4).
///
/// Equivalent to `crc16_xmodem_update(0, bytes)`.
pub fn crc16_xmodem(bytes: &[u8]) -> u16 {
    crc16_xmodem_update(0, bytes)
}

/// Continues a CRC-16/XMODEM computation: feeding a message in pieces gives the same result as
/// feeding it at once, which lets the STP decoder check a frame without reassembling it.
///
/// Start with `crc = 0`; XMODEM has no final xor, so the returned value is directly the CRC so far.
pub fn crc16_xmodem_update(crc: u16, bytes: &[u8]) -> u16 {
    bytes.iter().fold(crc, |crc, &b| {
        let index = usize::from(((crc >> 8) as u8) ^ b);
        (crc << 8) ^ CRC16_TABLE[index]
    })
}

/// zlib/IEEE CRC-32 of `bytes` (CABA signature type 4, used by GM02S packages; spec §7.1).
pub fn crc32_ieee(bytes: &[u8]) -> u32 {
    !crc32_ieee_update(!0, bytes)
}

/// Continues a raw (not yet inverted) zlib CRC-32 register over `bytes`.
///
/// Kept private because the pre/post inversion makes a public streaming form easy to misuse.
fn crc32_ieee_update(register: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(register, |crc, &b| {
        let index = usize::from((crc as u8) ^ b);
        (crc >> 8) ^ CRC32_TABLE[index]
    })
}

/// How [`fletcher32`] assembles two bytes into one 16-bit word.
///
/// CABA signatures and SQN3330 (Monarch 1) `FFF!` trailers use big-endian words; GM02S (Monarch 2)
/// `FFF!` trailers use little-endian words (spec §7.3), so the simulator must be able to do both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WordOrder {
    /// Word = `b[0] << 8 | b[1]`; a trailing odd byte counts as `byte << 8`.
    Big,
    /// Word = `b[1] << 8 | b[0]`; a trailing odd byte counts as `byte`.
    Little,
}

/// Number of 16-bit words summed between two folds (spec §7.1: "after every 360 words").
const FLETCHER_BLOCK_WORDS: usize = 360;

/// Folds a Fletcher sum back towards 16 bits, keeping its value modulo 0xFFFF.
fn fold(x: u64) -> u64 {
    (x & 0xFFFF) + (x >> 16)
}

/// The Sequans Fletcher-32 variant (spec §7.1): `s1 = s2 = 0xFFFF`; for each 16-bit word
/// `s1 += w; s2 += s1`; both sums are folded after each block of 360 words (the last, shorter block
/// included); a trailing odd byte is then added as one more word; two final folds; result
/// `s2 << 16 | s1`.
///
/// The sums are kept in `u64` so no intermediate value can wrap (a 360-word block can push `s2` just
/// past `u32::MAX` in the worst case), matching the reference's unbounded Python integers. Folding
/// the last partial block as well keeps both sums fully reduced, so the result always fits 32 bits.
pub fn fletcher32(bytes: &[u8], order: WordOrder) -> u32 {
    let mut s1: u64 = 0xFFFF;
    let mut s2: u64 = 0xFFFF;
    let word = |pair: &[u8]| -> u64 {
        let (a, b) = match pair {
            [a, b] => (*a, *b),
            _ => (0, 0),
        };
        match order {
            WordOrder::Big => u64::from(u16::from_be_bytes([a, b])),
            WordOrder::Little => u64::from(u16::from_le_bytes([a, b])),
        }
    };
    let even_len = bytes.len() & !1;
    let whole = bytes.get(..even_len).unwrap_or(&[]);
    let odd = bytes.get(even_len).copied();
    for block in whole.chunks(FLETCHER_BLOCK_WORDS * 2) {
        for pair in block.chunks_exact(2) {
            s1 += word(pair);
            s2 += s1;
        }
        s1 = fold(s1);
        s2 = fold(s2);
    }
    if let Some(last) = odd {
        s1 += match order {
            WordOrder::Big => u64::from(last) << 8,
            WordOrder::Little => u64::from(last),
        };
        s2 += s1;
    }
    s1 = fold(fold(s1));
    s2 = fold(fold(s2));
    // Both sums are now at most 0xFFFF (see the bound in the doc comment), so nothing is lost.
    ((s2 << 16) | s1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time CRC-16/XMODEM, written straight from the definition, to cross-check the table.
    fn crc16_bitwise(bytes: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for &b in bytes {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// Bit-at-a-time zlib CRC-32.
    fn crc32_bitwise(bytes: &[u8]) -> u32 {
        let mut crc: u32 = 0xFFFF_FFFF;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// Fletcher-32 as the Python reference would run it (unbounded integers via u128, folds after
    /// every 360 words, odd byte, two folds), without any of the fast path's structure.
    fn fletcher_reference(bytes: &[u8], big: bool) -> u32 {
        let mut s1: u128 = 0xFFFF;
        let mut s2: u128 = 0xFFFF;
        let words = bytes.len() / 2;
        let mut i = 0;
        let mut left = words;
        while left > 0 {
            let n = left.min(360);
            left -= n;
            for _ in 0..n {
                let (a, b) = (u128::from(bytes[i]), u128::from(bytes[i + 1]));
                s1 += if big { (a << 8) | b } else { (b << 8) | a };
                s2 += s1;
                i += 2;
            }
            s1 = (s1 & 0xFFFF) + (s1 >> 16);
            s2 = (s2 & 0xFFFF) + (s2 >> 16);
        }
        if bytes.len() % 2 == 1 {
            let last = u128::from(bytes[bytes.len() - 1]);
            s1 += if big { last << 8 } else { last };
            s2 += s1;
        }
        for _ in 0..2 {
            s1 = (s1 & 0xFFFF) + (s1 >> 16);
            s2 = (s2 & 0xFFFF) + (s2 >> 16);
        }
        assert!(s1 <= 0xFFFF && s2 <= 0xFFFF);
        ((s2 << 16) | s1) as u32
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn crc16_check_value() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(crc16_xmodem(b""), 0);
    }

    #[test]
    fn crc16_streaming_matches_one_shot() {
        let data = pseudo_random(1000, 7);
        let whole = crc16_xmodem(&data);
        for split in [0, 1, 2, 499, 999, 1000] {
            let (a, b) = data.split_at(split);
            assert_eq!(crc16_xmodem_update(crc16_xmodem_update(0, a), b), whole);
        }
    }

    #[test]
    fn crc16_table_matches_bitwise() {
        for seed in 1..20 {
            let data = pseudo_random(seed as usize * 37, seed);
            assert_eq!(crc16_xmodem(&data), crc16_bitwise(&data));
        }
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_ieee(b""), 0);
        for seed in 1..20 {
            let data = pseudo_random(seed as usize * 41, seed);
            assert_eq!(crc32_ieee(&data), crc32_bitwise(&data));
        }
    }

    #[test]
    fn fletcher_abcde_odd_length() {
        // Big-endian words 0x6162, 0x6364, then the odd 'e' as 0x6500:
        //   s1 = 0xFFFF + 0x6162 = 0x16161,  s2 = 0xFFFF + 0x16161 = 0x26160
        //   s1 = 0x16161 + 0x6364 = 0x1C4C5, s2 = 0x26160 + 0x1C4C5 = 0x42625
        //   block fold: s1 = 0xC4C5 + 1 = 0xC4C6, s2 = 0x2625 + 4 = 0x2629
        //   odd byte: s1 = 0xC4C6 + 0x6500 = 0x129C6, s2 = 0x2629 + 0x129C6 = 0x14FEF
        //   folds: s1 = 0x29C6 + 1 = 0x29C7, s2 = 0x4FEF + 1 = 0x4FF0  → 0x4FF0_29C7
        assert_eq!(fletcher32(b"abcde", WordOrder::Big), 0x4FF0_29C7);
        // Little-endian words 0x6261, 0x6463, then the odd 'e' as 0x0065:
        //   s1 = 0x16260, s2 = 0x2625F; s1 = 0x1C6C3, s2 = 0x42922
        //   block fold: s1 = 0xC6C4, s2 = 0x2926
        //   odd byte: s1 = 0xC6C4 + 0x65 = 0xC729, s2 = 0x2926 + 0xC729 = 0xF04F → 0xF04F_C729
        // (This is also the textbook Fletcher-32 value for "abcde".)
        assert_eq!(fletcher32(b"abcde", WordOrder::Little), 0xF04F_C729);
        // Textbook little-endian vectors for even lengths.
        assert_eq!(fletcher32(b"abcdef", WordOrder::Little), 0x5650_2D2A);
        assert_eq!(fletcher32(b"abcdefgh", WordOrder::Little), 0xEBE1_9591);
    }

    #[test]
    fn fletcher_empty_and_single_byte() {
        // No words: s1 = s2 = 0xFFFF, folds keep them → 0xFFFF_FFFF.
        assert_eq!(fletcher32(b"", WordOrder::Big), 0xFFFF_FFFF);
        // One odd byte 0x01 (big: 0x0100): s1 = 0x100FF → 0x0100, s2 = 0xFFFF + 0x100FF = 0x200FE
        //   → 0x00FE + 2 = 0x0100  → 0x0100_0100.
        assert_eq!(fletcher32(&[1], WordOrder::Big), 0x0100_0100);
        // Little: odd 0x0001: s1 = 0x10000 → 1, s2 = 0xFFFF + 0x10000 = 0x1FFFF → 0x10000 → 1.
        assert_eq!(fletcher32(&[1], WordOrder::Little), 0x0001_0001);
    }

    #[test]
    fn fletcher_matches_reference_across_block_boundaries() {
        for len in [0, 1, 2, 3, 719, 720, 721, 722, 1439, 1440, 1441, 5000, 5001] {
            let data = pseudo_random(len, len as u64 + 3);
            assert_eq!(
                fletcher32(&data, WordOrder::Big),
                fletcher_reference(&data, true),
                "len {len}"
            );
            assert_eq!(
                fletcher32(&data, WordOrder::Little),
                fletcher_reference(&data, false),
                "len {len}"
            );
        }
        // Worst case for the sums: all 0xFF bytes.
        let ones = vec![0xFFu8; 720 * 3 + 1];
        assert_eq!(
            fletcher32(&ones, WordOrder::Big),
            fletcher_reference(&ones, true)
        );
    }
}
