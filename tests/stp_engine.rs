//! The session engine against a scripted STP slave written here, independently of the library (its
//! own CRC, its own frame parsing, its own v1 retransmission cache). The slave checks every request
//! the engine sends (signature, CRCs, lengths, announced block sizes) and records the stream it
//! accepted; a script decides, request by request, whether it answers, drops, garbles, duplicates,
//! NACKs or reports a residue.

use modem_upgrade::protocol::stp::*;
use std::collections::VecDeque;

#[path = "support/stp_wire.rs"]
mod stp_wire;
use stp_wire::{bitwise_crc as slave_crc, response_with};

// ---- the slave ---------------------------------------------------------------------------------

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// What the script does with one received request.
#[derive(Clone, Debug, PartialEq)]
enum Action {
    /// Process and answer normally.
    Answer,
    /// The request never reaches the slave.
    LoseRequest,
    /// Processed (applied), but the answer is lost.
    LoseAnswer,
    /// Processed; the answer's byte `index` is XORed with `mask`.
    Garble { index: usize, mask: u8 },
    /// Processed; answered now and once more after the host's next request.
    Duplicate,
    /// Processed; the answer arrives only after the host's next request (too late).
    Late,
    /// Not applied; answered with `op | 0x40`.
    Nack,
    /// Not applied; answered with 0x7F and the given sid/tid.
    NackUnknown,
    /// For a BLOCK: only `len − r` bytes are taken; the answer says residue r.
    Residue(u16),
    /// For a BLOCK: applied in full, but the answer claims residue r (the cache keeps the truth).
    BogusResidue(u16),
    /// `n` noise bytes, then the normal answer.
    Noise(usize),
    /// The request comes back verbatim (a line echo), no answer.
    Echo,
    /// Answered with this sid/tid instead of the request's.
    WrongIds { sid: u8, tid: u32 },
}

#[derive(Clone, Debug, PartialEq)]
struct Req {
    op: u8,
    sid: u8,
    tid: u32,
    plen: usize,
    /// A v1 retransmission (same op and tid as the cached exchange).
    repeat: bool,
}

type Script = Box<dyn FnMut(&Req, &Slave) -> Action>;

struct Slave {
    version: u8,
    max_transfer: u16,
    with_hcrc: bool,
    /// Fill pcrc in answers with a payload (a modem may leave it 0: "not provided").
    with_pcrc: bool,
    open: bool,
    closed: bool,
    announced: Option<u16>,
    data_type: Option<u32>,
    stream: Vec<u8>,
    /// v1: the last answered request (op, tid) and its answer.
    cache: Option<(u8, u32, Vec<u8>)>,
    log: Vec<Req>,
    /// Bytes to put on the line after the host's next request.
    deferred: Vec<u8>,
    script: Script,
}

impl Slave {
    fn new(version: u8, max_transfer: u16) -> Self {
        Slave {
            version,
            max_transfer,
            with_hcrc: false,
            with_pcrc: true,
            open: false,
            closed: false,
            announced: None,
            data_type: None,
            stream: Vec::new(),
            cache: None,
            log: Vec::new(),
            deferred: Vec::new(),
            script: Box::new(|_, _| Action::Answer),
        }
    }

    fn script(mut self, f: impl FnMut(&Req, &Slave) -> Action + 'static) -> Self {
        self.script = Box::new(f);
        self
    }

    fn answer(&self, op: u8, sid: u8, tid: u32, payload: &[u8]) -> Vec<u8> {
        response_with(op, sid, tid, payload, self.with_hcrc, self.with_pcrc)
    }

