//! The 16-byte STP header: a zero-copy view ([`Header`]), its plain representation ([`HeaderRepr`])
//! and a request encoder ([`encode_request`]).
//!
//! ## Contract of the view
//!
//! [`Header::new_unchecked`] wraps any buffer; [`Header::new_checked`] also checks that it holds at
//! least [`HEADER_LEN`] bytes. The accessors never panic on any buffer: they read with `get()`, so on a
//! buffer shorter than the header (only possible through `new_unchecked`) a getter returns 0 (an empty
//! signature reads as zeros) and a setter does nothing. After `new_checked` succeeded every field is
//! there. Bytes past the 16th (a payload) are ignored.
//!
//! [`HeaderRepr::parse`] checks the length and the signature (`fast` or `tsaf`) and copies the fields;
//! it does **not** check the header CRC, because a response hcrc of 0 means "not provided" and only the
//! caller knows whether 0 is acceptable: compare [`Header::compute_hcrc`] with [`Header::hcrc`].
//! [`HeaderRepr::emit`] writes every field verbatim (including `hcrc`); call [`Header::fill_hcrc`]
//! afterwards to make the CRC match.

use super::crc::{crc16, crc16_digest};
use core::fmt;

/// Length of an STP header; the payload (if any) follows it directly.
pub const HEADER_LEN: usize = 16;
/// Signature of a request (host → modem): ASCII `fast`.
pub const REQUEST_SIGNATURE: [u8; 4] = *b"fast";
/// Signature of a response (modem → host): ASCII `tsaf`.
pub const RESPONSE_SIGNATURE: [u8; 4] = *b"tsaf";
/// Set in a response's op to acknowledge the request op (`op | 0x80`).
pub const ACK_BIT: u8 = 0x80;
/// Set in a response's op to refuse the request op (`op | 0x40`, STP v2).
pub const NACK_BIT: u8 = 0x40;
/// The op of a v2 "NACK unknown" response: the modem could not read the request header, so the
/// response's sid and tid are not trustworthy.
pub const NACK_UNKNOWN: u8 = 0x7F;

/// Byte ranges of the header fields.
mod field {
    use core::ops::Range;
    pub(super) const SIGNATURE: Range<usize> = 0..4;
    pub(super) const OP: usize = 4;
    pub(super) const SID: usize = 5;
    pub(super) const PLEN: Range<usize> = 6..8;
    pub(super) const TID: Range<usize> = 8..12;
    pub(super) const HCRC: Range<usize> = 12..14;
    pub(super) const PCRC: Range<usize> = 14..16;
}

/// STP request operations (sequans-protocol.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Op {
    /// 0x00: reset the slave (opens and closes a session); no payload either way.
    Reset,
    /// 0x01: open a session; the answer carries `ok`, `version`, `max_transfer`.
    SessionOpen,
    /// 0x02: announce a data block; payload u16 BE block length; no answer payload.
    TransferBlockCmd,
    /// 0x03: the data block; the answer carries the residue u16 BE.
    TransferBlock,
    /// 0x04 (STP v2 only): the type of the data; payload u32 BE; no answer payload.
    TransferDataType,
}

