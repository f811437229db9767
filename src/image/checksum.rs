//! Streaming checksums used by Sequans containers: the Sequans Fletcher-32 variant and CRC-32 (zlib).
//!
//! Both accumulators take data in arbitrary chunks, so one sequential pass over a 7 MB image can feed
//! many nested regions at once without holding any of them in RAM.
//!
//! ## Fletcher-32, Sequans variant (CABA signature type 1, `FFF!` trailers)
//!
//! | step | rule |
//! |---|---|
//! | start | `s1 = s2 = 0xFFFF` |
//! | per 16-bit word `w` | `s1 += w; s2 += s1` — words are big-endian for CABA and SQN3330 `FFF!` trailers, little-endian for GM02S `FFF!` trailers |
//! | every 360 words | fold both sums: `x = (x & 0xFFFF) + (x >> 16)` |
//! | odd trailing byte `b` | contributes `b << 8` (big-endian order) or `b` (little-endian order), then `s2 += s1` |
//! | end | fold both sums twice; result `s2 << 16 | s1`, stored as a little-endian `u32` |
//!
//! The fold schedule cannot change the result: folding preserves each sum modulo 65535, and because `s1`
//! starts non-zero the final folded value is always in `1..=0xFFFF`. The sums are kept in `u64`: with one
//! fold per 360 words, `s2` can pass 2^32 on adversarial data (360·361/2 · 0xFFFF plus carry), which a
//! `u32` would wrap or panic on; the final fold repeats until the value fits 16 bits.

use crc::{CRC_32_ISO_HDLC, Crc, Digest, Table};

/// Byte order of the 16-bit words a [`Fletcher32`] consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WordOrder {
    /// First byte is the high byte (CABA signatures, SQN3330 `FFF!` trailers).
    Big,
    /// First byte is the low byte (GM02S `FFF!` trailers).
    Little,
}

/// Words summed between two folds; 360 keeps both sums below 2^32 (the classic Fletcher-32 bound).
const WORDS_PER_FOLD: u32 = 360;

/// Streaming Fletcher-32 in the Sequans variant (see the module docs for the exact rules).
#[derive(Clone, Debug)]
pub struct Fletcher32 {
    s1: u64,
    s2: u64,
    words_since_fold: u32,
    pending: Option<u8>,
    order: WordOrder,
}

#[inline]
fn fold(x: u64) -> u64 {
    (x & 0xFFFF) + (x >> 16)
}

impl Fletcher32 {
    /// A fresh accumulator consuming words in `order`.
    pub const fn new(order: WordOrder) -> Self {
        Self {
            s1: 0xFFFF,
            s2: 0xFFFF,
            words_since_fold: 0,
            pending: None,
            order,
        }
    }

    #[inline]
    fn word(&self, first: u8, second: u8) -> u64 {
        match self.order {
            WordOrder::Big => u64::from(u16::from_be_bytes([first, second])),
            WordOrder::Little => u64::from(u16::from_le_bytes([first, second])),
        }
    }

    #[inline]
    fn add_word(&mut self, w: u64) {
        self.s1 += w;
        self.s2 += self.s1;
        self.words_since_fold += 1;
        if self.words_since_fold == WORDS_PER_FOLD {
            self.s1 = fold(self.s1);
            self.s2 = fold(self.s2);
            self.words_since_fold = 0;
        }
    }

    /// Feeds `data`; chunk boundaries may fall anywhere, including inside a 16-bit word.
    pub fn update(&mut self, mut data: &[u8]) {
        if let Some(high) = self.pending.take() {
            match data.split_first() {
                Some((&low, rest)) => {
                    let w = self.word(high, low);
                    self.add_word(w);
                    data = rest;
                }
                None => {
                    self.pending = Some(high);
                    return;
                }
            }
        }
        let mut pairs = data.chunks_exact(2);
        for pair in &mut pairs {
            if let [a, b] = *pair {
                let w = self.word(a, b);
                self.add_word(w);
            }
        }
        if let [last] = *pairs.remainder() {
            self.pending = Some(last);
        }
    }

    /// The checksum of everything fed so far.
    pub fn finish(&self) -> u32 {
        let (mut s1, mut s2) = (self.s1, self.s2);
        if let Some(b) = self.pending {
            s1 += match self.order {
                WordOrder::Big => u64::from(b) << 8,
                WordOrder::Little => u64::from(b),
            };
            s2 += s1;
        }
        // The reference folds twice; two folds always suffice on real data, and a third one is only
        // reached by sums the reference tools could not store either. Bounded: each fold of a value
        // above 0xFFFF shrinks it, and 4 folds bring any u64 to 16 bits.
        for _ in 0..4 {
            s1 = fold(s1);
            s2 = fold(s2);
        }
        // Both now fit 16 bits; the casts cannot truncate.
        ((s2 as u32) << 16) | (s1 as u32)
    }

