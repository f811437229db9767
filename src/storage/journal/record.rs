//! The slot codec: one [`Checkpoint`] and its sequence number in one 512-byte slot, and back.
//!
//! Pure functions, no I/O. The byte layout is the table in the [module docs](super). [`decode`] treats
//! the slot as untrusted (it comes from an SD card that may have lost power mid-write): it never panics,
//! checks the CRC before believing any field, and then rejects every field value [`encode`] could not
//! have produced, so that `encode(decode(slot)) == slot` for bytes 0..164 of every slot it accepts.

use super::checkpoint::{Attempts, Checkpoint, ImageId, Phase};
use super::{MAX_NAME, SLOT_LEN, Slot};
use crate::image::CRC32;
use core::fmt;

/// The four bytes every record starts with: `SQJ1` ("SeQuans Journal", family 1).
pub const MAGIC: [u8; 4] = *b"SQJ1";
/// The record format this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes covered by the CRC in format version 1; the CRC is stored right after them.
pub const CRC_COVERED_LEN: u16 = 160;
/// Bytes of a version 1 record including its CRC. The rest of the slot is written as zeros and not read.
pub const RECORD_LEN: usize = CRC_COVERED_LEN as usize + 4;

// Field offsets (see the byte table in the module docs).
const AT_MAGIC: usize = 0;
const AT_VERSION: usize = 4;
const AT_PHASE: usize = 5;
const AT_LENGTH: usize = 6;
const AT_SEQ: usize = 8;
const AT_IMAGE_LEN: usize = 12;
const AT_IMAGE_CRC: usize = 16;
const AT_ACKED: usize = 20;
const AT_BLOCK: usize = 24;
const AT_TRANSFERS: usize = 26;
const AT_SESSIONS: usize = 27;
const AT_VERIFICATIONS: usize = 28;
const AT_FLAGS: usize = 29;
const AT_NAME_LEN: usize = 30;
const AT_RESERVED: usize = 31;
const AT_NAME: usize = 32;
const AT_CRC: usize = CRC_COVERED_LEN as usize;

/// Flag bit 0: the image name was cut to [`MAX_NAME`] bytes.
const FLAG_NAME_TRUNCATED: u8 = 0x01;

/// Why a slot does not hold a usable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RecordError {
    /// The slot is all `0x00` or all `0xFF`: never written, erased, or cleared by [`Journal::clear`](super::Journal::clear).
    Blank,
    /// The slot does not start with [`MAGIC`].
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A format version this code does not read (written by newer firmware).
    UnsupportedVersion {
        /// The version byte.
        found: u8,
    },
    /// The CRC-covered length is not the one of format version 1 ([`CRC_COVERED_LEN`]).
    BadLength {
        /// The length field.
        found: u16,
    },
    /// The stored CRC does not match the record: a torn or corrupted write.
    Crc {
        /// CRC stored in the slot.
        stored: u32,
        /// CRC computed over the slot's bytes.
        computed: u32,
    },
    /// A phase number this version does not know.
    UnknownPhase {
        /// The phase byte.
        found: u8,
    },
    /// The acknowledged offset lies past the end of the image.
    OffsetBeyondImage {
        /// The stored offset.
        offset: u32,
        /// The stored image length.
        len: u32,
    },
    /// The stored image name is not UTF-8.
    BadName,
    /// The name length byte exceeds [`MAX_NAME`].
    NameTooLong {
        /// The name length byte.
        found: u8,
    },
    /// A byte or bit that format version 1 always writes as zero is not zero (unknown flag bits, the
    /// reserved byte, name padding).
    NonZeroReserved {
        /// Offset of the byte in the slot.
        offset: u16,
        /// Its value.
        found: u8,
    },
    /// A valid record in the wrong slot: sequence number `seq` belongs in slot `seq % 2` (A for even).
    /// Reported by [`Journal::open`](super::Journal::open), never by [`decode`], which does not know
    /// where its bytes came from.
    WrongSlot {
        /// The record's sequence number.
        seq: u32,
        /// The slot it was read from.
        slot: Slot,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecordError::Blank => f.write_str(
                "journal slot is blank (all 0x00 or all 0xFF): nothing was recorded there, which is normal for a new or cleared journal",
            ),
            RecordError::BadMagic { found: [a, b, c, d] } => write!(
                f,
                "journal slot starts with {a:02x} {b:02x} {c:02x} {d:02x}, expected 53 51 4a 31 \"SQJ1\": the slot was torn by a power loss or the file is not an upgrade journal; it is ignored"
            ),
            RecordError::UnsupportedVersion { found } => write!(
                f,
                "journal record has format version {found}, this firmware reads version {FORMAT_VERSION}: it was written by other firmware and is ignored"
            ),
            RecordError::BadLength { found } => write!(
                f,
                "journal record declares {found} CRC-covered bytes, format version {FORMAT_VERSION} has {CRC_COVERED_LEN}: the record is damaged and ignored"
            ),
            RecordError::Crc { stored, computed } => write!(
                f,
                "journal record CRC is {stored:08x} but its bytes give {computed:08x}: the write was torn (power loss) or the card corrupted it; the other slot is used instead"
            ),
            RecordError::UnknownPhase { found } => write!(
                f,
                "journal record has phase {found}, expected 1 to 7: it was written by other firmware and is ignored"
            ),
            RecordError::OffsetBeyondImage { offset, len } => write!(
                f,
                "journal record says {offset} bytes were acknowledged of a {len}-byte image: impossible, so the record is ignored"
            ),
            RecordError::BadName => f.write_str(
                "journal record's image name is not UTF-8: the record is damaged and ignored",
            ),
            RecordError::NameTooLong { found } => write!(
                f,
                "journal record's image name is {found} bytes, at most {MAX_NAME} fit: the record is damaged and ignored"
            ),
            RecordError::NonZeroReserved { offset, found } => write!(
                f,
                "journal record byte {offset} is {found:#04x} where format version {FORMAT_VERSION} always writes 0: the record is damaged or from other firmware and is ignored"
            ),
            RecordError::WrongSlot { seq, slot } => write!(
                f,
                "journal record {seq} was found in slot {slot}, but records with an {} sequence number belong in slot {}: the write went astray, so the record is ignored",
                if seq.is_multiple_of(2) { "even" } else { "odd" },
                Slot::for_seq(seq)
            ),
        }
    }
}

