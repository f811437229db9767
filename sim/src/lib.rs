//! `modem-sim`: a simulated Sequans Monarch modem.
//!
//! This crate is a placeholder until the simulator issue lands: it will hold the AT interpreter, the STP
//! slave and the persistent flash model described in `docs/simulator.md`, written from the protocol facts
//! independently of the `modem-upgrade` library's codecs.
#![forbid(unsafe_code)]