    /// One-shot convenience over a whole slice.
    pub fn checksum(order: WordOrder, data: &[u8]) -> u32 {
        let mut f = Self::new(order);
        f.update(data);
        f.finish()
    }
}

/// CRC-32 as used by zlib (IEEE 802.3, reflected, check value `0xCBF43926`), CABA signature type 4.
///
/// Uses the crate's one-table (1 KiB) implementation: pre-flight runs far above line rate with it,
/// and a 16 KiB slice-by-16 table would blow the firmware flash budget.
pub static CRC32: Crc<u32, Table<1>> = Crc::<u32, Table<1>>::new(&CRC_32_ISO_HDLC);

/// Streaming CRC-32 (zlib).
pub struct Crc32(Digest<'static, u32, Table<1>>);

impl core::fmt::Debug for Crc32 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Crc32 { .. }")
    }
}

impl Clone for Crc32 {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A fresh accumulator.
    pub fn new() -> Self {
        Self(CRC32.digest())
    }
    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The CRC of everything fed so far.
    pub fn finish(&self) -> u32 {
        self.0.clone().finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: the textbook definition, word by word, written out without streaming.
    fn reference(order: WordOrder, data: &[u8]) -> u32 {
        let (mut s1, mut s2) = (0xFFFFu64, 0xFFFFu64);
        let mut i = 0;
        while i + 1 < data.len() {
            let w = match order {
                WordOrder::Big => (u64::from(data[i]) << 8) | u64::from(data[i + 1]),
                WordOrder::Little => (u64::from(data[i + 1]) << 8) | u64::from(data[i]),
            };
            s1 = (s1 + w) % 65535;
            s2 = (s2 + s1) % 65535;
            i += 2;
        }
        if data.len() % 2 == 1 {
            let b = u64::from(data[data.len() - 1]);
            s1 = (s1 + if order == WordOrder::Big { b << 8 } else { b }) % 65535;
            s2 = (s2 + s1) % 65535;
        }
        let norm = |x: u64| if x == 0 { 0xFFFF } else { x };
        ((norm(s2) << 16) | norm(s1)) as u32
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(CRC32.checksum(b"123456789"), 0xCBF4_3926);
        let mut c = Crc32::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn fletcher_matches_modular_reference_for_all_split_points() {
        let data: [u8; 1501] =
            core::array::from_fn(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3]);
        for order in [WordOrder::Big, WordOrder::Little] {
            for len in [0, 1, 2, 3, 719, 720, 721, 1440, 1500, 1501] {
                let want = reference(order, &data[..len]);
                assert_eq!(Fletcher32::checksum(order, &data[..len]), want, "len {len}");
                for split in [0, 1, 2, 3, len / 2, len.saturating_sub(1)] {
                    let split = split.min(len);
                    let mut f = Fletcher32::new(order);
                    f.update(&data[..split]);
                    f.update(&data[split..len]);
                    assert_eq!(f.finish(), want, "len {len} split {split}");
                }
            }
        }
    }

    #[test]
    fn fletcher_odd_byte_is_high_byte_in_big_order() {
        // One odd byte 0x01: s1 = 0xFFFF + 0x0100 -> folds to 0x0100; s2 = 0xFFFF + 0x100FF -> 0x0100 + ... .
        assert_eq!(
            Fletcher32::checksum(WordOrder::Big, &[0x01]),
            reference(WordOrder::Big, &[0x01])
        );
        assert_eq!(
            Fletcher32::checksum(WordOrder::Big, &[0x01]) & 0xFFFF,
            0x0100
        );
        assert_eq!(
            Fletcher32::checksum(WordOrder::Little, &[0x01]) & 0xFFFF,
            0x0001
        );
    }

    #[test]
    fn fletcher_survives_worst_case_sums() {
        let ones = [0xFFu8; 4000];
        for order in [WordOrder::Big, WordOrder::Little] {
            assert_eq!(Fletcher32::checksum(order, &ones), reference(order, &ones));
        }
    }

    #[test]
    fn fletcher_of_nothing_is_the_initial_state() {
        assert_eq!(Fletcher32::checksum(WordOrder::Big, &[]), 0xFFFF_FFFF);
    }
}
