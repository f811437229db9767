//! CRC-16/XMODEM, the checksum of STP headers and payloads (sequans-protocol.md §5.4).
//!
//! Polynomial 0x1021, initial value 0, no reflection, no final XOR; check value for ASCII
//! `123456789` is `0x31C3`. Pycom's code calls it "CRC-16(CCIT)"; it is the same function.
//!
//! ## Which implementation, and why
//!
//! The `crc` crate offers three speeds of the same function. Measured with `benches/stp_engine.rs`
//! (release build, x86-64 host, 6,000,000 bytes): throughput from `cargo bench --bench stp_engine`,
//! instructions per byte from `valgrind --tool=callgrind` on its `--once MODE` passes minus the
//! `--once none` baseline:
//!
//! | implementation | table in flash | host throughput | instructions / byte | verdict |
//! |---|---|---|---|---|
//! | `NoTable` (bit by bit) | 0 B | 85 MB/s | 50.0 | over the host budget (≤ 15 instructions per image byte for *all* protocol work) on its own |
//! | **`Table<1>`** (one 256-entry table) | **512 B** | **310 MB/s** | **7.0** | **chosen** |
//! | `Table<16>` (slice-by-16) | 8 KiB | 3,900 MB/s | 3.1 | a quarter of the 32 KiB firmware flash budget for the whole library |
//!
//! With `Table<1>` the whole engine (framing, payload CRC, response parsing and checks, 2016-byte
//! blocks) measures 9.2 instructions per image byte (8.1 of them the CRC) and ≈ 300 MB/s: inside
//! the 15-instruction budget with room to spare, and ≈ 3,000 times the 92 KB/s a 921,600-baud UART
//! moves. `Table<16>` would save about 4 instructions per byte that the budget does not need, at the
//! price of 8 KiB of flash; `NoTable` saves 512 bytes and breaks the budget. On
//! `thumbv7em-none-eabihf` (opt-level "s") the table takes 516 bytes of flash and the update loop
//! 80 bytes of code; cycles per byte on a Cortex-M were not measured.
//!
//! Use [`crc16`] (one shared `static` table); [`CRC16`] is the same algorithm as a `const`.

use crc::{CRC_16_XMODEM, Crc, Table};

/// CRC-16/XMODEM with a 256-entry `u16` table (512 bytes); see the module docs for the choice.
pub const CRC16: Crc<u16, Table<1>> = Crc::<u16, Table<1>>::new(&CRC_16_XMODEM);

/// The table shared by [`crc16`]: a `static`, so every call site uses the same 512 bytes.
static CRC16_STATIC: Crc<u16, Table<1>> = CRC16;

/// CRC-16/XMODEM of `bytes` (`crc16(b"123456789") == 0x31C3`).
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16_STATIC.checksum(bytes)
}

/// Streaming CRC-16/XMODEM over the shared table, for data that arrives in pieces.
pub(crate) fn crc16_digest() -> crc::Digest<'static, u16, Table<1>> {
    CRC16_STATIC.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(CRC16.checksum(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn streaming_matches_one_shot() {
        let mut d = crc16_digest();
        d.update(b"1234");
        d.update(b"56789");
        assert_eq!(d.finalize(), 0x31C3);
    }
}
