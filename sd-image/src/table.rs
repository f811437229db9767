//! Partition tables: writing the MBR or the GPT of a [`crate::Layout`], and finding the FAT volume
//! on a card again.
//!
//! # MBR (sector 0)
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 440 | boot code (zeros: the card is not bootable) |
//! | 440 | 4 | disk signature (constant `0x4D44_4D55`, so images are reproducible) |
//! | 444 | 2 | 0 |
//! | 446 | 16 | partition entry 1 (below); entries 2–4 stay zero |
//! | 510 | 2 | `55 AA` |
//!
//! Partition entry: `status` (0x00, not bootable) · CHS of the first sector (3 bytes) · `type` ·
//! CHS of the last sector (3 bytes) · first LBA (u32 LE) · sector count (u32 LE). CHS uses the
//! usual 255 heads × 63 sectors translation, `FE FF FF` once past cylinder 1023; nothing we care
//! about reads CHS, but `fdisk` checks it.
//!
//! # GPT (for [`crate::Table::GptProtective`])
//!
//! Sector 0 is a protective MBR: one entry of type 0xEE from LBA 1 over the rest of the disk (CHS
//! `00 02 00` .. `FF FF FF`). LBA 1 is the header, LBA 2..34 the 128 partition entries of 128 bytes;
//! the last 33 sectors repeat entries and header as the backup.
//!
//! | header offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | `"EFI PART"` |
//! | 8 | 4 | revision 1.0 (`00 00 01 00`) |
//! | 12 | 4 | header size 92 |
//! | 16 | 4 | CRC-32 of the 92 header bytes with this field zero |
//! | 24 | 8 | this header's LBA (1, or the last sector for the backup) |
//! | 32 | 8 | the other header's LBA |
//! | 40 | 8 | first usable LBA (34) |
//! | 48 | 8 | last usable LBA (last sector − 33) |
//! | 56 | 16 | disk GUID |
//! | 72 | 8 | LBA of the entries (2, or last sector − 32 for the backup) |
//! | 80 | 4 | number of entries (128) |
//! | 84 | 4 | entry size (128) |
//! | 88 | 4 | CRC-32 of the whole entry array |
//!
//! | entry offset | bytes | field |
//! |---|---|---|
//! | 0 | 16 | type GUID: Microsoft basic data `EBD0A0A2-B9E5-4433-87C0-68B6B72699C7` |
//! | 16 | 16 | partition GUID |
//! | 32 | 8 | first LBA |
//! | 40 | 8 | last LBA (inclusive) |
//! | 48 | 8 | attributes (0) |
//! | 56 | 72 | name, UTF-16LE (`"MODEMFW"`) |
//!
//! GUIDs are stored with their first three groups little-endian. CRC-32 is the IEEE/zlib one
//! (reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF).

use std::io::{Read, Seek, SeekFrom, Write};

use crate::error::BuildError;
use crate::layout::{GPT_RESERVED_SECTORS, Geometry, Layout, SECTOR, Table};

const SECTOR_BYTES: usize = SECTOR as usize;
const ENTRY1: usize = 446;
const SIGNATURE: usize = 510;
const DISK_SIGNATURE: u32 = 0x4D44_4D55;
const TYPE_GPT_PROTECTIVE: u8 = 0xEE;

const GPT_MAGIC: &[u8; 8] = b"EFI PART";
const GPT_HEADER_BYTES: u32 = 92;
const GPT_ENTRIES: u32 = 128;
const GPT_ENTRY_BYTES: u32 = 128;
/// 128 entries × 128 bytes = 32 sectors.
const GPT_ENTRY_SECTORS: u64 = (GPT_ENTRIES * GPT_ENTRY_BYTES) as u64 / SECTOR;
/// `EBD0A0A2-B9E5-4433-87C0-68B6B72699C7` (Microsoft basic data, what FAT partitions use), mixed-endian.
const BASIC_DATA_GUID: [u8; 16] = [
    0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7,
];
/// Fixed GUIDs (version-4 layout, made up once) so images are reproducible.
const DISK_GUID: [u8; 16] = [
    0x4D, 0x55, 0x44, 0x4D, 0x2D, 0x53, 0x44, 0x49, 0x84, 0x4D, 0x47, 0x44, 0x49, 0x53, 0x4B, 0x31,
];
const PARTITION_GUID: [u8; 16] = [
    0x4D, 0x55, 0x44, 0x4D, 0x2D, 0x53, 0x44, 0x49, 0x84, 0x4D, 0x50, 0x41, 0x52, 0x54, 0x30, 0x31,
];
/// Entry arrays larger than this are not a card we made or one worth reading.
const GPT_MAX_ARRAY_BYTES: u64 = 1024 * 1024;

