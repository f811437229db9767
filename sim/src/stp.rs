//! The STP slave: decodes the host's requests byte by byte and produces the modem's responses.
//!
//! Written from the wire facts (16-byte big-endian header, "fast"/"tsaf" signatures, CRC-16/XMODEM),
//! without the library's codec. Frame layout, both directions:
//!
//! | offset | size | field | request | response |
//! | --- | --- | --- | --- | --- |
//! | 0 | 4 | signature | `66 61 73 74` "fast" | `74 73 61 66` "tsaf" |
//! | 4 | 1 | op | 0 RESET, 1 SESSION_OPEN, 2 TRANSFER_BLOCK_CMD, 3 TRANSFER_BLOCK, 4 TRANSFER_DATA_TYPE (v2) | op \| 0x80 (ACK) or op \| 0x40 (NACK, v2) |
//! | 5 | 1 | sid | session id | echoed |
//! | 6 | 2 | plen | payload length | payload length |
//! | 8 | 4 | tid | transaction id | echoed |
//! | 12 | 2 | hcrc | CRC-16 of the header with hcrc = 0 (0 = not provided) | 0 by default, like the real modem |
//! | 14 | 2 | pcrc | CRC-16 of the payload (0 = not provided) | computed when there is a payload (configurable) |
//!
//! How the slave treats what it receives (facts where the spec has them, otherwise the simulator's
//! documented choices):
//! - bytes that cannot start a frame (anything before a `fast` signature) are skipped;
//! - a header whose hcrc does not match, or whose plen exceeds `max_transfer − 16`, poisons the rest of
//!   the frame: the slave discards bytes until the line has been silent for `frame_gap`, then answers a
//!   v2 host with a NACK (NACK-UNKNOWN, op 0x7F, for a garbled header; op | 0x40 for an oversized plen)
//!   and a v1 host with nothing (it times out and retries);
//! - a frame whose payload CRC fails is answered with a NACK (op | 0x40) in v2, with nothing in v1;
//! - an incomplete frame is dropped after `frame_gap` of silence (v2: NACK once the header was valid);
//! - v1: a request with the same op and tid as the previous one is a retransmission: the previous
//!   response is sent again and its data is not applied twice;
//! - v2: after a NACK the host re-sends with the next tid, so tids simply increase;
//! - a RESET after SESSION_OPEN closes the session: the modem answers and returns to its AT interpreter.

use crate::checksum::crc16_xmodem;
use crate::config::ResponseCrc;
use crate::faults::Faults;
use crate::time::Nanos;
use crate::transcript::{EntryKind, Transcript};

const REQUEST_SIG: [u8; 4] = *b"fast";
const RESPONSE_SIG: [u8; 4] = *b"tsaf";
const HEADER: usize = 16;
const OP_RESET: u8 = 0x00;
const OP_OPEN: u8 = 0x01;
const OP_BLOCK_CMD: u8 = 0x02;
const OP_BLOCK: u8 = 0x03;
const OP_DATA_TYPE: u8 = 0x04;
const NACK_UNKNOWN: u8 = 0x7F;

/// Session parameters the slave announces and obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaveConfig {
    /// STP version reported in the SESSION_OPEN answer (1 or 2).
    pub version: u8,
    /// Largest frame (header + payload) accepted.
    pub max_transfer: u16,
    /// CRC fields filled in responses.
    pub response_crc: ResponseCrc,
}

/// Counters for the final report and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StpStats {
    /// Requests decoded (valid CRCs).
    pub requests: u64,
    /// Data blocks applied.
    pub blocks: u64,
    /// v1 retransmissions answered from the cache.
    pub retransmissions: u64,
    /// NACKs sent (v2).
    pub nacks: u64,
    /// Frames refused for a CRC or length error.
    pub bad_frames: u64,
    /// Bytes skipped while looking for a frame start.
    pub noise_bytes: u64,
    /// Residues reported (bytes the slave declined).
    pub residue_bytes: u64,
}

/// What the slave wants sent after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveOutput {
    /// Response bytes (header + payload).
    pub bytes: Vec<u8>,
    /// The session is closed: the modem returns to AT mode after sending this.
    pub close: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    op: u8,
    sid: u8,
    plen: u16,
    tid: u32,
    hcrc: u16,
    pcrc: u16,
}

impl Header {
    fn parse(b: &[u8; HEADER]) -> Self {
        Self {
            op: b[4],
            sid: b[5],
            plen: u16::from_be_bytes([b[6], b[7]]),
            tid: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            hcrc: u16::from_be_bytes([b[12], b[13]]),
            pcrc: u16::from_be_bytes([b[14], b[15]]),
        }
    }
}

