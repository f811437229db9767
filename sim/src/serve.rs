//! Serving the modem to an external host on wall time: over TCP (`--listen`) or a pseudo-terminal
//! (`--pty`).
//!
//! One client at a time. The modem keeps running while no client is attached (a real modem does not
//! stop when the host closes its port), and what it sends meanwhile is kept, up to
//! [`crate::SimConfig::offline_buffer`] bytes (oldest dropped first), for the next client.

use crate::modem::Modem;
use crate::time::{MS, Nanos};
use crate::transcript::EntryKind;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What one read from the client gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes were read into the buffer.
    Data(usize),
    /// Nothing available now.
    Nothing,
    /// The client went away.
    Disconnected,
}

/// A place a host connects to.
pub trait Endpoint {
    /// Accepts a waiting client if none is attached; returns whether one is attached now.
    fn poll_client(&mut self) -> io::Result<bool>;
    /// Reads what the client sent, without blocking.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome>;
    /// Writes as much as possible without blocking; returns how much was written.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize>;
    /// A one-line description of the attached client, for the transcript.
    fn describe(&self) -> String;
}

/// A TCP listener serving one client at a time.
#[derive(Debug)]
pub struct TcpEndpoint {
    listener: TcpListener,
    client: Option<(TcpStream, String)>,
}

impl TcpEndpoint {
    /// Binds `addr` (for example `127.0.0.1:5000`; port 0 picks a free one).
    pub fn bind(addr: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            client: None,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }
}

impl Endpoint for TcpEndpoint {
    fn poll_client(&mut self) -> io::Result<bool> {
        if self.client.is_none() {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    stream.set_nonblocking(true)?;
                    stream.set_nodelay(true)?;
                    self.client = Some((stream, peer.to_string()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.client.is_some())
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome> {
        let Some((stream, _)) = &mut self.client else {
            return Ok(ReadOutcome::Disconnected);
        };
        let outcome = match stream.read(buf) {
            Ok(0) => Ok(ReadOutcome::Disconnected),
            Ok(n) => Ok(ReadOutcome::Data(n)),
            Err(e) => match classify(&e) {
                Some(SocketState::Idle) => Ok(ReadOutcome::Nothing),
                Some(SocketState::Gone) => Ok(ReadOutcome::Disconnected),
                None => Err(e),
            },
        };
        if matches!(outcome, Ok(ReadOutcome::Disconnected)) {
            self.client = None;
        }
        outcome
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let Some((stream, _)) = &mut self.client else {
            return Ok(0);
        };
        match stream.write(bytes) {
            Ok(n) => Ok(n),
            Err(e) => match classify(&e) {
                Some(SocketState::Idle) => Ok(0),
                Some(SocketState::Gone) => {
                    self.client = None;
                    Ok(0)
                }
                None => Err(e),
            },
        }
    }

    fn describe(&self) -> String {
        self.client
            .as_ref()
            .map_or("no client".into(), |(_, peer)| format!("TCP client {peer}"))
    }
}

/// What a socket error means for the serving loop.
enum SocketState {
    /// Nothing to do right now (would block, interrupted).
    Idle,
    /// The client went away.
    Gone,
}

fn classify(e: &io::Error) -> Option<SocketState> {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Some(SocketState::Idle),
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => Some(SocketState::Gone),
        _ => None,
    }
}

/// A pseudo-terminal: the host opens the printed slave path like a serial port.
#[derive(Debug)]
pub struct PtyEndpoint {
    master: nix::pty::PtyMaster,
    path: String,
}

impl PtyEndpoint {
    /// Creates a pty pair in raw mode (no echo, no line editing, 8-bit clean).
    pub fn open() -> io::Result<Self> {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        use nix::sys::termios;
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
        nix::pty::grantpt(&master)?;
        nix::pty::unlockpt(&master)?;
        let path = nix::pty::ptsname_r(&master)?;
        // Raw mode is a property of the slave side; set it once through a temporary handle. It stays
        // while the master is open, so any client gets a clean 8-bit line even if it does not set raw.
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        let mut tio = termios::tcgetattr(slave.as_fd())?;
        termios::cfmakeraw(&mut tio);
        termios::tcsetattr(slave.as_fd(), termios::SetArg::TCSANOW, &tio)?;
        drop(slave);
        fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        Ok(Self { master, path })
    }

    /// The slave device path to give the host (for example `/dev/pts/7`).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Endpoint for PtyEndpoint {
    fn poll_client(&mut self) -> io::Result<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO)?;
        let hup = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP));
        Ok(!hup)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome> {
        match self.master.read(buf) {
            Ok(0) => Ok(ReadOutcome::Disconnected),
            Ok(n) => Ok(ReadOutcome::Data(n)),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                Ok(ReadOutcome::Nothing)
            }
            // Linux reports EIO on the master while no process has the slave open.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => Ok(ReadOutcome::Disconnected),
            Err(e) => Err(e),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.master.write(bytes) {
            Ok(n) => Ok(n),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                Ok(0)
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        format!("pty client on {}", self.path)
    }
}

