//! The sans-IO STP session engine: one image (or the rest of one, from a start offset) streamed in
//! acknowledged blocks, with the retry rules of the module docs.
//!
//! The engine never blocks, sleeps, reads a clock or does IO. A driver loops:
//!
//! ```text
//! loop {
//!     match session.poll() {
//!         Poll::Transmit { data, purge_first, .. } => {
//!             if purge_first { discard input until the line is quiet } else { drop buffered input }
//!             let bytes = data.map(|r| &image[r.offset..r.offset + r.len]).unwrap_or(&[]);
//!             let out = session.frame(bytes)?;
//!             write(out.header()); write(out.inline_payload()); write(bytes);
//!         }
//!         Poll::Await { timeout_ms, .. } => {
//!             read with a deadline of timeout_ms from the end of the transmission;
//!             on bytes: session.receive(&bytes)?  (bytes after the response are left over: drop them)
//!             on deadline: session.timed_out()?
//!         }
//!         Poll::Done => break,          // the image is acknowledged and the session closed
//!         Poll::Failed(e) => return Err(e),
//!     }
//! }
//! ```

use super::crc::crc16;
use super::wire::{
    HEADER_LEN, Header, Hex4, NACK_UNKNOWN, Op, REQUEST_SIGNATURE, RESPONSE_SIGNATURE,
    encode_request,
};
use core::fmt;

/// Default cap on the data bytes of one TRANSFER_BLOCK: 2016, as Pycom and Microchip send
/// (the "31x0 mii limitation", sequans-protocol.md §5.6).
pub const DEFAULT_BLOCK_CAP: u16 = 2016;

/// One MiB: the unit [`SessionConfig::retry_budget`] scales with.
const MIB: u32 = 1 << 20;

/// Largest response payload of any op (the SESSION_OPEN answer); the receive buffer holds this much.
const MAX_ANSWER_PAYLOAD: usize = 4;

/// Smallest `max_transfer` that fits a BLOCK_CMD frame (16 + 2 bytes) and a one-byte block.
const MIN_MAX_TRANSFER_V1: u16 = 18;
/// Smallest `max_transfer` that also fits a TRANSFER_DATA_TYPE frame (16 + 4 bytes), for STP v2.
const MIN_MAX_TRANSFER_V2: u16 = 20;

/// What the image is, as announced by TRANSFER_DATA_TYPE to STP v2 modems (sequans-protocol.md §5.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DataType {
    /// A plain ELF (a loader such as `updater.elf` / `mtools.elf`).
    Elf = 2,
    /// A zlib-compressed ELF.
    ZippedElf = 3,
    /// A CABA package (`.dup`).
    Caba = 4,
    /// A zlib-compressed CABA package.
    ZippedCaba = 5,
}

impl DataType {
    /// The u32 sent on the wire.
    pub const fn code(self) -> u32 {
        self as u32
    }
}

/// Tunables of a [`Session`]. Times are in milliseconds and are only *reported* through
/// [`Poll::Await`]; the driver keeps the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionConfig {
    /// Cap on the data bytes per block; the block length is
    /// `min(max_transfer − 16, block_cap, remaining)`. Default [`DEFAULT_BLOCK_CAP`]; 0 is taken as 1.
    pub block_cap: u16,
    /// Sent in TRANSFER_DATA_TYPE, only when the modem reports STP version ≥ 2. Default [`DataType::Caba`].
    pub data_type: DataType,
    /// Sends of one frame before giving up (first send + retries). Default 5; 0 is taken as 1.
    pub attempts_per_frame: u8,
    /// Retries of any kind allowed per started MiB of the bytes to send, before the session gives up.
    /// Default 64: a 6 MB image may then retry 384 times. Scaling with the size keeps the chance of
    /// giving up on a given line quality independent of the image (a fixed budget that suits a loader
    /// ELF would fail a 6 MB package on a line a few times noisier), while still bounding the time
    /// spent on a hopeless line.
    pub retry_budget: u16,
    /// Response timeout of a frame's first attempt. Default 2000 ms.
    pub response_timeout_ms: u32,
    /// Each retry doubles the timeout, up to this. Default 60,000 ms. Also the wait for every STP v2
    /// TRANSFER_BLOCK answer, whose loss cannot be retried.
    pub max_response_timeout_ms: u32,
    /// Wait for the answer to the closing RESET. Default 2000 ms.
    pub close_timeout_ms: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            block_cap: DEFAULT_BLOCK_CAP,
            data_type: DataType::Caba,
            attempts_per_frame: 5,
            retry_budget: 64,
            response_timeout_ms: 2000,
            max_response_timeout_ms: 60_000,
            close_timeout_ms: 2000,
        }
    }
}

/// A range of image bytes (stream offsets) carried by one TRANSFER_BLOCK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DataRange {
    /// Offset of the first byte in the image.
    pub offset: u32,
    /// Number of bytes.
    pub len: u16,
}

impl DataRange {
    /// One past the last byte.
    pub const fn end(&self) -> u32 {
        self.offset.saturating_add(self.len as u32)
    }
}

