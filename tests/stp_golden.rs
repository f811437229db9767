//! STP golden vectors (sequans-protocol.md §5.10, computed there with an independent script) and a
//! byte-exact walk through a whole session, v1 and v2.
//!
//! Every expected byte here is either a literal from the spec, a literal computed by hand with an
//! independent script (noted where used), or built with the bitwise CRC of `tests/support/stp_wire.rs`,
//! which shares nothing with the library's table-driven one.

use modem_upgrade::protocol::stp::*;
use std::io::Write;

#[path = "support/stp_wire.rs"]
mod stp_wire;
use stp_wire::{bitwise_crc, response};

// ---- independent helpers ----------------------------------------------------------------------

/// A request header built field by field with the independent CRC.
fn request_header(op: u8, sid: u8, tid: u32, payload: &[u8]) -> [u8; 16] {
    let pcrc = if payload.is_empty() {
        0
    } else {
        bitwise_crc(payload)
    };
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(b"fast");
    h[4] = op;
    h[5] = sid;
    h[6..8].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    h[8..12].copy_from_slice(&tid.to_be_bytes());
    h[14..16].copy_from_slice(&pcrc.to_be_bytes());
    let c = bitwise_crc(&h);
    h[12..14].copy_from_slice(&c.to_be_bytes());
    h
}

