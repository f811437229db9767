//! What a package installs, and the rules that refuse it before the modem is changed: pure
//! functions of the image report, the file name and what the modem said.
//!
//! | modem | package | result |
//! |---|---|---|
//! | loader-wait (`AT+SMOD?` 0), no loader ELF given | any | refused: [`Refusal::LoaderNeeded`] |
//! | loader-wait or loader running (0, 1) | diff | refused: [`Refusal::DiffWithoutFirmware`] (the modem's firmware is damaged; a diff needs it) |
//! | runs version V | diff from base B, B ≠ V's build | refused: [`Refusal::DiffBaseMismatch`], even with `force` |
//! | runs version V | diff whose base is unknown | refused unless `force`: [`Refusal::DiffBaseUnknown`] |
//! | runs version V | full, target T < V | refused unless `force`: [`Refusal::Downgrade`] |
//! | runs version V | T = V (full or diff) | nothing to refuse: already current unless `force` (decided by the journal reconciliation) |
//! | upgrade mode (4), version not readable | any | accepted: the modem verifies the base itself |
//!
//! A package is a diff when its `fff` component carries a `DIFF` payload instead of a flash image, or
//! when its name says so (`upgdiff_<base>-to-<target>.dup`). The diff format itself is not public, so
//! the base build comes from the file name (sequans-protocol.md §7.3, user-needs.md row 4: "make sure
//! the first 5 numbers match").

use core::fmt;

use crate::image::{FirmwareVersion, ImageKind, Magic, NameHints, Payload, Report};
use crate::protocol::at::BootMode;

/// What a package installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Target {
    /// The full version, when the package proves it (the `fff` ELF's `.versionString`).
    pub version: Option<FirmwareVersion>,
    /// The build number the modem must report afterwards.
    pub build: u32,
    /// A diff package: the build it applies on top of, when the name says (`upgdiff_33080-to-…`).
    pub diff_base: Option<u32>,
    /// The package is a diff (its content or its name says so).
    pub is_diff: bool,
}

impl Target {
    /// Whether the modem running `installed` runs this target: same build, and same numbers when the
    /// package states them.
    pub fn is_installed(&self, installed: &FirmwareVersion) -> bool {
        installed.build == self.build && self.version.is_none_or(|v| v.numbers == installed.numbers)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{v}"),
            None => write!(f, "build {}", self.build),
        }
    }
}

/// Why a validated file cannot be used as the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Unusable {
    /// Not a firmware package (a loader ELF, a bare bootrom package, or nothing known).
    NotAPackage {
        /// What the file is.
        kind: ImageKind,
    },
    /// A full package that does not state the version it installs: success could not be verified.
    NoTargetVersion,
    /// A diff package whose name does not say which build it installs.
    DiffTargetUnknown,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::NotAPackage { kind: ImageKind::Elf } => f.write_str(
                "the image is an ELF file (a loader such as updater.elf), not a firmware package; \
                 choose the .dup file as the image and give the ELF as the loader",
            ),
            Unusable::NotAPackage { kind } => write!(
                f,
                "the image is not a firmware package (found: {}; expected a .dup with a PACK or UPGR \
                 container); choose the .dup file from the vendor's firmware archive",
                kind.name()
            ),
            Unusable::NoTargetVersion => f.write_str(
                "the package does not state the firmware version it installs (no .versionString in \
                 its fff component), so the result could not be verified; use a complete vendor package",
            ),
            Unusable::DiffTargetUnknown => f.write_str(
                "the package is a diff but its name does not say which build it installs; keep the \
                 vendor's name upgdiff_<base>-to-<target>.dup",
            ),
        }
    }
}

