//! `ReadAhead`: sequential streaming reads every source byte once, a re-sent block costs no source
//! read, any request returns the same bytes as the plain source, and misbehaving sources (errors,
//! short reads, early end) neither corrupt data nor loop.

use modem_upgrade::storage::{
    ALIGN, ImageSource, MemImage, ReadAhead, ReadExactError, read_exact_at,
};
use proptest::prelude::*;

/// A `MemImage` that records every read the wrapper makes, and can misbehave on purpose.
struct Counting<'a> {
    inner: MemImage<'a>,
    /// `(offset, bytes returned)` of every successful read.
    reads: Vec<(u32, usize)>,
    /// How often each byte was read.
    per_byte: Vec<u8>,
    /// Return at most this many bytes per call.
    max_chunk: usize,
    /// Fail any read that would return bytes from `fail_from` on.
    fail_from: Option<u32>,
    /// Pretend the data ends here (return `Ok(0)` from here on, while `len()` says more).
    dry_from: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Broken {
    offset: u32,
}

impl<'a> Counting<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Counting {
            inner: MemImage::new(bytes),
            reads: Vec::new(),
            per_byte: vec![0; bytes.len()],
            max_chunk: usize::MAX,
            fail_from: None,
            dry_from: None,
        }
    }
}

impl ImageSource for Counting<'_> {
    type Error = Broken;

    fn len(&self) -> u32 {
        self.inner.len()
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Broken> {
        let mut want = buf.len().min(self.max_chunk);
        if let Some(dry) = self.dry_from {
            want = want.min(dry.saturating_sub(offset) as usize);
        }
        if let Some(fail) = self.fail_from
            && u64::from(offset) + want as u64 > u64::from(fail)
        {
            return Err(Broken { offset });
        }
        let n = self.inner.read_at(offset, &mut buf[..want]).unwrap();
        for count in &mut self.per_byte[offset as usize..offset as usize + n] {
            *count += 1;
        }
        self.reads.push((offset, n));
        Ok(n)
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i ^ (i >> 8) ^ (i >> 16)) as u8).collect()
}

const BLOCK: usize = 2016;
const MIB: usize = 1 << 20;

/// Streams `data` in `BLOCK`-byte pieces, reading every block twice (a retransmission), and checks
/// the bytes.
fn stream_twice(ra: &mut ReadAhead<'_, Counting<'_>>, data: &[u8]) {
    let mut block = [0u8; BLOCK];
    for (i, expected) in data.chunks(BLOCK).enumerate() {
        let offset = (i * BLOCK) as u32;
        let buf = &mut block[..expected.len()];
        read_exact_at(ra, offset, buf).unwrap();
        assert_eq!(buf, expected, "block {i}");
        let before = ra.stats();
        read_exact_at(ra, offset, buf).unwrap();
        assert_eq!(buf, expected, "block {i} re-read");
        let after = ra.stats();
        assert_eq!(
            after.fills, before.fills,
            "re-reading block {i} read the source"
        );
        assert_eq!(
            after.hits,
            before.hits + 1,
            "re-reading block {i} was not a hit"
        );
    }
}

#[test]
fn sequential_blocks_read_each_source_byte_once() {
    let data = pattern(MIB);
    let mut window = vec![0u8; BLOCK + ALIGN as usize];
    let mut ra = ReadAhead::new(Counting::new(&data), &mut window);
    stream_twice(&mut ra, &data);
    let stats = ra.stats();
    // 1 MiB is a multiple of ALIGN, so "len rounded up to ALIGN" is len itself
    assert_eq!(stats.source_bytes, MIB as u64);
    assert_eq!(stats.seeks, 0);
    // 521 blocks (520 whole + 256 bytes), each requested twice
    assert_eq!(stats.requests, 2 * 521);
    let source = ra.into_inner();
    assert!(
        source.per_byte.iter().all(|&c| c == 1),
        "a byte was read twice or never"
    );
    // every fill continues where the previous one stopped
    let mut pos = 0u32;
    for &(offset, n) in &source.reads {
        assert_eq!(offset, pos);
        pos += n as u32;
    }
    assert_eq!(pos as usize, MIB);
}