/// What the session wants the driver to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Poll {
    /// Send a frame now: call [`Session::frame`]`(data)`; for `TransferBlock` `data` must be exactly the
    /// image bytes of the `data` range; for other ops pass `&[]`. When `purge_first` the driver must
    /// first discard input until the line is quiet (after a garbled/lost response, and before the
    /// session's first frame, like the reference tools' "wipe"), otherwise just drop already-received
    /// stale bytes without waiting.
    Transmit {
        /// The op of the frame.
        op: Op,
        /// Its transaction id.
        tid: u32,
        /// For `TransferBlock`: the image bytes to send after the header.
        data: Option<DataRange>,
        /// Discard input until the line is quiet before sending.
        purge_first: bool,
    },
    /// A response is outstanding: feed received bytes to [`Session::receive`]; call
    /// [`Session::timed_out`] if `timeout_ms` elapse (counted from the end of the frame's transmission)
    /// without `poll()` changing.
    Await {
        /// The op of the frame being answered.
        op: Op,
        /// Its transaction id.
        tid: u32,
        /// How long to wait for the whole response.
        timeout_ms: u32,
    },
    /// The closing RESET was exchanged (or its answer timed out, or came back garbled): the whole image
    /// is acknowledged. Whether the modem answered the close is in [`SessionStats::close_acknowledged`].
    Done,
    /// A fatal error ended the session (the same error was returned by `receive`/`timed_out`).
    Failed(StpError),
}

/// A frame to send: write [`header`](Outgoing::header), then
/// [`inline_payload`](Outgoing::inline_payload), then (for `TransferBlock`) the data bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing {
    header: [u8; HEADER_LEN],
    inline: [u8; 4],
    inline_len: u8,
}

impl Outgoing {
    /// The 16 header bytes.
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// The payload of a non-data frame (2 bytes for BLOCK_CMD, 4 for DATA_TYPE, else empty).
    pub fn inline_payload(&self) -> &[u8] {
        self.inline
            .get(..usize::from(self.inline_len))
            .unwrap_or(&[])
    }
}

/// What SESSION_OPEN negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Negotiated {
    /// STP version of the modem (1 or 2).
    pub version: u8,
    /// Largest frame (header + payload) the modem accepts.
    pub max_transfer: u16,
    /// Data bytes per full block: `min(max_transfer − 16, block_cap)`.
    pub block_len: u16,
}

/// Counters for diagnostics and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionStats {
    /// Frames handed to the driver (every attempt).
    pub frames_sent: u32,
    /// Frames that were a re-send of a frame after a fault.
    pub retransmissions: u32,
    /// Responses that did not arrive in time.
    pub timeouts: u32,
    /// NACK and NACK-UNKNOWN responses.
    pub nacks: u32,
    /// Responses rejected for any other fault (CRC, length, op, sid, tid, impossible residue, echo).
    pub bad_responses: u32,
    /// Valid duplicates of the previous exchange's answer, discarded.
    pub stale_responses: u32,
    /// Bytes skipped while looking for a response signature.
    pub garbage_bytes: u32,
    /// Blocks the modem did not consume entirely.
    pub residues: u32,
    /// Bytes the modem did not consume (re-sent in later blocks).
    pub residue_bytes: u32,
    /// TRANSFER_BLOCK exchanges acknowledged.
    pub blocks: u32,
    /// Whether the closing RESET was answered by a valid ACK.
    pub close_acknowledged: bool,
}

/// A retryable problem with one response (each with expected and found values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResponseFault {
    /// A request signature (`fast`) arrived where a response was expected: the line echoes what
    /// the host sends.
    Signature {
        /// The signature seen.
        found: [u8; 4],
    },
    /// The response is for another op.
    Op {
        /// The ACK op expected.
        expected: u8,
        /// The op received.
        found: u8,
    },
    /// The response has another session id.
    Sid {
        /// Expected sid.
        expected: u8,
        /// Received sid.
        found: u8,
    },
    /// The response has another transaction id.
    Tid {
        /// Expected tid.
        expected: u32,
        /// Received tid.
        found: u32,
    },
    /// The header CRC does not match.
    HeaderCrc {
        /// CRC computed over the received header.
        computed: u16,
        /// CRC stored in it.
        found: u16,
    },
    /// The payload length is impossible for the answer (too long, or not the exact length of an ACK).
    PayloadLength {
        /// The length required (for a too-long payload: the largest allowed).
        expected: u16,
        /// The length received.
        found: u16,
    },
    /// The payload CRC does not match.
    PayloadCrc {
        /// CRC computed over the received payload.
        computed: u16,
        /// CRC stored in the header.
        found: u16,
    },
    /// The modem refused the request (STP v2 NACK, `op | 0x40`).
    Nack {
        /// The NACK op received.
        op: u8,
    },
    /// The modem could not read the request header (STP v2 NACK-UNKNOWN, op 0x7F).
    NackUnknown,
    /// No complete response in time.
    Timeout {
        /// How long the driver waited.
        waited_ms: u32,
    },
    /// A block answer with an impossible residue, or one that consumed nothing.
    Residue {
        /// Bytes the modem says it did not consume.
        residue: u16,
        /// Length of the block.
        block_len: u16,
    },
}