impl core::error::Error for RecordError {}

/// Writes `cp` with sequence number `seq` into `out`, filling the whole slot (bytes after the record
/// are zero).
///
/// Writes `cp` as it is: a checkpoint with `acked_offset > image.len` is encoded but [`decode`]
/// rejects it.
pub fn encode(seq: u32, cp: &Checkpoint, out: &mut [u8; SLOT_LEN]) {
    out.fill(0);
    let name = cp.image.name().as_bytes();
    // ImageId keeps at most MAX_NAME (128) bytes, so the length fits a u8.
    let name_len = u8::try_from(name.len()).unwrap_or(u8::MAX);
    let flags = if cp.image.name_truncated() {
        FLAG_NAME_TRUNCATED
    } else {
        0
    };
    put(out, AT_MAGIC, &MAGIC);
    put(out, AT_VERSION, &[FORMAT_VERSION]);
    put(out, AT_PHASE, &[cp.phase.as_byte()]);
    put(out, AT_LENGTH, &CRC_COVERED_LEN.to_le_bytes());
    put(out, AT_SEQ, &seq.to_le_bytes());
    put(out, AT_IMAGE_LEN, &cp.image.len.to_le_bytes());
    put(out, AT_IMAGE_CRC, &cp.image.crc32.to_le_bytes());
    put(out, AT_ACKED, &cp.acked_offset.to_le_bytes());
    put(out, AT_BLOCK, &cp.block_size.to_le_bytes());
    put(out, AT_TRANSFERS, &[cp.attempts.transfers]);
    put(out, AT_SESSIONS, &[cp.attempts.sessions]);
    put(out, AT_VERIFICATIONS, &[cp.attempts.verifications]);
    put(out, AT_FLAGS, &[flags]);
    put(out, AT_NAME_LEN, &[name_len]);
    put(out, AT_RESERVED, &[0]);
    put(out, AT_NAME, name.get(..MAX_NAME).unwrap_or(name));
    let crc = CRC32.checksum(out.get(..AT_CRC).unwrap_or_default());
    put(out, AT_CRC, &crc.to_le_bytes());
}

