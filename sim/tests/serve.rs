//! The `modem-sim` binary, run as a child process: TCP and pty serving on wall time, `--once`,
//! reconnects with kept output, argument errors, and a short STP exchange typed in from the spec.
//!
//! No timing assertions: every wait has a generous deadline and only fails when nothing came at all.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);
/// The firmware and IMEI the default (sqn3330) configuration reports.
const FIRMWARE: &str = "LR5.1.1.0-38638";
const IMEI: &str = "354346099225475";

/// A running `modem-sim`, killed when dropped (also when a test panics).
struct Sim {
    child: Child,
    stdout: Receiver<String>,
    stdout_seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Sim {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_modem-sim"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn modem-sim");
        let (tx, stdout) = channel();
        let out = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Self {
            child,
            stdout,
            stdout_seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// The rest of the first stdout line starting with `prefix`; `None` if stdout closed without one.
    fn stdout_line(&mut self, prefix: &str) -> Option<String> {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let rest = line.strip_prefix(prefix).map(str::to_string);
                    self.stdout_seen.push(line);
                    if rest.is_some() {
                        return rest;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no stdout line starting with {prefix:?} within {DEADLINE:?}; stdout so far: {:?}",
                    self.stdout_seen
                ),
            }
        }
    }

    /// The TCP address from `modem-sim: listening on ADDR`.
    fn tcp_addr(&mut self) -> String {
        match self.stdout_line("modem-sim: listening on ") {
            Some(addr) => addr.trim().to_string(),
            None => {
                let (status, stderr) = self.wait_exit();
                panic!(
                    "modem-sim exited ({status}) without a listening line; stdout {:?}, stderr {stderr:?}",
                    self.stdout_seen
                )
            }
        }
    }

    /// Waits (with the deadline) for the process to exit; returns its status and all of its stderr.
    fn wait_exit(&mut self) -> (ExitStatus, String) {
        let end = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= end {
                panic!(
                    "modem-sim still running after {DEADLINE:?}; stdout so far: {:?}",
                    self.stdout_seen
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(1)) {
            self.stdout_seen.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().expect("stderr reader"))
            .unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads from `r` (a TCP stream with a read timeout, or a non-blocking pty) until `done` holds for
/// everything received, or fails after the deadline showing what came.
fn read_while(r: &mut impl Read, what: &str, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let end = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        assert!(
            Instant::now() < end,
            "no {what} within {DEADLINE:?}; received so far: {:?}",
            String::from_utf8_lossy(&got)
        );
        match r.read(&mut buf) {
            Ok(0) => panic!(
                "connection closed while waiting for {what}; received: {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "read error {e} while waiting for {what}; received: {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    got
}

/// Reads until `needle` has been received; returns everything read.
fn read_until(r: &mut impl Read, needle: &str) -> Vec<u8> {
    read_while(r, &format!("{needle:?}"), |got| {
        got.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

/// Sends `command` and returns the reply up to its final `OK` or `ERROR` line.
fn exchange(r: &mut (impl Read + Write), command: &str) -> String {
    r.write_all(command.as_bytes()).expect("write command");
    let reply = read_while(r, &format!("the reply to {command:?}"), |got| {
        got.ends_with(b"\r\nOK\r\n") || got.ends_with(b"\r\nERROR\r\n")
    });
    String::from_utf8(reply).expect("ASCII reply")
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    stream
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

#[test]
fn tcp_at_exchanges() {
    let mut sim = Sim::spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--boot-time",
        "0.2",
        "--flash-time",
        "0.2",
        "--once",
    ]);
    let addr = sim.tcp_addr();
    let mut tcp = connect(&addr);
    // Echo is on at power-on: the command line comes back before the reply.
    assert_eq!(exchange(&mut tcp, "AT\r"), "AT\r\r\nOK\r\n");
    assert_eq!(exchange(&mut tcp, "ATE0\r"), "ATE0\r\r\nOK\r\n");
    assert_eq!(exchange(&mut tcp, "AT+SMOD?\r"), "\r\n2\r\n\r\nOK\r\n");
    let ati1 = exchange(&mut tcp, "ATI1\r");
    assert!(
        ati1.lines().any(|l| l == FIRMWARE) && ati1.ends_with("\r\nOK\r\n"),
        "ATI1 reply: {ati1:?}"
    );
    assert_eq!(exchange(&mut tcp, "AT+NOSUCHTHING\r"), "\r\nERROR\r\n");
}

#[test]
fn tcp_state_and_unread_output_survive_reconnects() {
    // A boot long enough that the client has surely gone before +SYSSTART is produced.
    let mut sim = Sim::spawn(&["--listen", "127.0.0.1:0", "--boot-time", "1"]);
    let addr = sim.tcp_addr();
    let after_boot = Duration::from_secs(2);

    let mut tcp = connect(&addr);
    assert_eq!(
        exchange(&mut tcp, "AT+SMSWBOOT=3,1\r"),
        "AT+SMSWBOOT=3,1\r\r\nOK\r\n"
    );
    drop(tcp);
    thread::sleep(after_boot);

    // Upgrade mode: no +SYSSTART; echo is back on after the reboot.
    let mut tcp = connect(&addr);
    assert_eq!(
        exchange(&mut tcp, "AT+SMOD?\r"),
        "AT+SMOD?\r\r\n4\r\n\r\nOK\r\n"
    );
    assert_eq!(
        exchange(&mut tcp, "AT+SMSWBOOT=1,1\r"),
        "AT+SMSWBOOT=1,1\r\r\nOK\r\n"
    );
    drop(tcp);
    thread::sleep(after_boot);

    // The +SYSSTART produced while nobody was connected is kept for the next client.
    let mut tcp = connect(&addr);
    let kept = read_until(&mut tcp, "+SYSSTART\r\n");
    assert_eq!(kept, b"\r\n+SYSSTART\r\n", "kept output");
    assert_eq!(
        exchange(&mut tcp, "AT+SMOD?\r"),
        "AT+SMOD?\r\r\n2\r\n\r\nOK\r\n"
    );
    sim.child.kill().expect("kill modem-sim");
}

#[test]
fn once_exits_after_the_client_leaves_and_reports_the_state() {
    let mut sim = Sim::spawn(&["--listen", "127.0.0.1:0", "--once"]);
    let addr = sim.tcp_addr();
    let mut tcp = connect(&addr);
    assert_eq!(exchange(&mut tcp, "AT\r"), "AT\r\r\nOK\r\n");
    drop(tcp);
    let (status, stderr) = sim.wait_exit();
    assert_eq!(status.code(), Some(0), "exit status; stderr: {stderr}");
    assert!(stderr.contains("modem-sim state at"), "stderr: {stderr}");
    assert!(stderr.contains("mode"), "stderr: {stderr}");
    assert!(stderr.contains("app (AT+SMOD? = 2)"), "stderr: {stderr}");
}

/// Writes `text` to the non-blocking pty and reads until `needle` has come back.
fn pty_exchange(pty: &mut File, text: &str, needle: &str) -> String {
    pty.write_all(text.as_bytes()).expect("write to the pty");
    String::from_utf8(read_until(pty, needle)).expect("ASCII reply")
}

fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

#[test]
fn pty_serves_and_once_ends_on_hang_up() {
    let mut sim = Sim::spawn(&["--pty", "--once"]);
    let Some(path) = sim.stdout_line("modem-sim: pty ") else {
        let (status, stderr) = sim.wait_exit();
        if stderr.contains("cannot create a pseudo-terminal") {
            skip(&format!(
                "no pseudo-terminal here ({status}): {}",
                stderr.trim()
            ));
            return;
        }
        panic!(
            "modem-sim exited ({status}) without printing its pty; stdout {:?}, stderr {stderr:?}",
            sim.stdout_seen
        );
    };
    let path = path.trim().to_string();
    let mut pty = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => {
            skip(&format!("cannot open the simulator's pty {path}: {e}"));
            return;
        }
    };
    assert_eq!(pty_exchange(&mut pty, "AT\r", "OK\r\n"), "AT\r\r\nOK\r\n");
    let imei = pty_exchange(&mut pty, "AT+CGSN\r", "OK\r\n");
    assert_eq!(imei, format!("AT+CGSN\r\r\n{IMEI}\r\n\r\nOK\r\n"));
    drop(pty);
    let (status, stderr) = sim.wait_exit();
    assert_eq!(status.code(), Some(0), "exit status; stderr: {stderr}");
    assert!(stderr.contains("modem-sim state at"), "stderr: {stderr}");
}

/// Runs the binary to its exit; returns (exit code, stdout, stderr).
fn run_to_exit(args: &[&str]) -> (Option<i32>, String, String) {
    let mut sim = Sim::spawn(args);
    let (status, stderr) = sim.wait_exit();
    (status.code(), sim.stdout_seen.join("\n"), stderr)
}

#[test]
fn bad_arguments_and_help() {
    let (code, _, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", "--mode", "bogus"]);
    assert_eq!(code, Some(2), "stderr: {stderr}");
    for word in [
        "--mode",
        "bogus",
        "app",
        "recovery",
        "loader-wait",
        "loader",
    ] {
        assert!(stderr.contains(word), "{word:?} missing from {stderr:?}");
    }

    let (code, _, stderr) = run_to_exit(&["--once"]);
    assert_eq!(code, Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("--listen") && stderr.contains("--pty"),
        "stderr: {stderr:?}"
    );

    let (code, stdout, stderr) = run_to_exit(&["--help"]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stdout.contains("usage: modem-sim"), "stdout: {stdout:?}");
    assert!(stdout.contains("--listen HOST:PORT"), "stdout: {stdout:?}");
}

#[test]
fn stp_reset_and_session_open_over_tcp() {
    let mut sim = Sim::spawn(&["--listen", "127.0.0.1:0", "--mode", "recovery", "--once"]);
    let addr = sim.tcp_addr();
    let mut tcp = connect(&addr);
    assert_eq!(exchange(&mut tcp, "ATE0\r"), "ATE0\r\r\nOK\r\n");
    assert_eq!(
        exchange(&mut tcp, "AT+SMSTPU=\"ON_THE_FLY\"\r"),
        "\r\nOK\r\n"
    );

    // RESET, sid 0, tid 0, hcrc 0x8ae3 (CRC-16/XMODEM of the header with hcrc zeroed).
    tcp.write_all(&hex("66 61 73 74 00 00 00 00 00 00 00 00 8a e3 00 00"))
        .expect("write RESET");
    let ack = read_while(&mut tcp, "the RESET response", |got| got.len() >= 16);
    // ACK op 0x80, hcrc left 0 like the real modem, no payload.
    assert_eq!(
        ack,
        hex("74 73 61 66 80 00 00 00 00 00 00 00 00 00 00 00"),
        "RESET response"
    );

    // SESSION_OPEN, sid 1, tid 1, hcrc 0xfb8e.
    tcp.write_all(&hex("66 61 73 74 01 01 00 00 00 00 00 01 fb 8e 00 00"))
        .expect("write SESSION_OPEN");
    let open = read_while(&mut tcp, "the SESSION_OPEN response", |got| got.len() >= 20);
    assert_eq!(open.len(), 20, "SESSION_OPEN response {open:02x?}");
    assert_eq!(&open[..4], b"tsaf", "signature in {open:02x?}");
    assert_eq!(open[4], 0x81, "op in {open:02x?}");
    assert_eq!(open[5], 0x01, "sid in {open:02x?}");
    assert_eq!(&open[6..8], &[0, 4], "plen in {open:02x?}");
    assert_eq!(&open[8..12], &[0, 0, 0, 1], "tid in {open:02x?}");
    // ok, version 1, max_transfer 8192.
    assert_eq!(
        &open[16..],
        &[0x01, 0x01, 0x20, 0x00],
        "payload in {open:02x?}"
    );
}

#[test]
fn once_exits_even_with_a_second_client_waiting() {
    let mut sim = Sim::spawn(&["--listen", "127.0.0.1:0", "--once"]);
    let addr = sim.tcp_addr();
    let mut first = connect(&addr);
    assert_eq!(exchange(&mut first, "AT\r"), "AT\r\r\nOK\r\n");
    // The second connection completes in the listen backlog before the first client leaves.
    let second = connect(&addr);
    drop(first);
    let (status, stderr) = sim.wait_exit();
    assert_eq!(status.code(), Some(0), "exit status; stderr: {stderr}");
    assert!(stderr.contains("modem-sim state at"), "stderr: {stderr}");
    drop(second);
}
