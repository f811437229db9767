//! CRC-32/ISO-HDLC bit by bit, written from its definition (reflected polynomial 0xEDB88320, init
//! and final XOR all ones), independent of the `crc` crate the library uses.

pub fn crc32_reference(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
