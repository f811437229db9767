//! A hand-written host for driving the simulator in tests: raw AT lines and STP frames built byte by
//! byte from the spec, never with the `modem-upgrade` library (so the two cannot share a mistake).
#![allow(dead_code)]

use modem_sim::checksum::crc16_xmodem;
use modem_sim::{Sim, SimConfig, SimPort};
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

/// The fixtures directory, if `MODEM_FW_FIXTURES` is set; otherwise prints the skip line.
pub fn fixtures(test: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os("MODEM_FW_FIXTURES") {
        Some(dir) => Some(dir.into()),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "{test}: skipped: MODEM_FW_FIXTURES not set (real firmware files absent)"
            );
            None
        }
    }
}

/// A decoded STP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub op: u8,
    pub sid: u8,
    pub tid: u32,
    pub hcrc: u16,
    pub pcrc: u16,
    pub payload: Vec<u8>,
}

/// How the test host runs an STP transfer.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// Data bytes per block.
    pub block: usize,
    /// Send TRANSFER_DATA_TYPE with this type after SESSION_OPEN (v2).
    pub data_type: Option<u32>,
    /// Give up after this many failed exchanges in a row.
    pub max_retries: u32,
}

impl Default for Transfer {
    fn default() -> Self {
        Self {
            block: 2016,
            data_type: None,
            max_retries: 8,
        }
    }
}

/// What a transfer saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferLog {
    pub version: u8,
    pub max_transfer: u16,
    pub blocks: u32,
    pub residue_bytes: u64,
    pub nacks: u32,
    pub retries: u32,
}

pub struct Host {
    pub sim: Sim,
    pub port: SimPort,
    pub rx: Vec<u8>,
}