/// How a serving run ends.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Stop after the first client disconnects (`--once`).
    pub once: bool,
    /// Set from another thread (Ctrl-C) to stop.
    pub stop: Arc<AtomicBool>,
}

/// Serves `modem` on `endpoint` on wall time until stopped (or the first client leaves with `once`).
pub fn serve(
    modem: &mut Modem,
    endpoint: &mut dyn Endpoint,
    opts: &ServeOptions,
) -> io::Result<()> {
    let start = Instant::now();
    let base = modem.now();
    let clock = || base + start.elapsed().as_nanos() as Nanos;
    let keep = modem.config().offline_buffer;
    let mut attached = false;
    let mut unsent: VecDeque<u8> = VecDeque::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = vec![0u8; 4096];
    while !opts.stop.load(Ordering::Relaxed) {
        let now = clock();
        modem.advance_to(now);
        let client = endpoint.poll_client()?;
        if client != attached {
            let what = if client {
                format!("{} connected", endpoint.describe())
            } else {
                "client disconnected".to_string()
            };
            modem.transcript_mut().push(now, EntryKind::State, what);
            attached = client;
            if !client && opts.once {
                break;
            }
        }
        let mut busy = false;
        if attached {
            match endpoint.read(&mut buf)? {
                ReadOutcome::Data(n) => {
                    modem.host_write(now, buf.get(..n).unwrap_or_default());
                    busy = true;
                }
                ReadOutcome::Nothing => {}
                ReadOutcome::Disconnected => {
                    // Record the departure now: the next poll may already accept a waiting client,
                    // which would otherwise hide it (and keep `--once` running).
                    modem.transcript_mut().push(
                        now,
                        EntryKind::State,
                        "client disconnected".to_string(),
                    );
                    attached = false;
                    if opts.once {
                        break;
                    }
                    continue;
                }
            }
            loop {
                let n = modem.take_output(now, &mut out);
                unsent.extend(out.iter().take(n));
                if n < out.len() {
                    break;
                }
            }
            while !unsent.is_empty() {
                let (front, _) = unsent.as_slices();
                let n = endpoint.write(front)?;
                if n == 0 {
                    break;
                }
                unsent.drain(..n);
                busy = true;
            }
        }
        // Keep what nobody reads bounded, oldest bytes dropped first.
        let excess = (unsent.len() + modem.output_queued()).saturating_sub(keep);
        let from_unsent = excess.min(unsent.len());
        unsent.drain(..from_unsent);
        modem.trim_output(keep.saturating_sub(unsent.len()));
        if !busy {
            let next = [modem.next_event_at(), modem.next_output_at()]
                .into_iter()
                .flatten()
                .min();
            let wait = next.map_or(MS, |t| t.saturating_sub(clock()).min(MS));
            std::thread::sleep(Duration::from_nanos(wait.max(50_000)));
        }
    }
    Ok(())
}
