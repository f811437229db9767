//! The image reader over arbitrary files: never panics, always reports a verdict, and a file it calls
//! valid has no problems.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem_upgrade::image::inspect_bytes;

fuzz_target!(|data: &[u8]| {
    let mut scratch = [0u8; 256];
    let report = inspect_bytes(data, &mut scratch);
    assert_eq!(report.is_valid(), report.problems.is_empty());
    assert_eq!(report.size as usize, data.len());
    // A different read size must not change the verdict.
    let mut tiny = [0u8; 64];
    let again = inspect_bytes(data, &mut tiny);
    assert_eq!(report, again);
});
