//! Real FAT SD-card images for `modem-upgrade`'s tests, demo and `cargo xtask sd-image`.
//!
//! The library reads firmware files (`CATM1-38638.dup`, `updater-37781.elf`, ...) from SD cards
//! through `embedded-sdmmc` 0.10, which only opens an **MBR** card whose partition holds **FAT16 or
//! FAT32** (no superfloppy, no GPT, no FAT12, no exFAT). Tests therefore need card images that are
//! laid out exactly like a card from a shop, and also the awkward ones the library must refuse.
//! This crate makes them two ways:
//!
//! - [`build`] / [`build_image`]: pure Rust (the `fatfs` crate for the file system, our own code for
//!   the partition table), hermetic and byte-for-byte reproducible; [`SparseDisk`] keeps only the
//!   non-zero 512-byte blocks, so a 258 MiB card holding a 7 MB file costs about 7 MB of RAM.
//! - [`linux_tools::build`]: the same card made by `sfdisk`, `mkfs.fat` and `mtools`, the tools a
//!   person would use, so the tests do not only check `fatfs` against itself.
//!
//! [`list`] reads any such card back (partition, FAT facts, every file with its long name and size).
//!
//! # Which FAT type a volume is
//!
//! FAT12, FAT16 and FAT32 are not told apart by a label but by the **number of clusters** (Microsoft's
//! FAT specification; `fatfs` and `embedded-sdmmc` both follow it): fewer than 4,085 is FAT12, fewer
//! than 65,525 is FAT16, anything else is FAT32. A [`Layout`] is therefore checked before anything is
//! written ([`Layout::geometry`]): asking for FAT32 on a volume that would have fewer than 65,525
//! clusters is refused with the numbers, rather than producing a card that `embedded-sdmmc` would
//! read as FAT16.
//!
//! # Example
//!
//! ```
//! use sd_image::{Entry, Layout, build_image, list};
//!
//! let data = vec![0x5A; 3000];
//! let entries = [Entry { path: "FW/CATM1-38638.dup", data: &data }];
//! let mut disk = build_image(&Layout::fat32_small(), &entries)?;
//! let listing = list(&mut disk)?;
//! assert_eq!(listing.files[0].path, "FW/CATM1-38638.dup");
//! assert_eq!(listing.files[0].size, 3000);
//! # Ok::<(), sd_image::BuildError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod bpb;
mod build;
mod error;
mod fixup;
mod layout;
pub mod linux_tools;
mod list;
mod slice;
mod sparse;
mod table;

pub use build::{Entry, build, build_image};
pub use error::BuildError;
pub use layout::{FAT32_FOR_EXTRA_BYTES, FAT32_FOR_MIN_BYTES, Fat, Geometry, Layout, Table};
pub use list::{ListedFile, Listing, list};
pub use sparse::SparseDisk;
