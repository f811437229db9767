//! The UART adapters of `modem_upgrade::transport`: `StdUart` over loopback TCP and scripted streams,
//! `TcpUart` against the simulated modem, `NbUart` over a scripted `embedded-hal-nb` port (feature
//! `embedded-hal-nb`), and `SerialUart` against the simulated modem on a pseudo-terminal (feature
//! `serialport`).
//!
//! Run everything with
//! `cargo test -p modem-upgrade --features std,embedded-hal-nb,serialport --test transport_adapters`.
//!
//! Waits are bounded by a generous guard (`GUARD`) that only turns a hang into a failure; nothing
//! asserts how long anything took.
#![cfg(feature = "std")]

use embedded_io::{ErrorKind, Read, ReadReady, Write};
use modem_upgrade::transport::Clock;
use modem_upgrade::transport::std_io::{StdClock, StdUart, TcpUart, connect_tcp};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Longest any test waits for something that should happen at once.
const GUARD: Duration = Duration::from_secs(5);

/// Calls `f` until it yields a value; panics (naming `what`) if that takes longer than [`GUARD`].
fn within_guard<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < GUARD, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Reads through `read_ready` + `read` (as the transport driver does) until `want` bytes came.
fn read_polling<U: Read + ReadReady>(uart: &mut U, want: usize) -> Vec<u8>
where
    U::Error: std::fmt::Debug,
{
    let mut got = Vec::new();
    let mut chunk = [0u8; 97];
    within_guard("the bytes to arrive", || {
        if uart.read_ready().unwrap() {
            let n = uart.read(&mut chunk).unwrap();
            assert!(n > 0, "read returned Ok(0) after read_ready said true");
            got.extend_from_slice(&chunk[..n]);
        }
        (got.len() >= want).then_some(())
    });
    got
}

/// Reads through `read_ready` + `read` until the received text contains `needle`.
fn read_until<U: Read + ReadReady>(uart: &mut U, needle: &str) -> String
where
    U::Error: std::fmt::Debug,
{
    let mut got = Vec::new();
    let mut chunk = [0u8; 64];
    within_guard(&format!("{needle:?} from the modem"), || {
        if uart.read_ready().unwrap() {
            let n = uart.read(&mut chunk).unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&got).contains(needle).then_some(())
    });
    String::from_utf8_lossy(&got).into_owned()
}

