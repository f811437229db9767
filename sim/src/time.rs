//! Simulated time: one clock type for virtual (in-process) and wall (binary) use.
//!
//! Every timestamp in the simulator is a [`Nanos`] count since the simulator started. In-process users
//! advance it explicitly (so a five-minute programming phase costs microseconds of real time and the run
//! is deterministic); the binary feeds it from a monotonic wall clock.

/// Nanoseconds since the simulator started.
pub type Nanos = u64;

/// One millisecond in [`Nanos`].
pub const MS: Nanos = 1_000_000;

/// One second in [`Nanos`].
pub const SECOND: Nanos = 1_000 * MS;

/// Time one byte occupies on an 8N1 UART line (start bit, 8 data bits, stop bit) at `baud`.
///
/// Used to pace bytes like a real UART, so that transfer time and protocol efficiency measured against
/// the simulator mean something. A baud of 0 means "no pacing".
pub fn byte_time(baud: u32) -> Nanos {
    if baud == 0 {
        0
    } else {
        10 * SECOND / u64::from(baud)
    }
}

/// Formats a timestamp as `s.mmm` for transcripts.
pub fn format_time(t: Nanos) -> String {
    format!("{}.{:03}", t / SECOND, (t % SECOND) / MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_time_matches_8n1() {
        // 115200 baud: 11520 bytes per second, 86.8 µs per byte.
        assert_eq!(byte_time(115_200), 86_805);
        // 921600 baud: 10.85 µs per byte.
        assert_eq!(byte_time(921_600), 10_850);
        assert_eq!(byte_time(0), 0);
        assert_eq!(format_time(3 * SECOND + 42 * MS + 7), "3.042");
    }
}