impl Op {
    /// The op code on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Op::Reset => 0x00,
            Op::SessionOpen => 0x01,
            Op::TransferBlockCmd => 0x02,
            Op::TransferBlock => 0x03,
            Op::TransferDataType => 0x04,
        }
    }

    /// The op for a request op code (`None` for anything else, including ACK/NACK codes).
    pub const fn from_code(code: u8) -> Option<Op> {
        match code {
            0x00 => Some(Op::Reset),
            0x01 => Some(Op::SessionOpen),
            0x02 => Some(Op::TransferBlockCmd),
            0x03 => Some(Op::TransferBlock),
            0x04 => Some(Op::TransferDataType),
            _ => None,
        }
    }

    /// The name used in the protocol description (`"TRANSFER_BLOCK_CMD"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Op::Reset => "RESET",
            Op::SessionOpen => "SESSION_OPEN",
            Op::TransferBlockCmd => "TRANSFER_BLOCK_CMD",
            Op::TransferBlock => "TRANSFER_BLOCK",
            Op::TransferDataType => "TRANSFER_DATA_TYPE",
        }
    }

    /// The op code of the acknowledgement of this op (`code | 0x80`).
    pub const fn ack_code(self) -> u8 {
        self.code() | ACK_BIT
    }

    /// The op code of the (v2) refusal of this op (`code | 0x40`).
    pub const fn nack_code(self) -> u8 {
        self.code() | NACK_BIT
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which way a header travels, i.e. which signature it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// Host → modem, signature `fast`.
    Request,
    /// Modem → host, signature `tsaf`.
    Response,
}

impl Direction {
    /// The signature bytes of this direction.
    pub const fn signature(self) -> [u8; 4] {
        match self {
            Direction::Request => REQUEST_SIGNATURE,
            Direction::Response => RESPONSE_SIGNATURE,
        }
    }

    /// The direction a signature stands for (`None` if it is neither `fast` nor `tsaf`).
    pub fn from_signature(signature: [u8; 4]) -> Option<Direction> {
        if signature == REQUEST_SIGNATURE {
            Some(Direction::Request)
        } else if signature == RESPONSE_SIGNATURE {
            Some(Direction::Response)
        } else {
            None
        }
    }
}

/// Why bytes are not a usable STP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WireError {
    /// The buffer is shorter than [`HEADER_LEN`].
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// The first four bytes are neither `fast` nor `tsaf`.
    Signature {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A payload longer than the 16-bit length field can describe.
    PayloadTooLong {
        /// The payload length asked for.
        len: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated { len } => write!(
                f,
                "STP header cut short: {len} bytes, expected {HEADER_LEN}; wait for the whole header before parsing it"
            ),
            WireError::Signature { found } => write!(
                f,
                "not an STP header: signature {} (expected 66 61 73 74 \"fast\" or 74 73 61 66 \"tsaf\"); the line is out of step or the modem is not in STP mode",
                Hex4(found)
            ),
            WireError::PayloadTooLong { len } => write!(
                f,
                "STP payload of {len} bytes does not fit the 16-bit length field (at most 65535); send smaller blocks"
            ),
        }
    }
}

impl core::error::Error for WireError {}

/// Four bytes as `66 61 73 74 "fast"` (the ASCII part only when all four are printable).
pub(crate) struct Hex4(pub(crate) [u8; 4]);

