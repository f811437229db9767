//! Properties of the STP wire layer and session engine: no panics on arbitrary input, emit → parse
//! round trips, termination on arbitrary response streams, and a delivered stream equal to the image
//! against a correct slave that reports random residues, NACKs, losses and duplicates.

use modem_upgrade::protocol::stp::*;
use proptest::prelude::*;

#[path = "support/stp_wire.rs"]
mod stp_wire;
use stp_wire::{bitwise_crc as crc, response as answer};

fn sid_for(s: &Session, op: Op) -> u8 {
    if op == Op::Reset && s.negotiated().is_none() {
        0
    } else {
        1
    }
}

/// The correct answer to what `s` awaits (residue 0; OPEN: v1, 8192).
fn correct_answer(s: &Session) -> Option<Vec<u8>> {
    let Poll::Await { op, tid, .. } = s.poll() else {
        return None;
    };
    let payload: &[u8] = match op {
        Op::SessionOpen => &[1, 1, 0x20, 0],
        Op::TransferBlock => &[0, 0],
        _ => &[],
    };
    Some(answer(op.ack_code(), sid_for(s, op), tid, payload, true))
}

fn frame_now(s: &mut Session, img: &[u8]) {
    if let Poll::Transmit { data, .. } = s.poll() {
        let bytes = data.map_or(&[][..], |r| {
            &img[r.offset as usize..r.offset as usize + usize::from(r.len)]
        });
        s.frame(bytes).unwrap();
    }
}

/// Sessions in every state: awaiting each op (v1 and v2), transmitting, done, failed.
fn sessions_in_every_state() -> Vec<Session> {
    let img = vec![0x5a; 3000];
    let mut out = Vec::new();
    for version in [1u8, 2] {
        let mut s = Session::new(SessionConfig::default(), 3000, 0).unwrap();
        loop {
            out.push(s.clone()); // Transmit
            frame_now(&mut s, &img);
            out.push(s.clone()); // Await
            let Poll::Await { op, tid, .. } = s.poll() else {
                break;
            };
            let bytes = if op == Op::SessionOpen {
                answer(0x81, 1, tid, &[1, version, 0x20, 0], false)
            } else {
                correct_answer(&s).unwrap()
            };
            s.receive(&bytes).unwrap();
            if s.poll() == Poll::Done {
                out.push(s.clone());
                break;
            }
        }
    }
    let mut failed = Session::new(
        SessionConfig {
            attempts_per_frame: 1,
            ..SessionConfig::default()
        },
        10,
        0,
    )
    .unwrap();
    failed.frame(&[]).unwrap();
    let _ = failed.timed_out();
    out.push(failed);
    out
}

#[derive(Clone, Debug)]
enum Token {
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
    /// The awaited answer, with a residue (for blocks), an OPEN payload, and an optional bit flip.
    Correct {
        residue: u16,
        open: [u8; 4],
        flip: Option<(usize, u8)>,
    },
    /// A copy of the last correct answer.
    Repeat,
    /// The deadline passes.
    Timeout,
}