    /// One complete request frame from the host; returns the bytes put on the line now.
    fn handle(&mut self, frame: &[u8]) -> Vec<u8> {
        assert!(frame.len() >= 16, "short frame");
        assert_eq!(&frame[..4], b"fast", "request signature");
        let (op, sid, plen, tid) = (
            frame[4],
            frame[5],
            be16(&frame[6..]) as usize,
            be32(&frame[8..]),
        );
        let (hcrc, pcrc) = (be16(&frame[12..]), be16(&frame[14..]));
        let mut zeroed = frame[..16].to_vec();
        zeroed[12] = 0;
        zeroed[13] = 0;
        assert_eq!(slave_crc(&zeroed), hcrc, "request hcrc");
        assert_eq!(frame.len(), 16 + plen, "frame length");
        let payload = &frame[16..];
        assert_eq!(pcrc, if plen == 0 { 0 } else { slave_crc(payload) }, "pcrc");
        if self.open {
            assert!(
                frame.len() <= usize::from(self.max_transfer),
                "frame over max_transfer"
            );
        }
        assert!(!self.closed, "request after the closing RESET");

        let repeat = self.version == 1
            && self
                .cache
                .as_ref()
                .is_some_and(|(o, t, _)| *o == op && *t == tid);
        let req = Req {
            op,
            sid,
            tid,
            plen,
            repeat,
        };
        let mut script = std::mem::replace(&mut self.script, Box::new(|_, _| Action::Answer));
        let action = script(&req, self);
        self.script = script;
        self.log.push(req);

        let mut now = std::mem::take(&mut self.deferred);
        match action {
            Action::LoseRequest => return now,
            Action::Echo => {
                now.extend_from_slice(frame);
                return now;
            }
            Action::Nack => {
                assert_eq!(self.version, 2, "NACKs are STP v2");
                now.extend(self.answer(op | 0x40, sid, tid, &[]));
                return now;
            }
            Action::NackUnknown => {
                assert_eq!(self.version, 2, "NACKs are STP v2");
                now.extend(self.answer(0x7F, 0xEE, 0xDEAD_BEEF, &[]));
                return now;
            }
            _ => {}
        }

        let answer = if repeat {
            self.cache.as_ref().unwrap().2.clone()
        } else {
            let (reply, truth) = self.apply(op, sid, tid, payload, &action);
            if self.version == 1 {
                self.cache = Some((op, tid, truth));
            }
            reply
        };
        match action {
            Action::LoseAnswer => {}
            Action::Garble { index, mask } => {
                let mut a = answer;
                a[index] ^= mask;
                now.extend(a);
            }
            Action::Duplicate => {
                now.extend_from_slice(&answer);
                self.deferred = answer;
            }
            Action::Late => self.deferred = answer,
            Action::Noise(n) => {
                now.extend((0..n).map(|i| b"tsa\x00fa\x01"[i % 7]));
                now.extend(answer);
            }
            Action::WrongIds { sid, tid } => {
                let mut a = answer;
                a[5] = sid;
                a[8..12].copy_from_slice(&tid.to_be_bytes());
                if self.with_hcrc {
                    a[12] = 0;
                    a[13] = 0;
                    let c = slave_crc(&a[..16]);
                    a[12..14].copy_from_slice(&c.to_be_bytes());
                }
                now.extend(a);
            }
            _ => now.extend(answer),
        }
        now
    }

    /// Applies a (new) request; returns (the answer sent, the answer a v1 cache keeps).
    fn apply(
        &mut self,
        op: u8,
        sid: u8,
        tid: u32,
        payload: &[u8],
        action: &Action,
    ) -> (Vec<u8>, Vec<u8>) {
        let ok = |s: &Self, p: &[u8]| {
            let a = s.answer(op | 0x80, sid, tid, p);
            (a.clone(), a)
        };
        match op {
            0 => {
                if self.open {
                    self.closed = true;
                }
                self.announced = None;
                ok(self, &[])
            }
            1 => {
                self.open = true;
                let [hi, lo] = self.max_transfer.to_be_bytes();
                ok(self, &[1, self.version, hi, lo])
            }
            2 => {
                assert_eq!(payload.len(), 2, "BLOCK_CMD payload");
                let l = be16(payload);
                assert!(l >= 1 && l <= self.max_transfer - 16, "announced {l}");
                self.announced = Some(l);
                ok(self, &[])
            }
            3 => {
                let l = self.announced.expect("BLOCK without BLOCK_CMD");
                assert_eq!(payload.len(), usize::from(l), "BLOCK length vs announced");
                let r = match *action {
                    Action::Residue(r) => r.min(l),
                    _ => 0,
                };
                self.stream
                    .extend_from_slice(&payload[..usize::from(l - r)]);
                let truth = self.answer(op | 0x80, sid, tid, &r.to_be_bytes());
                let sent = match *action {
                    Action::BogusResidue(b) => self.answer(op | 0x80, sid, tid, &b.to_be_bytes()),
                    _ => truth.clone(),
                };
                (sent, truth)
            }
            4 => {
                assert_eq!(self.version, 2, "DATA_TYPE sent to a v1 modem");
                assert_eq!(payload.len(), 4);
                self.data_type = Some(be32(payload));
                ok(self, &[])
            }
            other => panic!("unknown op {other:#x}"),
        }
    }
}

// ---- the driver --------------------------------------------------------------------------------

struct Run {
    outcome: Poll,
    session: Session,
    slave: Slave,
    /// `timeout_ms` of every Await, in order.
    awaits: Vec<(Op, u32, u32)>,
    purges: Vec<bool>,
}

