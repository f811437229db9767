//! The resume journal: golden record bytes written by hand from the layout table, codec properties,
//! the two-slot rules, and an exhaustive power-fail proof over a whole upgrade's journal history.

#[path = "support/crc32_reference.rs"]
mod crc32_reference;
use crc32_reference::crc32_reference;

#[path = "support/tearing.rs"]
mod tearing;

use modem_upgrade::storage::journal::{
    Attempts, Cadence, Checkpoint, ImageId, JOURNAL_LEN, Journal, JournalStore, Loaded, MAX_NAME,
    MemJournal, Phase, RecordError, Resume, SLOT_LEN, Slot, SlotState, decode, encode,
};
use proptest::prelude::*;
use tearing::{Tear, TearError, TearingStore};

// ---------------------------------------------------------------------------------------------------
// Helpers written independently of the library.

/// Rewrites the CRC at 160..164 over bytes 0..160, so a hand-edited field reaches the field checks.
fn fix_crc(slot: &mut [u8; SLOT_LEN]) {
    let crc = crc32_reference(&slot[..160]);
    slot[160..164].copy_from_slice(&crc.to_le_bytes());
}

fn id(name: &str) -> ImageId {
    ImageId::new(name, 7_020_424, 0x1234_ABCD)
}

fn cp(phase: Phase, acked: u32) -> Checkpoint {
    Checkpoint {
        image: id("NB1-41019.dup"),
        phase,
        acked_offset: acked,
        block_size: 2016,
        attempts: Attempts {
            transfers: 1,
            sessions: 1,
            verifications: 0,
        },
    }
}

fn unwrap_infallible<T>(r: Result<T, core::convert::Infallible>) -> T {
    match r {
        Ok(t) => t,
        Err(e) => match e {},
    }
}

fn open_mem(store: MemJournal) -> (Journal<MemJournal>, Loaded) {
    unwrap_infallible(Journal::open(store))
}

/// The golden checkpoint of `golden_record`.
fn golden_checkpoint() -> Checkpoint {
    Checkpoint {
        image: ImageId::new("NB1-41019.dup", 7_020_424, 0x1234_ABCD),
        phase: Phase::Transferring,
        acked_offset: 2_217_600, // 1100 blocks of 2016 bytes
        block_size: 2016,
        attempts: Attempts {
            transfers: 2,
            sessions: 3,
            verifications: 0,
        },
    }
}

/// The record of `golden_checkpoint` as seq 42, written field by field from the layout table.
fn golden_record() -> [u8; SLOT_LEN] {
    let mut g = [0u8; SLOT_LEN];
    g[0..4].copy_from_slice(&[0x53, 0x51, 0x4A, 0x31]); // magic "SQJ1"
    g[4] = 0x01; // format version 1
    g[5] = 0x03; // phase Transferring
    g[6..8].copy_from_slice(&[0xA0, 0x00]); // CRC-covered length 160
    g[8..12].copy_from_slice(&[0x2A, 0x00, 0x00, 0x00]); // seq 42
    g[12..16].copy_from_slice(&[0x88, 0x1F, 0x6B, 0x00]); // image len 7,020,424 = 0x006B1F88
    g[16..20].copy_from_slice(&[0xCD, 0xAB, 0x34, 0x12]); // image crc32 0x1234ABCD
    g[20..24].copy_from_slice(&[0x80, 0xD6, 0x21, 0x00]); // acked 2,217,600 = 0x0021D680
    g[24..26].copy_from_slice(&[0xE0, 0x07]); // block size 2016 = 0x07E0
    g[26] = 2; // transfers
    g[27] = 3; // sessions
    g[28] = 0; // verifications
    g[29] = 0; // flags: name not truncated
    g[30] = 13; // name length
    g[31] = 0; // reserved
    g[32..45].copy_from_slice(b"NB1-41019.dup"); // name, the rest of 32..160 stays zero
    g[160..164].copy_from_slice(&[0x76, 0x24, 0x67, 0x3F]); // CRC-32 0x3F672476 of bytes 0..160
    g
}

// ---------------------------------------------------------------------------------------------------
// Codec.

#[test]
fn golden_record_matches_the_layout_table() {
    let golden = golden_record();
    // The hand-written CRC is right (checked with an independent bitwise CRC-32).
    assert_eq!(crc32_reference(&golden[..160]), 0x3F67_2476);
    let mut out = [0xEEu8; SLOT_LEN];
    encode(42, &golden_checkpoint(), &mut out);
    assert_eq!(out[..], golden[..]);
    assert_eq!(decode(&golden), Ok((42, golden_checkpoint())));
}

#[test]
fn crc32_reference_has_the_check_value() {
    assert_eq!(crc32_reference(b"123456789"), 0xCBF4_3926);
}