/// Reads the record in `slot`: its sequence number and checkpoint, or the first reason it is unusable.
///
/// Checks, in order: blank slot, magic, format version, CRC-covered length, CRC, then every field. The
/// CRC comes before the fields so that a torn write is reported as [`RecordError::Crc`] rather than
/// as whatever its mixed bytes happen to look like. Bytes 164..512 are not read.
pub fn decode(slot: &[u8; SLOT_LEN]) -> Result<(u32, Checkpoint), RecordError> {
    if slot.iter().all(|&b| b == 0x00) || slot.iter().all(|&b| b == 0xFF) {
        return Err(RecordError::Blank);
    }
    let magic: [u8; 4] = take(slot, AT_MAGIC);
    if magic != MAGIC {
        return Err(RecordError::BadMagic { found: magic });
    }
    let [version] = take(slot, AT_VERSION);
    if version != FORMAT_VERSION {
        return Err(RecordError::UnsupportedVersion { found: version });
    }
    let length = u16::from_le_bytes(take(slot, AT_LENGTH));
    if length != CRC_COVERED_LEN {
        return Err(RecordError::BadLength { found: length });
    }
    let stored = u32::from_le_bytes(take(slot, AT_CRC));
    let computed = CRC32.checksum(slot.get(..AT_CRC).unwrap_or_default());
    if stored != computed {
        return Err(RecordError::Crc { stored, computed });
    }

    let [flags] = take(slot, AT_FLAGS);
    let [name_len] = take(slot, AT_NAME_LEN);
    let [reserved] = take(slot, AT_RESERVED);
    if flags & !FLAG_NAME_TRUNCATED != 0 {
        return Err(non_zero(AT_FLAGS, flags));
    }
    if reserved != 0 {
        return Err(non_zero(AT_RESERVED, reserved));
    }
    let [phase] = take(slot, AT_PHASE);
    let phase = Phase::from_byte(phase).ok_or(RecordError::UnknownPhase { found: phase })?;

    let name_area = slot.get(AT_NAME..AT_CRC).unwrap_or_default();
    let (name, padding) = name_area
        .split_at_checked(usize::from(name_len))
        .ok_or(RecordError::NameTooLong { found: name_len })?;
    if let Some((at, &found)) = padding.iter().enumerate().find(|&(_, &b)| b != 0) {
        return Err(non_zero(AT_NAME + usize::from(name_len) + at, found));
    }
    let name = core::str::from_utf8(name).map_err(|_| RecordError::BadName)?;

    let len = u32::from_le_bytes(take(slot, AT_IMAGE_LEN));
    let offset = u32::from_le_bytes(take(slot, AT_ACKED));
    if offset > len {
        return Err(RecordError::OffsetBeyondImage { offset, len });
    }
    let [transfers] = take(slot, AT_TRANSFERS);
    let [sessions] = take(slot, AT_SESSIONS);
    let [verifications] = take(slot, AT_VERIFICATIONS);
    let cp = Checkpoint {
        image: ImageId::from_parts(
            name,
            len,
            u32::from_le_bytes(take(slot, AT_IMAGE_CRC)),
            flags & FLAG_NAME_TRUNCATED != 0,
        ),
        phase,
        acked_offset: offset,
        block_size: u16::from_le_bytes(take(slot, AT_BLOCK)),
        attempts: Attempts {
            transfers,
            sessions,
            verifications,
        },
    };
    Ok((u32::from_le_bytes(take(slot, AT_SEQ)), cp))
}

fn non_zero(offset: usize, found: u8) -> RecordError {
    RecordError::NonZeroReserved {
        // Offsets inside a 512-byte slot fit a u16.
        offset: u16::try_from(offset).unwrap_or(u16::MAX),
        found,
    }
}

/// Copies `bytes` to `out[at..]`. Offsets are the layout constants above, all inside the slot.
fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = at
        .checked_add(bytes.len())
        .and_then(|end| out.get_mut(at..end))
    {
        dst.copy_from_slice(bytes);
    }
}

/// `N` bytes at `at`. Offsets are the layout constants above, all inside the slot.
fn take<const N: usize>(slot: &[u8], at: usize) -> [u8; N] {
    at.checked_add(N)
        .and_then(|end| slot.get(at..end))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            image: ImageId::new("NB1-41019.dup", 1000, 0xDEAD_BEEF),
            phase: Phase::Transferring,
            acked_offset: 500,
            block_size: 2016,
            attempts: Attempts {
                transfers: 1,
                sessions: 2,
                verifications: 0,
            },
        }
    }

    #[test]
    fn layout_constants_fit_the_slot() {
        assert_eq!(AT_NAME + MAX_NAME, AT_CRC);
        assert_eq!(RECORD_LEN, 164);
        const _: () = assert!(RECORD_LEN <= SLOT_LEN);
    }

    #[test]
    fn round_trip_and_zero_tail() {
        let mut slot = [0xAAu8; SLOT_LEN];
        encode(7, &sample(), &mut slot);
        assert!(slot[RECORD_LEN..].iter().all(|&b| b == 0));
        assert_eq!(decode(&slot), Ok((7, sample())));
    }

    #[test]
    fn tail_is_not_checked() {
        let mut slot = [0u8; SLOT_LEN];
        encode(7, &sample(), &mut slot);
        slot[RECORD_LEN..].fill(0x5A);
        assert_eq!(decode(&slot), Ok((7, sample())));
    }

    #[test]
    fn name_length_past_the_name_area_is_rejected_before_utf8() {
        let mut slot = [0u8; SLOT_LEN];
        encode(1, &sample(), &mut slot);
        slot[AT_NAME_LEN] = 129;
        let crc = CRC32.checksum(&slot[..AT_CRC]);
        slot[AT_CRC..AT_CRC + 4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&slot), Err(RecordError::NameTooLong { found: 129 }));
    }
}
