//! The demo SD card: a FAT32 card image with an MBR, as cards come from the shop, holding a
//! synthesized firmware package under a long file name and a synthesized loader ELF.
//!
//! No Sequans firmware is bundled: `modem_sim::synth` builds a structurally complete package (PACK of
//! bootrom, updater, fff and fs `UPGR` containers, every Fletcher-32 signature valid) that the
//! simulator's own verifier accepts.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use modem_sim::{Model, synth};
use sd_image::{Entry, Layout, build_image};

/// What the demo package installs; the built-in simulator runs `5.1.1.0 [38638]`.
pub const TARGET: &str = "5.1.2.0 [39529]";
/// The package's long name (its 8.3 alias on the card is `CATM1-~1.DUP`).
pub const PACKAGE_NAME: &str = "CATM1-39529_demo-upgrade-package.dup";
/// The loader ELF, needed only by a modem found in loader-wait mode (`--sim-mode loader-wait`).
pub const LOADER_NAME: &str = "updater.elf";
/// Code bytes in the package's `fff` component: about 300 KB of package.
const FFF_CODE_LEN: usize = 300_000;

/// The directory cargo builds into: `$CARGO_TARGET_DIR`, else `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// Builds `<target>/demo/sd.img` afresh and returns its path and an open handle to it.
///
/// The image is written under a temporary name, opened, then renamed into place: two runs at once
/// (parallel tests) each keep their own card, and the journal one run writes never lands on the card
/// another run reads.
pub fn build_card() -> io::Result<(PathBuf, File, u64)> {
    let dir = target_dir().join("demo");
    std::fs::create_dir_all(&dir)?;
    let package = synth::full_dup(Model::Sqn3330, TARGET, FFF_CODE_LEN);
    let loader = synth::loader_elf(TARGET, true);
    let entries = [
        Entry {
            path: PACKAGE_NAME,
            data: &package,
        },
        Entry {
            path: LOADER_NAME,
            data: &loader,
        },
    ];
    let layout = Layout::fat32_for((package.len() + loader.len()) as u64);
    let disk = build_image(&layout, &entries).map_err(io::Error::other)?;
    let path = dir.join("sd.img");
    let tmp = dir.join(format!("sd.img.{}.tmp", std::process::id()));
    disk.save(&tmp)?;
    let file = OpenOptions::new().read(true).write(true).open(&tmp);
    let file = match file.and_then(|f| std::fs::rename(&tmp, &path).map(|()| f)) {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok((path, file, layout.size_bytes))
}