#[test]
fn long_names_are_cut_at_a_char_boundary_and_flagged() {
    // 50 three-byte characters = 150 bytes: 42 of them (126 bytes) fit.
    let euros = "€".repeat(50);
    let id = ImageId::new(&euros, 10, 1);
    assert_eq!(id.name(), "€".repeat(42));
    assert!(id.name_truncated());
    // Exactly 128 bytes is not truncated; 129 bytes is.
    let fits = "a".repeat(MAX_NAME);
    assert!(!ImageId::new(&fits, 1, 1).name_truncated());
    let over = "a".repeat(MAX_NAME + 1);
    let over = ImageId::new(&over, 1, 1);
    assert_eq!(over.name(), fits);
    assert!(over.name_truncated());
    assert_ne!(over, ImageId::new(&fits, 1, 1)); // the flag takes part in equality

    let mut slot = [0u8; SLOT_LEN];
    let c = Checkpoint::new(id.clone(), Phase::Validated);
    encode(0, &c, &mut slot);
    assert_eq!(slot[29], 0x01, "flag bit 0: name truncated");
    assert_eq!(slot[30], 126, "name length");
    assert_eq!(&slot[32..158], "€".repeat(42).as_bytes());
    assert_eq!(slot[158], 0);
    assert_eq!(decode(&slot), Ok((0, c)));
}

#[test]
fn blank_slots_are_blank() {
    assert_eq!(decode(&[0x00; SLOT_LEN]), Err(RecordError::Blank));
    assert_eq!(decode(&[0xFF; SLOT_LEN]), Err(RecordError::Blank));
    let mut almost = [0u8; SLOT_LEN];
    almost[511] = 1;
    assert_eq!(
        decode(&almost),
        Err(RecordError::BadMagic {
            found: [0, 0, 0, 0]
        })
    );
}

#[test]
fn each_inconsistency_has_its_own_error() {
    type Edit = fn(&mut [u8; SLOT_LEN]);
    let cases: &[(&str, Edit, bool, RecordError)] = &[
        (
            "magic",
            |g| g[0] = b'X',
            false,
            RecordError::BadMagic { found: *b"XQJ1" },
        ),
        (
            "version",
            |g| g[4] = 2,
            false,
            RecordError::UnsupportedVersion { found: 2 },
        ),
        (
            "length",
            |g| g[6] = 161,
            false,
            RecordError::BadLength { found: 161 },
        ),
        (
            "crc",
            |g| g[20] ^= 0x01,
            false,
            RecordError::Crc {
                stored: 0x3F67_2476,
                computed: {
                    let mut g = golden_record();
                    g[20] ^= 0x01;
                    crc32_reference(&g[..160])
                },
            },
        ),
        (
            "phase 0",
            |g| g[5] = 0,
            true,
            RecordError::UnknownPhase { found: 0 },
        ),
        (
            "phase 8",
            |g| g[5] = 8,
            true,
            RecordError::UnknownPhase { found: 8 },
        ),
        (
            "offset",
            |g| g[20..24].copy_from_slice(&7_020_425u32.to_le_bytes()),
            true,
            RecordError::OffsetBeyondImage {
                offset: 7_020_425,
                len: 7_020_424,
            },
        ),
        (
            "name not UTF-8",
            |g| g[33] = 0xC3, // a lead byte followed by '1'
            true,
            RecordError::BadName,
        ),
        (
            "name length",
            |g| g[30] = 129,
            true,
            RecordError::NameTooLong { found: 129 },
        ),
        (
            "flag bits",
            |g| g[29] = 0x02,
            true,
            RecordError::NonZeroReserved {
                offset: 29,
                found: 0x02,
            },
        ),
        (
            "reserved byte",
            |g| g[31] = 0x80,
            true,
            RecordError::NonZeroReserved {
                offset: 31,
                found: 0x80,
            },
        ),
        (
            "name padding",
            |g| g[100] = b'x',
            true,
            RecordError::NonZeroReserved {
                offset: 100,
                found: b'x',
            },
        ),
    ];
    for (what, edit, recrc, want) in cases {
        let mut g = golden_record();
        edit(&mut g);
        if *recrc {
            fix_crc(&mut g);
        }
        assert_eq!(decode(&g), Err(*want), "{what}");
        // Every error explains itself in a sentence.
        assert!(want.to_string().len() > 40, "{what}: {want}");
    }
    // Offset equal to the length is fine (a finished transfer).
    let mut g = golden_record();
    g[20..24].copy_from_slice(&7_020_424u32.to_le_bytes());
    fix_crc(&mut g);
    assert_eq!(decode(&g).map(|(_, c)| c.acked_offset), Ok(7_020_424));
}