/// A connected pair: our adapter on one end, the plain peer stream on the other.
fn tcp_pair() -> (TcpUart, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uart = connect_tcp(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    (uart, peer)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// StdUart / TcpUart over loopback TCP

#[test]
fn tcp_read_ready_is_false_while_the_peer_is_silent() {
    let (mut uart, _peer) = tcp_pair();
    assert!(!uart.read_ready().unwrap());
    assert!(!uart.read_ready().unwrap());
    assert_eq!(uart.buffered(), 0);
}

#[test]
fn tcp_read_with_nothing_sent_times_out_instead_of_hanging() {
    let (mut uart, _peer) = tcp_pair();
    let mut buf = [0u8; 8];
    let err = uart.read(&mut buf).unwrap_err();
    assert_eq!(embedded_io::Error::kind(&err), ErrorKind::TimedOut);
    assert_eq!(uart.read(&mut []).unwrap(), 0);
}

#[test]
fn tcp_bytes_arrive_identical_after_read_ready() {
    let (mut uart, mut peer) = tcp_pair();
    io::Write::write_all(&mut peer, b"\r\nOK\r\n").unwrap();
    within_guard("read_ready to turn true", || {
        uart.read_ready().unwrap().then_some(())
    });
    // read_ready buffered them; it keeps saying true until they are read.
    assert!(uart.read_ready().unwrap());
    assert_eq!(read_polling(&mut uart, 6), b"\r\nOK\r\n");
    assert!(!uart.read_ready().unwrap());
}

#[test]
fn tcp_many_bytes_larger_than_the_internal_buffer_arrive_in_order() {
    let (mut uart, mut peer) = tcp_pair();
    let sent = pattern(10_000);
    let writer = {
        let sent = sent.clone();
        std::thread::spawn(move || io::Write::write_all(&mut peer, &sent).map(|()| peer))
    };
    let got = read_polling(&mut uart, sent.len());
    let _peer = writer.join().unwrap().unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes differ");
}

#[test]
fn tcp_small_reads_drain_the_buffer_one_byte_at_a_time() {
    let (mut uart, mut peer) = tcp_pair();
    io::Write::write_all(&mut peer, b"ABC").unwrap();
    within_guard("3 buffered bytes", || {
        uart.read_ready().unwrap();
        (uart.buffered() == 3).then_some(())
    });
    let mut one = [0u8; 1];
    for want in *b"ABC" {
        assert!(uart.read_ready().unwrap());
        assert_eq!(uart.read(&mut one).unwrap(), 1);
        assert_eq!(one[0], want);
    }
    assert_eq!(uart.buffered(), 0);
}

#[test]
fn tcp_writes_reach_the_peer() {
    let (mut uart, mut peer) = tcp_pair();
    uart.write_all(b"AT+SMOD?\r\n").unwrap();
    uart.flush().unwrap();
    let mut got = [0u8; 10];
    io::Read::read_exact(&mut peer, &mut got).unwrap();
    assert_eq!(&got, b"AT+SMOD?\r\n");
    assert_eq!(uart.write(&[]).unwrap(), 0);
}

#[test]
fn tcp_end_of_stream_is_an_error_not_ok_zero() {
    let (mut uart, mut peer) = tcp_pair();
    io::Write::write_all(&mut peer, b"x").unwrap();
    drop(peer);
    // The byte sent before the close still arrives.
    assert_eq!(read_polling(&mut uart, 1), b"x");
    let err = within_guard("the close to be noticed", || uart.read_ready().err());
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("closed"), "{err}");
    // `read` reports it too, rather than `Ok(0)` a polling loop would spin on.
    let err = uart.read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn tcp_stream_is_set_up_for_lock_step_polling() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_peer, _) = listener.accept().unwrap();
    let uart = TcpUart::from_stream(plain).unwrap();
    let stream = uart.get_ref();
    assert!(stream.nodelay().unwrap());
    // 1 ms asked for; the kernel may round it up to its tick (4 ms on a 250 Hz Linux).
    let timeout = stream.read_timeout().unwrap().unwrap();
    assert!(timeout >= Duration::from_millis(1) && timeout <= Duration::from_millis(20));
    assert!(stream.write_timeout().unwrap().is_some());
    assert!(format!("{uart:?}").contains("StdUart"));
    let _stream: TcpStream = uart.into_inner();
}

// ---------------------------------------------------------------------------------------------
// StdUart over scripted std::io streams

/// One step of a scripted `std::io` stream.
#[derive(Debug, Clone)]
enum Step {
    Data(Vec<u8>),
    Busy(io::ErrorKind),
    Fail(io::ErrorKind),
}

/// A `std::io::Read + Write` that replays `steps` on read (then reports end of stream) and accepts
/// writes in chunks of at most `write_chunk` bytes, answering `WouldBlock` to every other write.
#[derive(Debug, Default)]
struct Scripted {
    steps: VecDeque<Step>,
    written: Vec<u8>,
    write_chunk: usize,
    write_calls: usize,
    never_accept: bool,
}

