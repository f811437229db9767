//! The three ways the example reaches a modem, behind one UART type and one clock type, so the
//! upgrader is instantiated once per storage kind instead of once per (storage × link) pair.
//!
//! | link | UART | clock |
//! |---|---|---|
//! | built-in simulator (default) | [`SimPort`] in-process; `set_baud` tells the simulated line the host's rate, so a wrong rate garbles bytes as on a real wire | the simulator's virtual clock: a 60 s programming phase takes milliseconds |
//! | `--port DEV` | `SerialUart` | `StdClock` (wall time) |
//! | `--connect HOST:PORT` | `TcpUart` (no bit rate: `set_baud` is a no-op) | `StdClock` |

use std::io;

use embedded_io::{ErrorType, Read, ReadReady, Write};
use modem_sim::{SimClock, SimPort};
use modem_upgrade::transport::serial::SerialUart;
use modem_upgrade::transport::std_io::{StdClock, TcpUart};
use modem_upgrade::transport::{Clock, SetBaud};

/// The modem's UART, whichever link it is.
pub enum Uart {
    /// The built-in simulator.
    Sim(SimPort),
    /// A real serial port.
    Serial(SerialUart),
    /// A TCP stream (a `modem-sim --listen` process, a serial-to-network bridge).
    Tcp(TcpUart),
}

impl ErrorType for Uart {
    type Error = io::Error;
}

impl Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        match self {
            Uart::Sim(p) => p.read(buf),
            Uart::Serial(p) => p.read(buf),
            Uart::Tcp(p) => p.read(buf),
        }
    }
}

impl ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        match self {
            Uart::Sim(p) => p.read_ready(),
            Uart::Serial(p) => p.read_ready(),
            Uart::Tcp(p) => p.read_ready(),
        }
    }
}

impl Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        match self {
            Uart::Sim(p) => embedded_io::Write::write(p, buf),
            Uart::Serial(p) => p.write(buf),
            Uart::Tcp(p) => p.write(buf),
        }
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        match self {
            Uart::Sim(p) => embedded_io::Write::flush(p),
            Uart::Serial(p) => p.flush(),
            Uart::Tcp(p) => p.flush(),
        }
    }
}

impl SetBaud for Uart {
    type Error = io::Error;

    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        match self {
            Uart::Sim(p) => {
                p.set_baud(Some(baud));
                Ok(())
            }
            Uart::Serial(p) => p.set_baud(baud).map_err(io::Error::from),
            Uart::Tcp(p) => match p.set_baud(baud) {
                Ok(()) => Ok(()),
                Err(never) => match never {},
            },
        }
    }
}

/// The clock the upgrader's deadlines run on.
pub enum ModemClock {
    /// The simulator's virtual time (its port lets 1 ms pass per empty poll, so no idle is needed).
    Sim(SimClock),
    /// Wall time, sleeping briefly when the line is idle.
    Wall(StdClock),
}

impl Clock for ModemClock {
    fn now_ms(&mut self) -> u64 {
        match self {
            ModemClock::Sim(c) => c.now_ms(),
            ModemClock::Wall(c) => c.now_ms(),
        }
    }

    fn idle(&mut self) {
        match self {
            ModemClock::Sim(_) => {}
            ModemClock::Wall(c) => c.idle(),
        }
    }
}