#[test]
fn phase_bytes_never_change() {
    let bytes: Vec<u8> = Phase::ALL.iter().map(|p| p.as_byte()).collect();
    assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7]);
    for p in Phase::ALL {
        assert_eq!(Phase::from_byte(p.as_byte()), Some(p));
    }
    assert_eq!(Phase::from_byte(0), None);
    assert_eq!(Phase::from_byte(8), None);
}

fn arb_checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        "\\PC{0,140}",
        any::<u32>().prop_flat_map(|len| (Just(len), 0..=len)),
        any::<u32>(),
        prop::sample::select(Phase::ALL.to_vec()),
        any::<u16>(),
        any::<[u8; 3]>(),
    )
        .prop_map(
            |(name, (len, acked), crc, phase, block, [t, s, v])| Checkpoint {
                image: ImageId::new(&name, len, crc),
                phase,
                acked_offset: acked,
                block_size: block,
                attempts: Attempts {
                    transfers: t,
                    sessions: s,
                    verifications: v,
                },
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_decode_round_trips(seq in any::<u32>(), c in arb_checkpoint()) {
        let mut slot = [0u8; SLOT_LEN];
        encode(seq, &c, &mut slot);
        prop_assert_eq!(decode(&slot), Ok((seq, c)));
    }

    #[test]
    fn arbitrary_slots_never_panic(bytes in prop::collection::vec(any::<u8>(), SLOT_LEN)) {
        let slot: [u8; SLOT_LEN] = bytes.try_into().unwrap();
        let _ = decode(&slot);
    }

    /// Random field bytes with a valid CRC: never a panic, and anything accepted re-encodes to the same
    /// record bytes (decode accepts only what encode can produce).
    #[test]
    fn accepted_records_are_canonical(
        seq in any::<u32>(),
        c in arb_checkpoint(),
        edits in prop::collection::vec((4usize..160, any::<u8>()), 1..6),
    ) {
        let mut slot = [0u8; SLOT_LEN];
        encode(seq, &c, &mut slot);
        for (at, b) in edits {
            slot[at] = b;
        }
        slot[4] = 1;
        slot[6..8].copy_from_slice(&160u16.to_le_bytes());
        fix_crc(&mut slot);
        if let Ok((seq2, c2)) = decode(&slot) {
            let mut again = [0u8; SLOT_LEN];
            encode(seq2, &c2, &mut again);
            prop_assert_eq!(&again[..164], &slot[..164]);
        }
    }

    #[test]
    fn every_single_bit_flip_in_the_record_is_rejected(seq in any::<u32>(), c in arb_checkpoint()) {
        let mut slot = [0u8; SLOT_LEN];
        encode(seq, &c, &mut slot);
        for bit in 0..164 * 8 {
            let mut bad = slot;
            bad[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode(&bad).is_err(), "bit {} accepted", bit);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The two-slot rules.

/// A MemJournal that logs which slot each write went to.
#[derive(Debug, Default)]
struct LogStore {
    mem: MemJournal,
    log: Vec<Slot>,
}

impl JournalStore for LogStore {
    type Error = core::convert::Infallible;
    fn read_slot(&mut self, slot: Slot, buf: &mut [u8; SLOT_LEN]) -> Result<(), Self::Error> {
        self.mem.read_slot(slot, buf)
    }
    fn write_slot(&mut self, slot: Slot, buf: &[u8; SLOT_LEN]) -> Result<(), Self::Error> {
        self.log.push(slot);
        self.mem.write_slot(slot, buf)
    }
}

#[test]
fn a_new_journal_is_blank_and_fresh() {
    let (j, loaded) = open_mem(MemJournal::new());
    assert_eq!(loaded.newest, None);
    assert_eq!(loaded.slots, [SlotState::Blank, SlotState::Blank]);
    assert_eq!(loaded.resume_for(&id("x")), Resume::Fresh);
    assert_eq!(j.store().reads(), 2);
    assert_eq!(j.writes(), 0);
    assert_eq!(j.next_seq(), 0);
    assert_eq!(JOURNAL_LEN as usize, 2 * SLOT_LEN);
}

#[test]
fn saves_alternate_slots_and_the_newest_wins() {
    let (mut j, _) = unwrap_infallible(Journal::open(LogStore::default()));
    for (i, acked) in [0u32, 2016, 4032, 6048, 8064].into_iter().enumerate() {
        unwrap_infallible(j.save(&cp(Phase::Transferring, acked)));
        let (_, loaded) = open_mem(j.store().mem.clone());
        assert_eq!(
            loaded.newest,
            Some((i as u32, cp(Phase::Transferring, acked)))
        );
    }
    assert_eq!(j.store().log, [Slot::A, Slot::B, Slot::A, Slot::B, Slot::A]);
    assert_eq!(j.writes(), 5);
    let (_, loaded) = open_mem(j.store().mem.clone());
    assert_eq!(
        loaded.slots,
        [SlotState::Valid { seq: 4 }, SlotState::Valid { seq: 3 }]
    );
    // Reopening continues the numbering in the older slot.
    let (mut j2, _) = unwrap_infallible(Journal::open(LogStore {
        mem: j.store().mem.clone(),
        log: Vec::new(),
    }));
    assert_eq!(j2.next_seq(), 5);
    unwrap_infallible(j2.save(&cp(Phase::Transferred, 7_020_424)));
    assert_eq!(j2.store().log, [Slot::B]);
}

#[test]
fn a_torn_slot_is_reported_and_the_other_one_loads() {
    let (mut j, _) = open_mem(MemJournal::new());
    unwrap_infallible(j.save(&cp(Phase::Validated, 0)));
    unwrap_infallible(j.save(&cp(Phase::SwitchingMode, 0)));
    let mut store = j.into_store();
    store.slots_mut()[1][40] ^= 0xFF; // damage B (seq 1)
    let (j, loaded) = open_mem(store);
    assert_eq!(loaded.newest, Some((0, cp(Phase::Validated, 0))));
    assert_eq!(loaded.slots[0], SlotState::Valid { seq: 0 });
    assert!(matches!(
        loaded.slots[1],
        SlotState::Invalid(RecordError::Crc { .. })
    ));
    // The next save overwrites the damaged slot, not the good one.
    assert_eq!(j.next_slot(), Slot::B);
    assert_eq!(j.next_seq(), 1);
}

#[test]
fn a_record_in_the_wrong_slot_is_ignored() {
    let mut store = MemJournal::new();
    encode(7, &cp(Phase::Programming, 0), &mut store.slots_mut()[0]); // odd seq in slot A
    encode(4, &cp(Phase::Transferred, 0), &mut store.slots_mut()[1]); // even seq in slot B
    let (j, loaded) = open_mem(store);
    assert_eq!(loaded.newest, None);
    assert_eq!(
        loaded.slots,
        [
            SlotState::Invalid(RecordError::WrongSlot {
                seq: 7,
                slot: Slot::A
            }),
            SlotState::Invalid(RecordError::WrongSlot {
                seq: 4,
                slot: Slot::B
            }),
        ]
    );
    assert_eq!(j.next_seq(), 0);
}

#[test]
fn sequence_numbers_wrap() {
    let mut store = MemJournal::new();
    encode(
        u32::MAX - 1,
        &cp(Phase::Transferring, 0),
        &mut store.slots_mut()[0],
    );
    encode(
        u32::MAX,
        &cp(Phase::Transferring, 2016),
        &mut store.slots_mut()[1],
    );
    let (mut j, loaded) = open_mem(store);
    assert_eq!(loaded.newest.as_ref().map(|n| n.0), Some(u32::MAX));
    assert_eq!(j.next_seq(), 0);
    assert_eq!(j.next_slot(), Slot::A);
    unwrap_infallible(j.save(&cp(Phase::Transferring, 4032)));
    let (_, loaded) = open_mem(j.into_store());
    assert_eq!(loaded.newest, Some((0, cp(Phase::Transferring, 4032))));
}

#[test]
fn a_failed_save_keeps_the_previous_record_and_the_retry_reuses_its_slot() {
    for tear in [
        Tear::FailBefore,
        Tear::Prefix(100),
        Tear::Prefix(512),
        Tear::Erased,
    ] {
        // Writes 1 and 2 succeed, write 3 fails.
        let (mut j, _) = Journal::open(TearingStore::new(MemJournal::new(), 3, tear)).unwrap();
        j.save(&cp(Phase::Validated, 0)).unwrap();
        j.save(&cp(Phase::SwitchingMode, 0)).unwrap();
        let slot = j.next_slot();
        assert_eq!(slot, Slot::A);
        assert_eq!(
            j.save(&cp(Phase::Transferring, 0)),
            Err(TearError::Torn),
            "{tear:?}"
        );
        assert_eq!(j.store().torn_slot(), Some(slot));
        // Still refused while the store is down; nothing changes.
        assert_eq!(j.save(&cp(Phase::Transferring, 0)), Err(TearError::Refused));
        assert_eq!(j.next_seq(), 2);
        assert_eq!(j.next_slot(), slot);

        // The previous record is what a reboot would load, unless the torn write completed.
        let (_, loaded) = open_mem(j.store().inner().clone());
        let want = if tear == Tear::Prefix(512) {
            (2, cp(Phase::Transferring, 0))
        } else {
            (1, cp(Phase::SwitchingMode, 0))
        };
        assert_eq!(loaded.newest, Some(want), "{tear:?}");

        // The store recovers: the next save goes to the same slot with the same seq and succeeds.
        j.store_mut().heal();
        j.save(&cp(Phase::Transferring, 2016)).unwrap();
        let (_, loaded) = open_mem(j.store().inner().clone());
        assert_eq!(loaded.newest, Some((2, cp(Phase::Transferring, 2016))));
        assert_eq!(loaded.slots[slot.index()], SlotState::Valid { seq: 2 });
        assert_eq!(
            loaded.slots[slot.other().index()],
            SlotState::Valid { seq: 1 }
        );
        assert_eq!(j.writes(), 5);
    }
}

#[test]
fn clear_invalidates_the_older_slot_first() {
    let (mut j, _) = unwrap_infallible(Journal::open(LogStore::default()));
    for phase in [Phase::Validated, Phase::SwitchingMode, Phase::Transferring] {
        unwrap_infallible(j.save(&cp(phase, 0)));
    }
    // Newest is seq 2 in A; the older (seq 1) is in B.
    j.store_mut().log.clear();
    unwrap_infallible(j.clear());
    assert_eq!(j.store().log, [Slot::B, Slot::A]);
    let (_, loaded) = open_mem(j.store().mem.clone());
    assert_eq!(loaded.newest, None);
    assert_eq!(loaded.slots, [SlotState::Blank, SlotState::Blank]);
    // Numbering restarts after a clear.
    assert_eq!(j.next_seq(), 0);
}

#[test]
fn a_clear_interrupted_in_between_leaves_the_newest_record() {
    // Three saves, then the clear's first write succeeds and its second fails before writing.
    let (mut j, _) =
        Journal::open(TearingStore::new(MemJournal::new(), 5, Tear::FailBefore)).unwrap();
    for (phase, acked) in [
        (Phase::Transferring, 0),
        (Phase::Transferring, 2016),
        (Phase::Transferred, 7_020_424),
    ] {
        j.save(&cp(phase, acked)).unwrap();
    }
    assert_eq!(j.clear(), Err(TearError::Torn));
    let (_, loaded) = open_mem(j.store().inner().clone());
    assert_eq!(loaded.newest, Some((2, cp(Phase::Transferred, 7_020_424))));
    assert_eq!(loaded.slots[1], SlotState::Blank);
    // The next save goes to the cleared slot, not over the newest record.
    assert_eq!(j.next_slot(), Slot::B);
}

#[test]
fn resume_for_matches_the_exact_image_only() {
    let image = id("NB1-41019.dup");
    let mut store = MemJournal::new();
    encode(0, &cp(Phase::Transferring, 4032), &mut store.slots_mut()[0]);
    let (_, loaded) = open_mem(store);
    assert_eq!(
        loaded.resume_for(&image),
        Resume::Continue(cp(Phase::Transferring, 4032))
    );
    for other in [
        ImageId::new("NB1-41019.dup", 7_020_423, 0x1234_ABCD),
        ImageId::new("NB1-41019.dup", 7_020_424, 0x1234_ABCE),
        ImageId::new("NB1-41020.dup", 7_020_424, 0x1234_ABCD),
    ] {
        assert_eq!(
            loaded.resume_for(&other),
            Resume::OtherImage {
                journal: image.clone()
            }
        );
    }
    // Done means nothing to resume.
    let mut store = MemJournal::new();
    encode(0, &cp(Phase::Done, 7_020_424), &mut store.slots_mut()[0]);
    let (_, loaded) = open_mem(store);
    assert_eq!(loaded.resume_for(&image), Resume::Fresh);
    // Blank.
    let (_, loaded) = open_mem(MemJournal::new());
    assert_eq!(loaded.resume_for(&image), Resume::Fresh);
    // Every unfinished phase continues.
    for phase in &Phase::ALL[..6] {
        let mut store = MemJournal::new();
        encode(1, &cp(*phase, 0), &mut store.slots_mut()[1]);
        let (_, loaded) = open_mem(store);
        assert_eq!(loaded.resume_for(&image), Resume::Continue(cp(*phase, 0)));
    }
}

// ---------------------------------------------------------------------------------------------------
// A whole upgrade's journal history, and the power-fail proof over it.

const IMAGE_LEN: u32 = 7_020_424;
const BLOCK: u32 = 2016;

/// What the test's modem had acknowledged when a journal operation was issued.
#[derive(Debug, Clone, Copy)]
struct Modem {
    /// Transfer attempt the modem is in (0 before the first).
    transfer: u8,
    /// Bytes it acknowledged in that transfer.
    acked: u32,
}

#[derive(Debug, Clone)]
enum Op {
    Save(Checkpoint),
    Clear,
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    modem: Modem,
}

/// The journal operations of one upgrade, as an upgrader following the rules would issue them: a
/// checkpoint at every phase change, offset checkpoints per `Cadence`, only acknowledged offsets, a link
/// failure after 1500 blocks that restarts the transfer (attempts counted, checkpointed before the new
/// session sends anything), then a clean transfer, programming, verification, done, clear.
fn upgrade_history(fail_first_transfer_after: Option<u32>) -> Vec<Step> {
    let image = ImageId::new(
        "GM02S_LR8.2.1.0-61488_upgrade_from_LR8.2.0.3-60186.dup",
        IMAGE_LEN,
        0x89AB_CDEF,
    );
    let cadence = Cadence::for_image(IMAGE_LEN);
    let mut steps = Vec::new();
    let mut modem = Modem {
        transfer: 0,
        acked: 0,
    };
    let mut attempts = Attempts::NONE;
    let save =
        |steps: &mut Vec<Step>, modem: Modem, phase: Phase, acked: u32, attempts: Attempts| {
            assert!(acked <= modem.acked || phase < Phase::Transferring);
            steps.push(Step {
                op: Op::Save(Checkpoint {
                    image: image.clone(),
                    phase,
                    acked_offset: acked,
                    block_size: if phase >= Phase::Transferring {
                        2016
                    } else {
                        0
                    },
                    attempts,
                }),
                modem,
            });
        };
    save(&mut steps, modem, Phase::Validated, 0, attempts);
    save(&mut steps, modem, Phase::SwitchingMode, 0, attempts);
    let transfers: &[Option<u32>] = match fail_first_transfer_after {
        Some(blocks) => &[Some(blocks), None],
        None => &[None],
    };
    for &fail_after in transfers {
        // A new transfer: counted and checkpointed before the session sends anything; the modem's
        // acknowledged count restarts only afterwards.
        attempts = attempts.with_transfer().with_session();
        save(&mut steps, modem, Phase::Transferring, 0, attempts);
        modem = Modem {
            transfer: attempts.transfers,
            acked: 0,
        };
        let mut last_saved = 0;
        let mut blocks = 0;
        while modem.acked < IMAGE_LEN {
            if fail_after == Some(blocks) {
                break; // the link dies; the upgrader restarts the transfer
            }
            modem.acked = (modem.acked + BLOCK).min(IMAGE_LEN);
            blocks += 1;
            if modem.acked < IMAGE_LEN && cadence.due(last_saved, modem.acked) {
                save(
                    &mut steps,
                    modem,
                    Phase::Transferring,
                    modem.acked,
                    attempts,
                );
                last_saved = modem.acked;
            }
        }
    }
    save(&mut steps, modem, Phase::Transferred, IMAGE_LEN, attempts);
    save(&mut steps, modem, Phase::Programming, IMAGE_LEN, attempts);
    attempts = attempts.with_verification();
    save(&mut steps, modem, Phase::Verifying, IMAGE_LEN, attempts);
    save(&mut steps, modem, Phase::Done, IMAGE_LEN, attempts);
    steps.push(Step {
        op: Op::Clear,
        modem,
    });
    steps
}

fn writes_of(steps: &[Step]) -> u32 {
    steps
        .iter()
        .map(|s| match s.op {
            Op::Save(_) => 1,
            Op::Clear => 2,
        })
        .sum()
}

#[test]
fn a_clean_upgrade_costs_72_sector_writes() {
    let steps = upgrade_history(None);
    let offset_checkpoints = steps
        .iter()
        .filter(|s| matches!(&s.op, Op::Save(c) if c.phase == Phase::Transferring && c.acked_offset > 0))
        .count();
    assert_eq!(offset_checkpoints, 63);
    let (mut j, _) = unwrap_infallible(Journal::open(LogStore::default()));
    for s in &steps {
        match &s.op {
            Op::Save(c) => unwrap_infallible(j.save(c)),
            Op::Clear => unwrap_infallible(j.clear()),
        }
    }
    assert_eq!(j.writes(), 72);
    assert_eq!(writes_of(&steps), 72);
    let per_slot = |slot| j.store().log.iter().filter(|&&s| s == slot).count();
    assert_eq!((per_slot(Slot::A), per_slot(Slot::B)), (36, 36));
    // Checkpointing every acknowledged block instead would cost one write per block.
    assert_eq!(IMAGE_LEN.div_ceil(BLOCK), 3483);
}

/// What a reload must return after the power failed in the write of `torn_step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    Step(usize),
}

#[test]
fn power_loss_at_any_write_loads_the_last_good_checkpoint() {
    let steps = upgrade_history(Some(1500));
    let total = writes_of(&steps);
    assert_eq!(
        total, 100,
        "history shape changed; update the docs' numbers"
    );
    let mut scenarios = 0u32;
    let mut completed_by_chance = 0u32;

    for fail_on in 1..=total + 1 {
        // fail_on = total + 1: the power never fails (control run).
        let tears: &[Tear] = if fail_on > total {
            &[Tear::FailBefore]
        } else {
            &Tear::ALL
        };
        for &tear in tears {
            scenarios += 1;
            let ctx = format!("write {fail_on} of {total}, {tear:?}");
            let (mut j, _) =
                Journal::open(TearingStore::new(MemJournal::new(), fail_on, tear)).unwrap();
            let mut last_ok = Expect::Nothing;
            let mut seqs = vec![None; steps.len()];
            // (step index, write number within that step) of the torn write.
            let mut torn: Option<(usize, u32)> = None;
            for (i, step) in steps.iter().enumerate() {
                let before = j.store().writes_seen();
                let result = match &step.op {
                    Op::Save(c) => {
                        seqs[i] = Some(j.next_seq());
                        j.save(c)
                    }
                    Op::Clear => j.clear(),
                };
                match result {
                    Ok(()) => {
                        assert!(
                            torn.is_none(),
                            "{ctx}: a write succeeded after the power loss"
                        );
                        last_ok = match step.op {
                            Op::Save(_) => Expect::Step(i),
                            Op::Clear => Expect::Nothing,
                        };
                    }
                    Err(TearError::Torn) => {
                        torn = Some((i, j.store().writes_seen() - before));
                    }
                    Err(TearError::Refused) => assert!(torn.is_some(), "{ctx}"),
                    Err(TearError::Inner(e)) => match e {},
                }
            }

            // Reboot: a new journal over the bytes the power loss left behind.
            let (_, loaded) = open_mem(j.store().inner().clone());
            // Whether the torn slot ended up holding the whole new record (bytes 0..164): always for a
            // prefix of 164 bytes or more, and by chance when the old bytes after a shorter prefix
            // equal the new ones (e.g. a CRC's last byte that happens to match).
            let complete_record = match (j.store().torn_slot(), j.store().attempted()) {
                (Some(slot), Some(new)) => {
                    j.store().inner().slots()[slot.index()][..164] == new[..164]
                }
                _ => false,
            };
            if matches!(tear, Tear::Prefix(k) if k >= 164) {
                assert!(complete_record, "{ctx}");
            } else if complete_record
                && matches!(torn, Some((i, _)) if matches!(steps[i].op, Op::Save(_)))
            {
                completed_by_chance += 1;
            }
            let want = match torn {
                None => last_ok,
                Some((i, _)) if matches!(steps[i].op, Op::Save(_)) => {
                    if complete_record {
                        Expect::Step(i)
                    } else {
                        last_ok
                    }
                }
                // The clear's first write (the older slot) cannot touch the newest record.
                Some((_, 1)) => last_ok,
                // Its second write invalidates the newest record unless nothing was written.
                Some(_) => {
                    if matches!(tear, Tear::FailBefore | Tear::Prefix(0)) {
                        last_ok
                    } else {
                        Expect::Nothing
                    }
                }
            };
            let got = loaded.newest.clone();
            match want {
                Expect::Nothing => assert_eq!(got, None, "{ctx}"),
                Expect::Step(i) => {
                    let Op::Save(c) = &steps[i].op else {
                        unreachable!()
                    };
                    assert_eq!(got, Some((seqs[i].unwrap(), c.clone())), "{ctx}");
                    // Never beyond what the modem had acknowledged when the save was issued...
                    assert!(c.acked_offset <= steps[i].modem.acked, "{ctx}");
                    // ...nor beyond what it had acknowledged when the power failed, for the same
                    // transfer attempt.
                    if let Some((f, _)) = torn {
                        let m = steps[f].modem;
                        if c.attempts.transfers == m.transfer {
                            assert!(c.acked_offset <= m.acked, "{ctx}");
                        }
                    }
                }
            }
            // A torn slot next to a good one is reported, not hidden.
            if let (Some((i, _)), Expect::Step(w)) = (torn, want)
                && w != i
                && !matches!(tear, Tear::FailBefore | Tear::Prefix(0))
                && matches!(steps[i].op, Op::Save(_))
            {
                let slot = j.store().torn_slot().unwrap();
                assert!(
                    !matches!(loaded.slots[slot.index()], SlotState::Valid { seq } if Some(seq) == seqs[i]),
                    "{ctx}"
                );
            }
        }
    }
    println!(
        "journal power-fail proof: {scenarios} scenarios checked ({total} writes x {} tear kinds + 1 control run); \
         {completed_by_chance} short tears left the whole new record by chance (old bytes equal to new ones) and loaded it",
        Tear::ALL.len()
    );
    assert_eq!(scenarios, total * Tear::ALL.len() as u32 + 1);
}

// ---------------------------------------------------------------------------------------------------
// FileJournal.

#[cfg(feature = "std")]
mod file {
    use super::*;
    use modem_upgrade::storage::journal::FileJournal;
    use std::path::PathBuf;

    fn path(name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("journal-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("{name}-{}.JNL", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn create_save_and_reopen_from_disk() {
        let p = path("create");
        let store = FileJournal::open_or_create(&p).unwrap();
        assert!(store.was_created());
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 1024);
        let (mut j, loaded) = Journal::open(store).unwrap();
        assert_eq!(loaded.newest, None);
        assert_eq!(loaded.slots, [SlotState::Blank, SlotState::Blank]);
        j.save(&cp(Phase::Validated, 0)).unwrap();
        j.save(&cp(Phase::Transferring, 2016)).unwrap();
        j.save(&cp(Phase::Transferring, 4032)).unwrap();
        drop(j);

        let store = FileJournal::open_or_create(&p).unwrap();
        assert!(!store.was_created());
        let (mut j, loaded) = Journal::open(store).unwrap();
        assert_eq!(loaded.newest, Some((2, cp(Phase::Transferring, 4032))));
        assert_eq!(
            loaded.slots,
            [SlotState::Valid { seq: 2 }, SlotState::Valid { seq: 1 }]
        );
        // The bytes on disk are the two slots, at 0 and 512.
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[0..4], b"SQJ1");
        assert_eq!(&bytes[512..516], b"SQJ1");
        assert_eq!(bytes[8], 2);
        assert_eq!(bytes[512 + 8], 1);

        j.clear().unwrap();
        drop(j);
        assert_eq!(std::fs::read(&p).unwrap(), vec![0u8; 1024]);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_wrong_sized_file_is_recreated_blank() {
        for size in [0usize, 100, 1023, 1025, 4096] {
            let p = path(&format!("size{size}"));
            std::fs::write(&p, vec![0x5Au8; size]).unwrap();
            let store = FileJournal::open_or_create(&p).unwrap();
            assert!(store.was_created(), "{size}");
            assert_eq!(std::fs::read(&p).unwrap(), vec![0u8; 1024], "{size}");
            let (_, loaded) = Journal::open(store).unwrap();
            assert_eq!(loaded.slots, [SlotState::Blank, SlotState::Blank]);
            std::fs::remove_file(&p).unwrap();
        }
    }

    #[test]
    fn a_right_sized_file_is_kept_as_it_is() {
        let p = path("kept");
        let mut bytes = vec![0u8; 1024];
        let mut slot = [0u8; SLOT_LEN];
        encode(1, &cp(Phase::Programming, 7_020_424), &mut slot);
        bytes[512..].copy_from_slice(&slot);
        bytes[0..4].copy_from_slice(b"junk");
        std::fs::write(&p, &bytes).unwrap();
        let store = FileJournal::open_or_create(&p).unwrap();
        assert!(!store.was_created());
        let (_, loaded) = Journal::open(store).unwrap();
        assert_eq!(loaded.newest, Some((1, cp(Phase::Programming, 7_020_424))));
        assert!(matches!(
            loaded.slots[0],
            SlotState::Invalid(RecordError::BadMagic { .. })
        ));
        std::fs::remove_file(&p).unwrap();
    }
}

#[test]
fn a_checkpoint_past_the_image_end_never_displaces_the_good_record() {
    let (mut j, _) = open_mem(MemJournal::new());
    unwrap_infallible(j.save(&cp(Phase::Transferring, 2016)));
    unwrap_infallible(j.save(&cp(Phase::Transferring, 4032)));
    // A caller bug: more acknowledged than the image has.
    unwrap_infallible(j.save(&cp(Phase::Transferring, 7_020_425)));
    let (_, loaded) = open_mem(j.store().clone());
    assert_eq!(loaded.newest, Some((1, cp(Phase::Transferring, 4032))));
    assert_eq!(
        loaded.slots[0],
        SlotState::Invalid(RecordError::OffsetBeyondImage {
            offset: 7_020_425,
            len: 7_020_424
        })
    );
    // Not counted: the next save goes to the same slot, never over record 1.
    assert_eq!(j.next_seq(), 2);
    unwrap_infallible(j.save(&cp(Phase::Transferring, 6048)));
    let (_, loaded) = open_mem(j.into_store());
    assert_eq!(loaded.newest, Some((2, cp(Phase::Transferring, 6048))));
    assert_eq!(loaded.slots[1], SlotState::Valid { seq: 1 });
}