impl fmt::Display for ResponseFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ResponseFault::*;
        match *self {
            Signature { found } if found == REQUEST_SIGNATURE => write!(
                f,
                "the request came back ({}) instead of an answer: the modem is echoing, i.e. not in STP mode; check that AT+SMSTPU / AT+STP was answered OK before starting STP",
                Hex4(found)
            ),
            Signature { found } => write!(
                f,
                "response signature {}, expected 74 73 61 66 \"tsaf\": the line is out of step",
                Hex4(found)
            ),
            Op { expected, found } => write!(
                f,
                "response op 0x{found:02x}, expected 0x{expected:02x}: the answer belongs to another request (the line is out of step)"
            ),
            Sid { expected, found } => write!(
                f,
                "response session id {found}, expected {expected}: the answer belongs to another session"
            ),
            Tid { expected, found } => write!(
                f,
                "response transaction id {found}, expected {expected}: the answer belongs to another request (late or duplicated)"
            ),
            HeaderCrc { computed, found } => write!(
                f,
                "response header CRC 0x{found:04x}, computed 0x{computed:04x}: bytes were corrupted on the line (check baud rate, wiring and RTS/CTS)"
            ),
            PayloadLength { expected, found } => write!(
                f,
                "response payload of {found} bytes, expected {expected}: a damaged header or an answer to another request"
            ),
            PayloadCrc { computed, found } => write!(
                f,
                "response payload CRC 0x{found:04x}, computed 0x{computed:04x}: bytes were corrupted on the line (check baud rate, wiring and RTS/CTS)"
            ),
            Nack { op } => write!(
                f,
                "the modem refused the request (NACK 0x{op:02x}): it received a damaged or unexpected frame"
            ),
            NackUnknown => f.write_str(
                "the modem could not read the request header (NACK-UNKNOWN 0x7f): the frame was damaged on the line",
            ),
            Timeout { waited_ms } => write!(
                f,
                "no complete answer within {waited_ms} ms: the modem is busy, off, not in STP mode, or the line is broken (check baud rate and flow control)"
            ),
            Residue { residue, block_len } if residue > block_len => write!(
                f,
                "the modem reported {residue} unconsumed bytes of a {block_len}-byte block, which is impossible: a damaged answer"
            ),
            Residue { residue, block_len } => write!(
                f,
                "the modem consumed {} of a {block_len}-byte block (residue {residue}): it is not taking data",
                block_len.saturating_sub(residue)
            ),
        }
    }
}

impl core::error::Error for ResponseFault {}

/// Why a session ended, or a driver mistake (`NotReadyToSend`, `DataLength`: those two leave the
/// session as it was; every other one is fatal and reported by [`Poll::Failed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StpError {
    /// `Session::new` with an image of 0 bytes.
    EmptyImage,
    /// `Session::new` with a start offset at or past the end of the image.
    StartOffset {
        /// The start offset.
        offset: u32,
        /// The image length.
        len: u32,
    },
    /// [`Session::frame`] called while [`Session::poll`] is not [`Poll::Transmit`] (not fatal).
    NotReadyToSend,
    /// [`Session::frame`] called with data of the wrong length (not fatal).
    DataLength {
        /// Bytes the frame needs.
        expected: u16,
        /// Bytes passed.
        found: usize,
    },
    /// SESSION_OPEN answered with `ok = 0`.
    OpenRefused,
    /// SESSION_OPEN answered with an STP version other than 1 or 2.
    UnsupportedVersion {
        /// The version reported.
        version: u8,
    },
    /// SESSION_OPEN answered with a `max_transfer` too small for the frames this host sends
    /// (18 bytes for STP v1: a BLOCK_CMD frame, and a one-byte block; 20 for v2: a DATA_TYPE frame).
    MaxTransferTooSmall {
        /// The value reported.
        max_transfer: u16,
    },
    /// One frame failed on every attempt.
    AttemptsExhausted {
        /// The op of the frame.
        op: Op,
        /// The tid of its last attempt.
        tid: u32,
        /// Attempts made.
        attempts: u8,
        /// The fault of the last attempt.
        last: ResponseFault,
    },
    /// The session used up its retry budget.
    RetryBudgetExhausted {
        /// The budget (`SessionConfig::retry_budget` × started MiB).
        budget: u32,
        /// The fault that needed one retry more.
        last: ResponseFault,
    },
    /// STP v2 only: a BLOCK's answer was lost or unreadable, so the host cannot know whether the modem
    /// applied it (v2 slaves have no retransmission cache); the transfer must restart in a new session.
    BlockOutcomeUnknown {
        /// Image offset of the block.
        offset: u32,
        /// What happened to its answer.
        last: ResponseFault,
    },
}

