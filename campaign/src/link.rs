//! The simulator's port and clock as the library's UART and clock (virtual time).

use modem_sim::{Sim, SimClock, SimPort};
use modem_upgrade::transport::{Clock, Link, SetBaud};

/// The simulated UART; `set_baud` tells the simulated line the host's rate, so a wrong rate garbles
/// bytes as on a real wire.
pub struct SimUart(pub SimPort);

impl embedded_io::ErrorType for SimUart {
    type Error = std::io::Error;
}

impl embedded_io::Read for SimUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        embedded_io::Read::read(&mut self.0, buf)
    }
}

impl embedded_io::ReadReady for SimUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        embedded_io::ReadReady::read_ready(&mut self.0)
    }
}

impl embedded_io::Write for SimUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        embedded_io::Write::write(&mut self.0, buf)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl SetBaud for SimUart {
    type Error = std::convert::Infallible;
    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        self.0.set_baud(Some(baud));
        Ok(())
    }
}

/// Virtual time: the port lets 1 ms pass per empty poll.
pub struct SimTime(pub SimClock);

impl Clock for SimTime {
    fn now_ms(&mut self) -> u64 {
        self.0.now_ms()
    }
}

/// A fresh link to `sim` (a restarted host has nothing else).
pub fn link(sim: &Sim) -> Link<SimUart, SimTime> {
    Link::new(SimUart(sim.port()), SimTime(sim.clock()))
}
