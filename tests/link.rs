//! `transport::Link` and the baud helpers against a scripted UART on a virtual clock.
//!
//! The fake modem here is a few lines of script per test, written from the protocol facts: it sees
//! what the host wrote, queues bytes (or receive errors) to be readable at given virtual times, and can
//! babble without end. Waits must end by their deadlines whatever it does; answers that arrived in
//! time must be read; nothing may be lost or read twice between commands and STP.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};
use modem_upgrade::protocol::at::{
    Attention, AttentionWithin, BootMode, QueryBootMode, StartStp, Terminator,
};
use modem_upgrade::protocol::stp::{Op, ResponseFault, Session, SessionConfig, StpError};
use modem_upgrade::storage::MemImage;
use modem_upgrade::transport::{
    BaudError, BaudProbe, Clock, Link, LinkError, SetBaud, TransferError, switch_baud,
};

#[path = "support/stp_wire.rs"]
mod stp_wire;

// ---- the fake UART ---------------------------------------------------------------------------------

/// Virtual milliseconds, shared by the clock and the UART. `idle` lets `idle_step` pass.
#[derive(Clone)]
struct Time {
    now: Rc<Cell<u64>>,
    idle_step: Rc<Cell<u64>>,
}

impl Time {
    fn new() -> Self {
        Self {
            now: Rc::new(Cell::new(0)),
            idle_step: Rc::new(Cell::new(1)),
        }
    }

    fn now(&self) -> u64 {
        self.now.get()
    }
}

impl Clock for Time {
    fn now_ms(&mut self) -> u64 {
        self.now.get()
    }

    fn idle(&mut self) {
        self.now.set(self.now.get() + self.idle_step.get());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FakeError(ErrorKind);

impl std::fmt::Display for FakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fake UART error {:?}", self.0)
    }
}

impl std::error::Error for FakeError {}

impl embedded_io::Error for FakeError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

enum Item {
    Byte(u8),
    Error(ErrorKind),
}

/// The modem's side of the line, as the scripts see it.
struct Modem {
    now: u64,
    /// What the host wrote and the script has not taken yet (only while both ends use one rate).
    input: Vec<u8>,
    /// Bytes (or receive errors) for the host, each readable from its time on.
    out: VecDeque<(u64, Item)>,
    baud: u32,
    host_baud: u32,
}

impl Modem {
    fn queue(&mut self, delay_ms: u64, item: Item) {
        let last = self.out.back().map_or(0, |(t, _)| *t);
        self.out.push_back(((self.now + delay_ms).max(last), item));
    }

    fn send_after(&mut self, delay_ms: u64, bytes: &[u8]) {
        for &b in bytes {
            self.queue(delay_ms, Item::Byte(b));
        }
    }

    /// The next non-empty line the host wrote (CR or LF ends it).
    fn take_line(&mut self) -> Option<Vec<u8>> {
        loop {
            let end = self.input.iter().position(|&b| b == b'\r' || b == b'\n')?;
            let line: Vec<u8> = self.input.drain(..=end).take(end).collect();
            if !line.is_empty() {
                return Some(line);
            }
        }
    }

    /// The next complete STP request: (op, sid, tid, payload).
    fn take_frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        let start = self.input.windows(4).position(|w| w == b"fast")?;
        self.input.drain(..start);
        if self.input.len() < 16 {
            return None;
        }
        let plen = usize::from(u16::from_be_bytes([self.input[6], self.input[7]]));
        if self.input.len() < 16 + plen {
            return None;
        }
        let f: Vec<u8> = self.input.drain(..16 + plen).collect();
        let tid = u32::from_be_bytes([f[8], f[9], f[10], f[11]]);
        Some((f[4], f[5], tid, f[16..].to_vec()))
    }
}

type Script = Box<dyn FnMut(&mut Modem)>;

struct FakeUart {
    time: Time,
    modem: Modem,
    script: Script,
    /// Endless noise without a line end: `read_ready` is always true, each read takes 1 ms.
    babble: bool,
    /// Receive errors come out of `read_ready` (as from the `nb` adapter, which reads to find out).
    errors_on_ready: bool,
    reads: u64,
}

