//! Bounds-checked little/big-endian readers: every read returns `None` instead of panicking when
//! the field would run past the end of the input, so the verifier can take arbitrary bytes.

use std::ops::Range;

/// `len` bytes starting at `at`, if they are all inside `bytes`.
pub(crate) fn field(bytes: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(len)?)
}

/// Fixed-size copy of the `N` bytes at `at`.
pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    field(bytes, at, N)?.try_into().ok()
}

/// Little-endian u16 at `at`.
pub(crate) fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    array(bytes, at).map(u16::from_le_bytes)
}

/// Little-endian u32 at `at`.
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    array(bytes, at).map(u32::from_le_bytes)
}

/// `start..start + len` as a range, if it does not overflow and ends at or before `limit`.
pub(crate) fn range_within(start: usize, len: usize, limit: usize) -> Option<Range<usize>> {
    let end = start.checked_add(len)?;
    (end <= limit).then_some(start..end)
}

/// The bytes before the first NUL (all of them if there is none).
pub(crate) fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or(bytes)
}

/// Printable rendering of a (possibly binary) magic for error messages, e.g. `"\x7fELF"`.
pub(crate) fn show_magic(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    format!("\"{shown}\"")
}
