//! In-process use on virtual time: a [`Sim`] owns the modem, hands out a byte port and a clock.
//!
//! Time only moves when the host waits: a blocking [`std::io::Read::read`] jumps straight to the next
//! byte the modem sends (or to the read timeout), [`embedded_io::ReadReady::read_ready`] lets a small
//! quantum pass when nothing is ready, and [`SimClock::sleep`] advances explicitly. A five-minute
//! programming phase therefore costs microseconds, and a run replays exactly.

use crate::config::SimConfig;
use crate::modem::{Modem, Status};
use crate::time::{MS, Nanos};
use crate::transcript::Entry;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A simulated modem on virtual time. Cloning shares the same modem.
#[derive(Debug, Clone)]
pub struct Sim {
    modem: Arc<Mutex<Modem>>,
}

impl Sim {
    /// A modem built from `cfg`, at virtual time 0.
    pub fn new(cfg: SimConfig) -> Self {
        Self {
            modem: Arc::new(Mutex::new(Modem::new(cfg))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Modem> {
        // A panic while holding the lock can only come from a bug in the simulator itself; keep going
        // with the state as it is rather than poisoning every later test assertion.
        self.modem.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host's end of the UART.
    pub fn port(&self) -> SimPort {
        SimPort {
            sim: self.clone(),
            read_timeout: 1_000 * MS,
            quantum: MS,
        }
    }

    /// The virtual clock the host must use for its deadlines.
    pub fn clock(&self) -> SimClock {
        SimClock { sim: self.clone() }
    }

    /// Current virtual time.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.lock().now())
    }

    /// Lets `d` of virtual time pass (the modem keeps working).
    pub fn advance(&self, d: Duration) {
        let mut m = self.lock();
        let t = m.now() + d.as_nanos() as Nanos;
        m.advance_to(t);
    }

    /// A snapshot of the modem state.
    pub fn status(&self) -> Status {
        self.lock().status()
    }

    /// A copy of the transcript entries.
    pub fn transcript(&self) -> Vec<Entry> {
        self.lock().transcript().entries().to_vec()
    }

    /// The transcript as text (for test failure messages).
    pub fn transcript_text(&self) -> String {
        self.lock().transcript().to_string()
    }

    /// Pulls the modem's power now.
    pub fn pull_power(&self) {
        self.lock().pull_power();
    }

    /// Runs `f` with the modem locked (for hooks not covered above).
    pub fn with_modem<R>(&self, f: impl FnOnce(&mut Modem) -> R) -> R {
        f(&mut self.lock())
    }
}

/// The host's end of the simulated UART: `std::io::{Read, Write}` and `embedded_io::{Read, Write,
/// ReadReady}`.
#[derive(Debug, Clone)]
pub struct SimPort {
    sim: Sim,
    read_timeout: Nanos,
    quantum: Nanos,
}

impl SimPort {
    /// How long a blocking read waits for a first byte before failing with `TimedOut` (default 1 s), as
    /// a serial port's read timeout.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.read_timeout = timeout.as_nanos() as Nanos;
    }

    /// How much virtual time passes when `read_ready` finds nothing (default 1 ms).
    pub fn set_poll_quantum(&mut self, quantum: Duration) {
        self.quantum = (quantum.as_nanos() as Nanos).max(1);
    }

    /// The host UART's baud rate; a mismatch with the modem's rate garbles bytes. `None` (the default)
    /// always matches.
    pub fn set_baud(&mut self, baud: Option<u32>) {
        self.sim.lock().set_host_baud(baud);
    }

    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut m = self.sim.lock();
        let deadline = m.now() + self.read_timeout;
        loop {
            let now = m.now();
            m.advance_to(now);
            if let Some(n) = take(&mut m, buf) {
                return Ok(n);
            }
            let next = [m.next_output_at(), m.next_event_at()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= deadline => m.advance_to(t.max(now)),
                _ => {
                    m.advance_to(deadline);
                    return take(&mut m, buf).ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            "modem-sim: no byte within the read timeout",
                        )
                    });
                }
            }
        }
    }

    fn ready(&mut self) -> bool {
        let mut m = self.sim.lock();
        let now = m.now();
        m.advance_to(now);
        if m.next_output_at().is_some_and(|t| t <= now) {
            return true;
        }
        let next = [m.next_output_at(), m.next_event_at()]
            .into_iter()
            .flatten()
            .min();
        let step = next
            .map_or(now + self.quantum, |t| t.min(now + self.quantum))
            .max(now);
        m.advance_to(step);
        m.next_output_at().is_some_and(|t| t <= step)
    }
}

fn take(m: &mut Modem, buf: &mut [u8]) -> Option<usize> {
    let now = m.now();
    let n = m.take_output(now, buf);
    (n > 0).then_some(n)
}

impl io::Read for SimPort {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_some(buf)
    }
}

impl io::Write for SimPort {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut m = self.sim.lock();
        let now = m.now();
        m.host_write(now, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl embedded_io::ErrorType for SimPort {
    type Error = io::Error;
}

impl embedded_io::Read for SimPort {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.read_some(buf)
    }
}

impl embedded_io::ReadReady for SimPort {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.ready())
    }
}

impl embedded_io::Write for SimPort {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        io::Write::write(self, buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The virtual clock shared with the modem.
#[derive(Debug, Clone)]
pub struct SimClock {
    sim: Sim,
}

impl SimClock {
    /// Milliseconds since the simulation started.
    pub fn now_ms(&self) -> u64 {
        self.sim.lock().now() / MS
    }

    /// Time since the simulation started.
    pub fn now(&self) -> Duration {
        self.sim.now()
    }

    /// Lets `d` pass (a host `sleep`).
    pub fn sleep(&self, d: Duration) {
        self.sim.advance(d);
    }
}