/// Where the FAT volume of a card is, as found by [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) table: Table,
    pub(crate) start_lba: u32,
    pub(crate) sectors: u32,
}

/// Writes the partition table of `layout` (nothing for a superfloppy).
pub(crate) fn write<D: Write + Seek>(
    disk: &mut D,
    layout: &Layout,
    geometry: &Geometry,
) -> Result<(), BuildError> {
    match layout.table {
        Table::Superfloppy => Ok(()),
        Table::Mbr { type_id } => {
            let mbr = mbr_sector(type_id, geometry.volume_start_lba, geometry.volume_sectors);
            write_at(disk, 0, &mbr, "writing the MBR")?;
            // A stale GPT header left in a reused image would make Linux prefer it over our MBR.
            write_at(disk, 1, &[0; SECTOR_BYTES], "clearing sector 1")
        }
        Table::GptProtective => write_gpt(disk, geometry),
    }
}

/// Sector 0 with one partition entry.
fn mbr_sector(type_id: u8, start: u32, sectors: u32) -> [u8; SECTOR_BYTES] {
    let mut mbr = [0u8; SECTOR_BYTES];
    put(&mut mbr, 440, &DISK_SIGNATURE.to_le_bytes());
    let last = start.saturating_add(sectors.saturating_sub(1));
    let mut entry = [0u8; 16];
    put(&mut entry, 1, &chs(start));
    put(&mut entry, 4, &[type_id]);
    put(&mut entry, 5, &chs(last));
    put(&mut entry, 8, &start.to_le_bytes());
    put(&mut entry, 12, &sectors.to_le_bytes());
    put(&mut mbr, ENTRY1, &entry);
    put(&mut mbr, SIGNATURE, &[0x55, 0xAA]);
    mbr
}

/// CHS address of `lba` with 255 heads and 63 sectors per track; `FE FF FF` past cylinder 1023.
fn chs(lba: u32) -> [u8; 3] {
    let cylinder = lba / (255 * 63);
    if cylinder > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let head = (lba / 63) % 255;
    let sector = lba % 63 + 1;
    [
        head as u8,
        (sector as u8 & 0x3F) | ((cylinder >> 2) as u8 & 0xC0),
        cylinder as u8,
    ]
}

fn write_gpt<D: Write + Seek>(disk: &mut D, geometry: &Geometry) -> Result<(), BuildError> {
    let disk_sectors = u64::from(geometry.disk_sectors);
    let last_lba = disk_sectors - 1;
    // Protective MBR: type 0xEE from LBA 1 to the end of the disk (capped at 32 bits).
    let mut mbr = mbr_sector(
        TYPE_GPT_PROTECTIVE,
        1,
        u32::try_from(disk_sectors - 1).unwrap_or(u32::MAX),
    );
    put(&mut mbr, ENTRY1 + 1, &[0x00, 0x02, 0x00]);
    put(&mut mbr, ENTRY1 + 5, &[0xFF, 0xFF, 0xFF]);
    write_at(disk, 0, &mbr, "writing the protective MBR")?;

    let mut entries = vec![0u8; (GPT_ENTRIES * GPT_ENTRY_BYTES) as usize];
    let first = u64::from(geometry.volume_start_lba);
    let last = first + u64::from(geometry.volume_sectors) - 1;
    put(&mut entries, 0, &BASIC_DATA_GUID);
    put(&mut entries, 16, &PARTITION_GUID);
    put(&mut entries, 32, &first.to_le_bytes());
    put(&mut entries, 40, &last.to_le_bytes());
    let name: Vec<u8> = "MODEMFW"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    put(&mut entries, 56, &name);
    let entries_crc = crc32(&entries);

    let backup_entries_lba = last_lba - GPT_ENTRY_SECTORS;
    let header = |mine: u64, other: u64, entries_lba: u64| {
        let mut h = [0u8; SECTOR_BYTES];
        put(&mut h, 0, GPT_MAGIC);
        put(&mut h, 8, &0x0001_0000u32.to_le_bytes());
        put(&mut h, 12, &GPT_HEADER_BYTES.to_le_bytes());
        put(&mut h, 24, &mine.to_le_bytes());
        put(&mut h, 32, &other.to_le_bytes());
        put(&mut h, 40, &GPT_RESERVED_SECTORS.to_le_bytes());
        put(
            &mut h,
            48,
            &(last_lba - GPT_ENTRY_SECTORS - 1).to_le_bytes(),
        );
        put(&mut h, 56, &DISK_GUID);
        put(&mut h, 72, &entries_lba.to_le_bytes());
        put(&mut h, 80, &GPT_ENTRIES.to_le_bytes());
        put(&mut h, 84, &GPT_ENTRY_BYTES.to_le_bytes());
        put(&mut h, 88, &entries_crc.to_le_bytes());
        let crc = crc32(h.get(..GPT_HEADER_BYTES as usize).unwrap_or_default());
        put(&mut h, 16, &crc.to_le_bytes());
        h
    };
    write_at(disk, 1, &header(1, last_lba, 2), "writing the GPT header")?;
    write_at(disk, 2, &entries, "writing the GPT entries")?;
    write_at(
        disk,
        backup_entries_lba,
        &entries,
        "writing the backup GPT entries",
    )?;
    write_at(
        disk,
        last_lba,
        &header(last_lba, 1, backup_entries_lba),
        "writing the backup GPT header",
    )
}

