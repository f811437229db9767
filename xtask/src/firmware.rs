//! The example firmware (`examples/firmware`, thumbv7m-none-eabi): building it, and measuring the
//! library's footprint in it for `cargo xtask bench`.
//!
//! The firmware is its own workspace (a no_std binary must not share feature unification with the
//! root workspace's std dev-dependencies), so it is built with `cargo build` run in its directory,
//! where its `.cargo/config.toml` adds cortex-m-rt's linker script.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol};

use crate::cmd;

/// The firmware's target: Cortex-M3 (QEMU's lm3s6965evb).
pub const TARGET: &str = "thumbv7m-none-eabi";

/// The library's crate name as it appears in demangled symbol paths.
const LIBRARY_PATH: &str = "modem_upgrade::";
/// Sections loaded into flash (`.data` holds its initial values there too).
const FLASH_SECTIONS: &[&str] = &[".vector_table", ".text", ".rodata", ".data"];
/// Sections whose symbols are code or constants in flash.
const CODE_SECTIONS: &[&str] = &[".text", ".rodata"];
/// Sections whose symbols are statics in RAM.
const RAM_SECTIONS: &[&str] = &[".data", ".bss"];
/// `size_of` the upgrader and the link, kept in the ELF by `examples/firmware/src/main.rs`.
const UPGRADER_STATE_SYMBOL: &str = "UPGRADER_STATE_BYTES";
const LINK_STATE_SYMBOL: &str = "LINK_STATE_BYTES";

/// `examples/firmware` in the workspace.
pub fn dir() -> PathBuf {
    cmd::workspace_root().join("examples").join("firmware")
}

/// `cargo build --release` of the firmware, in its directory, for [`TARGET`].
///
/// `RUSTFLAGS` from the environment would replace the firmware's `.cargo/config.toml` rustflags
/// (and with them `-Tlink.x`), so it is removed for this build.
pub fn build_command(extra: &[&str]) -> Command {
    let mut command = cmd::cargo(["build", "--release", "--target", TARGET]);
    command
        .args(extra)
        .current_dir(dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    command
}

/// Builds the firmware (output captured) and returns its ELF, from cargo's JSON messages.
pub fn build_elf() -> Result<PathBuf, String> {
    let mut command = build_command(&["--message-format=json-render-diagnostics"]);
    eprintln!("(in examples/firmware)");
    cmd::built_executable(&mut command, "modem-upgrade-firmware")
}

/// What the firmware's ELF says about the library's footprint.
#[derive(Debug, Default)]
pub struct Footprint {
    /// Bytes in flash: `.vector_table + .text + .rodata + .data`.
    pub flash_total: u64,
    /// Of which `.text`.
    pub text: u64,
    /// Of which `.rodata`.
    pub rodata: u64,
    /// Sizes of the library's symbols in `.text` and `.rodata` (see [`is_library`]).
    pub library_flash: u64,
    /// Of which in `.text`.
    pub library_text: u64,
    /// Sizes of `.rodata` symbols without a Rust path (string literals, panic locations, switch
    /// tables: `.Lanon.*` and the like), attributed to nobody.
    pub rodata_unnamed: u64,
    /// Sizes of the library's symbols in `.data` and `.bss`.
    pub library_static_ram: u64,
    /// `.data + .bss` of the whole firmware.
    pub static_ram_total: u64,
    /// `size_of` the firmware's upgrader type.
    pub upgrader_state: u64,
    /// `size_of` the firmware's `Link`.
    pub link_state: u64,
}

/// The attribution rule: the demangled path (hash dropped), after any leading `<`, `&` and `mut `
/// of an impl or reference, starts with `modem_upgrade::`. So `modem_upgrade::upgrade::run::Run<..>
/// ::transfer` and `<modem_upgrade::upgrade::error::Error<..> as core::fmt::Display>::fmt` count,
/// `core::ptr::drop_in_place<modem_upgrade::..>` and `embedded_sdmmc::..<..>` do not, and neither
/// does library code that LTO inlined into a caller of another crate.
pub fn is_library(demangled: &str) -> bool {
    let mut rest = demangled;
    loop {
        let next = rest
            .strip_prefix('<')
            .or_else(|| rest.strip_prefix('&'))
            .or_else(|| rest.strip_prefix("mut "));
        match next {
            Some(r) => rest = r,
            None => return rest.starts_with(LIBRARY_PATH),
        }
    }
}

/// Reads the footprint from the firmware ELF at `path`.
pub fn measure(path: &Path) -> Result<Footprint, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = object::File::parse(&*data)
        .map_err(|e| format!("{} is not an object file: {e}", path.display()))?;
    let section_names: BTreeMap<usize, String> = file
        .sections()
        .filter_map(|s| Some((s.index().0, s.name().ok()?.to_owned())))
        .collect();
    let section_size = |name: &str| {
        file.section_by_name(name)
            .map_or(0, |section| section.size())
    };

    let mut footprint = Footprint {
        flash_total: FLASH_SECTIONS.iter().map(|s| section_size(s)).sum(),
        text: section_size(".text"),
        rodata: section_size(".rodata"),
        static_ram_total: RAM_SECTIONS.iter().map(|s| section_size(s)).sum(),
        ..Footprint::default()
    };

    // One entry per address (aliases share one): the symbol's section and whether any of its names
    // is the library's.
    let mut seen: BTreeMap<(usize, u64), (u64, bool, bool)> = BTreeMap::new();
    for symbol in file.symbols() {
        let (Some(index), Ok(name)) = (symbol.section_index(), symbol.name()) else {
            continue;
        };
        if symbol.size() == 0 {
            continue;
        }
        let demangled = format!("{:#}", rustc_demangle::demangle(name));
        let library = is_library(&demangled);
        // A Rust path has `::`; `.Lanon.*`, `str.*` and friends do not.
        let unnamed = !demangled.contains("::");
        // Thumb functions have bit 0 set in their address.
        let entry =
            seen.entry((index.0, symbol.address() & !1))
                .or_insert((symbol.size(), false, true));
        entry.1 |= library;
        entry.2 &= unnamed;
    }
    for ((index, _), (size, library, unnamed)) in seen {
        let Some(section) = section_names.get(&index).map(String::as_str) else {
            continue;
        };
        if CODE_SECTIONS.contains(&section) {
            if library {
                footprint.library_flash += size;
                if section == ".text" {
                    footprint.library_text += size;
                }
            } else if unnamed && section == ".rodata" {
                footprint.rodata_unnamed += size;
            }
        } else if RAM_SECTIONS.contains(&section) && library {
            footprint.library_static_ram += size;
        }
    }

    footprint.upgrader_state = usize_symbol(&file, UPGRADER_STATE_SYMBOL)?;
    footprint.link_state = usize_symbol(&file, LINK_STATE_SYMBOL)?;
    Ok(footprint)
}