impl fmt::Display for StpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use StpError::*;
        match *self {
            EmptyImage => f.write_str(
                "the image is empty: there is nothing to transfer; choose a .dup or loader .elf with content",
            ),
            StartOffset { offset, len } => write!(
                f,
                "start offset {offset} is not inside the {len}-byte image: resume from an acknowledged offset below {len}, or from 0"
            ),
            NotReadyToSend => f.write_str(
                "STP frame requested while the session is not asking to transmit: follow Session::poll() (driver bug; the session is unchanged)",
            ),
            DataLength { expected, found } => write!(
                f,
                "{found} data bytes passed for an STP frame that carries {expected}: pass exactly the bytes of the Transmit data range (driver bug; the session is unchanged)"
            ),
            OpenRefused => f.write_str(
                "the modem refused SESSION_OPEN (ok = 0): it is not ready to receive an image; reboot it into its upgrade mode and start again",
            ),
            UnsupportedVersion { version } => write!(
                f,
                "the modem speaks STP version {version}, this host supports versions 1 and 2: report the modem model and firmware"
            ),
            MaxTransferTooSmall { max_transfer } => write!(
                f,
                "the modem accepts frames of at most {max_transfer} bytes, too small for a 16-byte header plus the 2-byte block command (v2: the 4-byte data type): the answer is damaged or the modem is not a supported Sequans loader"
            ),
            AttemptsExhausted {
                op,
                tid,
                attempts,
                last,
            } => write!(
                f,
                "{op} (tid {tid}) failed {attempts} times, last: {last}; the link is not usable: check wiring, baud rate and flow control, then restart the transfer"
            ),
            RetryBudgetExhausted { budget, last } => write!(
                f,
                "the transfer used all {budget} retries, last: {last}; the link is too unreliable to continue: check wiring, baud rate and flow control, then restart the transfer"
            ),
            BlockOutcomeUnknown { offset, last } => write!(
                f,
                "the answer to the block at offset {offset} was lost or unreadable ({last}); an STP v2 modem may have applied it and cannot be asked again, so restart the transfer in a new session from the start of the image"
            ),
        }
    }
}

impl core::error::Error for StpError {}

/// The exchange the session is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The opening RESET (sid 0, tid 0).
    Reset,
    /// SESSION_OPEN (sid 1, tid 1).
    Open,
    /// TRANSFER_DATA_TYPE (v2 only).
    DataType,
    /// BLOCK_CMD announcing this block.
    Cmd(DataRange),
    /// The block.
    Block(DataRange),
    /// The closing RESET.
    Close,
}

impl Step {
    const fn op(self) -> Op {
        match self {
            Step::Reset | Step::Close => Op::Reset,
            Step::Open => Op::SessionOpen,
            Step::DataType => Op::TransferDataType,
            Step::Cmd(_) => Op::TransferBlockCmd,
            Step::Block(_) => Op::TransferBlock,
        }
    }
}

/// Largest payload an ACK of `op` carries (also its exact length).
const fn answer_payload_len(op: Op) -> u16 {
    match op {
        Op::SessionOpen => 4,
        Op::TransferBlock => 2,
        Op::Reset | Op::TransferBlockCmd | Op::TransferDataType => 0,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Transmit { purge_first: bool },
    Await { timeout_ms: u32 },
    Done,
    Failed(StpError),
}

/// The identity of an accepted answer, to recognise its duplicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Answer {
    op: Op,
    sid: u8,
    tid: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RxState {
    /// Looking for `tsaf` through a 4-byte sliding window.
    Hunt,
    /// Collecting the header (`len` bytes so far, signature included).
    Header,
    /// Collecting `plen` payload bytes after the header.
    Payload,
}

/// Response reassembly: a 4-byte window while hunting, then header + at most 4 payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rx {
    state: RxState,
    /// The last `window_len` bytes seen while hunting, newest in the low byte.
    window: u32,
    window_len: u8,
    buf: [u8; HEADER_LEN + MAX_ANSWER_PAYLOAD],
    len: u8,
}

impl Rx {
    const fn new() -> Self {
        Rx {
            state: RxState::Hunt,
            window: 0,
            window_len: 0,
            buf: [0; HEADER_LEN + MAX_ANSWER_PAYLOAD],
            len: 0,
        }
    }

    fn header(&self) -> Header<&[u8]> {
        Header::new_unchecked(self.buf.get(..HEADER_LEN).unwrap_or(&[]))
    }

    fn payload(&self) -> &[u8] {
        self.buf
            .get(HEADER_LEN..usize::from(self.len))
            .unwrap_or(&[])
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(usize::from(self.len)) {
            *slot = byte;
            self.len = self.len.saturating_add(1);
        }
    }
}

/// What one received byte did.
enum Fed {
    /// Keep feeding.
    More,
    /// The header is complete.
    Header,
    /// The response (header + payload) is complete.
    Response,
    /// The request signature showed up: an echo.
    Echo,
}