impl FakeUart {
    fn new(time: &Time, script: impl FnMut(&mut Modem) + 'static) -> Self {
        Self {
            time: time.clone(),
            modem: Modem {
                now: 0,
                input: Vec::new(),
                out: VecDeque::new(),
                baud: 115_200,
                host_baud: 115_200,
            },
            script: Box::new(script),
            babble: false,
            errors_on_ready: false,
            reads: 0,
        }
    }

    fn babbling(time: &Time) -> Self {
        Self {
            babble: true,
            ..Self::new(time, |_| {})
        }
    }

    fn guard(&mut self) {
        self.reads += 1;
        assert!(
            self.reads < 5_000_000,
            "the link kept reading: a wait without an end"
        );
    }
}

impl ErrorType for FakeUart {
    type Error = FakeError;
}

impl ReadReady for FakeUart {
    fn read_ready(&mut self) -> Result<bool, FakeError> {
        self.guard();
        let now = self.time.now();
        if self.errors_on_ready
            && let Some(&(t, Item::Error(kind))) = self.modem.out.front()
            && t <= now
        {
            self.modem.out.pop_front();
            return Err(FakeError(kind));
        }
        Ok(self.babble || self.modem.out.front().is_some_and(|(t, _)| *t <= now))
    }
}

impl Read for FakeUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, FakeError> {
        self.guard();
        if self.babble {
            for (i, slot) in buf.iter_mut().enumerate() {
                *slot = b"noise, no line end "[i % 19];
            }
            self.time.now.set(self.time.now() + 1);
            return Ok(buf.len());
        }
        let now = self.time.now();
        let mut n = 0;
        while n < buf.len() {
            match self.modem.out.front() {
                Some((t, Item::Byte(b))) if *t <= now => {
                    buf[n] = *b;
                    n += 1;
                    self.modem.out.pop_front();
                }
                Some((t, Item::Error(kind))) if *t <= now && n == 0 => {
                    let kind = *kind;
                    self.modem.out.pop_front();
                    return Err(FakeError(kind));
                }
                _ => break,
            }
        }
        Ok(n)
    }
}

impl Write for FakeUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, FakeError> {
        self.modem.now = self.time.now();
        if self.modem.host_baud == self.modem.baud {
            self.modem.input.extend_from_slice(buf);
            (self.script)(&mut self.modem);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), FakeError> {
        Ok(())
    }
}

impl SetBaud for FakeUart {
    type Error = std::convert::Infallible;

    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        self.modem.host_baud = baud;
        Ok(())
    }
}

type FakeLink = Link<FakeUart, Time>;

fn open_link(uart: FakeUart) -> (FakeLink, Time) {
    let time = uart.time.clone();
    (Link::new(uart, time.clone()), time)
}

/// A modem in upgrade mode (`AT+SMOD?` = 4) that answers every line with `reply(line)`.
fn at_modem(mut reply: impl FnMut(&[u8], &mut Modem) + 'static) -> impl FnMut(&mut Modem) {
    move |m: &mut Modem| {
        while let Some(line) = m.take_line() {
            reply(&line, m);
        }
    }
}

/// The usual replies of an upgrade-mode modem, 1 ms after the command.
fn upgrade_mode_reply(line: &[u8], m: &mut Modem) {
    match line {
        b"AT" => m.send_after(1, b"\r\nOK\r\n"),
        b"AT+SMOD?" => m.send_after(1, b"\r\n4\r\n\r\nOK\r\n"),
        _ => m.send_after(1, b"\r\nERROR\r\n"),
    }
}

// ---- a modem that never stops sending ------------------------------------------------------------

#[test]
fn a_babbling_modem_cannot_hold_a_command_past_its_attempts() {
    let time = Time::new();
    let (mut link, time) = open_link(FakeUart::babbling(&time));
    let err = link
        .command(QueryBootMode::new())
        .expect_err("noise is no answer");
    assert!(
        matches!(
            err,
            LinkError::NoAnswer {
                command: "AT+SMOD?",
                timeout_ms: 2_000,
                attempts: 3
            }
        ),
        "{err:?}"
    );
    // Three 2 s attempts, and before each re-send a purge that gives up after 2 s of noise (plus the
    // few late chunks each wait may still read).
    let elapsed = time.now();
    assert!(
        (6_000..=10_300).contains(&elapsed),
        "{elapsed} ms of virtual time"
    );
}

