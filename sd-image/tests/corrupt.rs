//! `list` on corrupted cards returns an error or a listing, never panics or hangs: random bytes are
//! changed in the MBR, boot sectors, FATs and directory sectors of real cards (deterministic seeds).
//! (`fatfs` alone panics on some of these in debug builds; `list` checks the boot sector first.)

mod common;

use common::{Files, random};
use sd_image::{Layout, SparseDisk, build_image, list};

/// Sectors worth corrupting: the MBR, the boot sector (and FAT32 backup), the first FAT sectors and
/// every sector holding a directory entry of the test files.
fn targets(disk: &SparseDisk) -> Vec<u64> {
    let mut out = vec![0, 2048, 2054];
    let mut block = [0u8; 512];
    for lba in 2048..disk.blocks().min(8192) {
        disk.read_block(lba, &mut block);
        let directory = block
            .windows(3)
            .any(|w| w == b"DUP" || w == b"BIN" || w == b"ELF");
        let fat = block[0] == 0xF8 && block[1] == 0xFF;
        if directory || fat {
            out.push(lba);
        }
    }
    out
}

#[test]
fn corrupted_cards_never_panic_list() {
    let files = Files::new();
    let entries = files.entries();
    let cards = [
        build_image(&Layout::fat16_small(), &entries).unwrap(),
        build_image(&Layout::fat32_small(), &entries).unwrap(),
        build_image(&Layout::fat12_tiny(), &entries[3..]).unwrap(),
    ];
    let mut seed = 0;
    let mut refused = 0;
    for card in &cards {
        let targets = targets(card);
        assert!(targets.len() >= 5, "{targets:?}");
        for _ in 0..250 {
            seed += 1;
            let r = random(seed, 32);
            let mut disk = card.clone();
            let mut block = [0u8; 512];
            for k in 0..1 + usize::from(r[31] % 6) {
                let lba = targets[usize::from(r[k * 4]) % targets.len()];
                let offset = usize::from(u16::from_le_bytes([r[k * 4 + 1], r[k * 4 + 2]]) % 512);
                disk.read_block(lba, &mut block);
                block[offset] = r[k * 4 + 3];
                disk.write_block(lba, &block);
            }
            if list(&mut disk).is_err() {
                refused += 1;
            }
        }
    }
    // Many corruptions are harmless (a byte of file data, a free FAT entry), many are not.
    assert!(
        refused > 20,
        "only {refused} of 750 corrupted cards were refused"
    );
}
