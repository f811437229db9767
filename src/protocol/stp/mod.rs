//! STP, the Sequans Transfer Protocol: the binary request/response protocol that carries a firmware
//! image (or a loader ELF) to the modem after `AT+SMSTPU[="ON_THE_FLY"]` or `AT+STP` (facts:
//! sequans-protocol.md §5).
//!
//! - [`wire`]: the 16-byte header as a zero-copy view ([`Header`]) and a plain value ([`HeaderRepr`]),
//!   and [`encode_request`].
//! - [`crc`]: CRC-16/XMODEM ([`crc16`]), with the table-size choice measured.
//! - [`session`]: the sans-IO engine ([`Session`]) that streams an image in acknowledged blocks,
//!   retries by the rules below, and tells a driver what to send and how long to wait ([`Poll`]).
//!
//! Nothing here blocks, sleeps, reads a clock or touches a UART; `transport::Link` is the driver.
//!
//! ## Header (16 bytes, big-endian, the same layout both ways)
//!
//! | offset | size | field | request (host → modem) | response (modem → host) |
//! |---|---|---|---|---|
//! | 0 | 4 | signature | `66 61 73 74` "fast" | `74 73 61 66` "tsaf" |
//! | 4 | 1 | op | operation code | `op \| 0x80` ACK; `op \| 0x40` NACK (v2); `0x7F` NACK-UNKNOWN (v2) |
//! | 5 | 1 | sid | session id | echoed |
//! | 6 | 2 | plen | payload length | payload length |
//! | 8 | 4 | tid | transaction id | echoed |
//! | 12 | 2 | hcrc | CRC-16/XMODEM of the 16 header bytes with hcrc = 0 and pcrc filled in | same; **0 = not provided** (not checked) |
//! | 14 | 2 | pcrc | CRC-16/XMODEM of the payload; 0 when plen = 0 | same; **0 = not provided** |
//!
//! The payload follows the header directly. CRC check value: `crc16(b"123456789") == 0x31C3`.
//!
//! ## Operations
//!
//! | code | op | request payload | ACK payload |
//! |---|---|---|---|
//! | 0x00 | RESET | – | – |
//! | 0x01 | SESSION_OPEN | – | 4 bytes: `ok` u8 (≠ 0), `version` u8, `max_transfer` u16 BE (largest frame, header included) |
//! | 0x02 | TRANSFER_BLOCK_CMD | u16 BE length of the next block | – |
//! | 0x03 | TRANSFER_BLOCK | the data | u16 BE residue: bytes of the block *not* consumed |
//! | 0x04 | TRANSFER_DATA_TYPE (v2 only) | u32 BE type: 2 ELF, 3 zipped ELF, 4 CABA, 5 zipped CABA | – |
//!
//! ## Session sequence
//!
//! ```text
//! host                                            modem
//! (discard input until quiet)
//! RESET            sid 0  tid 0                ─►
//!                                              ◄─  0x80 sid 0 tid 0
//! SESSION_OPEN     sid 1  tid 1                ─►
//!                                              ◄─  0x81 sid 1 tid 1 {ok, version, max_transfer}
//! [v2: TRANSFER_DATA_TYPE sid 1 tid 2 {type}   ─►
//!                                              ◄─  0x84]
//! repeat until the image is acknowledged:
//!   TRANSFER_BLOCK_CMD  sid 1 tid k   {L}      ─►      L = min(max_transfer − 16, block_cap, remaining)
//!                                              ◄─  0x82 tid k
//!   TRANSFER_BLOCK      sid 1 tid k+1 L bytes  ─►
//!                                              ◄─  0x83 tid k+1 {residue r}   next block from offset + L − r
//! RESET (close)    sid 1  tid next             ─►      one attempt; the modem returns to AT mode
//!                                              ◄─  0x80 (optional: a lost or garbled answer still ends in Done)
//! ```
//!
//! The tid grows by one per successful exchange (with STP v1, BLOCK_CMDs get even tids and BLOCKs odd
//! ones). With STP v2 it also grows on every retry (below).
//!
//! ## Receiving a response
//!
//! Bytes are skipped (counted in [`SessionStats::garbage_bytes`]) until the 4-byte response signature
//! has gone through a sliding window; a request signature `fast` in that window means the line echoes
//! (the modem is not in STP mode) and is a [`ResponseFault::Signature`]. Then the 16-byte header is
//! collected; its hcrc is checked unless 0; a plen larger than the awaited op's answer can carry (4 for
//! SESSION_OPEN, 2 for TRANSFER_BLOCK, 0 otherwise) is rejected at once, without waiting for the
//! payload; the payload (at most 4 bytes) is collected and its pcrc checked unless 0 — and also when
//! it is 0 if the modem filled pcrc in an earlier answer (its SESSION_OPEN ACK): CRC-16/XMODEM of the
//! residue `00 00` is 0, so a residue-0 BLOCK ACK always carries pcrc 0, and without this rule a bit
//! flipped in its residue would make the host re-send bytes the modem already took. Then:
//!
//! - op = awaited op | 0x80, sid and tid as sent, payload of the exact length: the **ACK**;
//! - a valid copy of the *previous* exchange's answer (same op, sid, tid): a **stale duplicate** (a v1
//!   modem answers a retransmission from its cache, and the late original can still arrive); it is
//!   discarded and the wait goes on, without using an attempt ([`SessionStats::stale_responses`]).
//!   With STP v2 a late ACK of an earlier attempt of the current frame is stale too, except for
//!   TRANSFER_BLOCK;
//! - op = awaited op | 0x40 with sid and tid as sent: **NACK**; op 0x7F: **NACK-UNKNOWN**;
//! - anything else: an op, sid or tid fault.
//!
//! [`Session::receive`] stops right after the awaited response (or the fault) and returns how many
//! bytes it used; the driver drops the rest.
//!
//! ## Retries
//!
//! | event | STP v1 (and before SESSION_OPEN is answered) | STP v2 |
//! |---|---|---|
//! | NACK or NACK-UNKNOWN | same frame, same tid | same frame, tid + 1 (the modem did not apply it) |
//! | timeout, or a damaged/foreign answer | same frame, same tid (the v1 modem answers a repeat from its cache and never applies a block twice) | RESET, SESSION_OPEN, DATA_TYPE, BLOCK_CMD: same frame, tid + 1; **TRANSFER_BLOCK: fatal [`StpError::BlockOutcomeUnknown`]** (the modem may have applied it; never risk applying it twice) |
//! | BLOCK ACK with residue r > block length | retried like a damaged answer | fatal `BlockOutcomeUnknown` |
//! | BLOCK ACK with residue r ≤ length | accepted = length − r; the next block starts at offset + accepted (the unconsumed bytes are re-sent first). r = length counts as a retry. | same |
//!
//! Every fault uses one attempt of the frame ([`SessionConfig::attempts_per_frame`], default 5 =
//! first send + 4 retries → [`StpError::AttemptsExhausted`]) and one unit of the session-wide
//! [`SessionConfig::retry_budget`] (default 64 per started MiB → [`StpError::RetryBudgetExhausted`]). After a fault the
//! next send asks the driver to purge input until the line is quiet first. Attempt *n* waits
//! `min(response_timeout_ms << (n − 1), max_response_timeout_ms)` (2, 4, 8, 16, 32 s by default),
//! except an STP v2 TRANSFER_BLOCK, which always waits `max_response_timeout_ms` (60 s by default, as
//! Microchip's host): its timeout is fatal, so a slow answer (a flash erase, a stall) must not be
//! taken for a lost one.
//! The closing RESET gets one attempt and `close_timeout_ms`; a valid answer sets
//! [`SessionStats::close_acknowledged`], but a timeout or a garbled answer ends in [`Poll::Done`] too:
//! every block was already acknowledged, the reference tools do not even decode that answer, and the
//! modem's programming verdict (`AT+SMUPGRADE?`) is what decides success.
//!
//! SESSION_OPEN's answer is fatal when `ok` = 0 ([`StpError::OpenRefused`]), the version is not 1 or 2
//! ([`StpError::UnsupportedVersion`]), or `max_transfer` cannot hold this host's frames: below 18 bytes
//! (a BLOCK_CMD frame, and a one-byte block) for v1, below 20 (a DATA_TYPE frame) for v2
//! ([`StpError::MaxTransferTooSmall`]).
//!
//! After [`Poll::Failed`] the modem may still be in STP mode: the opening RESET of a new session
//! brings it back to a known state.

pub mod crc;
pub mod session;
pub mod wire;

pub use self::crc::{CRC16, crc16};
pub use self::session::{
    DEFAULT_BLOCK_CAP, DataRange, DataType, Negotiated, Outgoing, Poll, ResponseFault, Session,
    SessionConfig, SessionStats, StpError,
};
pub use self::wire::{
    ACK_BIT, Direction, HEADER_LEN, Header, HeaderRepr, NACK_BIT, NACK_UNKNOWN, Op,
    REQUEST_SIGNATURE, RESPONSE_SIGNATURE, WireError, encode_request,
};