#[test]
fn a_window_that_is_a_multiple_of_align_reads_whole_sectors() {
    let data = pattern(MIB);
    // 2016 rounded up to 2048, plus ALIGN
    let mut window = vec![0u8; 2048 + ALIGN as usize];
    let mut ra = ReadAhead::new(Counting::new(&data), &mut window);
    stream_twice(&mut ra, &data);
    assert_eq!(ra.stats().source_bytes, MIB as u64);
    let source = ra.into_inner();
    assert!(source.per_byte.iter().all(|&c| c == 1));
    for &(offset, n) in &source.reads {
        assert_eq!(offset % ALIGN, 0, "read at {offset}");
        assert_eq!(n % ALIGN as usize, 0, "read of {n} bytes");
    }
}

#[test]
fn unaligned_length_is_read_once_and_never_past_the_end() {
    let data = pattern(100_003);
    let mut window = vec![0u8; BLOCK + ALIGN as usize];
    let mut ra = ReadAhead::new(Counting::new(&data), &mut window);
    stream_twice(&mut ra, &data);
    assert_eq!(ra.stats().source_bytes, 100_003);
    let mut buf = [0u8; 8];
    assert_eq!(ra.read_at(100_003, &mut buf), Ok(0));
    assert_eq!(ra.read_at(u32::MAX, &mut buf), Ok(0));
    assert_eq!(ra.read_at(100_000, &mut buf), Ok(3));
    assert_eq!(buf[..3], data[100_000..]);
    assert_eq!(ra.read_at(5, &mut []), Ok(0));
}

#[test]
fn a_request_larger_than_the_window_comes_in_pieces() {
    let data = pattern(50_000);
    let mut window = vec![0u8; 1000];
    let mut ra = ReadAhead::new(Counting::new(&data), &mut window);
    let mut buf = vec![0u8; 20_000];
    let n = ra.read_at(300, &mut buf).unwrap();
    assert!(
        n > 0 && n <= 1000,
        "one read_at serves at most one window: {n}"
    );
    assert_eq!(buf[..n], data[300..300 + n]);
    read_exact_at(&mut ra, 300, &mut buf).unwrap();
    assert_eq!(buf, data[300..20_300]);
    // the window started at 0 (300 rounded down): bytes 0..20 300 read once each, nothing beyond
    // the window in flight
    let source = ra.into_inner();
    assert!(source.per_byte[..20_300].iter().all(|&c| c == 1));
    assert!(source.per_byte[21_000..].iter().all(|&c| c == 0));
}

#[test]
fn a_backward_jump_refills_from_the_aligned_offset() {
    let data = pattern(20_000);
    let mut window = vec![0u8; 4096];
    let mut ra = ReadAhead::new(Counting::new(&data), &mut window);
    let mut buf = [0u8; 100];
    read_exact_at(&mut ra, 10_000, &mut buf).unwrap();
    read_exact_at(&mut ra, 1_000, &mut buf).unwrap();
    assert_eq!(buf[..], data[1_000..1_100]);
    let stats = ra.stats();
    assert_eq!(stats.seeks, 2, "both fills jumped");
    let source = ra.into_inner();
    assert_eq!(source.reads, vec![(9728, 4096), (512, 4096)]); // 10 000 and 1 000 rounded down
}

#[test]
fn short_reading_source_still_works() {
    let data = pattern(64 * 1024 + 77);
    let mut source = Counting::new(&data);
    source.max_chunk = 7;
    let mut window = vec![0u8; BLOCK + ALIGN as usize];
    let mut ra = ReadAhead::new(source, &mut window);
    stream_twice(&mut ra, &data);
    let stats = ra.stats();
    assert_eq!(stats.source_bytes, data.len() as u64);
    assert_eq!(stats.seeks, 0);
    assert_eq!(
        stats.fills as usize,
        ra.inner().reads.len(),
        "every source call is counted"
    );
    let source = ra.into_inner();
    assert!(source.per_byte.iter().all(|&c| c == 1));
    assert!(source.reads.iter().all(|&(_, n)| n <= 7));
}