/// The value of a `static NAME: usize` in the ELF (its bytes in the section that holds it).
fn usize_symbol(file: &object::File<'_>, name: &str) -> Result<u64, String> {
    let symbol = file
        .symbols()
        .find(|s| s.name() == Ok(name))
        .ok_or_else(|| format!("the firmware has no symbol `{name}`"))?;
    let section = symbol
        .section_index()
        .and_then(|index| file.section_by_index(index).ok())
        .ok_or_else(|| format!("`{name}` is not in a section"))?;
    let bytes = section
        .data()
        .map_err(|e| format!("cannot read the section of `{name}`: {e}"))?;
    let start = usize::try_from(symbol.address() - section.address())
        .map_err(|_| format!("`{name}` is out of range"))?;
    let len = usize::try_from(symbol.size()).unwrap_or(0);
    let raw = bytes
        .get(start..start + len)
        .ok_or_else(|| format!("`{name}` lies outside its section's data"))?;
    let mut value = [0u8; 8];
    match (len, file.is_little_endian()) {
        (4 | 8, true) => value[..len].copy_from_slice(raw),
        (4 | 8, false) => {
            value[..len].copy_from_slice(raw);
            value[..len].reverse();
        }
        _ => return Err(format!("`{name}` has {len} bytes, not a usize")),
    }
    Ok(u64::from_le_bytes(value))
}

/// `Ok(None)` (after a "skipped" line on stderr) when the target is not installed or the firmware
/// does not build here: the footprint is then simply not measured.
pub fn footprint_for_bench() -> Result<Option<Footprint>, String> {
    if !target_installed() {
        eprintln!(
            "skipped: firmware_library_flash_bytes, upgrader_static_ram_bytes (target {TARGET} \
             not installed; `rustup target add {TARGET}`)"
        );
        return Ok(None);
    }
    let elf = match build_elf() {
        Ok(elf) => elf,
        Err(e) => {
            eprintln!(
                "skipped: firmware_library_flash_bytes, upgrader_static_ram_bytes (the firmware \
                 does not build here: {e})"
            );
            return Ok(None);
        }
    };
    measure(&elf).map(Some)
}

/// Whether the toolchain has the core library for [`TARGET`] (from `rustc --print sysroot`, which
/// works with and without rustup).
pub fn target_installed() -> bool {
    let program = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(output) = cmd::tool(program, ["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&output.stdout);
    output.status.success()
        && Path::new(sysroot.trim())
            .join("lib/rustlib")
            .join(TARGET)
            .join("lib")
            .is_dir()
}

#[cfg(test)]
mod tests {
    use super::is_library;

    #[test]
    fn attribution_rule() {
        assert!(is_library(
            "modem_upgrade::upgrade::run::Upgrader<U,C,S,L,J,O>::run"
        ));
        assert!(is_library(
            "<modem_upgrade::upgrade::error::Error<UE,SE,JE> as core::fmt::Display>::fmt"
        ));
        assert!(is_library(
            "<&modem_upgrade::image::types::FirmwareVersion as core::fmt::Display>::fmt"
        ));
        assert!(is_library(
            "<&mut modem_upgrade::transport::link::Link<U,C> as x::Y>::z"
        ));
        assert!(!is_library("modem_upgrade_firmware::board::init_card"));
        assert!(!is_library(
            "core::ptr::drop_in_place<modem_upgrade::storage::sdmmc::Error<E>>"
        ));
        assert!(!is_library(
            "<embedded_sdmmc::Error<E> as core::fmt::Debug>::fmt"
        ));
        assert!(!is_library(".Lanon.5d0f44d73a88520e1bdba43.12"));
    }
}