fn image(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

// ---- golden bytes (§5.10) ---------------------------------------------------------------------

const RESET_REQ: [u8; 16] = [
    0x66, 0x61, 0x73, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8a, 0xe3, 0x00, 0x00,
];
const OPEN_REQ: [u8; 16] = [
    0x66, 0x61, 0x73, 0x74, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfb, 0x8e, 0x00, 0x00,
];
const CMD_2016_REQ: [u8; 16] = [
    0x66, 0x61, 0x73, 0x74, 0x02, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x27, 0xb8, 0x64, 0xb9,
];
const CMD_8176_REQ: [u8; 16] = [
    0x66, 0x61, 0x73, 0x74, 0x02, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0xfa, 0xbf, 0xfc, 0x52,
];
const BLOCK3_CATM1_REQ: [u8; 16] = [
    0x66, 0x61, 0x73, 0x74, 0x03, 0x01, 0x07, 0xe0, 0x00, 0x00, 0x00, 0x03, 0x94, 0x0d, 0x4e, 0xc8,
];
const RESET_ACK: [u8; 16] = [
    0x74, 0x73, 0x61, 0x66, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xec, 0x35, 0x00, 0x00,
];
const OPEN_ACK_V1_8192: [u8; 20] = [
    0x74, 0x73, 0x61, 0x66, 0x81, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0xd9, 0x08, 0x47, 0x62,
    0x01, 0x01, 0x20, 0x00,
];
const BLOCK_ACK_TID3_RESIDUE0: [u8; 18] = [
    0x74, 0x73, 0x61, 0x66, 0x83, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x19, 0x56, 0x00, 0x00,
    0x00, 0x00,
];
/// TRANSFER_DATA_TYPE sid 1 tid 2 type 4 (CABA); computed by hand with an independent Python script
/// (bitwise CRC; the same script reproduces every §5.10 vector above).
const DATA_TYPE_CABA_TID2_REQ: [u8; 16] = [
    0x66, 0x61, 0x73, 0x74, 0x04, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x5b, 0xd2, 0x40, 0x84,
];

#[test]
fn crc_check_value() {
    assert_eq!(crc16(b"123456789"), 0x31C3);
    assert_eq!(bitwise_crc(b"123456789"), 0x31C3);
    assert_eq!(CRC16.checksum(b"123456789"), 0x31C3);
}

#[test]
fn encode_request_golden() {
    assert_eq!(encode_request(Op::Reset, 0, 0, &[]).unwrap(), RESET_REQ);
    assert_eq!(
        encode_request(Op::SessionOpen, 1, 1, &[]).unwrap(),
        OPEN_REQ
    );
    assert_eq!(
        encode_request(Op::TransferBlockCmd, 1, 2, &[0x07, 0xe0]).unwrap(),
        CMD_2016_REQ
    );
    assert_eq!(
        encode_request(Op::TransferBlockCmd, 1, 2, &[0x1f, 0xf0]).unwrap(),
        CMD_8176_REQ
    );
    assert_eq!(
        encode_request(Op::TransferDataType, 1, 2, &[0, 0, 0, 4]).unwrap(),
        DATA_TYPE_CABA_TID2_REQ
    );
    // The independent builder agrees with the spec's literals (so it can be trusted below).
    assert_eq!(request_header(0, 0, 0, &[]), RESET_REQ);
    assert_eq!(request_header(2, 1, 2, &[0x07, 0xe0]), CMD_2016_REQ);
    assert_eq!(
        request_header(4, 1, 2, &[0, 0, 0, 4]),
        DATA_TYPE_CABA_TID2_REQ
    );
    assert_eq!(
        encode_request(Op::TransferBlock, 1, 3, &vec![0; 65_536]),
        Err(WireError::PayloadTooLong { len: 65_536 })
    );
}

#[test]
fn golden_responses_parse_and_verify() {
    assert_eq!(response(0x80, 0, 0, &[], true), RESET_ACK);
    assert_eq!(
        response(0x81, 1, 1, &[1, 1, 0x20, 0], true),
        OPEN_ACK_V1_8192
    );
    assert_eq!(response(0x83, 1, 3, &[0, 0], true), BLOCK_ACK_TID3_RESIDUE0);

    for (bytes, op, sid, plen, tid) in [
        (&RESET_ACK[..], 0x80, 0, 0, 0),
        (&OPEN_ACK_V1_8192[..], 0x81, 1, 4, 1),
        (&BLOCK_ACK_TID3_RESIDUE0[..], 0x83, 1, 2, 3),
    ] {
        let h = Header::new_checked(bytes).unwrap();
        let r = HeaderRepr::parse(&h).unwrap();
        assert_eq!(r.direction, Direction::Response);
        assert_eq!((r.op, r.sid, r.plen, r.tid), (op, sid, plen, tid));
        assert_eq!(h.compute_hcrc(), r.hcrc, "hcrc of {bytes:02x?}");
        let payload = &bytes[16..];
        if !payload.is_empty() {
            assert_eq!(crc16(payload), r.pcrc);
        }
    }
    let req = HeaderRepr::parse(&Header::new_checked(&OPEN_REQ[..]).unwrap()).unwrap();
    assert_eq!(req.direction, Direction::Request);
    let mut bad = RESET_ACK;
    bad[0] = b'x';
    assert_eq!(
        HeaderRepr::parse(&Header::new_checked(&bad[..]).unwrap()),
        Err(WireError::Signature { found: *b"xsaf" })
    );
}

#[test]
fn block_tid3_of_catm1_fixture() {
    let Some(dir) = std::env::var_os("MODEM_FW_FIXTURES") else {
        let _ = writeln!(std::io::stderr(), "skipped: MODEM_FW_FIXTURES not set");
        return;
    };
    let path = std::path::PathBuf::from(dir).join("CATM1-38638.dup");
    if !path.exists() {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: fixture {} not present",
            path.display()
        );
        return;
    }
    let file = std::fs::read(&path).expect("fixture readable");
    let data = &file[..2016];
    assert_eq!(
        encode_request(Op::TransferBlock, 1, 3, data).unwrap(),
        BLOCK3_CATM1_REQ
    );

    // The same frame through a session over the real file.
    let mut s = Session::new(SessionConfig::default(), file.len() as u32, 0).unwrap();
    s.frame(&[]).unwrap();
    s.receive(&RESET_ACK).unwrap();
    s.frame(&[]).unwrap();
    s.receive(&OPEN_ACK_V1_8192).unwrap();
    let cmd = s.frame(&[]).unwrap();
    assert_eq!(cmd.header(), &CMD_2016_REQ);
    s.receive(&response(0x82, 1, 2, &[], false)).unwrap();
    let Poll::Transmit {
        op: Op::TransferBlock,
        tid: 3,
        data: Some(range),
        ..
    } = s.poll()
    else {
        panic!("expected BLOCK tid 3, got {:?}", s.poll());
    };
    assert_eq!(
        range,
        DataRange {
            offset: 0,
            len: 2016
        }
    );
    let block = s.frame(data).unwrap();
    assert_eq!(block.header(), &BLOCK3_CATM1_REQ);
    assert!(block.inline_payload().is_empty());
}