#[test]
fn a_babbling_modem_cannot_hold_waits_pauses_or_a_reset_probe() {
    let time = Time::new();
    let (mut link, time) = open_link(FakeUart::babbling(&time));

    let err = link.wait_for_urc("+SYSSTART", 1_000).expect_err("no URC");
    assert!(matches!(err, LinkError::NoUrc { .. }), "{err:?}");
    assert!(time.now() <= 1_100, "{}", time.now());

    let before = time.now();
    link.pause(500).expect("pause");
    assert!((500..=600).contains(&(time.now() - before)));

    let before = time.now();
    assert!(!link.stp_reset(1_000).expect("reset probe"));
    // 1 s for the answer, then a purge that gives up after 2 s of noise.
    assert!(time.now() - before <= 3_100, "{}", time.now() - before);

    let before = time.now();
    link.purge_until_quiet(50, 2_000).expect("purge");
    assert!(time.now() - before <= 2_100);
}

#[test]
fn a_babbling_modem_cannot_hold_an_stp_answer_past_its_timeout() {
    let time = Time::new();
    let (mut link, time) = open_link(FakeUart::babbling(&time));
    let image = vec![0x5a; 3_000];
    let mut session = Session::new(SessionConfig::default(), 3_000, 0).expect("session");
    let mut buf = [0u8; 2016];
    let err = link
        .stp_transfer(&mut session, &mut MemImage::new(&image), &mut buf, |_| {})
        .expect_err("noise is no answer");
    let TransferError::Link(LinkError::Stp(StpError::AttemptsExhausted {
        op: Op::Reset,
        attempts: 5,
        last: ResponseFault::Timeout { waited_ms: 32_000 },
        ..
    })) = err
    else {
        panic!("{err:?}");
    };
    // 2 + 4 + 8 + 16 + 32 s of waiting, plus a purge of at most 2 s before each send.
    let elapsed = time.now();
    assert!((62_000..=72_500).contains(&elapsed), "{elapsed}");
    assert!(session.stats().garbage_bytes > 100_000);
}

// ---- answers in time, URCs, and the LF after OK --------------------------------------------------

#[test]
fn an_answer_that_arrived_in_time_is_read_even_when_the_host_looks_late() {
    let time = Time::new();
    // The host sleeps 500 ms at a time: it looks again only after the 100 ms deadline.
    time.idle_step.set(500);
    let uart = FakeUart::new(
        &time,
        at_modem(|line, m| {
            assert_eq!(line, b"AT");
            m.send_after(50, b"\r\nOK\r\n");
        }),
    );
    let (mut link, _) = open_link(uart);
    link.command(AttentionWithin { timeout_ms: 100 })
        .expect("the OK came at 50 ms");
}

#[test]
fn urcs_between_and_inside_commands_are_noted() {
    let time = Time::new();
    let mut uart = FakeUart::new(
        &time,
        at_modem(|line, m| match line {
            b"AT+SMOD?" => {
                m.send_after(1, b"\r\n+CEREG: 2\r\n\r\n4\r\n\r\n+SYSSTART\r\n\r\nOK\r\n")
            }
            other => upgrade_mode_reply(other, m),
        }),
    );
    uart.modem.send_after(10, b"\r\n+SHUTDOWN\r\n");
    let (mut link, _) = open_link(uart);
    link.pause(100).expect("pause");
    assert!(link.take_urcs().shutdown, "a URC between commands");
    assert_eq!(
        link.command(QueryBootMode::new()).expect("SMOD"),
        BootMode::Upgrade
    );
    let seen = link.take_urcs();
    assert!(seen.sysstart && !seen.shutdown, "{seen:?}");
    assert_eq!(seen.other, 1, "+CEREG");
    // Taking them forgot them; a +SYSSTART noted during a command satisfies a later wait at once.
    link.command(QueryBootMode::new()).expect("SMOD");
    link.wait_for_urc("+SYSSTART", 0).expect("already seen");
    assert_eq!(
        link.wait_for_urc("+SYSSTART", 10),
        Err(LinkError::NoUrc {
            urc: "+SYSSTART",
            timeout_ms: 10
        }),
        "consumed by the first wait"
    );
}