/// What a package installs, from its (valid) report and its file name.
pub fn target_of(report: &Report, name: &str) -> Result<Target, Unusable> {
    if report.kind != ImageKind::Dup {
        return Err(Unusable::NotAPackage { kind: report.kind });
    }
    let hints = NameHints::parse(name);
    let diff_content = report
        .containers
        .iter()
        .any(|c| c.payload == Payload::Opaque(Magic(*b"DIFF")));
    let is_diff = diff_content || hints.diff_base.is_some();
    let version = report.target_version.map(|t| t.version);
    let build = match (version, is_diff) {
        (Some(v), _) => v.build,
        (None, true) => hints.build.ok_or(Unusable::DiffTargetUnknown)?,
        (None, false) => return Err(Unusable::NoTargetVersion),
    };
    Ok(Target {
        version,
        build,
        diff_base: if is_diff { hints.diff_base } else { None },
        is_diff,
    })
}

/// Why the upgrader refuses to start, having looked at the modem (nothing was changed on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refusal {
    /// Only the FFH bootloader answers, and no loader ELF was given.
    LoaderNeeded,
    /// A diff package for a modem whose firmware is damaged (loader-wait or loader mode).
    DiffWithoutFirmware {
        /// The mode found.
        mode: BootMode,
    },
    /// A diff package built for another base.
    DiffBaseMismatch {
        /// The build the package applies on top of.
        base: u32,
        /// The version the modem runs.
        installed: FirmwareVersion,
    },
    /// A diff package whose base build is unknown (refused unless forced).
    DiffBaseUnknown {
        /// The version the modem runs.
        installed: FirmwareVersion,
    },
    /// The package is older than the installed firmware (refused unless forced).
    Downgrade {
        /// The version the modem runs.
        installed: FirmwareVersion,
        /// What the package installs.
        target: Target,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::LoaderNeeded => f.write_str(
                "the modem is in loader-wait mode (AT+SMOD? = 0, what Pycom calls \"recovery mode\"): \
                 only its bootloader runs and it needs a loader ELF first; put updater.elf (SQN3330 / \
                 GM01Q) or mtools.elf (GM02S) from the same firmware archive on the card and give it as \
                 the loader (--loader NAME)",
            ),
            Refusal::DiffWithoutFirmware { mode } => write!(
                f,
                "the modem is in {mode}: its firmware is damaged or absent, and a diff package \
                 only applies on top of a working firmware; use the full .dup package of the same \
                 release"
            ),
            Refusal::DiffBaseMismatch { base, installed } => write!(
                f,
                "the diff package applies on top of build {base}, but the modem runs {installed}; use \
                 the diff from build {} or the full .dup package (--force does not override this: \
                 the modem would reject the package)",
                installed.build
            ),
            Refusal::DiffBaseUnknown { installed } => write!(
                f,
                "the package is a diff, but its name does not say which build it applies on top of \
                 (the modem runs {installed}); keep the vendor's name upgdiff_<base>-to-<target>.dup, \
                 or pass --force if you are sure it fits"
            ),
            Refusal::Downgrade { installed, target } => write!(
                f,
                "the package installs {target}, older than the installed {installed}; pass --force to \
                 downgrade on purpose"
            ),
        }
    }
}