// ---- session walk-throughs ---------------------------------------------------------------------

/// Expects `Transmit` for `op`/`tid`/`data`, builds the frame and returns header + inline payload.
fn send(s: &mut Session, op: Op, tid: u32, data: Option<DataRange>, img: &[u8]) -> Vec<u8> {
    match s.poll() {
        Poll::Transmit {
            op: o,
            tid: t,
            data: d,
            ..
        } => assert_eq!((o, t, d), (op, tid, data), "transmit"),
        other => panic!("expected Transmit {op} tid {tid}, got {other:?}"),
    }
    let bytes = data.map_or(&[][..], |r| {
        &img[r.offset as usize..r.offset as usize + usize::from(r.len)]
    });
    let out = s.frame(bytes).unwrap();
    assert!(matches!(s.poll(), Poll::Await { op: o, tid: t, .. } if o == op && t == tid));
    let mut v = out.header().to_vec();
    v.extend_from_slice(out.inline_payload());
    v
}

fn answer(s: &mut Session, bytes: &[u8]) {
    assert_eq!(s.receive(bytes), Ok(bytes.len()));
}

fn cmd_frame(tid: u32, len: u16) -> Vec<u8> {
    let p = len.to_be_bytes();
    let mut v = request_header(2, 1, tid, &p).to_vec();
    v.extend_from_slice(&p);
    v
}