fn image(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Drives `session` against `slave` the way a blocking driver would: the line holds what the slave
/// sent; after the awaited response the rest is dropped; an empty line means the deadline passed.
fn drive(mut session: Session, mut slave: Slave, img: &[u8]) -> Run {
    let mut line: VecDeque<u8> = VecDeque::new();
    let mut awaits = Vec::new();
    let mut purges = Vec::new();
    for _ in 0..100_000 {
        match session.poll() {
            Poll::Transmit {
                data, purge_first, ..
            } => {
                purges.push(purge_first);
                line.clear();
                let bytes = data.map_or(&[][..], |r| {
                    &img[r.offset as usize..r.offset as usize + usize::from(r.len)]
                });
                let out = session.frame(bytes).expect("frame");
                let mut frame = out.header().to_vec();
                frame.extend_from_slice(out.inline_payload());
                frame.extend_from_slice(bytes);
                line.extend(slave.handle(&frame));
            }
            Poll::Await {
                op,
                tid,
                timeout_ms,
            } => {
                awaits.push((op, tid, timeout_ms));
                let bytes: Vec<u8> = line.drain(..).collect();
                if bytes.is_empty() {
                    let _ = session.timed_out();
                    continue;
                }
                let used = match session.receive(&bytes) {
                    Ok(n) => n,
                    Err(_) => continue,
                };
                assert!(used <= bytes.len());
                if matches!(session.poll(), Poll::Await { .. }) {
                    // Nothing complete: the rest never comes, the deadline passes.
                    assert_eq!(used, bytes.len());
                    let _ = session.timed_out();
                }
            }
            outcome @ (Poll::Done | Poll::Failed(_)) => {
                return Run {
                    outcome,
                    session,
                    slave,
                    awaits,
                    purges,
                };
            }
        }
    }
    panic!("the session did not terminate");
}

fn v1() -> Slave {
    Slave::new(1, 8192)
}

fn v2() -> Slave {
    Slave::new(2, 8192)
}

fn session(len: usize) -> Session {
    Session::new(SessionConfig::default(), len as u32, 0).unwrap()
}

fn ops_tids(log: &[Req]) -> Vec<(u8, u32)> {
    log.iter().map(|r| (r.op, r.tid)).collect()
}

fn assert_done(run: &Run, img: &[u8]) {
    assert_eq!(run.outcome, Poll::Done, "stats {:?}", run.session.stats());
    assert_eq!(run.slave.stream.len(), img.len());
    assert!(
        run.slave.stream == img,
        "the received stream differs from the image"
    );
    assert!(run.slave.closed, "the session was not closed with a RESET");
    assert_eq!(run.session.acknowledged(), img.len() as u32);
}

// ---- clean runs and tid rules --------------------------------------------------------------------

#[test]
fn v1_clean_transfer_and_tid_sequence() {
    let img = image(10_000, 1);
    let run = drive(session(img.len()), v1(), &img);
    assert_done(&run, &img);
    // RESET 0/0, OPEN 1/1, then CMD even / BLOCK odd, close with sid 1 and the next tid.
    let log = &run.slave.log;
    assert_eq!((log[0].op, log[0].sid, log[0].tid), (0, 0, 0));
    assert_eq!((log[1].op, log[1].sid, log[1].tid), (1, 1, 1));
    let blocks = img.len().div_ceil(2016);
    assert_eq!(log.len(), 2 + 2 * blocks + 1);
    for (i, r) in log[2..log.len() - 1].iter().enumerate() {
        let (op, tid) = if i % 2 == 0 { (2, 2 + i) } else { (3, 2 + i) };
        assert_eq!((r.op, r.sid, r.tid), (op, 1, tid as u32));
        assert_eq!(r.tid % 2, if op == 2 { 0 } else { 1 });
    }
    let close = log.last().unwrap();
    assert_eq!(
        (close.op, close.sid, close.tid),
        (0, 1, 2 + 2 * blocks as u32)
    );
    assert!(run.session.stats().close_acknowledged);
    assert_eq!(run.slave.data_type, None);
    assert_eq!(run.session.stats().blocks, blocks as u32);
    // Only the opening frame purges.
    assert_eq!(run.purges.iter().filter(|&&p| p).count(), 1);
    assert!(run.purges[0]);
}

#[test]
fn v2_clean_transfer_sends_data_type() {
    let img = image(7_000, 2);
    let run = drive(session(img.len()), v2(), &img);
    assert_done(&run, &img);
    assert_eq!(run.slave.data_type, Some(4));
    assert_eq!(
        ops_tids(&run.slave.log)[..4],
        [(0, 0), (1, 1), (4, 2), (2, 3)]
    );
}

#[test]
fn response_header_crc_present_or_absent() {
    for with_hcrc in [false, true] {
        let img = image(3_000, 3);
        let mut slave = v1();
        slave.with_hcrc = with_hcrc;
        let run = drive(session(img.len()), slave, &img);
        assert_done(&run, &img);
    }
}

#[test]
fn small_max_transfer_and_block_cap() {
    let img = image(1_000, 4);
    let run = drive(session(img.len()), Slave::new(1, 18), &img);
    assert_done(&run, &img);
    assert_eq!(run.session.negotiated().unwrap().block_len, 2);
    let cfg = SessionConfig {
        block_cap: 100,
        ..SessionConfig::default()
    };
    let run = drive(
        Session::new(cfg, 1_000, 0).unwrap(),
        Slave::new(1, 2048),
        &img,
    );
    assert_done(&run, &img);
    assert_eq!(run.session.stats().blocks, 10);
}

// ---- v1 retries ------------------------------------------------------------------------------------

#[test]
fn v1_lost_block_answer_is_retransmitted_with_the_same_tid_and_applied_once() {
    let img = image(5_000, 5);
    let slave = v1().script(|r, _| {
        if r.op == 3 && r.tid == 5 && !r.repeat {
            Action::LoseAnswer
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    let t = ops_tids(&run.slave.log);
    assert_eq!(t[4..8], [(2, 4), (3, 5), (3, 5), (2, 6)]);
    assert!(run.slave.log[6].repeat);
    let st = run.session.stats();
    assert_eq!((st.timeouts, st.retransmissions), (1, 1));
    assert_eq!(
        run.session.last_fault(),
        Some(ResponseFault::Timeout { waited_ms: 2000 })
    );
    // The retry doubled the timeout and purged first.
    assert!(run.awaits.contains(&(Op::TransferBlock, 5, 4000)));
}

#[test]
fn v1_lost_request_and_lost_cmd_answer() {
    let img = image(5_000, 6);
    let mut n = 0;
    let slave = v1().script(move |r, _| {
        n += 1;
        match (r.op, r.tid, r.repeat) {
            (2, 2, false) if n == 3 => Action::LoseRequest,
            (2, 4, false) => Action::LoseAnswer,
            _ => Action::Answer,
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert_eq!(
        ops_tids(&run.slave.log)[2..8],
        [(2, 2), (2, 2), (3, 3), (2, 4), (2, 4), (3, 5)]
    );
}

#[test]
fn v1_stale_duplicate_is_discarded_without_a_retry() {
    let img = image(5_000, 7);
    let slave = v1().script(|r, _| {
        if r.op == 3 && r.tid == 3 {
            Action::Duplicate
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    let st = run.session.stats();
    assert_eq!(st.stale_responses, 1);
    assert_eq!(
        (st.retransmissions, st.timeouts, st.bad_responses),
        (0, 0, 0)
    );
}

#[test]
fn v1_late_answer_then_cache_answer() {
    // The BLOCK's answer is late: the host times out and retransmits; the late original arrives
    // before the cached copy; the copy is dropped with the rest of the line (or discarded as stale).
    let img = image(5_000, 8);
    let slave = v1().script(|r, _| {
        if r.op == 3 && r.tid == 3 && !r.repeat {
            Action::Late
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert_eq!(run.session.stats().timeouts, 1);
}

#[test]
fn v1_garbled_answers_are_retried_with_the_same_tid() {
    for (index, mask, with_hcrc) in [
        (13, 0x01, true),  // header CRC
        (17, 0x01, false), // BLOCK residue payload → payload CRC
        (4, 0x02, false),  // op 0x83 → 0x81
        (7, 0x08, false),  // plen 2 → 10: rejected before the payload
        (7, 0x02, false),  // plen 2 → 0: not the ACK's length
        (0, 0x01, true),   // signature: never found, then a timeout
    ] {
        let img = image(5_000, 9);
        let mut slave = v1().script(move |r, _| {
            if r.op == 3 && r.tid == 3 && !r.repeat {
                Action::Garble { index, mask }
            } else {
                Action::Answer
            }
        });
        slave.with_hcrc = with_hcrc;
        let run = drive(session(img.len()), slave, &img);
        assert_done(&run, &img);
        assert_eq!(
            ops_tids(&run.slave.log)[3..6],
            [(3, 3), (3, 3), (2, 4)],
            "garble {index}"
        );
        let fault = run.session.last_fault().unwrap();
        match index {
            13 => assert!(matches!(fault, ResponseFault::HeaderCrc { .. })),
            17 => assert!(matches!(fault, ResponseFault::PayloadCrc { .. })),
            4 => assert_eq!(
                fault,
                ResponseFault::Op {
                    expected: 0x83,
                    found: 0x81
                }
            ),
            7 if mask == 0x08 => {
                assert_eq!(
                    fault,
                    ResponseFault::PayloadLength {
                        expected: 2,
                        found: 10
                    }
                )
            }
            7 => assert_eq!(
                fault,
                ResponseFault::PayloadLength {
                    expected: 2,
                    found: 0
                }
            ),
            0 => assert_eq!(fault, ResponseFault::Timeout { waited_ms: 2000 }),
            _ => unreachable!(),
        }
    }
}

#[test]
fn wrong_sid_and_tid_are_faults() {
    for (sid, tid, expect) in [
        (
            7,
            3,
            ResponseFault::Sid {
                expected: 1,
                found: 7,
            },
        ),
        (
            1,
            9,
            ResponseFault::Tid {
                expected: 3,
                found: 9,
            },
        ),
    ] {
        let img = image(3_000, 10);
        let slave = v1().script(move |r, _| {
            if r.op == 3 && r.tid == 3 && !r.repeat {
                Action::WrongIds { sid, tid }
            } else {
                Action::Answer
            }
        });
        let run = drive(session(img.len()), slave, &img);
        assert_done(&run, &img);
        assert_eq!(run.session.last_fault(), Some(expect));
    }
}

#[test]
fn noise_before_answers_is_counted_as_garbage() {
    let img = image(3_000, 11);
    let slave = v1().script(|r, _| {
        if r.op == 2 {
            Action::Noise(10)
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert_eq!(run.session.stats().garbage_bytes, 20);
}

#[test]
fn v1_bogus_residue_is_retried_and_the_cache_answers_the_truth() {
    let img = image(3_000, 12);
    let slave = v1().script(|r, _| {
        if r.op == 3 && r.tid == 3 && !r.repeat {
            Action::BogusResidue(5000)
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert_eq!(
        run.session.stats().bad_responses,
        1,
        "{:?}",
        run.session.last_fault()
    );
}

#[test]
fn residues_are_resent_first() {
    let img = image(20_000, 13);
    let mut n = 0u16;
    let slave = v1().script(move |r, _| {
        if r.op == 3 {
            n += 1;
            Action::Residue((n * 37 % 500).min(r.plen as u16 - 1))
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    let st = run.session.stats();
    assert!(st.residues > 5 && st.residue_bytes > 0, "{st:?}");
}

#[test]
fn flipped_residue_with_pcrc_zero_is_caught_when_the_modem_fills_pcrc() {
    // CRC-16/XMODEM(00 00) = 0, so a residue-0 ACK carries pcrc 0 ("not provided") and a flip in the
    // residue would pass unnoticed; the engine holds a modem that filled pcrc in SESSION_OPEN to it.
    let img = image(5_000, 24);
    let slave = v1().script(|r, _| {
        if r.op == 3 && r.tid == 5 && !r.repeat {
            Action::Garble {
                index: 17,
                mask: 0x04,
            }
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert_eq!(
        run.session.last_fault(),
        Some(ResponseFault::PayloadCrc {
            computed: slave_crc(&[0, 4]),
            found: 0
        })
    );

    // A modem that never fills pcrc: residues are taken at their word.
    let mut n = 0u16;
    let mut slave = v1().script(move |r, _| {
        n += 1;
        if r.op == 3 && n.is_multiple_of(3) {
            Action::Residue(n)
        } else {
            Action::Answer
        }
    });
    slave.with_pcrc = false;
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert!(run.session.stats().residues > 0);
}

#[test]
fn echo_is_a_signature_fault() {
    let img = image(100, 14);
    let slave = v1().script(|_, _| Action::Echo);
    let run = drive(session(img.len()), slave, &img);
    let Poll::Failed(StpError::AttemptsExhausted {
        op, attempts, last, ..
    }) = run.outcome
    else {
        panic!("{:?}", run.outcome);
    };
    assert_eq!((op, attempts), (Op::Reset, 5));
    assert_eq!(last, ResponseFault::Signature { found: *b"fast" });
    assert!(last.to_string().contains("echo"), "{last}");
    assert_eq!(run.session.stats().garbage_bytes, 0);
}

// ---- v2 retries ------------------------------------------------------------------------------------

#[test]
fn v2_nacks_resend_with_the_next_tid() {
    let img = image(5_000, 15);
    let slave = v2().script(|r, _| match (r.op, r.tid) {
        (2, 3) => Action::Nack,
        (3, 5) => Action::Nack,
        (2, 7) => Action::NackUnknown,
        _ => Action::Answer,
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert_eq!(
        ops_tids(&run.slave.log)[3..10],
        [(2, 3), (2, 4), (3, 5), (3, 6), (2, 7), (2, 8), (3, 9)]
    );
    let st = run.session.stats();
    assert_eq!((st.nacks, st.retransmissions), (3, 3));
    assert_eq!(run.session.last_fault(), Some(ResponseFault::NackUnknown));
}

#[test]
fn v2_lost_cmd_answer_resends_with_the_next_tid() {
    let img = image(5_000, 16);
    let slave = v2().script(|r, _| {
        if (r.op, r.tid) == (2, 3) {
            Action::LoseAnswer
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert_eq!(ops_tids(&run.slave.log)[3..6], [(2, 3), (2, 4), (3, 5)]);
}

#[test]
fn v2_late_cmd_answer_of_an_earlier_attempt_is_stale() {
    let img = image(5_000, 17);
    let slave = v2().script(|r, _| {
        if (r.op, r.tid) == (2, 3) {
            Action::Late
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_done(&run, &img);
    assert_eq!(run.session.stats().stale_responses, 1);
    assert_eq!(ops_tids(&run.slave.log)[3..6], [(2, 3), (2, 4), (3, 5)]);
}

#[test]
fn v2_lost_block_answer_is_fatal() {
    for action in [
        Action::LoseAnswer,
        Action::LoseRequest,
        Action::Garble { index: 17, mask: 1 },
        Action::BogusResidue(3000),
        Action::WrongIds { sid: 1, tid: 99 },
    ] {
        let img = image(5_000, 18);
        let a = action.clone();
        let slave = v2().script(move |r, _| {
            if (r.op, r.tid) == (3, 6) {
                a.clone()
            } else {
                Action::Answer
            }
        });
        let run = drive(session(img.len()), slave, &img);
        let Poll::Failed(StpError::BlockOutcomeUnknown { offset, last }) = run.outcome else {
            panic!("{action:?}: {:?}", run.outcome);
        };
        assert_eq!(offset, 2016, "{action:?}");
        assert_eq!(run.session.last_fault(), Some(last));
        // No retransmission of the block was attempted.
        assert_eq!(run.slave.log.iter().filter(|r| r.op == 3).count(), 2);
        if matches!(action, Action::LoseAnswer | Action::LoseRequest) {
            assert_eq!(last, ResponseFault::Timeout { waited_ms: 60_000 });
            assert_eq!(run.awaits.last(), Some(&(Op::TransferBlock, 6, 60_000)));
        }
        let text = StpError::BlockOutcomeUnknown { offset, last }.to_string();
        assert!(
            text.contains("2016") && text.contains("new session"),
            "{text}"
        );
    }
}

// ---- exhaustion and timeouts -----------------------------------------------------------------------

#[test]
fn silence_exhausts_attempts_with_doubling_timeouts() {
    let img = image(100, 19);
    let run = drive(
        session(img.len()),
        v1().script(|_, _| Action::LoseRequest),
        &img,
    );
    assert_eq!(
        run.outcome,
        Poll::Failed(StpError::AttemptsExhausted {
            op: Op::Reset,
            tid: 0,
            attempts: 5,
            last: ResponseFault::Timeout { waited_ms: 32_000 }
        })
    );
    let waits: Vec<u32> = run.awaits.iter().map(|a| a.2).collect();
    assert_eq!(waits, [2000, 4000, 8000, 16_000, 32_000]);
    assert_eq!(run.purges, [true; 5]);
    assert_eq!(run.session.stats().timeouts, 5);
    assert_eq!(run.session.retries_used(), 4);
}

#[test]
fn timeouts_are_capped() {
    let cfg = SessionConfig {
        response_timeout_ms: 1500,
        max_response_timeout_ms: 5000,
        attempts_per_frame: 6,
        ..SessionConfig::default()
    };
    let img = image(100, 20);
    let run = drive(
        Session::new(cfg, 100, 0).unwrap(),
        v1().script(|_, _| Action::LoseRequest),
        &img,
    );
    let waits: Vec<u32> = run.awaits.iter().map(|a| a.2).collect();
    assert_eq!(waits, [1500, 3000, 5000, 5000, 5000, 5000]);
}

#[test]
fn retry_budget_is_session_wide() {
    let cfg = SessionConfig {
        retry_budget: 3,
        ..SessionConfig::default()
    };
    let img = image(20_000, 21);
    // Every BLOCK_CMD loses its first answer: one retry per block; the fourth retry is refused.
    let slave = v1().script(|r, _| {
        if r.op == 2 && !r.repeat {
            Action::LoseAnswer
        } else {
            Action::Answer
        }
    });
    let run = drive(Session::new(cfg, 20_000, 0).unwrap(), slave, &img);
    assert_eq!(
        run.outcome,
        Poll::Failed(StpError::RetryBudgetExhausted {
            budget: 3,
            last: ResponseFault::Timeout { waited_ms: 2000 }
        })
    );
    assert_eq!(run.session.acknowledged(), 3 * 2016);
    assert_eq!(run.slave.stream, img[..3 * 2016]);
}

#[test]
fn a_modem_that_never_consumes_cannot_loop_forever() {
    let img = image(5_000, 22);
    let slave = v1().script(|r, _| {
        if r.op == 3 {
            Action::Residue(u16::MAX)
        } else {
            Action::Answer
        }
    });
    let run = drive(session(img.len()), slave, &img);
    assert_eq!(
        run.outcome,
        Poll::Failed(StpError::RetryBudgetExhausted {
            budget: 64,
            last: ResponseFault::Residue {
                residue: 2016,
                block_len: 2016
            }
        })
    );
    assert_eq!(run.session.stats().blocks, 65);
    assert_eq!(run.session.acknowledged(), 0);
}

#[test]
fn retry_budget_scales_with_the_started_mib_to_send() {
    const MIB: usize = 1 << 20;
    let never_consumes = || {
        v1().script(|r, _| {
            if r.op == 3 {
                Action::Residue(u16::MAX)
            } else {
                Action::Answer
            }
        })
    };
    let exhausted_budget = |run: &Run| match run.outcome {
        Poll::Failed(StpError::RetryBudgetExhausted { budget, .. }) => budget,
        ref other => panic!("{other:?}"),
    };
    let img = image(MIB + 1, 24);
    // 1 MiB + 1 byte starts a second MiB: 2 × 64.
    let run = drive(session(img.len()), never_consumes(), &img);
    assert_eq!(exhausted_budget(&run), 128);
    assert_eq!(run.session.retries_used(), 128);
    assert_eq!(run.session.stats().blocks, 129);
    // Exactly 1 MiB is one started MiB.
    let run = drive(session(MIB), never_consumes(), &img[..MIB]);
    assert_eq!(exhausted_budget(&run), 64);
    // Only the bytes still to send count: resuming at 1 byte leaves exactly 1 MiB.
    let resumed = Session::new(SessionConfig::default(), img.len() as u32, 1).unwrap();
    let run = drive(resumed, never_consumes(), &img);
    assert_eq!(exhausted_budget(&run), 64);
    // The configured value is the per-MiB figure.
    let cfg = SessionConfig {
        retry_budget: 5,
        ..SessionConfig::default()
    };
    let run = drive(
        Session::new(cfg, img.len() as u32, 0).unwrap(),
        never_consumes(),
        &img,
    );
    assert_eq!(exhausted_budget(&run), 10);
}

#[test]
fn close_timeout_or_garble_still_ends_in_done() {
    for action in [
        Action::LoseAnswer,
        Action::Garble {
            index: 4,
            mask: 0x10,
        },
    ] {
        let img = image(3_000, 23);
        let a = action.clone();
        let slave = v1().script(move |r, s| {
            if r.op == 0 && s.open {
                a.clone()
            } else {
                Action::Answer
            }
        });
        let run = drive(session(img.len()), slave, &img);
        assert_done(&run, &img);
        assert!(!run.session.stats().close_acknowledged);
        // One attempt, with the close timeout.
        assert_eq!(run.slave.log.iter().filter(|r| r.op == 0).count(), 2);
        assert_eq!(run.awaits.last().unwrap().2, 2000);
    }
}

// ---- SESSION_OPEN answers --------------------------------------------------------------------------

fn open_answer(payload: [u8; 4]) -> Poll {
    let mut s = session(100);
    s.frame(&[]).unwrap();
    let ack = v1().answer(0x80, 0, 0, &[]);
    s.receive(&ack).unwrap();
    s.frame(&[]).unwrap();
    let open = v1().answer(0x81, 1, 1, &payload);
    let r = s.receive(&open);
    assert_eq!(r.is_err(), matches!(s.poll(), Poll::Failed(_)));
    s.poll()
}

#[test]
fn open_answer_checks() {
    assert_eq!(
        open_answer([0, 1, 0x20, 0]),
        Poll::Failed(StpError::OpenRefused)
    );
    assert_eq!(
        open_answer([1, 3, 0x20, 0]),
        Poll::Failed(StpError::UnsupportedVersion { version: 3 })
    );
    assert_eq!(
        open_answer([1, 0, 0x20, 0]),
        Poll::Failed(StpError::UnsupportedVersion { version: 0 })
    );
    assert_eq!(
        open_answer([1, 1, 0, 17]),
        Poll::Failed(StpError::MaxTransferTooSmall { max_transfer: 17 })
    );
    assert_eq!(
        open_answer([1, 2, 0, 19]),
        Poll::Failed(StpError::MaxTransferTooSmall { max_transfer: 19 })
    );
    assert!(matches!(open_answer([1, 1, 0, 18]), Poll::Transmit { .. }));
    assert!(matches!(
        open_answer([9, 2, 0, 20]),
        Poll::Transmit {
            op: Op::TransferDataType,
            ..
        }
    ));
}

// ---- API behaviour ---------------------------------------------------------------------------------

#[test]
fn constructor_errors() {
    assert_eq!(
        Session::new(SessionConfig::default(), 0, 0).unwrap_err(),
        StpError::EmptyImage
    );
    assert_eq!(
        Session::new(SessionConfig::default(), 10, 10).unwrap_err(),
        StpError::StartOffset {
            offset: 10,
            len: 10
        }
    );
}

#[test]
fn misuse_is_reported_and_harmless() {
    let mut s = session(100);
    assert_eq!(s.receive(b"tsaf"), Ok(0), "nothing is used outside Await");
    assert_eq!(s.timed_out(), Ok(()));
    assert_eq!(
        s.frame(&[1, 2, 3]),
        Err(StpError::DataLength {
            expected: 0,
            found: 3
        })
    );
    assert!(matches!(s.poll(), Poll::Transmit { op: Op::Reset, .. }));
    s.frame(&[]).unwrap();
    assert_eq!(s.frame(&[]), Err(StpError::NotReadyToSend));
    assert!(matches!(s.poll(), Poll::Await { .. }));
    // receive stops right after the response; the rest is the driver's.
    let mut bytes = v1().answer(0x80, 0, 0, &[]);
    bytes.extend_from_slice(b"trailing");
    assert_eq!(s.receive(&bytes), Ok(16));
    // A frame in pieces.
    s.frame(&[]).unwrap();
    let open = v1().answer(0x81, 1, 1, &[1, 1, 0x08, 0]);
    for chunk in open.chunks(3) {
        assert_eq!(s.receive(chunk), Ok(chunk.len()));
    }
    assert!(matches!(
        s.poll(),
        Poll::Transmit {
            op: Op::TransferBlockCmd,
            ..
        }
    ));
    // Block data of the wrong length.
    s.frame(&[]).unwrap();
    s.receive(&v1().answer(0x82, 1, 2, &[])).unwrap();
    assert_eq!(
        s.frame(&[0; 99]),
        Err(StpError::DataLength {
            expected: 100,
            found: 99
        })
    );
    assert!(matches!(
        s.poll(),
        Poll::Transmit {
            op: Op::TransferBlock,
            ..
        }
    ));
}

#[test]
fn failure_is_sticky() {
    let mut s = Session::new(
        SessionConfig {
            attempts_per_frame: 1,
            ..SessionConfig::default()
        },
        100,
        0,
    )
    .unwrap();
    s.frame(&[]).unwrap();
    let e = s.timed_out().unwrap_err();
    assert_eq!(s.poll(), Poll::Failed(e));
    assert_eq!(s.receive(b"x"), Err(e));
    assert_eq!(s.timed_out(), Err(e));
    assert_eq!(s.frame(&[]), Err(e));
}

#[test]
fn errors_display_values_and_advice() {
    let last = ResponseFault::HeaderCrc {
        computed: 0x1234,
        found: 0xabcd,
    };
    let cases: Vec<(String, &[&str])> = vec![
        (last.to_string(), &["0xabcd", "0x1234", "baud"]),
        (
            StpError::AttemptsExhausted {
                op: Op::TransferBlock,
                tid: 7,
                attempts: 5,
                last,
            }
            .to_string(),
            &["TRANSFER_BLOCK", "tid 7", "5 times", "0xabcd", "restart"],
        ),
        (
            StpError::RetryBudgetExhausted { budget: 64, last }.to_string(),
            &["64", "0xabcd"],
        ),
        (
            StpError::StartOffset { offset: 9, len: 5 }.to_string(),
            &["9", "5-byte"],
        ),
        (
            StpError::MaxTransferTooSmall { max_transfer: 17 }.to_string(),
            &["17"],
        ),
        (
            StpError::UnsupportedVersion { version: 3 }.to_string(),
            &["version 3"],
        ),
        (
            ResponseFault::Tid {
                expected: 3,
                found: 4,
            }
            .to_string(),
            &["4", "expected 3"],
        ),
        (
            WireError::Signature { found: *b"abcd" }.to_string(),
            &["61 62 63 64", "\"abcd\""],
        ),
    ];
    for (text, needles) in cases {
        for n in needles {
            assert!(text.contains(n), "{text:?} lacks {n:?}");
        }
    }
}

#[test]
fn session_is_small() {
    let size = std::mem::size_of::<Session>();
    println!("size_of::<Session>() = {size}");
    assert!(size <= 192, "{size}");
}