impl fmt::Display for Hex4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a:02x} {b:02x} {c:02x} {d:02x}")?;
        if self.0.iter().all(|x| x.is_ascii_graphic()) {
            f.write_str(" \"")?;
            for &x in &self.0 {
                write!(f, "{}", char::from(x))?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

/// A zero-copy view of an STP header over a byte buffer (see the module docs for the contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checking its length (accessors then return 0 for missing bytes).
    pub const fn new_unchecked(buffer: T) -> Self {
        Header { buffer }
    }

    /// Wraps a buffer after checking it holds at least [`HEADER_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(WireError::Truncated { len })
        } else {
            Ok(Header { buffer })
        }
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn array<const N: usize>(&self, start: usize) -> [u8; N] {
        self.buffer
            .as_ref()
            .get(start..start.saturating_add(N))
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; N])
    }

    /// The 4-byte signature (`fast` for requests, `tsaf` for responses).
    pub fn signature(&self) -> [u8; 4] {
        self.array(field::SIGNATURE.start)
    }

    /// The op code (request op, or response op with the ACK/NACK bits).
    pub fn op(&self) -> u8 {
        self.buffer.as_ref().get(field::OP).copied().unwrap_or(0)
    }

    /// The session id.
    pub fn sid(&self) -> u8 {
        self.buffer.as_ref().get(field::SID).copied().unwrap_or(0)
    }

    /// The payload length.
    pub fn plen(&self) -> u16 {
        u16::from_be_bytes(self.array(field::PLEN.start))
    }

    /// The transaction id.
    pub fn tid(&self) -> u32 {
        u32::from_be_bytes(self.array(field::TID.start))
    }

    /// The header CRC as stored (0 in a response means "not provided").
    pub fn hcrc(&self) -> u16 {
        u16::from_be_bytes(self.array(field::HCRC.start))
    }

    /// The payload CRC as stored (0 when there is no payload, or in a response "not provided").
    pub fn pcrc(&self) -> u16 {
        u16::from_be_bytes(self.array(field::PCRC.start))
    }

    /// CRC-16/XMODEM over the 16 header bytes with the hcrc field taken as `00 00`.
    pub fn compute_hcrc(&self) -> u16 {
        let bytes: [u8; HEADER_LEN] = self.array(0);
        let mut digest = crc16_digest();
        digest.update(bytes.get(..field::HCRC.start).unwrap_or(&[]));
        digest.update(&[0, 0]);
        digest.update(bytes.get(field::PCRC).unwrap_or(&[]));
        digest.finalize()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    fn put(&mut self, start: usize, bytes: &[u8]) {
        if let Some(dst) = self
            .buffer
            .as_mut()
            .get_mut(start..start.saturating_add(bytes.len()))
        {
            dst.copy_from_slice(bytes);
        }
    }

    /// Sets the signature.
    pub fn set_signature(&mut self, value: [u8; 4]) {
        self.put(field::SIGNATURE.start, &value);
    }

    /// Sets the op code.
    pub fn set_op(&mut self, value: u8) {
        self.put(field::OP, &[value]);
    }

    /// Sets the session id.
    pub fn set_sid(&mut self, value: u8) {
        self.put(field::SID, &[value]);
    }

    /// Sets the payload length.
    pub fn set_plen(&mut self, value: u16) {
        self.put(field::PLEN.start, &value.to_be_bytes());
    }

    /// Sets the transaction id.
    pub fn set_tid(&mut self, value: u32) {
        self.put(field::TID.start, &value.to_be_bytes());
    }

    /// Sets the header CRC field (see [`Header::fill_hcrc`] to compute it).
    pub fn set_hcrc(&mut self, value: u16) {
        self.put(field::HCRC.start, &value.to_be_bytes());
    }

    /// Sets the payload CRC field.
    pub fn set_pcrc(&mut self, value: u16) {
        self.put(field::PCRC.start, &value.to_be_bytes());
    }

    /// Computes the header CRC over the current fields (pcrc must already be set) and stores it.
    pub fn fill_hcrc(&mut self) {
        let hcrc = self.compute_hcrc();
        self.set_hcrc(hcrc);
    }
}

/// The fields of an STP header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HeaderRepr {
    /// Request (`fast`) or response (`tsaf`).
    pub direction: Direction,
    /// Op code (with the ACK/NACK bits in responses).
    pub op: u8,
    /// Session id.
    pub sid: u8,
    /// Payload length.
    pub plen: u16,
    /// Transaction id.
    pub tid: u32,
    /// Payload CRC (0: no payload, or not provided).
    pub pcrc: u16,
    /// Header CRC as stored; not verified by [`HeaderRepr::parse`].
    pub hcrc: u16,
}