#[test]
fn v1_session_byte_exact_with_residue_and_close() {
    let img = image(5000);
    let mut s = Session::new(SessionConfig::default(), 5000, 0).unwrap();
    assert_eq!(
        s.poll(),
        Poll::Transmit {
            op: Op::Reset,
            tid: 0,
            data: None,
            purge_first: true
        }
    );
    assert_eq!(send(&mut s, Op::Reset, 0, None, &img), RESET_REQ);
    assert_eq!(
        s.poll(),
        Poll::Await {
            op: Op::Reset,
            tid: 0,
            timeout_ms: 2000
        }
    );
    answer(&mut s, &RESET_ACK);
    assert_eq!(send(&mut s, Op::SessionOpen, 1, None, &img), OPEN_REQ);
    answer(&mut s, &OPEN_ACK_V1_8192);
    assert_eq!(
        s.negotiated(),
        Some(Negotiated {
            version: 1,
            max_transfer: 8192,
            block_len: 2016
        })
    );

    // Block 1: 0..2016, fully consumed (the golden BLOCK ACK).
    let mut cmd = CMD_2016_REQ.to_vec();
    cmd.extend_from_slice(&[0x07, 0xe0]);
    assert_eq!(send(&mut s, Op::TransferBlockCmd, 2, None, &img), cmd);
    answer(&mut s, &response(0x82, 1, 2, &[], false));
    let r = DataRange {
        offset: 0,
        len: 2016,
    };
    assert_eq!(
        send(&mut s, Op::TransferBlock, 3, Some(r), &img),
        request_header(3, 1, 3, &img[..2016])
    );
    answer(&mut s, &BLOCK_ACK_TID3_RESIDUE0);
    assert_eq!(s.acknowledged(), 2016);

    // Block 2: 2016..4032, residue 100 → 3932 acknowledged.
    assert_eq!(
        send(&mut s, Op::TransferBlockCmd, 4, None, &img),
        cmd_frame(4, 2016)
    );
    answer(&mut s, &response(0x82, 1, 4, &[], true));
    let r = DataRange {
        offset: 2016,
        len: 2016,
    };
    assert_eq!(
        send(&mut s, Op::TransferBlock, 5, Some(r), &img),
        request_header(3, 1, 5, &img[2016..4032])
    );
    answer(&mut s, &response(0x83, 1, 5, &100u16.to_be_bytes(), false));
    assert_eq!(s.acknowledged(), 3932);

    // Block 3 re-sends the 100 unconsumed bytes first: 3932..5000 (1068 bytes, the rest).
    assert_eq!(
        send(&mut s, Op::TransferBlockCmd, 6, None, &img),
        cmd_frame(6, 1068)
    );
    answer(&mut s, &response(0x82, 1, 6, &[], false));
    let r = DataRange {
        offset: 3932,
        len: 1068,
    };
    assert_eq!(
        send(&mut s, Op::TransferBlock, 7, Some(r), &img),
        request_header(3, 1, 7, &img[3932..])
    );
    answer(&mut s, &response(0x83, 1, 7, &[0, 0], true));
    assert_eq!(s.acknowledged(), 5000);

    // Closing RESET: sid 1, the next tid, close timeout.
    assert_eq!(
        send(&mut s, Op::Reset, 8, None, &img),
        request_header(0, 1, 8, &[])
    );
    assert_eq!(
        s.poll(),
        Poll::Await {
            op: Op::Reset,
            tid: 8,
            timeout_ms: 2000
        }
    );
    answer(&mut s, &response(0x80, 1, 8, &[], false));
    assert_eq!(s.poll(), Poll::Done);
    let st = s.stats();
    assert!(st.close_acknowledged);
    assert_eq!(
        (st.frames_sent, st.blocks, st.residues, st.residue_bytes),
        (9, 3, 1, 100)
    );
    assert_eq!(
        (st.retransmissions, st.timeouts, st.bad_responses),
        (0, 0, 0)
    );
}

#[test]
fn v1_block_cap_8176_matches_golden_cmd() {
    let img = image(10_000);
    let cfg = SessionConfig {
        block_cap: 8176,
        ..SessionConfig::default()
    };
    let mut s = Session::new(cfg, 10_000, 0).unwrap();
    send(&mut s, Op::Reset, 0, None, &img);
    answer(&mut s, &RESET_ACK);
    send(&mut s, Op::SessionOpen, 1, None, &img);
    answer(&mut s, &OPEN_ACK_V1_8192);
    let mut cmd = CMD_8176_REQ.to_vec();
    cmd.extend_from_slice(&[0x1f, 0xf0]);
    assert_eq!(send(&mut s, Op::TransferBlockCmd, 2, None, &img), cmd);
}

