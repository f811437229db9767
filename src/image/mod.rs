//! The firmware image reader: validates Sequans `.dup` packages and loader ELFs completely before
//! anything touches a modem.
//!
//! Streaming and allocation-free: the structure is walked with small positional reads through an
//! [`ImageSource`](crate::storage::ImageSource), then **one** sequential pass over the file verifies
//! every signature and trailer at once (outer `PACK`, each `UPGR`, each `FFF!` trailer), so a 7 MB image
//! is read once and never held in RAM. Untrusted input never panics: every size is checked against its
//! enclosing area with overflow-free arithmetic, and every loop is bounded by the file length and
//! [`MAX_CONTAINERS`].
//!
//! ```
//! use modem_upgrade::image::{inspect, ImageKind};
//! use modem_upgrade::storage::MemImage;
//!
//! let mut scratch = [0u8; 512];
//! let report = inspect(&mut MemImage::new(b"not a firmware file"), &mut scratch).unwrap();
//! assert_eq!(report.kind, ImageKind::Unknown);
//! assert!(!report.is_valid());
//! println!("{}", report.problems[0]); // at 0x0: unknown magic note: expected PACK, UPGR or an ELF header …
//! ```
//!
//! # Formats (all CABA fields little-endian)
//!
//! ## CABA v3 container (`PACK`, `UPGR`) — every real file
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `PACK` or `UPGR` |
//! | 4 | 2 | header version = 3 |
//! | 6 | 2 | flags (meaning not public) |
//! | 8 | 4 | `size`: length of the data area |
//! | 12 | 2 | `sig_type`: 0 none, 1 Fletcher-32, 2 ECDSA-256, 3 RSA-SHA256, 4 CRC-32 |
//! | 14 | 2 | `sig_size`: 0, 4, (64), 256, 4 |
//! | 16 | 2 | `descr_size`, including the NUL |
//! | 18 | `descr_size` | description, NUL-terminated (`"Packed dup files"`, `"fff upgrade package"`, …) |
//! | 18 + `descr_size` | `size` | data |
//! | … | `sig_size` | signature over header + description + data |
//!
//! ## CABA v2 and v1 (format-complete; no real file is known to use them)
//!
//! | v2 offset | size | field | | v1 offset | size | field |
//! |---|---|---|---|---|---|---|
//! | 0 | 4 | magic | | 0 | 4 | magic |
//! | 4 | 2 | version = 2 | | 4 | 2 | version = 1 |
//! | 6 | 2 | flags | | 6 | 2 | flags |
//! | 8 | 4 | `size` | | 8 | 4 | `size` |
//! | 12 | 2 | `sig_type` | | 12 | 4 | Fletcher-32 of the data |
//! | 14 | 2 | `sig_size` | | 16 | 4 | Fletcher-32 of this header with this field zeroed |
//! | 16 | `size` | data, then the signature over header + data | | 20 | `size` | data (no trailer) |
//!
//! ## `.dup` layouts
//!
//! One outer `PACK` whose data is a concatenation of `UPGR` packages (CATM1-38638.dup, GM02S files), or
//! `UPGR` packages simply concatenated (NB1-37781.dup). Each `UPGR` data area starts with a `u32`
//! component type — see [`Component`].
//!
//! ## `FFF!` slim flash image (inside updater / fff / pxl packages, after the component word)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `FFF!` |
//! | 4 | 4 | 0 (version, inferred) |
//! | 8 | 4 | features; bit 0 = slim (40-byte header) |
//! | 12 | 16 | zeros (meaning not public) |
//! | 28 | 4 | payload length |
//! | 32 | 4 | zeros |
//! | 36 | 2 | trailer type (1 = Fletcher-32) |
//! | 38 | 2 | trailer size (4) |
//! | 40 | payload length | payload: an ELF, or an `IELF` wrapper |
//! | 40 + payload | 4 | trailer: Fletcher-32 over header + payload; big-endian words on SQN3330, little-endian on GM02S |
//!
//! The header must account for the package exactly: `4 + 40 + payload + trailer = size`.
//!
//! ## `IELF` wrapper
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `IELF` |
//! | 4 | 4 | offset of the ELF from the start of this header (16 when it follows directly) |
//! | 8 | 4 | length of the ELF |
//! | 12 | 4 | `ff ff ff ff` |
//!
//! Verified on the real files: in NB1-37781.dup the updater's ELF sits at offset 16 and is byte-identical
//! to `updater.elf`, while the fff's ELF sits at offset 4,041,128 behind raw flash data. The second word
//! is therefore an *offset*, not a header length.
//!
//! ELF checks are described in the `elf` module docs (ELF32, either byte order, Andes NDS32, every
//! table, segment and section inside its region; version from `.versionString`).

mod checksum;
mod elf;
mod inspect;
mod names;
mod problem;
mod read;
mod types;

pub use checksum::{CRC32, Crc32, Fletcher32, WordOrder};
pub use inspect::{MAX_CONTAINERS, MAX_PROBLEMS, Report, inspect};
pub use names::NameHints;
pub use problem::{ContainerRef, Problem, ProblemKind};
pub use types::{
    Component, Container, Description, ElfInfo, FirmwareVersion, FlashContent, FlashImage, ImageKind, Magic,
    Payload, Signature, SignatureStatus, SignatureType, TargetVersion,
};