#[test]
fn a_late_answer_to_one_attempt_is_not_taken_for_the_next() {
    let time = Time::new();
    let attempts = Rc::new(Cell::new(0));
    let seen = attempts.clone();
    let uart = FakeUart::new(
        &time,
        at_modem(move |line, m| {
            assert_eq!(line, b"AT+SMOD?");
            seen.set(seen.get() + 1);
            if seen.get() == 1 {
                // Just after the 2 s deadline: an application's answer, late.
                m.send_after(2_010, b"\r\n2\r\n\r\nOK\r\n");
            } else {
                m.send_after(5, b"\r\n4\r\n\r\nOK\r\n");
            }
        }),
    );
    let (mut link, _) = open_link(uart);
    assert_eq!(
        link.command(QueryBootMode::new()).expect("SMOD"),
        BootMode::Upgrade
    );
    assert_eq!(attempts.get(), 2);
}

#[test]
fn a_framing_error_is_a_lost_byte_and_other_uart_errors_end_the_command() {
    let time = Time::new();
    let uart = FakeUart::new(
        &time,
        at_modem(|_, m| {
            m.queue(1, Item::Error(ErrorKind::InvalidData));
            m.send_after(1, b"\r\nOK\r\n");
        }),
    );
    let (mut link, _) = open_link(uart);
    link.command(Attention)
        .expect("the OK after a framing error");

    // The same error reported by `read_ready`, as the `nb` adapter does.
    let mut uart = FakeUart::new(
        &time,
        at_modem(|_, m| {
            m.queue(1, Item::Error(ErrorKind::InvalidData));
            m.send_after(1, b"\r\nOK\r\n");
        }),
    );
    uart.errors_on_ready = true;
    let (mut link, _) = open_link(uart);
    link.command(Attention)
        .expect("the OK after a framing error seen by read_ready");

    let uart = FakeUart::new(
        &time,
        at_modem(|_, m| m.queue(1, Item::Error(ErrorKind::Other))),
    );
    let (mut link, _) = open_link(uart);
    let err = link.command(Attention).expect_err("a broken UART");
    assert!(
        matches!(err, LinkError::Io(FakeError(ErrorKind::Other))),
        "{err:?}"
    );
}

/// A v1 STP slave behind an upgrade-mode AT interpreter, with a 2048-byte `max_transfer` like the FFH
/// bootloader. A repeated BLOCK (same tid) is answered again but not applied again (the v1 cache).
#[derive(Default)]
struct Slave {
    stp: bool,
    opened: bool,
    stream: Vec<u8>,
    last_block_tid: Option<u32>,
    block_answers: u32,
    /// Lose the first byte of the first BLOCK answer to a receive error.
    framing_error_in_first_block_answer: bool,
}

fn stp_answer(op: u8, sid: u8, tid: u32, payload: &[u8]) -> Vec<u8> {
    stp_wire::response(op | 0x80, sid, tid, payload, true)
}

fn stp_modem(slave: Rc<RefCell<Slave>>) -> impl FnMut(&mut Modem) {
    move |m: &mut Modem| {
        let mut s = slave.borrow_mut();
        if !s.stp {
            while let Some(line) = m.take_line() {
                if line == b"AT+SMSTPU=\"ON_THE_FLY\"" {
                    // The final line's LF comes 5 ms after its CR, and STP starts right after.
                    m.send_after(1, b"OK\r");
                    m.send_after(5, b"\n");
                    s.stp = true;
                    return;
                }
                upgrade_mode_reply(&line, m);
            }
            return;
        }
        while let Some((op, sid, tid, payload)) = m.take_frame() {
            let answer = match op {
                0 => {
                    if s.opened {
                        s.opened = false;
                        s.stp = false;
                    }
                    stp_answer(0, sid, tid, &[])
                }
                1 => {
                    s.opened = true;
                    stp_answer(1, sid, tid, &[1, 1, 0x08, 0x00])
                }
                2 => stp_answer(2, sid, tid, &[]),
                3 => {
                    if s.last_block_tid != Some(tid) {
                        s.stream.extend_from_slice(&payload);
                        s.last_block_tid = Some(tid);
                    }
                    s.block_answers += 1;
                    stp_answer(3, sid, tid, &[0, 0])
                }
                other => panic!("unexpected op {other}"),
            };
            if op == 3 && s.block_answers == 1 && s.framing_error_in_first_block_answer {
                m.queue(1, Item::Error(ErrorKind::InvalidData));
                m.send_after(1, &answer[1..]);
            } else {
                m.send_after(1, &answer);
            }
            if !s.stp {
                return;
            }
        }
    }
}