impl io::Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.steps.pop_front() {
            None => Ok(0),
            Some(Step::Busy(kind)) | Some(Step::Fail(kind)) => Err(io::Error::from(kind)),
            Some(Step::Data(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.steps.push_front(Step::Data(bytes.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl io::Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_calls += 1;
        if self.never_accept || self.write_calls % 2 == 1 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.write_chunk.max(1));
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn scripted_busy_kinds_mean_not_ready_and_other_errors_pass_through() {
    let steps = [
        Step::Busy(io::ErrorKind::WouldBlock),
        Step::Busy(io::ErrorKind::TimedOut),
        Step::Busy(io::ErrorKind::Interrupted),
        Step::Fail(io::ErrorKind::ConnectionReset),
        Step::Data(b"z".to_vec()),
    ];
    let mut uart = StdUart::new(Scripted {
        steps: steps.into_iter().collect(),
        ..Default::default()
    });
    assert!(!uart.read_ready().unwrap());
    assert!(!uart.read_ready().unwrap());
    assert!(!uart.read_ready().unwrap());
    let err = uart.read_ready().unwrap_err();
    assert_eq!(embedded_io::Error::kind(&err), ErrorKind::ConnectionReset);
    assert!(uart.read_ready().unwrap());
    let mut buf = [0u8; 4];
    assert_eq!(uart.read(&mut buf).unwrap(), 1);
    assert_eq!(buf[0], b'z');
    // Script exhausted: end of stream.
    assert_eq!(
        uart.read_ready().unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
}

#[test]
fn scripted_read_maps_would_block_to_timed_out_and_keeps_interrupted() {
    let steps = [
        Step::Busy(io::ErrorKind::WouldBlock),
        Step::Busy(io::ErrorKind::Interrupted),
        Step::Busy(io::ErrorKind::TimedOut),
    ];
    let mut uart = StdUart::new(Scripted {
        steps: steps.into_iter().collect(),
        ..Default::default()
    });
    let mut buf = [0u8; 4];
    let kinds: Vec<_> = (0..3)
        .map(|_| embedded_io::Error::kind(&uart.read(&mut buf).unwrap_err()))
        .collect();
    assert_eq!(
        kinds,
        [
            ErrorKind::TimedOut,
            ErrorKind::Interrupted,
            ErrorKind::TimedOut
        ]
    );
}

#[test]
fn scripted_write_retries_a_busy_stream() {
    let mut uart = StdUart::new(Scripted {
        write_chunk: 3,
        ..Default::default()
    });
    uart.write_all(b"AT+SMSTPU=\"ON_THE_FLY\"\r\n").unwrap();
    uart.flush().unwrap();
    assert_eq!(uart.get_ref().written, b"AT+SMSTPU=\"ON_THE_FLY\"\r\n");
}

#[test]
fn scripted_write_to_a_stream_that_never_accepts_ends_in_timed_out() {
    let mut uart = StdUart::new(Scripted {
        never_accept: true,
        ..Default::default()
    });
    assert_eq!(uart.write_timeout(), Duration::from_secs(2));
    uart.set_write_timeout(Duration::from_millis(20));
    let err = uart.write(b"AT\r\n").unwrap_err();
    assert_eq!(embedded_io::Error::kind(&err), ErrorKind::TimedOut);
    assert!(uart.get_mut().written.is_empty());
}

/// Scripts of data chunks and busy answers.
fn script() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 1..700).prop_map(Step::Data),
        1 => Just(Step::Busy(io::ErrorKind::WouldBlock)),
        1 => Just(Step::Busy(io::ErrorKind::TimedOut)),
        1 => Just(Step::Busy(io::ErrorKind::Interrupted)),
    ];
    proptest::collection::vec(step, 0..20)
}

proptest! {
    /// Whatever the chunking and busy answers, polling delivers exactly the scripted bytes, in
    /// order, then reports the end of the stream as an error.
    #[test]
    fn std_uart_delivers_every_byte_in_order(steps in script(), chunk in 1usize..600) {
        let sent: Vec<u8> = steps
            .iter()
            .filter_map(|s| match s { Step::Data(d) => Some(d.clone()), _ => None })
            .flatten()
            .collect();
        let max_calls = 2 * steps.len() + sent.len() + 10;
        let mut uart = StdUart::new(Scripted { steps: steps.into(), ..Default::default() });
        let mut got = Vec::new();
        let mut buf = vec![0u8; chunk];
        let mut ended = false;
        for _ in 0..max_calls {
            match uart.read_ready() {
                Ok(true) => {
                    let n = uart.read(&mut buf).unwrap();
                    prop_assert!(n > 0 && n <= chunk);
                    got.extend_from_slice(&buf[..n]);
                }
                Ok(false) => {}
                Err(e) => {
                    prop_assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
                    ended = true;
                    break;
                }
            }
        }
        prop_assert!(ended, "end of stream never reported");
        prop_assert_eq!(got, sent);
    }
}

// ---------------------------------------------------------------------------------------------
// StdClock

#[test]
fn std_clock_is_monotonic_and_idle_returns() {
    let mut clock = StdClock::new();
    let a = clock.now_ms();
    clock.idle();
    std::thread::sleep(Duration::from_millis(3));
    let b = clock.now_ms();
    assert!(b >= a + 3, "{a} then {b}");
    let mut busy = StdClock::with_idle(Duration::ZERO);
    busy.idle();
    assert!(busy.now_ms() <= clock.now_ms() + 1);
    let _ = StdClock::default();
}

// ---------------------------------------------------------------------------------------------
// The simulated modem, served on wall time in a thread

mod sim {
    use modem_sim::serve::{Endpoint, ServeOptions, serve};
    use modem_sim::{Modem, Pacing, SimConfig};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::JoinHandle;

    /// A simulated SQN3330 in application mode, served until dropped.
    pub struct Served {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<std::io::Result<()>>>,
    }

    impl Served {
        pub fn start(mut endpoint: impl Endpoint + Send + 'static) -> Self {
            let stop = Arc::new(AtomicBool::new(false));
            let opts = ServeOptions {
                once: false,
                stop: stop.clone(),
            };
            let mut cfg = SimConfig::sqn3330();
            cfg.pacing = Pacing::Instant;
            let thread = std::thread::spawn(move || {
                let mut modem = Modem::new(cfg);
                serve(&mut modem, &mut endpoint, &opts)
            });
            Self {
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Served {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(thread) = self.thread.take() {
                let result = thread.join().expect("the simulator thread panicked");
                if !std::thread::panicking() {
                    result.expect("the simulator failed");
                }
            }
        }
    }
}

#[test]
fn tcp_uart_talks_to_the_simulated_modem() {
    let endpoint = modem_sim::serve::TcpEndpoint::bind("127.0.0.1:0").unwrap();
    let addr = endpoint.local_addr().unwrap();
    let _sim = sim::Served::start(endpoint);
    let mut uart = connect_tcp(addr).unwrap();
    uart.write_all(b"AT\r\n").unwrap();
    uart.flush().unwrap();
    let reply = read_until(&mut uart, "OK\r\n");
    assert!(!reply.contains("ERROR"), "{reply:?}");
    uart.write_all(b"AT+SMOD?\r\n").unwrap();
    let reply = read_until(&mut uart, "OK\r\n");
    assert!(reply.contains("\r\n2\r\n"), "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// NbUart over a scripted embedded-hal-nb serial port

#[cfg(feature = "embedded-hal-nb")]
mod nb_uart {
    use super::*;
    use embedded_hal_nb::nb;
    use embedded_hal_nb::serial::{self, ErrorKind as SerialKind};
    use modem_upgrade::transport::SetBaud;
    use modem_upgrade::transport::nb::{NbError, NbUart};

    /// One answer of the fake receiver.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Rx {
        Byte(u8),
        Busy,
        Fail(SerialKind),
    }

    /// A scripted `embedded-hal-nb` UART: reads replay `rx` (then `WouldBlock` forever), every other
    /// write answers `WouldBlock`, and flush answers `WouldBlock` `flush_busy` times first.
    #[derive(Debug, Default)]
    struct FakeSerial {
        rx: VecDeque<Rx>,
        reads: usize,
        tx: Vec<u8>,
        write_calls: usize,
        tx_fail: Option<SerialKind>,
        flush_busy: usize,
        flushes: usize,
        baud: Option<u32>,
    }

    impl FakeSerial {
        fn with(rx: &[Rx]) -> Self {
            Self {
                rx: rx.iter().copied().collect(),
                ..Default::default()
            }
        }
    }

    impl serial::ErrorType for FakeSerial {
        type Error = SerialKind;
    }

    impl serial::Read<u8> for FakeSerial {
        fn read(&mut self) -> nb::Result<u8, SerialKind> {
            self.reads += 1;
            match self.rx.pop_front() {
                Some(Rx::Byte(b)) => Ok(b),
                Some(Rx::Fail(kind)) => Err(nb::Error::Other(kind)),
                Some(Rx::Busy) | None => Err(nb::Error::WouldBlock),
            }
        }
    }

    impl serial::Write<u8> for FakeSerial {
        fn write(&mut self, word: u8) -> nb::Result<(), SerialKind> {
            self.write_calls += 1;
            if let Some(kind) = self.tx_fail {
                return Err(nb::Error::Other(kind));
            }
            if self.write_calls % 2 == 1 {
                return Err(nb::Error::WouldBlock);
            }
            self.tx.push(word);
            Ok(())
        }
        fn flush(&mut self) -> nb::Result<(), SerialKind> {
            if self.flush_busy > 0 {
                self.flush_busy -= 1;
                return Err(nb::Error::WouldBlock);
            }
            self.flushes += 1;
            Ok(())
        }
    }

    impl SetBaud for FakeSerial {
        type Error = core::convert::Infallible;
        fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
            self.baud = Some(baud);
            Ok(())
        }
    }

    fn bytes(text: &[u8]) -> Vec<Rx> {
        text.iter().map(|&b| Rx::Byte(b)).collect()
    }

    #[test]
    fn read_ready_is_false_on_would_block_and_stashes_a_byte() {
        let mut uart = NbUart::new(FakeSerial::with(&[
            Rx::Busy,
            Rx::Byte(b'O'),
            Rx::Byte(b'K'),
        ]));
        assert!(!uart.read_ready().unwrap());
        assert!(uart.read_ready().unwrap());
        assert_eq!(uart.inner_mut().reads, 2);
        // Still ready, and asking again does not take another byte.
        assert!(uart.read_ready().unwrap());
        assert_eq!(uart.inner_mut().reads, 2);
        let mut buf = [0u8; 8];
        assert_eq!(uart.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"OK");
        assert!(!uart.read_ready().unwrap());
    }

    #[test]
    fn read_blocks_for_the_first_byte_only() {
        let mut script = vec![Rx::Busy, Rx::Busy, Rx::Busy];
        script.extend(bytes(b"\r\nOK"));
        script.push(Rx::Busy);
        script.extend(bytes(b"\r\n"));
        let mut uart = NbUart::new(FakeSerial::with(&script));
        let mut buf = [0u8; 16];
        assert_eq!(uart.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"\r\nOK");
        assert_eq!(uart.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"\r\n");
    }

    #[test]
    fn read_stops_at_the_buffer_end_and_leaves_the_rest() {
        let mut uart = NbUart::new(FakeSerial::with(&bytes(b"ABCD")));
        assert_eq!(uart.read(&mut []).unwrap(), 0);
        assert_eq!(uart.inner_mut().reads, 0);
        let mut two = [0u8; 2];
        assert_eq!(uart.read(&mut two).unwrap(), 2);
        assert_eq!(&two, b"AB");
        assert!(uart.read_ready().unwrap());
        assert_eq!(uart.read(&mut two).unwrap(), 2);
        assert_eq!(&two, b"CD");
    }

    #[test]
    fn error_kinds_map_as_documented() {
        let cases = [
            (SerialKind::Overrun, ErrorKind::InvalidData),
            (SerialKind::FrameFormat, ErrorKind::InvalidData),
            (SerialKind::Parity, ErrorKind::InvalidData),
            (SerialKind::Noise, ErrorKind::InvalidData),
            (SerialKind::Other, ErrorKind::Other),
        ];
        for (serial_kind, io_kind) in cases {
            let mut uart = NbUart::new(FakeSerial::with(&[Rx::Fail(serial_kind)]));
            let err = uart.read_ready().unwrap_err();
            assert_eq!(err, NbError(serial_kind));
            assert_eq!(embedded_io::Error::kind(&err), io_kind, "{serial_kind:?}");
            assert_eq!(err.serial_kind(), serial_kind);
            let text = err.to_string();
            assert!(text.starts_with("the UART reported"), "{text}");
            assert!(text.contains(&format!("{serial_kind:?}")), "{text}");
            assert_eq!(err.into_inner(), serial_kind);
        }
        let overrun = NbError(SerialKind::Overrun).to_string();
        assert!(overrun.contains("flow control"), "{overrun}");
        let framing = NbError(SerialKind::FrameFormat).to_string();
        assert!(framing.contains("baud rate"), "{framing}");
    }

    #[test]
    fn an_error_after_some_bytes_is_reported_on_the_next_call() {
        let mut script = bytes(b"ab");
        script.push(Rx::Fail(SerialKind::Overrun));
        script.extend(bytes(b"c"));
        let mut uart = NbUart::new(FakeSerial::with(&script));
        let mut buf = [0u8; 8];
        assert_eq!(uart.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ab");
        let err = uart.read_ready().unwrap_err();
        assert_eq!(embedded_io::Error::kind(&err), ErrorKind::InvalidData);
        assert!(uart.read_ready().unwrap());
        assert_eq!(uart.read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'c');
    }

    #[test]
    fn a_blocking_read_error_comes_straight_out() {
        let mut uart = NbUart::new(FakeSerial::with(&[Rx::Busy, Rx::Fail(SerialKind::Noise)]));
        let err = uart.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err, NbError(SerialKind::Noise));
    }

    #[test]
    fn writes_go_out_byte_by_byte_through_would_block() {
        let mut uart = NbUart::new(FakeSerial {
            flush_busy: 3,
            ..Default::default()
        });
        assert_eq!(uart.write(&[]).unwrap(), 0);
        uart.write_all(b"AT+STP\n").unwrap();
        uart.flush().unwrap();
        let fake = uart.into_inner();
        assert_eq!(fake.tx, b"AT+STP\n");
        assert_eq!(fake.write_calls, 14);
        assert_eq!(fake.flushes, 1);
        assert_eq!(fake.flush_busy, 0);
    }

    #[test]
    fn a_write_error_is_reported() {
        let mut uart = NbUart::new(FakeSerial {
            tx_fail: Some(SerialKind::Other),
            ..Default::default()
        });
        let err = uart.write(b"AT").unwrap_err();
        assert_eq!(embedded_io::Error::kind(&err), ErrorKind::Other);
    }

    #[test]
    fn set_baud_is_forwarded() {
        let mut uart = NbUart::new(FakeSerial::default());
        uart.set_baud(921_600).unwrap();
        assert_eq!(uart.inner_mut().baud, Some(921_600));
        assert!(format!("{uart:?}").contains("NbUart"));
    }

    fn rx_script() -> impl Strategy<Value = Vec<Rx>> {
        let rx = prop_oneof![
            4 => any::<u8>().prop_map(Rx::Byte),
            1 => Just(Rx::Busy),
        ];
        proptest::collection::vec(rx, 0..300)
    }

    proptest! {
        /// Polling with `read_ready` + `read` delivers exactly the scripted bytes, whatever the
        /// interleaving of `WouldBlock` and the read sizes.
        #[test]
        fn nb_uart_delivers_every_byte_in_order(
            script in rx_script(),
            sizes in proptest::collection::vec(1usize..40, 1..10),
        ) {
            let sent: Vec<u8> = script
                .iter()
                .filter_map(|r| match r { Rx::Byte(b) => Some(*b), _ => None })
                .collect();
            let mut uart = NbUart::new(FakeSerial::with(&script));
            let mut got = Vec::new();
            let mut buf = [0u8; 40];
            // The fake answers WouldBlock once the script is used up, so a bounded number of polls
            // drains it.
            for i in 0..2 * script.len() + 2 {
                if uart.read_ready().unwrap() {
                    let size = sizes[i % sizes.len()];
                    let n = uart.read(&mut buf[..size]).unwrap();
                    prop_assert!(n >= 1 && n <= size);
                    got.extend_from_slice(&buf[..n]);
                }
            }
            prop_assert_eq!(got, sent);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SerialUart against the simulated modem on a pseudo-terminal

#[cfg(feature = "serialport")]
mod serial_uart {
    use super::*;
    use modem_sim::serve::PtyEndpoint;
    use modem_upgrade::transport::SetBaud;
    use modem_upgrade::transport::serial::{FlowControl, SerialUart};

    /// The simulated modem on a fresh pty, or `None` (after printing why) where ptys are unavailable.
    fn modem_on_pty() -> Option<(sim::Served, String)> {
        match PtyEndpoint::open() {
            Ok(endpoint) => {
                let path = endpoint.path().to_owned();
                Some((sim::Served::start(endpoint), path))
            }
            Err(e) => {
                println!("skipped: cannot open a pseudo-terminal on this machine: {e}");
                None
            }
        }
    }

    fn talk(uart: &mut SerialUart) {
        uart.write_all(b"AT\r\n").unwrap();
        uart.flush().unwrap();
        let reply = read_until(uart, "OK\r\n");
        assert!(!reply.contains("ERROR"), "{reply:?}");
    }

    #[test]
    fn serial_uart_talks_to_the_simulated_modem() {
        let Some((_sim, path)) = modem_on_pty() else {
            return;
        };
        let mut uart = SerialUart::open(&path, 921_600, FlowControl::None).unwrap();
        assert!(format!("{uart:?}").contains("SerialUart"));
        talk(&mut uart);
        uart.write_all(b"ATI1\r\n").unwrap();
        let reply = read_until(&mut uart, "OK\r\n");
        assert!(reply.contains("LR5.1.1.0-38638"), "{reply:?}");
        // The host side of a baud switch (the simulator's pty has no rate, so it still answers).
        uart.set_baud(115_200).unwrap();
        assert_eq!(uart.port().baud_rate().unwrap(), 115_200);
        talk(&mut uart);
        assert_eq!(uart.buffered(), 0);
        assert!(!uart.read_ready().unwrap());
    }

    #[test]
    fn serial_uart_with_hardware_flow_control_opens_and_talks() {
        let Some((_sim, path)) = modem_on_pty() else {
            return;
        };
        let mut uart = SerialUart::open(&path, 115_200, FlowControl::Hardware).unwrap();
        assert_eq!(
            uart.port().flow_control().unwrap(),
            serialport::FlowControl::Hardware
        );
        uart.set_write_timeout(Duration::from_secs(1));
        assert_eq!(uart.write_timeout(), Duration::from_secs(1));
        talk(&mut uart);
        let _port = uart.into_inner();
    }

    #[test]
    fn opening_a_missing_port_fails() {
        let err =
            SerialUart::open("/dev/no-such-modem-port", 115_200, FlowControl::None).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
}