fn token() -> impl Strategy<Value = Token> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Token::Bytes),
        (
            prop_oneof![Just(0u16), 0u16..40, any::<u16>()],
            prop_oneof![
                Just([1u8, 1, 0x20, 0]),
                Just([1u8, 2, 0x00, 0x30]),
                any::<[u8; 4]>()
            ],
            prop::option::of((0usize..20, 0u8..8))
        )
            .prop_map(|(residue, open, flip)| Token::Correct {
                residue,
                open,
                flip
            }),
        Just(Token::Repeat),
        Just(Token::Timeout),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn header_view_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let unchecked = Header::new_unchecked(&bytes[..]);
        let _ = (unchecked.signature(), unchecked.op(), unchecked.sid(), unchecked.plen(),
                 unchecked.tid(), unchecked.hcrc(), unchecked.pcrc(), unchecked.compute_hcrc());
        let _ = HeaderRepr::parse(&unchecked);
        match Header::new_checked(&bytes[..]) {
            Ok(h) => {
                prop_assert!(bytes.len() >= HEADER_LEN);
                prop_assert_eq!(h.tid(), u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]));
                prop_assert_eq!(h.plen(), u16::from_be_bytes([bytes[6], bytes[7]]));
                match HeaderRepr::parse(&h) {
                    Ok(r) => {
                        prop_assert!(&bytes[..4] == b"fast" || &bytes[..4] == b"tsaf");
                        prop_assert_eq!(r.hcrc, h.hcrc());
                    }
                    Err(e) => prop_assert_eq!(e, WireError::Signature { found: [bytes[0], bytes[1], bytes[2], bytes[3]] }),
                }
                let mut z = bytes[..16].to_vec();
                z[12] = 0;
                z[13] = 0;
                prop_assert_eq!(h.compute_hcrc(), crc(&z));
            }
            Err(e) => prop_assert_eq!(e, WireError::Truncated { len: bytes.len() }),
        }
        let mut buf = bytes.clone();
        let mut h = Header::new_unchecked(&mut buf[..]);
        h.set_tid(0x0102_0304);
        h.set_plen(9);
        h.fill_hcrc();
    }

    #[test]
    fn emit_parse_round_trip(request in any::<bool>(), op in any::<u8>(), sid in any::<u8>(),
                             plen in any::<u16>(), tid in any::<u32>(), pcrc in any::<u16>(),
                             hcrc in any::<u16>(), extra in 0usize..8) {
        let repr = HeaderRepr {
            direction: if request { Direction::Request } else { Direction::Response },
            op, sid, plen, tid, pcrc, hcrc,
        };
        let mut buf = vec![0u8; HEADER_LEN + extra];
        let mut h = Header::new_checked(&mut buf[..]).unwrap();
        repr.emit(&mut h);
        prop_assert_eq!(HeaderRepr::parse(&h), Ok(repr));
        h.fill_hcrc();
        prop_assert_eq!(h.hcrc(), h.compute_hcrc());
        prop_assert!(buf[HEADER_LEN..].iter().all(|&b| b == 0));
    }

    #[test]
    fn encode_request_matches_an_independent_crc(op in 0u8..5, sid in any::<u8>(), tid in any::<u32>(),
                                                 payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let h = encode_request(Op::from_code(op).unwrap(), sid, tid, &payload).unwrap();
        let mut expect = b"fast".to_vec();
        expect.extend_from_slice(&[op, sid]);
        expect.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        expect.extend_from_slice(&tid.to_be_bytes());
        expect.extend_from_slice(&[0, 0]);
        expect.extend_from_slice(&(if payload.is_empty() { 0 } else { crc(&payload) }).to_be_bytes());
        let c = crc(&expect);
        expect[12..14].copy_from_slice(&c.to_be_bytes());
        prop_assert_eq!(&h[..], &expect[..]);
    }

    #[test]
    fn receive_never_panics_in_any_state(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 1..6)) {
        for mut s in sessions_in_every_state() {
            for chunk in &chunks {
                let before = s.poll();
                match s.receive(chunk) {
                    Ok(n) => {
                        prop_assert!(n <= chunk.len());
                        if !matches!(before, Poll::Await { .. }) { prop_assert_eq!(n, 0); }
                    }
                    Err(e) => prop_assert_eq!(s.poll(), Poll::Failed(e)),
                }
            }
        }
    }

    #[test]
    fn arbitrary_responses_always_terminate(tokens in prop::collection::vec(token(), 0..120),
                                            len in 1u32..200, cap in 1u16..50, budget in 0u16..20,
                                            attempts in 0u8..6) {
        let cfg = SessionConfig { block_cap: cap, retry_budget: budget, attempts_per_frame: attempts,
                                  ..SessionConfig::default() };
        let img: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut s = Session::new(cfg, len, 0).unwrap();
        let mut tokens = tokens.into_iter();
        let mut last_correct: Vec<u8> = Vec::new();
        // Every frame ends in an ACK (≥ 1 byte of progress, or one retry) or a fault (one retry or the
        // end); only tokens can keep an Await going without either.
        let bound = tokens.len() + 4 * (3 + 2 * len as usize + 2 * usize::from(budget) + 2) + 10;
        let mut steps = 0usize;
        loop {
            steps += 1;
            prop_assert!(steps <= bound, "no end after {} steps: {:?}", steps, s.poll());
            let before = s.poll();
            match before {
                Poll::Transmit { .. } => frame_now(&mut s, &img),
                Poll::Await { op, .. } => match tokens.next() {
                    None | Some(Token::Timeout) => { let _ = s.timed_out(); }
                    Some(Token::Bytes(b)) => { let _ = s.receive(&b); }
                    Some(Token::Repeat) => { let _ = s.receive(&last_correct); }
                    Some(Token::Correct { residue, open, flip }) => {
                        let mut a = correct_answer(&s).unwrap();
                        match op {
                            Op::TransferBlock => a[16..18].copy_from_slice(&residue.to_be_bytes()),
                            Op::SessionOpen => a[16..20].copy_from_slice(&open),
                            _ => {}
                        }
                        if op == Op::TransferBlock || op == Op::SessionOpen {
                            let p = crc(&a[16..]);
                            a[14..16].copy_from_slice(&p.to_be_bytes());
                            a[12] = 0; a[13] = 0;
                            let h = crc(&a[..16]);
                            a[12..14].copy_from_slice(&h.to_be_bytes());
                        }
                        if let Some((i, bit)) = flip
                            && i < a.len()
                        {
                            a[i] ^= 1 << bit;
                        }
                        last_correct = a.clone();
                        let _ = s.receive(&a);
                    }
                },
                Poll::Done | Poll::Failed(_) => break,
            }
        }
        if s.poll() == Poll::Done {
            prop_assert_eq!(s.acknowledged(), len);
        }
        prop_assert!(s.acknowledged() <= len);
    }

    #[test]
    fn correct_slave_with_residues_and_nacks_delivers_the_image(
        len in 1u32..30_000, start in 0u32..30_000, version in 1u8..=2,
        max_transfer in prop_oneof![Just(8192u16), Just(2048u16), 20u16..600],
        dice in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let start = start % len;
        let img: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8).collect();
        // The property is the delivered stream; the session-wide budget has its own tests (a
        // 4-byte-block run makes thousands of exchanges).
        let cfg = SessionConfig { retry_budget: u16::MAX, ..SessionConfig::default() };
        let s = Session::new(cfg, len, start).unwrap();
        let (outcome, stream, s) = run_against_slave(s, &img, version, max_transfer, &dice);
        prop_assert_eq!(outcome, Poll::Done);
        prop_assert!(stream == img[start as usize..], "stream differs");
        prop_assert_eq!(s.acknowledged(), len);
    }
}