#[test]
fn erroring_source_propagates_and_recovers() {
    let data = pattern(10_000);
    let mut source = Counting::new(&data);
    source.fail_from = Some(6_000);
    let mut window = vec![0u8; BLOCK + ALIGN as usize];
    let mut ra = ReadAhead::new(source, &mut window);
    let mut block = [0u8; BLOCK];
    read_exact_at(&mut ra, 0, &mut block).unwrap();
    read_exact_at(&mut ra, 2016, &mut block).unwrap();
    assert_eq!(
        read_exact_at(&mut ra, 4032, &mut block),
        Err(ReadExactError::Source(Broken { offset: 4064 }))
    );
    // the bytes already in the window are still right, and the source can recover
    read_exact_at(&mut ra, 2016, &mut block).unwrap();
    assert_eq!(block[..], data[2016..4032]);
    ra.inner_mut().fail_from = None;
    read_exact_at(&mut ra, 4032, &mut block).unwrap();
    assert_eq!(block[..], data[4032..6048]);
}

#[test]
fn a_source_that_ends_early_cannot_make_it_loop() {
    let data = pattern(10_000);
    let mut source = Counting::new(&data);
    source.dry_from = Some(5_000);
    let mut window = vec![0u8; BLOCK + ALIGN as usize];
    let mut ra = ReadAhead::new(source, &mut window);
    let mut block = [0u8; BLOCK];
    read_exact_at(&mut ra, 2016, &mut block).unwrap();
    assert_eq!(
        read_exact_at(&mut ra, 4032, &mut block),
        Err(ReadExactError::UnexpectedEnd { offset: 5_000 })
    );
    assert_eq!(ra.read_at(6_000, &mut block), Ok(0));
    assert!(ra.stats().fills < 10);
}

#[test]
fn an_empty_window_passes_reads_through() {
    let data = pattern(3000);
    let mut ra = ReadAhead::new(Counting::new(&data), &mut []);
    let mut buf = [0u8; 1000];
    read_exact_at(&mut ra, 1500, &mut buf).unwrap();
    assert_eq!(buf[..], data[1500..2500]);
    read_exact_at(&mut ra, 1500, &mut buf).unwrap();
    let stats = ra.stats();
    assert_eq!((stats.hits, stats.fills, stats.source_bytes), (0, 2, 2000));
    assert_eq!(stats.seeks, 2);
}

#[test]
fn invalidate_forgets_the_window() {
    let data = pattern(3000);
    let mut window = [0u8; 1024];
    let mut ra = ReadAhead::new(Counting::new(&data), &mut window);
    let mut buf = [0u8; 100];
    read_exact_at(&mut ra, 0, &mut buf).unwrap();
    read_exact_at(&mut ra, 0, &mut buf).unwrap();
    assert_eq!(ra.stats().hits, 1);
    ra.invalidate();
    read_exact_at(&mut ra, 0, &mut buf).unwrap();
    assert_eq!(ra.stats().hits, 1);
    assert_eq!(ra.stats().source_bytes, 2048);
    assert_eq!(ra.inner().reads.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any sequence of reads returns exactly the plain source's bytes, for any window size and with
    /// a source that returns short reads.
    #[test]
    fn same_bytes_as_the_plain_source(
        len in 0usize..20_000,
        window_len in prop_oneof![1usize..64, 500usize..5000, Just(2528usize), Just(2560usize)],
        max_chunk in prop_oneof![Just(usize::MAX), 1usize..700],
        requests in proptest::collection::vec((any::<u32>(), 0usize..6000, any::<bool>()), 1..40),
    ) {
        let data = pattern(len);
        let mut source = Counting::new(&data);
        source.max_chunk = max_chunk;
        let mut window = vec![0u8; window_len];
        let mut ra = ReadAhead::new(source, &mut window);
        let mut plain = MemImage::new(&data);
        for (raw, want, exact) in requests {
            // mostly offsets inside the image, sometimes beyond it
            let offset = if len == 0 || raw % 8 == 0 { raw } else { raw % len as u32 };
            let mut got = vec![0u8; want];
            let mut expected = vec![0u8; want];
            if exact {
                let r = read_exact_at(&mut ra, offset, &mut got);
                let e = read_exact_at(&mut plain, offset, &mut expected);
                prop_assert_eq!(r.is_ok(), e.is_ok());
                if r.is_ok() {
                    prop_assert_eq!(&got, &expected);
                }
            } else {
                let n = ra.read_at(offset, &mut got).unwrap();
                let available = len.saturating_sub(offset as usize).min(want);
                prop_assert!(n <= available);
                prop_assert_eq!(n == 0, available == 0, "no progress at {}", offset);
                plain.read_at(offset, &mut expected[..n]).unwrap();
                prop_assert_eq!(&got[..n], &expected[..n]);
            }
        }
    }
}