/// Finds the FAT volume: the first MBR entry (the one `embedded-sdmmc` opens as volume 0), the
/// first used GPT entry behind a protective MBR, or a FAT boot sector at sector 0 (superfloppy).
pub(crate) fn detect<D: Read + Seek>(disk: &mut D) -> Result<Extent, BuildError> {
    let disk_bytes = disk
        .seek(SeekFrom::End(0))
        .map_err(BuildError::io("finding the card size"))?;
    let disk_sectors = disk_bytes / SECTOR;
    let not_a_card = |reason: String| BuildError::NotACard { reason };
    if disk_sectors < 2 {
        return Err(not_a_card(format!(
            "it is only {disk_bytes} bytes long (less than 2 sectors)"
        )));
    }
    let sector0 = read_sector(disk, 0)?;
    if sector0.get(SIGNATURE..) != Some(&[0x55, 0xAA][..]) {
        return Err(not_a_card(
            "sector 0 does not end with the 55 AA signature of an MBR or boot sector".to_owned(),
        ));
    }
    let entry = sector0.get(ENTRY1..ENTRY1 + 16).unwrap_or_default();
    let status = byte(entry, 0);
    let type_id = byte(entry, 4);
    let start = u32_le(entry, 8);
    let count = u32_le(entry, 12);
    if type_id != 0 && status & 0x7F == 0 && start >= 1 && count > 0 {
        if type_id == TYPE_GPT_PROTECTIVE {
            return detect_gpt(disk, disk_sectors);
        }
        if u64::from(start) + u64::from(count) > disk_sectors {
            return Err(not_a_card(format!(
                "MBR partition 1 (type 0x{type_id:02X}) covers sectors {start}..{} but the card \
                 has only {disk_sectors}",
                u64::from(start) + u64::from(count)
            )));
        }
        return Ok(Extent {
            table: Table::Mbr { type_id },
            start_lba: start,
            sectors: count,
        });
    }
    if looks_like_boot_sector(&sector0) {
        return Ok(Extent {
            table: Table::Superfloppy,
            start_lba: 0,
            sectors: u32::try_from(disk_sectors).unwrap_or(u32::MAX),
        });
    }
    Err(not_a_card(
        "sector 0 has neither a used first MBR partition entry nor a FAT boot sector".to_owned(),
    ))
}

/// A plausible FAT boot sector: a jump instruction and a BPB with 512-byte sectors, a power-of-two
/// cluster, reserved sectors and one or two FATs.
fn looks_like_boot_sector(sector: &[u8]) -> bool {
    let jump = matches!(byte(sector, 0), 0xEB | 0xE9);
    let bytes_per_sector = u16::from_le_bytes([byte(sector, 11), byte(sector, 12)]);
    let spc = byte(sector, 13);
    let reserved = u16::from_le_bytes([byte(sector, 14), byte(sector, 15)]);
    let fats = byte(sector, 16);
    jump && bytes_per_sector == 512
        && spc.is_power_of_two()
        && reserved >= 1
        && (1..=2).contains(&fats)
}