impl HeaderRepr {
    /// Reads the fields of a header whose signature is `fast` or `tsaf` (the header CRC is not checked).
    pub fn parse<T: AsRef<[u8]>>(header: &Header<T>) -> Result<Self, WireError> {
        let len = header.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated { len });
        }
        let found = header.signature();
        let direction = Direction::from_signature(found).ok_or(WireError::Signature { found })?;
        Ok(HeaderRepr {
            direction,
            op: header.op(),
            sid: header.sid(),
            plen: header.plen(),
            tid: header.tid(),
            pcrc: header.pcrc(),
            hcrc: header.hcrc(),
        })
    }

    /// Writes every field verbatim, including `hcrc` (use [`Header::fill_hcrc`] to make it match).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut Header<T>) {
        header.set_signature(self.direction.signature());
        header.set_op(self.op);
        header.set_sid(self.sid);
        header.set_plen(self.plen);
        header.set_tid(self.tid);
        header.set_hcrc(self.hcrc);
        header.set_pcrc(self.pcrc);
    }
}

/// The header of a request frame: `plen` and `pcrc` from `payload` (pcrc 0 when it is empty) and a
/// matching hcrc. Send the returned 16 bytes, then `payload`.
pub fn encode_request(
    op: Op,
    sid: u8,
    tid: u32,
    payload: &[u8],
) -> Result<[u8; HEADER_LEN], WireError> {
    let plen = u16::try_from(payload.len())
        .map_err(|_| WireError::PayloadTooLong { len: payload.len() })?;
    let pcrc = if payload.is_empty() {
        0
    } else {
        crc16(payload)
    };
    let mut header = Header::new_unchecked([0u8; HEADER_LEN]);
    HeaderRepr {
        direction: Direction::Request,
        op: op.code(),
        sid,
        plen,
        tid,
        pcrc,
        hcrc: 0,
    }
    .emit(&mut header);
    header.fill_hcrc();
    Ok(header.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §5.10: SESSION_OPEN ACK ok=1 version=1 max_transfer=8192.
    static OPEN_ACK: [u8; 20] = [
        0x74, 0x73, 0x61, 0x66, 0x81, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0xd9, 0x08, 0x47,
        0x62, 0x01, 0x01, 0x20, 0x00,
    ];

    #[test]
    fn test_deconstruct() {
        let h = Header::new_checked(&OPEN_ACK[..]).unwrap();
        assert_eq!(h.signature(), RESPONSE_SIGNATURE);
        assert_eq!(h.op(), 0x81);
        assert_eq!(h.sid(), 1);
        assert_eq!(h.plen(), 4);
        assert_eq!(h.tid(), 1);
        assert_eq!(h.hcrc(), 0xd908);
        assert_eq!(h.pcrc(), 0x4762);
        assert_eq!(h.compute_hcrc(), 0xd908);
        assert_eq!(crc16(&OPEN_ACK[16..]), 0x4762);
    }

    #[test]
    fn test_parse_emit() {
        let h = Header::new_checked(&OPEN_ACK[..]).unwrap();
        let repr = HeaderRepr::parse(&h).unwrap();
        assert_eq!(repr.direction, Direction::Response);
        let mut out = Header::new_unchecked([0u8; HEADER_LEN]);
        repr.emit(&mut out);
        assert_eq!(out.into_inner()[..], OPEN_ACK[..16]);
    }

    #[test]
    fn test_impossible_len() {
        assert_eq!(
            Header::new_checked(&OPEN_ACK[..15]),
            Err(WireError::Truncated { len: 15 })
        );
        let short = Header::new_unchecked(&OPEN_ACK[..6]);
        assert_eq!((short.op(), short.plen(), short.tid()), (0x81, 0, 0));
        assert_eq!(
            HeaderRepr::parse(&short),
            Err(WireError::Truncated { len: 6 })
        );
        let mut tiny = Header::new_unchecked([0u8; 5]);
        tiny.set_tid(7);
        tiny.fill_hcrc();
        assert_eq!(tiny.into_inner(), [0u8; 5]);
    }

    #[test]
    fn ops_round_trip() {
        for code in 0..=u8::MAX {
            if let Some(op) = Op::from_code(code) {
                assert_eq!(op.code(), code);
            }
        }
        assert_eq!(Op::TransferBlock.ack_code(), 0x83);
        assert_eq!(Op::TransferBlock.nack_code(), 0x43);
    }
}
