//! A real serial port on a PC as a UART (feature `serialport`).
//!
//! [`SerialUart`] opens a port (`/dev/ttyUSB0`, `COM3`, a pseudo-terminal, …) through the
//! [`serialport`] crate and offers the `embedded-io` [`Read`] + [`Write`] + [`ReadReady`] UART the
//! transport driver needs, plus [`SetBaud`] for baud probing and `AT+IPR` switches.
//!
//! - Line format: 8 data bits, no parity, 1 stop bit, as every Sequans Monarch UART uses.
//! - Flow control: [`FlowControl::Hardware`] (RTS/CTS) for real modems, whose firmware and
//!   vendor tools run the UART with RTS/CTS; [`FlowControl::None`] for a three-wire cable or a
//!   pseudo-terminal.
//! - [`ReadReady::read_ready`] asks the OS how many bytes are waiting (`bytes_to_read`), so it never
//!   waits; [`Read::read`] is served from the same fixed internal buffer as
//!   [`StdUart`] (whose documentation describes the error mapping: end of
//!   stream is an error, a read that finds nothing fails with `TimedOut` after the 1 ms port timeout).
//! - Writes retry a port held off by flow control for at most
//!   [`write_timeout`](SerialUart::write_timeout) (2 s unless changed), then fail with `TimedOut`.
//!
//! The `serialport` dependency is built with `default-features = false`: its only default feature
//! is `libudev`, which port *enumeration* on Linux needs and which would require the libudev
//! development package on every build machine. This adapter opens ports by name and never
//! enumerates them, so nothing is lost.

use std::io;
use std::time::Duration;

use embedded_io::{ErrorType, Read, ReadReady, Write};
use serialport::SerialPort;

use super::SetBaud;
use super::std_io::StdUart;

/// The port timeout: how long one read or write of the OS port waits before reporting "nothing".
const PORT_TIMEOUT: Duration = Duration::from_millis(1);

/// Flow control on the serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FlowControl {
    /// No flow control (three-wire cable, pseudo-terminal).
    None,
    /// RTS/CTS hardware flow control, as real Sequans modems use it.
    Hardware,
}

impl From<FlowControl> for serialport::FlowControl {
    fn from(flow: FlowControl) -> Self {
        match flow {
            FlowControl::None => serialport::FlowControl::None,
            FlowControl::Hardware => serialport::FlowControl::Hardware,
        }
    }
}

/// A serial port as an `embedded-io` UART with [`SetBaud`].
pub struct SerialUart {
    uart: StdUart<Box<dyn SerialPort>>,
}

impl SerialUart {
    /// Opens `path` at `baud` bits per second, 8N1, with `flow` control and a 1 ms port timeout.
    ///
    /// The port is opened exclusively (where the OS supports it), so a terminal program left open
    /// on the same port cannot steal the modem's replies.
    pub fn open(path: &str, baud: u32, flow: FlowControl) -> Result<Self, serialport::Error> {
        let port = serialport::new(path, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(flow.into())
            .timeout(PORT_TIMEOUT)
            .open()?;
        Ok(Self::from_port(port))
    }

    /// Wraps a port opened elsewhere. Its timeout should be short (a few milliseconds at most),
    /// because a write that finds the port busy waits that long before retrying.
    pub fn from_port(port: Box<dyn SerialPort>) -> Self {
        Self {
            uart: StdUart::new(port),
        }
    }

    /// The port, e.g. to read its settings.
    pub fn port(&self) -> &dyn SerialPort {
        self.uart.get_ref().as_ref()
    }

    /// The port, e.g. to drive RTS/DTR for a modem reset line.
    ///
    /// Reading from it directly bypasses the internal buffer: bytes already buffered would then
    /// come out of order.
    pub fn port_mut(&mut self) -> &mut dyn SerialPort {
        self.uart.get_mut().as_mut()
    }

    /// Gives the port back. Bytes received but not yet read are dropped.
    pub fn into_inner(self) -> Box<dyn SerialPort> {
        self.uart.into_inner()
    }

    /// Number of received bytes waiting in the internal buffer (not counting the OS buffer).
    pub fn buffered(&self) -> usize {
        self.uart.buffered()
    }

    /// How long `write` and `flush` keep retrying a port that accepts nothing (flow control held
    /// off, cable pulled) before failing with [`io::ErrorKind::TimedOut`].
    pub fn write_timeout(&self) -> Duration {
        self.uart.write_timeout()
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.uart.set_write_timeout(timeout);
    }
}

impl core::fmt::Debug for SerialUart {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let port = self.port();
        f.debug_struct("SerialUart")
            .field("name", &port.name())
            .field("baud", &port.baud_rate().ok())
            .field("buffered", &self.uart.buffered())
            .finish()
    }
}

impl ErrorType for SerialUart {
    type Error = io::Error;
}

impl ReadReady for SerialUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        if self.uart.buffered() > 0 {
            return Ok(true);
        }
        Ok(self.port().bytes_to_read()? > 0)
    }
}

impl Read for SerialUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.uart.read(buf)
    }
}

impl Write for SerialUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.uart.write(buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.uart.flush()
    }
}

impl SetBaud for SerialUart {
    type Error = serialport::Error;

    /// Reconfigures the port. Bytes already received stay buffered: they arrived before the switch
    /// and belong to whatever the driver was reading then.
    fn set_baud(&mut self, baud: u32) -> Result<(), Self::Error> {
        self.port_mut().set_baud_rate(baud)
    }
}