/// The sans-IO STP session: see the module docs for the rules and [`Poll`] for the driver's side.
///
/// Holds no references and no buffer larger than one response (20 bytes); the image data stays with
/// the driver, which passes each block's bytes to [`Session::frame`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    config: SessionConfig,
    image_len: u32,
    acked: u32,
    step: Step,
    phase: Phase,
    sid: u8,
    /// tid of the current frame.
    tid: u32,
    /// tid of the current frame's first attempt (differs from `tid` after v2 retries).
    first_tid: u32,
    /// Attempt number of the current frame (1 = first send).
    attempt: u8,
    retries_used: u32,
    /// `retry_budget` × started MiB of the bytes to send.
    retry_budget: u32,
    negotiated: Option<Negotiated>,
    previous: Option<Answer>,
    /// The modem filled pcrc in an accepted answer, so it is held to it (see `on_response`).
    pcrc_provided: bool,
    rx: Rx,
    stats: SessionStats,
    last_fault: Option<ResponseFault>,
}

impl Session {
    /// A session that will send `image[start_offset..image_len]`, starting with the opening RESET.
    pub fn new(config: SessionConfig, image_len: u32, start_offset: u32) -> Result<Self, StpError> {
        if image_len == 0 {
            return Err(StpError::EmptyImage);
        }
        if start_offset >= image_len {
            return Err(StpError::StartOffset {
                offset: start_offset,
                len: image_len,
            });
        }
        let budget = u32::from(config.retry_budget)
            .saturating_mul((image_len - start_offset).div_ceil(MIB).max(1));
        Ok(Session::start(config, image_len, start_offset, budget))
    }

    /// A session that carries no data: the opening RESET, SESSION_OPEN (and TRANSFER_DATA_TYPE on
    /// v2), then at once the closing RESET.
    ///
    /// Its use: a modem left waiting in STP mode by a host that died after `AT+SMSTPU`/`AT+STP`
    /// ignores `AT`, and a RESET alone does not end STP mode before a session was opened. Opening and
    /// closing an empty session hands the line back to the modem's AT interpreter without sending it
    /// any image byte, so the upgrader can ask the modem what state it is in.
    ///
    /// **Inferred**, not from a public source: that a real modem treats an empty stream as "nothing
    /// received" (the simulator does; a modem that rejected it would report a failed upgrade, which
    /// the upgrader treats like any other failed verdict).
    pub fn release(config: SessionConfig) -> Self {
        Session::start(config, 0, 0, u32::from(config.retry_budget))
    }

    /// A session at its opening RESET, with `acked` bytes counted as already sent.
    fn start(config: SessionConfig, image_len: u32, acked: u32, retry_budget: u32) -> Self {
        Session {
            config,
            image_len,
            acked,
            step: Step::Reset,
            phase: Phase::Transmit { purge_first: true },
            sid: 0,
            tid: 0,
            first_tid: 0,
            attempt: 1,
            retries_used: 0,
            retry_budget,
            negotiated: None,
            previous: None,
            pcrc_provided: false,
            rx: Rx::new(),
            stats: SessionStats::default(),
            last_fault: None,
        }
    }

    /// What the driver must do next.
    pub fn poll(&self) -> Poll {
        let op = self.step.op();
        let tid = self.tid;
        match self.phase {
            Phase::Transmit { purge_first } => Poll::Transmit {
                op,
                tid,
                data: match self.step {
                    Step::Block(range) => Some(range),
                    _ => None,
                },
                purge_first,
            },
            Phase::Await { timeout_ms } => Poll::Await {
                op,
                tid,
                timeout_ms,
            },
            Phase::Done => Poll::Done,
            Phase::Failed(e) => Poll::Failed(e),
        }
    }

    /// Builds the frame [`Poll::Transmit`] asks for; `data` is the image bytes of its range for
    /// `TransferBlock`, empty otherwise. Afterwards `poll()` is [`Poll::Await`].
    ///
    /// Errors: `NotReadyToSend` when `poll()` is not `Transmit`, `DataLength` when `data` has the wrong
    /// length (both leave the session unchanged), or the session's fatal error once it failed.
    pub fn frame(&mut self, data: &[u8]) -> Result<Outgoing, StpError> {
        match self.phase {
            Phase::Transmit { .. } => {}
            Phase::Failed(e) => return Err(e),
            Phase::Await { .. } | Phase::Done => return Err(StpError::NotReadyToSend),
        }
        let mut inline = [0u8; 4];
        let mut inline_len = 0u8;
        let expected = match self.step {
            Step::Block(range) => range.len,
            Step::Cmd(range) => {
                let [hi, lo] = range.len.to_be_bytes();
                inline = [hi, lo, 0, 0];
                inline_len = 2;
                0
            }
            Step::DataType => {
                inline = self.config.data_type.code().to_be_bytes();
                inline_len = 4;
                0
            }
            Step::Reset | Step::Open | Step::Close => 0,
        };
        if data.len() != usize::from(expected) {
            return Err(StpError::DataLength {
                expected,
                found: data.len(),
            });
        }
        let payload = match self.step {
            Step::Block(_) => data,
            _ => inline.get(..usize::from(inline_len)).unwrap_or(&[]),
        };
        let header = encode_request(self.step.op(), self.sid, self.tid, payload).map_err(|_| {
            StpError::DataLength {
                expected,
                found: data.len(),
            }
        })?;

        self.stats.frames_sent = self.stats.frames_sent.saturating_add(1);
        if self.attempt > 1 {
            self.stats.retransmissions = self.stats.retransmissions.saturating_add(1);
        }
        self.reset_rx();
        let timeout_ms = match self.step {
            Step::Close => self.config.close_timeout_ms,
            // A v2 block whose answer does not come is fatal (no retry can be risked), so a late answer
            // must not be mistaken for a lost one: wait as long as the configuration allows at once.
            Step::Block(_) if self.is_v2() => self.config.max_response_timeout_ms,
            _ => self.timeout_for(self.attempt),
        };
        self.phase = Phase::Await { timeout_ms };
        Ok(Outgoing {
            header,
            inline,
            inline_len,
        })
    }