fn detect_gpt<D: Read + Seek>(disk: &mut D, disk_sectors: u64) -> Result<Extent, BuildError> {
    let not_a_card = |reason: String| BuildError::NotACard { reason };
    let header = read_sector(disk, 1)?;
    if header.get(..8) != Some(&GPT_MAGIC[..]) {
        return Err(not_a_card(
            "sector 0 is a protective MBR (type 0xEE) but LBA 1 has no \"EFI PART\" header"
                .to_owned(),
        ));
    }
    let header_bytes = u32_le(&header, 12);
    if !(GPT_HEADER_BYTES..=SECTOR as u32).contains(&header_bytes) {
        return Err(not_a_card(format!(
            "GPT header size {header_bytes} is outside 92..=512"
        )));
    }
    let mut copy = header;
    put(&mut copy, 16, &[0; 4]);
    let crc = crc32(copy.get(..header_bytes as usize).unwrap_or_default());
    if crc != u32_le(&header, 16) {
        return Err(not_a_card(format!(
            "GPT header CRC-32 is 0x{:08X} but the header hashes to 0x{crc:08X}",
            u32_le(&header, 16)
        )));
    }
    let entries_lba = u64_le(&header, 72);
    let count = u64::from(u32_le(&header, 80));
    let entry_bytes = u64::from(u32_le(&header, 84));
    let array_bytes = count * entry_bytes;
    if entry_bytes < 128 || !entry_bytes.is_multiple_of(8) || array_bytes > GPT_MAX_ARRAY_BYTES {
        return Err(not_a_card(format!(
            "GPT has {count} entries of {entry_bytes} bytes (want entries of at least 128 bytes, \
             at most 1 MiB in all)"
        )));
    }
    if entries_lba >= disk_sectors {
        return Err(not_a_card(format!(
            "GPT entries at LBA {entries_lba} are past the end of the card ({disk_sectors} sectors)"
        )));
    }
    let mut array = vec![0u8; array_bytes as usize];
    disk.seek(SeekFrom::Start(entries_lba * SECTOR))
        .and_then(|_| disk.read_exact(&mut array))
        .map_err(BuildError::io("reading the GPT entries"))?;
    let crc = crc32(&array);
    if crc != u32_le(&header, 88) {
        return Err(not_a_card(format!(
            "GPT entry array CRC-32 is 0x{:08X} in the header but the entries hash to 0x{crc:08X}",
            u32_le(&header, 88)
        )));
    }
    let used = array
        .chunks(entry_bytes as usize)
        .find(|e| e.get(..16).is_some_and(|guid| guid.iter().any(|&b| b != 0)));
    let Some(entry) = used else {
        return Err(not_a_card("the GPT has no partition".to_owned()));
    };
    let first = u64_le(entry, 32);
    let last = u64_le(entry, 40);
    if last < first || last >= disk_sectors || first > u64::from(u32::MAX) {
        return Err(not_a_card(format!(
            "GPT partition 1 spans LBA {first}..={last} on a card of {disk_sectors} sectors"
        )));
    }
    Ok(Extent {
        table: Table::GptProtective,
        start_lba: first as u32,
        sectors: u32::try_from(last - first + 1).unwrap_or(u32::MAX),
    })
}

/// CRC-32 (IEEE 802.3 / zlib / GPT): reflected polynomial 0xEDB88320, init and xor-out 0xFFFFFFFF.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
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

fn write_at<D: Write + Seek>(
    disk: &mut D,
    lba: u64,
    data: &[u8],
    what: &str,
) -> Result<(), BuildError> {
    disk.seek(SeekFrom::Start(lba * SECTOR))
        .and_then(|_| disk.write_all(data))
        .map_err(BuildError::io(what))
}

fn read_sector<D: Read + Seek>(disk: &mut D, lba: u64) -> Result<[u8; SECTOR_BYTES], BuildError> {
    let mut sector = [0u8; SECTOR_BYTES];
    disk.seek(SeekFrom::Start(lba * SECTOR))
        .and_then(|_| disk.read_exact(&mut sector))
        .map_err(BuildError::io(format!("reading sector {lba}")))?;
    Ok(sector)
}

/// Copies `data` into `buf` at `at`, clipped to `buf` (every caller's offsets are constants that fit).
fn put(buf: &mut [u8], at: usize, data: &[u8]) {
    if let Some(dst) = buf.get_mut(at..) {
        dst.iter_mut().zip(data).for_each(|(d, s)| *d = *s);
    }
}

fn byte(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

fn u32_le(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_le(buf: &[u8], at: usize) -> u64 {
    buf.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn chs_translation() {
        // LBA 2048 = cylinder 0, head 32, sector 33 (what fdisk writes for a 1 MiB start).
        assert_eq!(chs(2048), [32, 33, 0]);
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(u32::MAX), [0xFE, 0xFF, 0xFF]);
    }

    #[test]
    fn mbr_entry_bytes() {
        let mbr = mbr_sector(0x0C, 2048, 79_872);
        assert_eq!(
            &mbr[446..462],
            &[
                // status, CHS 0/32/33 (LBA 2048), type 0x0C, CHS 5/25/20 (LBA 81,919)
                0x00, 32, 33, 0, 0x0C, 25, 20, 5,
                // first LBA 2048, 79,872 sectors (0x13800)
                0x00, 0x08, 0x00, 0x00, 0x00, 0x38, 0x01, 0x00
            ][..]
        );
    }
}
