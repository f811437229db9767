#![doc = include_str!("../../docs/image-format.md")]

mod checksum;
mod elf;
mod inspect;
mod names;
mod problem;
mod read;
mod types;

pub use checksum::{CRC32, Crc32, Fletcher32, WordOrder};
pub use inspect::{MAX_CONTAINERS, MAX_PROBLEMS, Report, inspect, inspect_bytes, inspect_into};
pub use names::NameHints;
pub use problem::{ContainerRef, Problem, ProblemKind};
pub use types::{
    Component, Container, Description, ElfInfo, FirmwareVersion, FlashContent, FlashImage,
    ImageKind, Magic, Payload, Signature, SignatureStatus, SignatureType, TargetVersion,
};
