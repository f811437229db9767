//! The two protocols spoken on the modem's UART, as sans-IO state machines.
//!
//! - [`at`]: the AT command digester (bytes in → final result, information lines, URCs, echo) and
//!   typed commands for everything an upgrade sends.
//! - [`stp`]: the Sequans Transfer Protocol: a zero-copy header view, its representation, CRC-16/XMODEM
//!   and the session engine that streams an image in acknowledged blocks.
//!
//! Neither module blocks, sleeps, reads a clock or touches a UART: they consume received bytes and
//! produce bytes to send plus events. The blocking driver that moves those bytes and enforces the
//! deadlines they ask for is [`crate::transport::Link`]. The byte tables, sequence diagrams and the
//! timeout/retry table are in `docs/protocol.md`.

pub mod at;
pub mod stp;