/// The refusal rules of the module table. `installed` is `None` when the version could not be read.
pub fn check(
    target: &Target,
    mode: BootMode,
    installed: Option<FirmwareVersion>,
    have_loader: bool,
    force: bool,
) -> Result<(), Refusal> {
    if mode == BootMode::LoaderWait && !have_loader {
        return Err(Refusal::LoaderNeeded);
    }
    if target.is_diff && matches!(mode, BootMode::LoaderWait | BootMode::Loader) {
        return Err(Refusal::DiffWithoutFirmware { mode });
    }
    let Some(installed) = installed else {
        return Ok(());
    };
    if target.is_installed(&installed) {
        // Nothing to refuse: the journal reconciliation decides (already current, or a forced
        // reinstall of a full package).
        return Ok(());
    }
    if target.is_diff {
        return match target.diff_base {
            Some(base) if base != installed.build => {
                Err(Refusal::DiffBaseMismatch { base, installed })
            }
            None if !force => Err(Refusal::DiffBaseUnknown { installed }),
            _ => Ok(()),
        };
    }
    let older = match target.version {
        Some(v) => v < installed,
        None => target.build < installed.build,
    };
    if older && !force {
        return Err(Refusal::Downgrade {
            installed,
            target: *target,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(numbers: [u16; 4], build: u32) -> FirmwareVersion {
        FirmwareVersion { numbers, build }
    }

    fn full(numbers: [u16; 4], build: u32) -> Target {
        Target {
            version: Some(v(numbers, build)),
            build,
            diff_base: None,
            is_diff: false,
        }
    }

    fn diff(base: Option<u32>, build: u32) -> Target {
        Target {
            version: None,
            build,
            diff_base: base,
            is_diff: true,
        }
    }

    const APP: BootMode = BootMode::Application;

    #[test]
    fn loader_wait_needs_a_loader() {
        let t = full([5, 1, 1, 0], 38638);
        assert_eq!(
            check(&t, BootMode::LoaderWait, None, false, true),
            Err(Refusal::LoaderNeeded)
        );
        assert_eq!(check(&t, BootMode::LoaderWait, None, true, false), Ok(()));
    }

    #[test]
    fn a_diff_needs_working_firmware_and_its_base() {
        let installed = v([5, 1, 1, 0], 33080);
        assert_eq!(
            check(
                &diff(Some(33080), 39529),
                BootMode::Loader,
                None,
                true,
                true
            ),
            Err(Refusal::DiffWithoutFirmware {
                mode: BootMode::Loader
            })
        );
        assert_eq!(
            check(
                &diff(Some(33080), 39529),
                APP,
                Some(installed),
                false,
                false
            ),
            Ok(())
        );
        assert_eq!(
            check(&diff(Some(38638), 39529), APP, Some(installed), false, true),
            Err(Refusal::DiffBaseMismatch {
                base: 38638,
                installed
            })
        );
        assert_eq!(
            check(&diff(None, 39529), APP, Some(installed), false, false),
            Err(Refusal::DiffBaseUnknown { installed })
        );
        assert_eq!(
            check(&diff(None, 39529), APP, Some(installed), false, true),
            Ok(())
        );
    }

    #[test]
    fn downgrades_need_force() {
        let installed = v([5, 1, 1, 0], 38638);
        let older = full([5, 1, 0, 0], 37000);
        assert!(matches!(
            check(&older, APP, Some(installed), false, false),
            Err(Refusal::Downgrade { .. })
        ));
        assert_eq!(check(&older, APP, Some(installed), false, true), Ok(()));
        // NB1 5.2.1.0-37781 after CAT-M1 5.1.1.0-38638: a higher version despite a lower build.
        let nb1 = full([5, 2, 1, 0], 37781);
        assert_eq!(check(&nb1, APP, Some(installed), false, false), Ok(()));
        // Version unknown in upgrade mode: the modem decides.
        assert_eq!(check(&older, BootMode::Upgrade, None, false, false), Ok(()));
    }

    #[test]
    fn a_diff_already_installed_is_not_refused() {
        // The diff 38638 → 39529 run again on a modem that runs 39529 (e.g. after a host restart).
        let installed = v([5, 1, 2, 0], 39529);
        assert_eq!(
            check(
                &diff(Some(38638), 39529),
                APP,
                Some(installed),
                false,
                false
            ),
            Ok(())
        );
    }

    #[test]
    fn installed_means_same_build_and_numbers() {
        let t = full([5, 1, 1, 0], 38638);
        assert!(t.is_installed(&v([5, 1, 1, 0], 38638)));
        assert!(!t.is_installed(&v([5, 1, 2, 0], 38638)));
        assert!(!t.is_installed(&v([5, 1, 1, 0], 38639)));
        assert!(diff(Some(1), 39529).is_installed(&v([9, 9, 9, 9], 39529)));
    }
}