fn stp_run(framing_error: bool) -> (Rc<RefCell<Slave>>, Session, Vec<u8>) {
    let time = Time::new();
    let slave = Rc::new(RefCell::new(Slave {
        framing_error_in_first_block_answer: framing_error,
        ..Slave::default()
    }));
    let (mut link, _) = open_link(FakeUart::new(&time, stp_modem(slave.clone())));
    let image: Vec<u8> = (0..5_000u32).map(|i| (i * 13 % 251) as u8).collect();
    link.command(StartStp { on_the_fly: true })
        .expect("enter STP");
    let mut session =
        Session::new(SessionConfig::default(), image.len() as u32, 0).expect("session");
    let mut buf = [0u8; 2016];
    link.stp_transfer(&mut session, &mut MemImage::new(&image), &mut buf, |_| {})
        .expect("transfer");
    // The closing RESET handed the line back to AT.
    assert_eq!(
        link.command(QueryBootMode::new()).expect("SMOD after STP"),
        BootMode::Upgrade
    );
    (slave, session, image)
}

#[test]
fn stp_starts_cleanly_although_the_lf_of_ok_is_still_on_the_wire() {
    let (slave, session, image) = stp_run(false);
    assert_eq!(slave.borrow().stream, image);
    let stats = session.stats();
    assert_eq!(stats.garbage_bytes, 0, "the LF was purged before the RESET");
    assert_eq!(stats.retransmissions, 0);
    assert!(stats.close_acknowledged);
}

#[test]
fn a_framing_error_in_an_stp_answer_costs_one_retry_not_the_transfer() {
    let (slave, session, image) = stp_run(true);
    assert_eq!(
        slave.borrow().stream,
        image,
        "the repeated block was not applied twice"
    );
    let stats = session.stats();
    assert_eq!(stats.timeouts, 1, "{stats:?}");
    assert_eq!(stats.retransmissions, 1, "{stats:?}");
}

// ---- switch_baud -----------------------------------------------------------------------------------

/// A bootloader at 115,200 that handles `AT+IPR=921600` with `on_ipr` (which may switch its rate).
fn bootloader(on_ipr: impl Fn(&mut Modem) + 'static) -> impl FnMut(&mut Modem) {
    at_modem(move |line, m| match line {
        b"AT+IPR=921600" => on_ipr(m),
        b"AT" => m.send_after(1, b"OK\r\n"),
        _ => m.send_after(1, b"ERROR\r\n"),
    })
}

fn switch(
    uart: FakeUart,
) -> (
    Result<u32, BaudError<FakeError, std::convert::Infallible>>,
    u32,
) {
    let (mut link, _) = open_link(uart);
    let result = switch_baud(
        &mut link,
        115_200,
        921_600,
        Terminator::Lf,
        BaudProbe::default(),
    );
    let (uart, _) = link.into_parts();
    (result, uart.modem.host_baud)
}

#[test]
fn switch_baud_moves_both_ends() {
    let time = Time::new();
    let uart = FakeUart::new(
        &time,
        bootloader(|m| {
            m.send_after(1, b"OK\r\n");
            m.baud = 921_600;
        }),
    );
    assert_eq!(switch(uart), (Ok(921_600), 921_600));
}

#[test]
fn switch_baud_finds_a_modem_that_switched_although_its_ok_was_lost() {
    let time = Time::new();
    let uart = FakeUart::new(&time, bootloader(|m| m.baud = 921_600));
    assert_eq!(switch(uart), (Ok(921_600), 921_600));
}

#[test]
fn switch_baud_stays_when_the_modem_refuses() {
    let time = Time::new();
    let uart = FakeUart::new(&time, bootloader(|m| m.send_after(1, b"ERROR\r\n")));
    assert_eq!(switch(uart), (Ok(115_200), 115_200));
}

#[test]
fn switch_baud_reports_a_modem_lost_at_both_rates() {
    let time = Time::new();
    // The modem switches to a rate nobody asked for.
    let uart = FakeUart::new(&time, bootloader(|m| m.baud = 57_600));
    let (result, _) = switch(uart);
    assert!(
        matches!(
            result,
            Err(BaudError::Lost {
                requested: 921_600,
                previous: 115_200
            })
        ),
        "{result:?}"
    );
}
