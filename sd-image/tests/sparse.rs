//! `SparseDisk` save/load: the round trip is exact and the saved file is sparse.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use common::{Files, random};
use sd_image::{Layout, SparseDisk, build_image, list};

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sd-image-{}-{name}", std::process::id()))
}

#[test]
fn save_load_round_trip_of_a_card_and_the_file_is_sparse() {
    let files = Files::new();
    let disk = build_image(&Layout::fat32_for(1_000_000), &files.entries()).unwrap();
    let path = temp_path("card.img");
    disk.save(&path).unwrap();

    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 258 * 1024 * 1024);
    // st_blocks counts 512-byte units actually allocated. The files are ~1 MB; the card 258 MiB.
    let allocated = meta.blocks() * 512;
    assert!(
        allocated < 8 * 1024 * 1024,
        "a 258 MiB card holding ~1 MB must be sparse, but {allocated} bytes are allocated"
    );
    assert!(allocated >= disk.stored_blocks() as u64 * 512 / 2);

    let mut back = SparseDisk::load(&path).unwrap();
    assert_eq!(back, disk);
    assert_eq!(back.stored_blocks(), disk.stored_blocks());
    assert_eq!(list(&mut back).unwrap().files.len(), 5);
    files.check_with_embedded_sdmmc(&back);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn round_trip_of_odd_sizes_and_runs() {
    // 3 blocks and a half; non-zero data in block 0, in a run over blocks 1-2 and in the tail.
    let size = 3 * 512 + 256;
    let mut disk = SparseDisk::new(size);
    assert_eq!(disk.blocks(), 4);
    let data = random(3, size as usize);
    disk.write_all(&data).unwrap();
    assert!(disk.write_all(&[1]).is_err(), "the disk does not grow");
    let path = temp_path("odd.img");
    disk.save(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    assert_eq!(std::fs::read(&path).unwrap(), data);
    let mut back = SparseDisk::load(&path).unwrap();
    assert_eq!(back.size_bytes(), size);
    assert_eq!(back, disk);
    let mut read = Vec::new();
    back.seek(SeekFrom::Start(0)).unwrap();
    back.read_to_end(&mut read).unwrap();
    assert_eq!(read, data);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn block_access_and_zero_blocks() {
    let mut disk = SparseDisk::new(10 * 512);
    disk.write_block(3, &[0xA5; 512]);
    disk.write_block(4, &[0; 512]);
    assert_eq!(disk.stored_blocks(), 1);
    let mut block = [0u8; 512];
    disk.read_block(3, &mut block);
    assert_eq!(block, [0xA5; 512]);
    // Byte view agrees with block view.
    let mut bytes = [0u8; 4];
    disk.seek(SeekFrom::Start(3 * 512 + 508)).unwrap();
    disk.read_exact(&mut bytes).unwrap();
    assert_eq!(bytes, [0xA5; 4]);
    disk.read_exact(&mut bytes).unwrap();
    assert_eq!(bytes, [0; 4]);
    // Overwriting with zeros frees the block.
    disk.write_block(3, &[0; 512]);
    assert_eq!(disk.stored_blocks(), 0);
    let path = temp_path("empty.img");
    disk.save(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().blocks(), 0);
    assert_eq!(SparseDisk::load(&path).unwrap(), disk);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn load_of_a_missing_file_is_an_error() {
    let error = SparseDisk::load(&temp_path("does-not-exist.img")).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
}