fn op_name(op: u8) -> &'static str {
    match op {
        OP_RESET => "RESET",
        OP_OPEN => "SESSION_OPEN",
        OP_BLOCK_CMD => "BLOCK_CMD",
        OP_BLOCK => "BLOCK",
        OP_DATA_TYPE => "DATA_TYPE",
        _ => "UNKNOWN",
    }
}

/// The STP slave for one session (created when the modem answers `OK` to `AT+SMSTPU`/`AT+STP`).
#[derive(Debug, Clone)]
pub struct StpSlave {
    cfg: SlaveConfig,
    rx: Vec<u8>,
    last_byte_at: Nanos,
    /// Discarding until the line is idle; the answer to send then (v2 NACK), if any.
    poisoned: Option<Option<Vec<u8>>>,
    opened: bool,
    last_tid: Option<u32>,
    last_answer: Option<(u8, u32, Vec<u8>)>,
    announced: Option<u16>,
    /// Data type announced with TRANSFER_DATA_TYPE (v2): 2 ELF, 3 zlib ELF, 4 CABA, 5 zlib CABA.
    pub data_type: Option<u32>,
    /// Every data byte accepted so far, in order.
    pub stream: Vec<u8>,
    /// Counters.
    pub stats: StpStats,
}

impl StpSlave {
    /// A slave waiting for its first frame.
    pub fn new(cfg: SlaveConfig) -> Self {
        Self {
            cfg,
            rx: Vec::with_capacity(usize::from(cfg.max_transfer)),
            last_byte_at: 0,
            poisoned: None,
            opened: false,
            last_tid: None,
            last_answer: None,
            announced: None,
            data_type: None,
            stream: Vec::new(),
            stats: StpStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> SlaveConfig {
        self.cfg
    }

    /// When the slave needs [`StpSlave::on_idle`] called (a partial or poisoned frame is pending).
    pub fn idle_deadline(&self, gap: Nanos) -> Option<Nanos> {
        (self.poisoned.is_some() || !self.rx.is_empty()).then_some(self.last_byte_at + gap)
    }

    /// Called once the line has been silent for the frame gap: drops a partial frame, sends a pending
    /// NACK.
    pub fn on_idle(&mut self, now: Nanos, log: &mut Transcript) -> Option<SlaveOutput> {
        if let Some(answer) = self.poisoned.take() {
            self.rx.clear();
            return answer.map(|bytes| {
                log.push(
                    now,
                    EntryKind::StpOut,
                    "NACK for the frame discarded until the line went idle",
                );
                self.stats.nacks += 1;
                SlaveOutput {
                    bytes,
                    close: false,
                }
            });
        }
        if self.rx.is_empty() {
            return None;
        }
        let partial = std::mem::take(&mut self.rx);
        self.stats.bad_frames += 1;
        let Some(head) = partial.first_chunk::<HEADER>() else {
            log.push(
                now,
                EntryKind::StpIn,
                format!("partial header ({} B) dropped after silence", partial.len()),
            );
            return None;
        };
        let h = Header::parse(head);
        log.push(
            now,
            EntryKind::StpIn,
            format!(
                "{} tid={} incomplete: {} of {} payload bytes, dropped after silence",
                op_name(h.op),
                h.tid,
                partial.len() - HEADER,
                h.plen
            ),
        );
        self.nack(now, &h, log)
    }

    /// Feeds one received byte; returns a response when it completes a request.
    pub fn push(
        &mut self,
        now: Nanos,
        byte: u8,
        faults: &mut Faults,
        log: &mut Transcript,
    ) -> Option<SlaveOutput> {
        self.last_byte_at = now;
        if self.poisoned.is_some() {
            return None;
        }
        self.rx.push(byte);
        if self.rx.len() <= REQUEST_SIG.len() {
            // Resynchronise on the signature: drop leading bytes until what we hold is a prefix of it.
            while !REQUEST_SIG.starts_with(&self.rx) {
                self.rx.remove(0);
                self.stats.noise_bytes += 1;
            }
            return None;
        }
        if self.rx.len() == HEADER {
            return self.check_header(now, faults, log);
        }
        let head = self.rx.first_chunk::<HEADER>()?;
        let h = Header::parse(head);
        if self.rx.len() == HEADER + usize::from(h.plen) {
            let frame = std::mem::take(&mut self.rx);
            return self.handle(now, h, frame.get(HEADER..).unwrap_or_default(), faults, log);
        }
        None
    }

    fn check_header(
        &mut self,
        now: Nanos,
        faults: &mut Faults,
        log: &mut Transcript,
    ) -> Option<SlaveOutput> {
        let head = *self.rx.first_chunk::<HEADER>()?;
        let h = Header::parse(&head);
        let mut zeroed = head;
        zeroed[12] = 0;
        zeroed[13] = 0;
        let computed = crc16_xmodem(&zeroed);
        if h.hcrc != 0 && h.hcrc != computed {
            self.stats.bad_frames += 1;
            log.push(
                now,
                EntryKind::StpIn,
                format!("garbled header: hcrc 0x{:04x}, computed 0x{computed:04x}; discarding until idle", h.hcrc),
            );
            let answer =
                (self.cfg.version >= 2).then(|| self.response(NACK_UNKNOWN, h.sid, h.tid, &[]));
            self.poisoned = Some(answer);
            self.rx.clear();
            return None;
        }
        if HEADER + usize::from(h.plen) > usize::from(self.cfg.max_transfer) {
            self.stats.bad_frames += 1;
            log.push(
                now,
                EntryKind::Violation,
                format!(
                    "{} tid={} plen {} exceeds max_transfer {} - 16; discarding until idle",
                    op_name(h.op),
                    h.tid,
                    h.plen,
                    self.cfg.max_transfer
                ),
            );
            let answer =
                (self.cfg.version >= 2).then(|| self.response(h.op | 0x40, h.sid, h.tid, &[]));
            self.poisoned = Some(answer);
            self.rx.clear();
            return None;
        }
        if h.plen == 0 {
            self.rx.clear();
            return self.handle(now, h, &[], faults, log);
        }
        None
    }

    fn nack(&mut self, now: Nanos, h: &Header, log: &mut Transcript) -> Option<SlaveOutput> {
        if self.cfg.version < 2 {
            return None;
        }
        self.stats.nacks += 1;
        self.last_tid = Some(h.tid);
        log.push(
            now,
            EntryKind::StpOut,
            format!("NACK {} tid={}", op_name(h.op), h.tid),
        );
        Some(SlaveOutput {
            bytes: self.response(h.op | 0x40, h.sid, h.tid, &[]),
            close: false,
        })
    }

    fn handle(
        &mut self,
        now: Nanos,
        h: Header,
        payload: &[u8],
        faults: &mut Faults,
        log: &mut Transcript,
    ) -> Option<SlaveOutput> {
        if h.plen != 0 && h.pcrc != 0 {
            let computed = crc16_xmodem(payload);
            if computed != h.pcrc {
                self.stats.bad_frames += 1;
                log.push(
                    now,
                    EntryKind::StpIn,
                    format!(
                        "{} tid={} payload CRC 0x{:04x}, computed 0x{computed:04x}",
                        op_name(h.op),
                        h.tid,
                        h.pcrc
                    ),
                );
                return self.nack(now, &h, log);
            }
        }
        self.stats.requests += 1;
        if self.cfg.version < 2
            && let Some((op, tid, answer)) = &self.last_answer
            && *op == h.op
            && *tid == h.tid
        {
            self.stats.retransmissions += 1;
            log.push(
                now,
                EntryKind::StpIn,
                format!(
                    "{} tid={} again: retransmission, answered from cache",
                    op_name(h.op),
                    h.tid
                ),
            );
            return Some(SlaveOutput {
                bytes: answer.clone(),
                close: false,
            });
        }
        if self.opened
            && let Some(last) = self.last_tid
            && h.tid != last.wrapping_add(1)
            && h.op != OP_RESET
        {
            log.push(
                now,
                EntryKind::Violation,
                format!(
                    "{} tid={} after tid={last}: not the next tid",
                    op_name(h.op),
                    h.tid
                ),
            );
        }
        if self.cfg.version >= 2 && h.op != OP_RESET && faults.nack() {
            log.push(
                now,
                EntryKind::Fault,
                format!("spurious NACK for {} tid={}", op_name(h.op), h.tid),
            );
            return self.nack(now, &h, log);
        }
        let (answer, close, text) = match h.op {
            OP_RESET => {
                let close = self.opened;
                if !close {
                    self.last_tid = None;
                    self.last_answer = None;
                    self.announced = None;
                }
                (
                    self.response(OP_RESET | 0x80, h.sid, h.tid, &[]),
                    close,
                    format!(
                        "RESET sid={} tid={}{}",
                        h.sid,
                        h.tid,
                        if close { " (closes the session)" } else { "" }
                    ),
                )
            }
            OP_OPEN => {
                self.opened = true;
                let mt = self.cfg.max_transfer.to_be_bytes();
                let body = [1, self.cfg.version, mt[0], mt[1]];
                (
                    self.response(OP_OPEN | 0x80, h.sid, h.tid, &body),
                    false,
                    format!(
                        "SESSION_OPEN sid={} tid={} -> ok, version {}, max_transfer {}",
                        h.sid, h.tid, self.cfg.version, self.cfg.max_transfer
                    ),
                )
            }
            OP_BLOCK_CMD => {
                let len = match payload {
                    [a, b] => u16::from_be_bytes([*a, *b]),
                    _ => {
                        log.push(
                            now,
                            EntryKind::Violation,
                            format!(
                                "BLOCK_CMD tid={} with a {}-byte payload (expected 2)",
                                h.tid,
                                payload.len()
                            ),
                        );
                        return self.nack(now, &h, log);
                    }
                };
                if len == 0 || HEADER + usize::from(len) > usize::from(self.cfg.max_transfer) {
                    log.push(
                        now,
                        EntryKind::Violation,
                        format!(
                            "BLOCK_CMD tid={} announces {len} bytes; max_transfer {} allows 1..={}",
                            h.tid,
                            self.cfg.max_transfer,
                            self.cfg.max_transfer - HEADER as u16
                        ),
                    );
                    return self.nack(now, &h, log);
                }
                if !self.opened {
                    log.push(
                        now,
                        EntryKind::Violation,
                        format!("BLOCK_CMD tid={} before SESSION_OPEN", h.tid),
                    );
                }
                self.announced = Some(len);
                (
                    self.response(OP_BLOCK_CMD | 0x80, h.sid, h.tid, &[]),
                    false,
                    format!("BLOCK_CMD tid={} len={len}", h.tid),
                )
            }
            OP_BLOCK => {
                if self.announced != Some(h.plen) {
                    log.push(
                        now,
                        EntryKind::Violation,
                        format!(
                            "BLOCK tid={} carries {} bytes, BLOCK_CMD announced {:?}",
                            h.tid, h.plen, self.announced
                        ),
                    );
                    return self.nack(now, &h, log);
                }
                self.announced = None;
                let residue = faults.residue(h.plen).unwrap_or(0);
                if residue > 0 {
                    log.push(
                        now,
                        EntryKind::Fault,
                        format!("residue {residue} of {} bytes", h.plen),
                    );
                }
                let consumed = payload
                    .get(..usize::from(h.plen - residue))
                    .unwrap_or_default();
                self.stream.extend_from_slice(consumed);
                self.stats.blocks += 1;
                self.stats.residue_bytes += u64::from(residue);
                (
                    self.response(OP_BLOCK | 0x80, h.sid, h.tid, &residue.to_be_bytes()),
                    false,
                    format!(
                        "BLOCK tid={} {} B, residue {residue}, stream {} B",
                        h.tid,
                        h.plen,
                        self.stream.len()
                    ),
                )
            }
            OP_DATA_TYPE if self.cfg.version >= 2 => {
                let ty = match payload {
                    [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
                    _ => {
                        log.push(
                            now,
                            EntryKind::Violation,
                            format!(
                                "DATA_TYPE tid={} with a {}-byte payload (expected 4)",
                                h.tid,
                                payload.len()
                            ),
                        );
                        return self.nack(now, &h, log);
                    }
                };
                if !(2..=5).contains(&ty) {
                    log.push(
                        now,
                        EntryKind::Violation,
                        format!("DATA_TYPE tid={} type {ty} (expected 2..=5)", h.tid),
                    );
                    return self.nack(now, &h, log);
                }
                self.data_type = Some(ty);
                (
                    self.response(OP_DATA_TYPE | 0x80, h.sid, h.tid, &[]),
                    false,
                    format!("DATA_TYPE tid={} type {ty}", h.tid),
                )
            }
            other => {
                log.push(
                    now,
                    EntryKind::Violation,
                    format!(
                        "unknown op 0x{other:02x} tid={} in STP v{}",
                        h.tid, self.cfg.version
                    ),
                );
                if self.cfg.version >= 2 {
                    self.stats.nacks += 1;
                    self.last_tid = Some(h.tid);
                    return Some(SlaveOutput {
                        bytes: self.response(NACK_UNKNOWN, h.sid, h.tid, &[]),
                        close: false,
                    });
                }
                return None;
            }
        };
        log.push(now, EntryKind::StpIn, text);
        self.last_tid = Some(h.tid);
        self.last_answer = Some((h.op, h.tid, answer.clone()));
        Some(SlaveOutput {
            bytes: answer,
            close,
        })
    }

    /// Builds a response frame.
    fn response(&self, op: u8, sid: u8, tid: u32, payload: &[u8]) -> Vec<u8> {
        let plen = payload.len() as u16;
        let pcrc = if payload.is_empty() || self.cfg.response_crc == ResponseCrc::None {
            0
        } else {
            crc16_xmodem(payload)
        };
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        frame.extend_from_slice(&RESPONSE_SIG);
        frame.push(op);
        frame.push(sid);
        frame.extend_from_slice(&plen.to_be_bytes());
        frame.extend_from_slice(&tid.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&pcrc.to_be_bytes());
        if self.cfg.response_crc == ResponseCrc::Both {
            let hcrc = crc16_xmodem(&frame).to_be_bytes();
            frame[12] = hcrc[0];
            frame[13] = hcrc[1];
        }
        frame.extend_from_slice(payload);
        frame
    }
}