impl Host {
    pub fn new(cfg: SimConfig) -> Self {
        let sim = Sim::new(cfg);
        let mut port = sim.port();
        port.set_read_timeout(Duration::from_millis(50));
        Self {
            sim,
            port,
            rx: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.port
            .write_all(bytes)
            .expect("the simulated port accepts every write");
    }

    /// Reads for up to `within` of virtual time, appending to `self.rx`; stops early when `stop` says so.
    fn pump(&mut self, within: Duration, stop: impl Fn(&[u8]) -> bool) {
        let deadline = self.sim.now() + within;
        let mut buf = [0u8; 4096];
        while !stop(&self.rx) && self.sim.now() < deadline {
            match self.port.read(&mut buf) {
                Ok(n) => self.rx.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::TimedOut => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Waits until `needle` arrives; returns everything up to and including it (removed from `rx`).
    pub fn try_expect(&mut self, needle: &[u8], within: Duration) -> Option<Vec<u8>> {
        self.pump(within, |rx| find(rx, needle).is_some());
        let end = find(&self.rx, needle)? + needle.len();
        Some(self.rx.drain(..end).collect())
    }

    #[track_caller]
    pub fn expect(&mut self, needle: &[u8], within: Duration) -> Vec<u8> {
        match self.try_expect(needle, within) {
            Some(got) => got,
            None => panic!(
                "no {:?} within {within:?}; received {:?}\ntranscript:\n{}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.rx),
                self.sim.transcript_text()
            ),
        }
    }

    /// Everything that arrives during `d`.
    pub fn collect(&mut self, d: Duration) -> Vec<u8> {
        self.pump(d, |_| false);
        std::mem::take(&mut self.rx)
    }

    /// Sends `cmd\r` and returns the reply text up to and including the final result code.
    #[track_caller]
    pub fn at(&mut self, cmd: &str) -> String {
        self.send(format!("{cmd}\r").as_bytes());
        self.pump(Duration::from_secs(5), |rx| {
            find(rx, b"\r\nOK\r\n").is_some() || find(rx, b"\r\nERROR\r\n").is_some()
        });
        let end = [
            find(&self.rx, b"\r\nOK\r\n").map(|i| i + 6),
            find(&self.rx, b"\r\nERROR\r\n").map(|i| i + 9),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| {
            panic!(
                "no final result for {cmd}; got {:?}\n{}",
                String::from_utf8_lossy(&self.rx),
                self.sim.transcript_text()
            )
        });
        String::from_utf8_lossy(&self.rx.drain(..end).collect::<Vec<_>>()).into_owned()
    }

    /// Sends `cmd` and asserts it answered OK; returns the information text.
    #[track_caller]
    pub fn at_ok(&mut self, cmd: &str) -> String {
        let reply = self.at(cmd);
        assert!(
            reply.ends_with("\r\nOK\r\n"),
            "{cmd} -> {reply:?}\n{}",
            self.sim.transcript_text()
        );
        reply
    }

    pub fn wait(&mut self, d: Duration) {
        self.sim.advance(d);
    }

    /// Polls `AT` every second until it answers OK (a host waiting for a reboot).
    #[track_caller]
    pub fn wait_for_at(&mut self, within: Duration) {
        let deadline = self.sim.now() + within;
        while self.sim.now() < deadline {
            self.rx.clear();
            self.send(b"AT\r");
            if self.try_expect(b"OK\r\n", Duration::from_secs(1)).is_some() {
                self.rx.clear();
                return;
            }
        }
        panic!("modem never answered AT\n{}", self.sim.transcript_text());
    }

    /// Polls `AT+SMUPGRADE?` until the verdict is no longer "on-going"; returns the `+SMUPGRADE:` line.
    #[track_caller]
    pub fn upgrade_verdict(&mut self, within: Duration) -> String {
        let deadline = self.sim.now() + within;
        loop {
            let reply = self.at("AT+SMUPGRADE?");
            let line = reply
                .lines()
                .find(|l| l.starts_with("+SMUPGRADE:"))
                .unwrap_or_default()
                .to_string();
            if !line.contains("on-going") || self.sim.now() > deadline {
                return line;
            }
            self.wait(Duration::from_secs(1));
        }
    }

    /// Loader-wait (SMOD 0): `AT+STP`, the loader ELF over STP, then waits for the loader to answer
    /// `AT` and turns echo off.
    #[track_caller]
    pub fn load_loader(&mut self, elf: &[u8]) {
        self.send(b"AT+STP\n");
        assert_eq!(
            self.collect(Duration::from_secs(1)),
            b"OK\r\n",
            "AT+STP in the bootloader"
        );
        self.stp_transfer(elf, Transfer::default());
        self.wait_for_at(Duration::from_secs(120));
        self.at_ok("ATE0");
    }

    /// Sends an AT command that enters STP (`AT+SMSTPU="ON_THE_FLY"`, `AT+SMSTPU`) and waits for its OK.
    #[track_caller]
    pub fn start_stp(&mut self, cmd: &str) {
        self.send(format!("{cmd}\r").as_bytes());
        self.expect(b"\r\nOK\r\n", Duration::from_secs(1));
    }

    /// Waits for the programming verdict and asserts it is a success.
    #[track_caller]
    pub fn assert_upgraded(&mut self) {
        let verdict = self.upgrade_verdict(Duration::from_secs(600));
        assert_eq!(
            verdict,
            "+SMUPGRADE: \"success\"",
            "\n{}",
            self.sim.transcript_text()
        );
    }

    /// One STP request/response; `None` when no complete, valid response arrives in time.
    pub fn exchange(&mut self, frame: &[u8], within: Duration) -> Option<Response> {
        self.rx.clear();
        self.send(frame);
        self.pump(within, |rx| {
            rx.len() >= 16 && rx.len() >= 16 + usize::from(u16::from_be_bytes([rx[6], rx[7]]))
        });
        decode_response(&std::mem::take(&mut self.rx))
    }

    /// A whole STP session (RESET, SESSION_OPEN, [DATA_TYPE], blocks with residue, closing RESET),
    /// retrying like a careful host: v1 re-sends the same frame with the same tid after a timeout or a
    /// bad answer; v2 re-sends with the next tid after a NACK.
    #[track_caller]
    pub fn stp_transfer(&mut self, image: &[u8], opts: Transfer) -> TransferLog {
        let mut log = TransferLog::default();
        let reset = request(0, 0, 0, &[]);
        let r = self.exchange_retry(&reset, 0x00, 0, 0, &mut log, opts);
        assert_eq!(r.op, 0x80);
        let mut tid = 1u32;
        let r = self.exchange_retry(&request(1, 1, tid, &[]), 0x01, 1, tid, &mut log, opts);
        assert!(
            r.payload.len() >= 4 && r.payload[0] != 0,
            "SESSION_OPEN refused: {r:?}"
        );
        log.version = r.payload[1];
        log.max_transfer = u16::from_be_bytes([r.payload[2], r.payload[3]]);
        tid = r.tid + 1;
        if let Some(ty) = opts.data_type {
            let r = self.exchange_v2(
                |tid| request(4, 1, tid, &ty.to_be_bytes()),
                0x04,
                &mut tid,
                &mut log,
                opts,
            );
            assert_eq!(r.op, 0x84);
        }
        let block = opts.block.min(usize::from(log.max_transfer) - 16);
        let mut offset = 0;
        while offset < image.len() {
            let len = block.min(image.len() - offset);
            let data = &image[offset..offset + len];
            self.exchange_v2(
                |tid| request(2, 1, tid, &(len as u16).to_be_bytes()),
                0x02,
                &mut tid,
                &mut log,
                opts,
            );
            let r = self.exchange_v2(
                |tid| request(3, 1, tid, data),
                0x03,
                &mut tid,
                &mut log,
                opts,
            );
            let residue = usize::from(u16::from_be_bytes([r.payload[0], r.payload[1]]));
            log.residue_bytes += residue as u64;
            log.blocks += 1;
            offset += len - residue;
        }
        let close = request(0, 1, tid, &[]);
        self.rx.clear();
        self.send(&close);
        self.expect(b"tsaf", Duration::from_secs(2));
        self.collect(Duration::from_millis(50));
        log
    }

    /// Exchanges a frame whose tid advances per attempt in v2 (NACK rule) and stays in v1.
    fn exchange_v2(
        &mut self,
        make: impl Fn(u32) -> Vec<u8>,
        op: u8,
        tid: &mut u32,
        log: &mut TransferLog,
        opts: Transfer,
    ) -> Response {
        for _ in 0..=opts.max_retries {
            let frame = make(*tid);
            let r = self.exchange_retry(&frame, op, 1, *tid, log, opts);
            *tid += 1;
            if r.op == op | 0x80 {
                return r;
            }
            assert!(
                log.version >= 2 && (r.op == op | 0x40 || r.op == 0x7F),
                "unexpected answer {r:?} to op {op}"
            );
            log.nacks += 1;
        }
        panic!(
            "op {op} NACKed {} times\n{}",
            opts.max_retries,
            self.sim.transcript_text()
        );
    }

    /// Sends `frame` until a response with matching sid/tid and a valid payload CRC arrives.
    fn exchange_retry(
        &mut self,
        frame: &[u8],
        op: u8,
        sid: u8,
        tid: u32,
        log: &mut TransferLog,
        opts: Transfer,
    ) -> Response {
        for _ in 0..=opts.max_retries {
            if let Some(r) = self.exchange(frame, Duration::from_secs(2))
                && r.sid == sid
                && r.tid == tid
                && (r.op & 0x3F) == (op & 0x3F)
            {
                return r;
            }
            log.retries += 1;
            // Let the line go quiet so the slave drops any partial frame before the retry.
            self.collect(Duration::from_millis(300));
        }
        panic!(
            "no valid answer to op {op} tid {tid}\n{}",
            self.sim.transcript_text()
        );
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request frame, built field by field from the spec's table (big-endian header, "fast" signature,
/// hcrc over the header with hcrc = 0 and pcrc filled in).
pub fn request(op: u8, sid: u8, tid: u32, payload: &[u8]) -> Vec<u8> {
    let pcrc = if payload.is_empty() {
        0
    } else {
        crc16_xmodem(payload)
    };
    let mut f = b"fast".to_vec();
    f.push(op);
    f.push(sid);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&tid.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&pcrc.to_be_bytes());
    let hcrc = crc16_xmodem(&f);
    f[12..14].copy_from_slice(&hcrc.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Decodes a response; `None` unless it is a complete "tsaf" frame whose payload CRC (when given) holds.
pub fn decode_response(bytes: &[u8]) -> Option<Response> {
    let start = find(bytes, b"tsaf")?;
    let b = &bytes[start..];
    if b.len() < 16 {
        return None;
    }
    let plen = usize::from(u16::from_be_bytes([b[6], b[7]]));
    let payload = b.get(16..16 + plen)?.to_vec();
    let pcrc = u16::from_be_bytes([b[14], b[15]]);
    if plen > 0 && pcrc != 0 && crc16_xmodem(&payload) != pcrc {
        return None;
    }
    Some(Response {
        op: b[4],
        sid: b[5],
        tid: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        hcrc: u16::from_be_bytes([b[12], b[13]]),
        pcrc,
        payload,
    })
}

pub fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

pub const SEC: Duration = Duration::from_secs(1);
