//! Test-support STP wire helpers, written from sequans-protocol.md §5.2–5.4 **independently of the
//! library's encoder and CRC** (plain `std`, no `modem_upgrade` import), so tests can check the engine
//! against bytes it did not produce.
//!
//! Included with `#[path = "support/stp_wire.rs"] mod stp_wire;`.

#![allow(dead_code)]

/// CRC-16/XMODEM, bit by bit (poly 0x1021, init 0, no reflection, no final XOR); `0x31C3` for
/// `b"123456789"`.
pub fn bitwise_crc(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
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

/// A response frame (`tsaf`, `op` as given — the caller sets the ACK/NACK bits) built field by field.
/// pcrc is the payload's CRC when `with_pcrc` and the payload is not empty, else 0; hcrc is computed
/// over the 16 header bytes when `with_hcrc`, else 0 ("not provided").
pub fn response_with(
    op: u8,
    sid: u8,
    tid: u32,
    payload: &[u8],
    with_hcrc: bool,
    with_pcrc: bool,
) -> Vec<u8> {
    let pcrc = if payload.is_empty() || !with_pcrc {
        0
    } else {
        bitwise_crc(payload)
    };
    let mut h = b"tsaf".to_vec();
    h.push(op);
    h.push(sid);
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&tid.to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&pcrc.to_be_bytes());
    if with_hcrc {
        let c = bitwise_crc(&h);
        h[12..14].copy_from_slice(&c.to_be_bytes());
    }
    h.extend_from_slice(payload);
    h
}

/// [`response_with`] with the payload CRC always filled in.
pub fn response(op: u8, sid: u8, tid: u32, payload: &[u8], with_hcrc: bool) -> Vec<u8> {
    response_with(op, sid, tid, payload, with_hcrc, true)
}