    /// Consumes received bytes while a response is awaited and returns how many it used: it stops right
    /// after the awaited response (or a fault) completes, so the rest of `bytes` is left to the driver,
    /// which drops it. Outside [`Poll::Await`] nothing is used (`Ok(0)`).
    ///
    /// Returns `Err` only when the session failed (now or before); retryable faults show up as
    /// `poll()` turning into [`Poll::Transmit`] with `purge_first`.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<usize, StpError> {
        match self.phase {
            Phase::Await { .. } => {}
            Phase::Failed(e) => return Err(e),
            Phase::Transmit { .. } | Phase::Done => return Ok(0),
        }
        let mut used = 0usize;
        for &byte in bytes {
            used = used.saturating_add(1);
            let fed = self.feed(byte);
            let finished = match fed {
                Fed::More => false,
                Fed::Echo => {
                    self.fault(ResponseFault::Signature {
                        found: REQUEST_SIGNATURE,
                    });
                    true
                }
                Fed::Header => self.on_header(),
                Fed::Response => self.on_response(),
            };
            if finished {
                break;
            }
        }
        match self.phase {
            Phase::Failed(e) => Err(e),
            _ => Ok(used),
        }
    }

    /// Tells the session that [`Poll::Await`]'s `timeout_ms` passed without an answer. Does nothing
    /// outside `Await` (a deadline that raced with a completed response); `Err` once the session failed.
    pub fn timed_out(&mut self) -> Result<(), StpError> {
        match self.phase {
            Phase::Await { timeout_ms } => self.fault(ResponseFault::Timeout {
                waited_ms: timeout_ms,
            }),
            Phase::Failed(e) => return Err(e),
            Phase::Transmit { .. } | Phase::Done => {}
        }
        match self.phase {
            Phase::Failed(e) => Err(e),
            _ => Ok(()),
        }
    }

    /// The stream offset the modem has acknowledged: the start offset plus the bytes it accepted.
    pub fn acknowledged(&self) -> u32 {
        self.acked
    }

    /// The length of the image.
    pub fn image_len(&self) -> u32 {
        self.image_len
    }

    /// What SESSION_OPEN negotiated, once it was answered.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
    }

    /// Counters so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// The most recent retryable fault (also set by a block that consumed nothing), for diagnostics.
    pub fn last_fault(&self) -> Option<ResponseFault> {
        self.last_fault
    }

    /// The configuration the session runs with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Retries used so far (out of [`SessionConfig::retry_budget`] × started MiB).
    pub fn retries_used(&self) -> u32 {
        self.retries_used
    }

    // ---------------------------------------------------------------------------------------------

    /// Timeout of attempt `n` (1-based): `min(response_timeout_ms << (n − 1), max_response_timeout_ms)`.
    fn timeout_for(&self, attempt: u8) -> u32 {
        let shift = u32::from(attempt.saturating_sub(1)).min(32);
        let t = u64::from(self.config.response_timeout_ms) << shift;
        let capped = t.min(u64::from(self.config.max_response_timeout_ms));
        u32::try_from(capped).unwrap_or(u32::MAX)
    }

    fn is_v2(&self) -> bool {
        self.negotiated.is_some_and(|n| n.version >= 2)
    }

    fn reset_rx(&mut self) {
        if self.rx.state == RxState::Hunt {
            self.stats.garbage_bytes = self
                .stats
                .garbage_bytes
                .saturating_add(u32::from(self.rx.window_len));
        }
        self.rx = Rx::new();
    }

    fn feed(&mut self, byte: u8) -> Fed {
        match self.rx.state {
            RxState::Hunt => {
                if self.rx.window_len == 4 {
                    self.stats.garbage_bytes = self.stats.garbage_bytes.saturating_add(1);
                } else {
                    self.rx.window_len = self.rx.window_len.saturating_add(1);
                }
                self.rx.window = (self.rx.window << 8) | u32::from(byte);
                if self.rx.window_len < 4 {
                    Fed::More
                } else if self.rx.window == u32::from_be_bytes(RESPONSE_SIGNATURE) {
                    self.rx.state = RxState::Header;
                    self.rx.window_len = 0;
                    self.rx.len = 0;
                    for b in RESPONSE_SIGNATURE {
                        self.rx.push(b);
                    }
                    Fed::More
                } else if self.rx.window == u32::from_be_bytes(REQUEST_SIGNATURE) {
                    self.rx.window_len = 0;
                    Fed::Echo
                } else {
                    Fed::More
                }
            }
            RxState::Header => {
                self.rx.push(byte);
                if usize::from(self.rx.len) >= HEADER_LEN {
                    Fed::Header
                } else {
                    Fed::More
                }
            }
            RxState::Payload => {
                self.rx.push(byte);
                let want = HEADER_LEN.saturating_add(usize::from(self.rx.header().plen()));
                if usize::from(self.rx.len) >= want {
                    Fed::Response
                } else {
                    Fed::More
                }
            }
        }
    }

    /// The header is complete: check its CRC and payload length. Returns whether the phase changed.
    fn on_header(&mut self) -> bool {
        let h = self.rx.header();
        let (hcrc, op, sid, plen, tid) = (h.hcrc(), h.op(), h.sid(), h.plen(), h.tid());
        if hcrc != 0 {
            let computed = h.compute_hcrc();
            if computed != hcrc {
                self.fault(ResponseFault::HeaderCrc {
                    computed,
                    found: hcrc,
                });
                return true;
            }
        }
        let mut allowed = answer_payload_len(self.step.op());
        if let Some(prev) = self.previous
            && prev.op.ack_code() == op
            && prev.sid == sid
            && prev.tid == tid
        {
            allowed = allowed.max(answer_payload_len(prev.op));
        }
        if plen > allowed {
            self.fault(ResponseFault::PayloadLength {
                expected: allowed,
                found: plen,
            });
            return true;
        }
        if plen == 0 {
            self.on_response()
        } else {
            self.rx.state = RxState::Payload;
            false
        }
    }

    /// A whole response is in: check the payload CRC and classify. Returns whether the phase changed.
    fn on_response(&mut self) -> bool {
        let h = self.rx.header();
        let (op, sid, plen, tid, pcrc) = (h.op(), h.sid(), h.plen(), h.tid(), h.pcrc());
        let payload = self.rx.payload();
        // pcrc = 0 means "not provided". But CRC-16/XMODEM of a 2-byte payload is 0 only for 00 00
        // (residue 0), so once the modem has shown that it fills pcrc, a non-zero payload with pcrc 0
        // is a damaged answer (typically a flipped residue, which would make the host re-send bytes the
        // modem already took).
        if plen != 0 && (pcrc != 0 || self.pcrc_provided) {
            let computed = crc16(payload);
            if computed != pcrc {
                self.fault(ResponseFault::PayloadCrc {
                    computed,
                    found: pcrc,
                });
                return true;
            }
        }
        let mut body = [0u8; MAX_ANSWER_PAYLOAD];
        if let Some(dst) = body.get_mut(..payload.len()) {
            dst.copy_from_slice(payload);
        }

        let expected_op = self.step.op();
        let ack = expected_op.ack_code();
        if op == ack && sid == self.sid && tid == self.tid {
            let exact = answer_payload_len(expected_op);
            if plen != exact {
                self.fault(ResponseFault::PayloadLength {
                    expected: exact,
                    found: plen,
                });
                return true;
            }
            if pcrc != 0 {
                self.pcrc_provided = true;
            }
            self.on_ack(body);
            return true;
        }
        let duplicate_of_previous = self
            .previous
            .is_some_and(|p| p.op.ack_code() == op && p.sid == sid && p.tid == tid);
        // STP v2 retries use fresh tids; a late ACK of an earlier attempt of the same frame is harmless
        // for every op except TRANSFER_BLOCK (which is never retried after a lost answer).
        let earlier_attempt =
            op == ack && sid == self.sid && !matches!(self.step, Step::Block(_)) && {
                let back = self.tid.wrapping_sub(tid);
                back >= 1 && back <= self.tid.wrapping_sub(self.first_tid)
            };
        if duplicate_of_previous || earlier_attempt {
            self.stats.stale_responses = self.stats.stale_responses.saturating_add(1);
            self.rx = Rx::new();
            return false;
        }
        let fault = if op == NACK_UNKNOWN {
            ResponseFault::NackUnknown
        } else if op != ack && op != expected_op.nack_code() {
            ResponseFault::Op {
                expected: ack,
                found: op,
            }
        } else if sid != self.sid {
            ResponseFault::Sid {
                expected: self.sid,
                found: sid,
            }
        } else if tid != self.tid {
            ResponseFault::Tid {
                expected: self.tid,
                found: tid,
            }
        } else {
            // op is the NACK of the awaited op, with the right sid and tid.
            ResponseFault::Nack { op }
        };
        self.fault(fault);
        true
    }

    /// The awaited ACK arrived (payload length already checked).
    fn on_ack(&mut self, body: [u8; MAX_ANSWER_PAYLOAD]) {
        let answered = Answer {
            op: self.step.op(),
            sid: self.sid,
            tid: self.tid,
        };
        match self.step {
            Step::Reset => {
                self.sid = 1;
                self.advance(answered, Step::Open);
            }
            Step::Open => {
                let [ok, version, hi, lo] = body;
                let max_transfer = u16::from_be_bytes([hi, lo]);
                if ok == 0 {
                    return self.fail(StpError::OpenRefused);
                }
                if !(1..=2).contains(&version) {
                    return self.fail(StpError::UnsupportedVersion { version });
                }
                let min = if version >= 2 {
                    MIN_MAX_TRANSFER_V2
                } else {
                    MIN_MAX_TRANSFER_V1
                };
                if max_transfer < min {
                    return self.fail(StpError::MaxTransferTooSmall { max_transfer });
                }
                let block_len = max_transfer
                    .saturating_sub(HEADER_LEN as u16)
                    .min(self.config.block_cap)
                    .max(1);
                self.negotiated = Some(Negotiated {
                    version,
                    max_transfer,
                    block_len,
                });
                let next = if version >= 2 {
                    Step::DataType
                } else {
                    self.next_block()
                };
                self.advance(answered, next);
            }
            Step::DataType => {
                let next = self.next_block();
                self.advance(answered, next);
            }
            Step::Cmd(range) => self.advance(answered, Step::Block(range)),
            Step::Block(range) => {
                let [hi, lo, ..] = body;
                let residue = u16::from_be_bytes([hi, lo]);
                if residue > range.len {
                    self.fault(ResponseFault::Residue {
                        residue,
                        block_len: range.len,
                    });
                    return;
                }
                let accepted = range.len.saturating_sub(residue);
                self.acked = self.acked.saturating_add(u32::from(accepted));
                self.stats.blocks = self.stats.blocks.saturating_add(1);
                if residue > 0 {
                    self.stats.residues = self.stats.residues.saturating_add(1);
                    self.stats.residue_bytes =
                        self.stats.residue_bytes.saturating_add(u32::from(residue));
                }
                if accepted == 0 {
                    // Counts as a retry so that a modem that never consumes cannot loop forever.
                    let fault = ResponseFault::Residue {
                        residue,
                        block_len: range.len,
                    };
                    self.last_fault = Some(fault);
                    if self.retries_used >= self.retry_budget {
                        return self.fail(StpError::RetryBudgetExhausted {
                            budget: self.retry_budget,
                            last: fault,
                        });
                    }
                    self.retries_used = self.retries_used.saturating_add(1);
                }
                let next = self.next_block();
                self.advance(answered, next);
            }
            Step::Close => {
                self.previous = Some(answered);
                self.stats.close_acknowledged = true;
                self.phase = Phase::Done;
            }
        }
    }

    /// The next block from the acknowledged offset, or the closing RESET when everything is acknowledged.
    fn next_block(&self) -> Step {
        let remaining = self.image_len.saturating_sub(self.acked);
        if remaining == 0 {
            return Step::Close;
        }
        let block_len = self.negotiated.map_or(1, |n| n.block_len);
        let len = u16::try_from(remaining).unwrap_or(u16::MAX).min(block_len);
        Step::Cmd(DataRange {
            offset: self.acked,
            len,
        })
    }

    /// A successful exchange: the next frame gets the next tid and a fresh set of attempts.
    fn advance(&mut self, answered: Answer, next: Step) {
        self.previous = Some(answered);
        self.tid = self.tid.wrapping_add(1);
        self.first_tid = self.tid;
        self.attempt = 1;
        self.step = next;
        self.phase = Phase::Transmit { purge_first: false };
    }

    fn fail(&mut self, error: StpError) {
        self.phase = Phase::Failed(error);
    }

    /// A retryable fault on the current attempt: retry by the rules, or give up.
    fn fault(&mut self, fault: ResponseFault) {
        self.last_fault = Some(fault);
        let counter = match fault {
            ResponseFault::Timeout { .. } => &mut self.stats.timeouts,
            ResponseFault::Nack { .. } | ResponseFault::NackUnknown => &mut self.stats.nacks,
            _ => &mut self.stats.bad_responses,
        };
        *counter = counter.saturating_add(1);

        if self.step == Step::Close {
            // One attempt only; the image is acknowledged whatever the answer (the reference tools do
            // not even decode it).
            self.phase = Phase::Done;
            return;
        }
        let refused = matches!(
            fault,
            ResponseFault::Nack { .. } | ResponseFault::NackUnknown
        );
        if let (true, Step::Block(range), false) = (self.is_v2(), self.step, refused) {
            return self.fail(StpError::BlockOutcomeUnknown {
                offset: range.offset,
                last: fault,
            });
        }
        if self.attempt >= self.config.attempts_per_frame.max(1) {
            return self.fail(StpError::AttemptsExhausted {
                op: self.step.op(),
                tid: self.tid,
                attempts: self.attempt,
                last: fault,
            });
        }
        if self.retries_used >= self.retry_budget {
            return self.fail(StpError::RetryBudgetExhausted {
                budget: self.retry_budget,
                last: fault,
            });
        }
        self.retries_used = self.retries_used.saturating_add(1);
        self.attempt = self.attempt.saturating_add(1);
        if self.is_v2() {
            // v2 slaves keep no cache: every send gets a fresh tid (the refused or lost one is not reused).
            self.tid = self.tid.wrapping_add(1);
        }
        self.phase = Phase::Transmit { purge_first: true };
    }
}
