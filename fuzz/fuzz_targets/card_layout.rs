//! The SD card checks over an arbitrary card: the partition table, the FAT boot sector and the root
//! directory listing (long names included) must never panic and always end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem_upgrade::storage::card::{probe, list_dir};

fuzz_target!(|data: &[u8]| {
    // The input is the card: sector n is bytes [n*512, n*512+512), zeros beyond the input.
    let read = |lba: u32, sector: &mut [u8; 512]| -> Result<(), ()> {
        sector.fill(0);
        let start = (lba as usize).saturating_mul(512);
        if let Some(bytes) = data.get(start..) {
            let n = bytes.len().min(512);
            sector[..n].copy_from_slice(&bytes[..n]);
        }
        Ok(())
    };
    let blocks = 1 + (data.len() / 512) as u32 * 64;
    if let Ok(layout) = probe(blocks, read) {
        let mut seen = 0u32;
        let _ = list_dir(&layout.geometry, layout.geometry.root_location(), read, |_| {
            seen += 1;
            seen < 10_000
        });
    }
});