/// A correct slave (v1 cache, v2 NACKs) whose faults are drawn from `dice`, driven to the end.
/// A frame never faults twice in a row (three clean exchanges between faults), so the per-frame
/// attempt limit is never reached.
fn run_against_slave(
    mut s: Session,
    img: &[u8],
    version: u8,
    max_transfer: u16,
    dice: &[u8],
) -> (Poll, Vec<u8>, Session) {
    let mut roll = dice.iter().copied().cycle();
    let mut stream = Vec::new();
    let mut announced = 0u16;
    let mut cache: Option<(u8, u32, Vec<u8>)> = None;
    let mut line: Vec<u8> = Vec::new();
    let mut late: Vec<u8> = Vec::new();
    let mut consecutive = 0;
    for _ in 0..1_000_000 {
        match s.poll() {
            Poll::Transmit { data, .. } => {
                line.clear();
                let bytes = data.map_or(&[][..], |r| {
                    &img[r.offset as usize..r.offset as usize + usize::from(r.len)]
                });
                let out = s.frame(bytes).unwrap();
                let h = out.header();
                let (op, sid, tid) = (h[4], h[5], u32::from_be_bytes([h[8], h[9], h[10], h[11]]));
                let mut payload = out.inline_payload().to_vec();
                payload.extend_from_slice(bytes);
                assert!(16 + payload.len() <= usize::from(max_transfer) || op <= 1);
                line.append(&mut late);
                let d = roll.next().unwrap();
                // Faults only after a few clean exchanges in a row, so limits are never reached.
                let fault = if consecutive < 3 { 0 } else { d % 8 };
                consecutive = if fault == 0 { consecutive + 1 } else { 0 };
                if version == 1 && cache.as_ref().is_some_and(|c| c.0 == op && c.1 == tid) {
                    line.extend_from_slice(&cache.as_ref().unwrap().2);
                    continue;
                }
                if version == 2 && fault == 1 && op != 0 {
                    line.extend(answer(op | 0x40, sid, tid, &[], d & 1 == 0));
                    continue;
                }
                if version == 2 && fault == 2 && op != 0 {
                    line.extend(answer(0x7f, 0, 0, &[], false));
                    continue;
                }
                let reply = match op {
                    0 => answer(0x80, sid, tid, &[], true),
                    1 => {
                        let [a, b] = max_transfer.to_be_bytes();
                        answer(0x81, sid, tid, &[1, version, a, b], d & 1 == 0)
                    }
                    2 => {
                        announced = u16::from_be_bytes([payload[0], payload[1]]);
                        answer(0x82, sid, tid, &[], false)
                    }
                    3 => {
                        assert_eq!(payload.len(), usize::from(announced));
                        let r = if fault == 3 {
                            u16::from(d) % announced
                        } else {
                            0
                        };
                        stream.extend_from_slice(&payload[..usize::from(announced - r)]);
                        answer(0x83, sid, tid, &r.to_be_bytes(), d & 2 == 0)
                    }
                    4 => answer(0x84, sid, tid, &[], false),
                    _ => unreachable!(),
                };
                if version == 1 {
                    cache = Some((op, tid, reply.clone()));
                }
                match fault {
                    // Lost answer: only where the rules allow a retry (never a v2 block).
                    4 if version == 1 || op != 3 => {}
                    // Duplicate, arriving after the next request.
                    5 => {
                        line.extend_from_slice(&reply);
                        late = reply;
                    }
                    // Noise first.
                    6 => {
                        line.extend_from_slice(b"\r\nOK\r\n\x00ts");
                        line.extend(reply);
                    }
                    _ => line.extend(reply),
                }
            }
            Poll::Await { .. } => {
                if line.is_empty() {
                    let _ = s.timed_out();
                } else {
                    let bytes = std::mem::take(&mut line);
                    let _ = s.receive(&bytes);
                    if matches!(s.poll(), Poll::Await { .. }) {
                        let _ = s.timed_out();
                    }
                }
            }
            p @ (Poll::Done | Poll::Failed(_)) => return (p, stream, s),
        }
    }
    panic!("did not terminate");
}