#[test]
fn v2_session_sends_data_type_then_blocks() {
    let img = image(3000);
    let mut s = Session::new(SessionConfig::default(), 3000, 0).unwrap();
    send(&mut s, Op::Reset, 0, None, &img);
    answer(&mut s, &RESET_ACK);
    send(&mut s, Op::SessionOpen, 1, None, &img);
    // OPEN ACK ok=1 version=2 max_transfer=2048, header CRC left 0 (as the simulator and the real
    // SQN3330 send it).
    answer(&mut s, &response(0x81, 1, 1, &[1, 2, 0x08, 0x00], false));
    assert_eq!(
        s.negotiated(),
        Some(Negotiated {
            version: 2,
            max_transfer: 2048,
            block_len: 2016
        })
    );

    let mut dt = DATA_TYPE_CABA_TID2_REQ.to_vec();
    dt.extend_from_slice(&[0, 0, 0, 4]);
    assert_eq!(send(&mut s, Op::TransferDataType, 2, None, &img), dt);
    answer(&mut s, &response(0x84, 1, 2, &[], true));

    assert_eq!(
        send(&mut s, Op::TransferBlockCmd, 3, None, &img),
        cmd_frame(3, 2016)
    );
    answer(&mut s, &response(0x82, 1, 3, &[], false));
    let r = DataRange {
        offset: 0,
        len: 2016,
    };
    assert_eq!(
        send(&mut s, Op::TransferBlock, 4, Some(r), &img),
        request_header(3, 1, 4, &img[..2016])
    );
    // A v2 block waits the longest timeout at once (its loss is fatal).
    assert_eq!(
        s.poll(),
        Poll::Await {
            op: Op::TransferBlock,
            tid: 4,
            timeout_ms: 60_000
        }
    );
    // v2 NACK of the block: re-sent with the next tid, same content.
    answer(&mut s, &response(0x43, 1, 4, &[], false));
    assert_eq!(s.last_fault(), Some(ResponseFault::Nack { op: 0x43 }));
    assert!(matches!(
        s.poll(),
        Poll::Transmit {
            purge_first: true,
            ..
        }
    ));
    assert_eq!(
        send(&mut s, Op::TransferBlock, 5, Some(r), &img),
        request_header(3, 1, 5, &img[..2016])
    );
    assert_eq!(
        s.poll(),
        Poll::Await {
            op: Op::TransferBlock,
            tid: 5,
            timeout_ms: 60_000
        }
    );
    answer(&mut s, &response(0x83, 1, 5, &[0, 0], false));
    assert_eq!(
        send(&mut s, Op::TransferBlockCmd, 6, None, &img),
        cmd_frame(6, 984)
    );
    answer(&mut s, &response(0x82, 1, 6, &[], false));
    let r = DataRange {
        offset: 2016,
        len: 984,
    };
    send(&mut s, Op::TransferBlock, 7, Some(r), &img);
    answer(&mut s, &response(0x83, 1, 7, &[0, 0], false));
    assert_eq!(
        send(&mut s, Op::Reset, 8, None, &img),
        request_header(0, 1, 8, &[])
    );
    // A garbled close answer still ends in Done, without close_acknowledged.
    let mut garbled = response(0x80, 1, 8, &[], true);
    garbled[13] ^= 1;
    answer(&mut s, &garbled);
    assert_eq!(s.poll(), Poll::Done);
    assert!(!s.stats().close_acknowledged);
    assert_eq!((s.stats().nacks, s.stats().retransmissions), (1, 1));
}

#[test]
fn v2_zipped_data_type_code() {
    let cfg = SessionConfig {
        data_type: DataType::ZippedCaba,
        ..SessionConfig::default()
    };
    let mut s = Session::new(cfg, 10, 0).unwrap();
    s.frame(&[]).unwrap();
    s.receive(&RESET_ACK).unwrap();
    s.frame(&[]).unwrap();
    s.receive(&response(0x81, 1, 1, &[1, 2, 0x20, 0x00], true))
        .unwrap();
    let out = s.frame(&[]).unwrap();
    // Computed by hand (independent script): type 5 → pcrc 0x50a5, hcrc 0x6ce2.
    assert_eq!(
        out.header(),
        &[
            0x66, 0x61, 0x73, 0x74, 0x04, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x6c, 0xe2,
            0x50, 0xa5
        ]
    );
    assert_eq!(out.inline_payload(), &[0, 0, 0, 5]);
}

#[test]
fn resume_from_start_offset() {
    let img = image(4000);
    let mut s = Session::new(SessionConfig::default(), 4000, 3000).unwrap();
    assert_eq!(s.acknowledged(), 3000);
    send(&mut s, Op::Reset, 0, None, &img);
    answer(&mut s, &RESET_ACK);
    send(&mut s, Op::SessionOpen, 1, None, &img);
    answer(&mut s, &OPEN_ACK_V1_8192);
    assert_eq!(
        send(&mut s, Op::TransferBlockCmd, 2, None, &img),
        cmd_frame(2, 1000)
    );
}
