//! The modem's persistent state: what survives a reboot or a power loss.

use crate::version::SimVersion;

/// The verdict `AT+SMUPGRADE?` reports once programming is over; kept in flash, so a host that
/// reconnects (or a modem that rebooted) still reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeReport {
    /// Nothing programmed since power-on of a fresh modem.
    NoReport,
    /// The last package was verified and programmed.
    Success,
    /// The last package was refused or programming failed; the text says why.
    Fail(String),
}

/// One programming run, for the final report and test assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRecord {
    /// Component names in stream order (`bootrom`, `updater`, `fff`, `pxl`, `fs`).
    pub components: Vec<String>,
    /// Firmware version installed by this run, if it carried one.
    pub version: Option<SimVersion>,
    /// How it ended.
    pub result: UpgradeReport,
    /// Bytes of the package (after inflation).
    pub bytes: usize,
}

/// Persistent modem state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// Installed application firmware; `None` once programming was interrupted (the modem then boots
    /// into the FFH bootloader and needs a loader ELF).
    pub firmware: Option<SimVersion>,
    /// Installed bootloader (shown by `AT!="showver"`).
    pub bootloader: SimVersion,
    /// Installed updater, if known.
    pub updater: Option<SimVersion>,
    /// `AT+SMSWBOOT` target: 0 FFH, 1 FFF (application), 2 updater, 3 recovery/upgrade.
    pub boot_target: u8,
    /// What `AT+SMUPGRADE?` reports when nothing is programming.
    pub report: UpgradeReport,
    /// A package stored with `AT+SMSTPU` (no argument), waiting for `AT+SMUPGRADE`.
    pub stored_package: Option<Vec<u8>>,
    /// Every programming run, oldest first.
    pub history: Vec<ProgramRecord>,
    /// Power losses survived.
    pub power_losses: u32,
}

impl Flash {
    /// The boot target's name as `AT+SMSWBOOT?` prints it.
    pub fn boot_target_name(&self) -> &'static str {
        match self.boot_target {
            0 => "FFH",
            1 => "FFF",
            2 => "UPDATER",
            _ => "RECOVERY",
        }
    }
}
