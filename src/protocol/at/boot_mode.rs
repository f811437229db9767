//! The modem's boot modes, keyed on the number `AT+SMOD?` answers.

use core::fmt;

/// One vocabulary for modem states, keyed on the `AT+SMOD?` number.
///
/// The tools name the same states differently (spec §2.1), which is why the number, not a word, is the
/// key:
///
/// | `AT+SMOD?` | Variant | Walter (`modem.h`) | Pycom `sqnsupgrade` | What the host does next |
/// | --- | --- | --- | --- | --- |
/// | 0 | [`LoaderWait`](Self::LoaderWait) | `FFH_NO_MTOOLS` | "recovery mode" | push the loader ELF (`updater.elf` / `mtools.elf`) with `AT+STP` |
/// | 1 | [`Loader`](Self::Loader) | `FFH_MTOOLS_PRESENT` | "mTools mode" | push the `.dup` with `AT+SMSTPU="ON_THE_FLY"` |
/// | 2 | [`Application`](Self::Application) | `FFF` | "application mode" | normal entry: `AT+SMSWBOOT=3,1` |
/// | 3 | [`Updater`](Self::Updater) | `UPDATER` | not handled | – (never seen by a host as far as public sources tell) |
/// | 4 | [`Upgrade`](Self::Upgrade) | `RECOVERY` | "upgrade mode" | push the `.dup` with `AT+SMSTPU="ON_THE_FLY"` |
///
/// Note the clash: Pycom's "recovery" is 0, Walter's and Microchip's `RECOVERY` is 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum BootMode {
    /// 0: the FFH bootloader waits for a loader ELF from the host (answers only `AT`, `AT+SMOD?`,
    /// `AT+IPR`, `AT+STP`, at 115200 baud on SQN3330).
    LoaderWait = 0,
    /// 1: the loader ELF pushed by the host is running and accepts a `.dup`.
    Loader = 1,
    /// 2: the normal application firmware ("FFF", booted from flash).
    Application = 2,
    /// 3: the updater (only implied by Walter's `target = mode − 1` mapping).
    Updater = 3,
    /// 4: upgrade mode (Walter/Microchip `RECOVERY`): the updater waits for a `.dup`.
    Upgrade = 4,
}

impl BootMode {
    /// Every mode, in `AT+SMOD?` order.
    pub const ALL: [BootMode; 5] = [
        Self::LoaderWait,
        Self::Loader,
        Self::Application,
        Self::Updater,
        Self::Upgrade,
    ];

    /// The mode an `AT+SMOD?` number stands for; `None` for numbers no source documents.
    pub const fn from_smod(n: u8) -> Option<Self> {
        match n {
            0 => Some(Self::LoaderWait),
            1 => Some(Self::Loader),
            2 => Some(Self::Application),
            3 => Some(Self::Updater),
            4 => Some(Self::Upgrade),
            _ => None,
        }
    }

    /// The `AT+SMOD?` number.
    pub const fn smod(self) -> u8 {
        self as u8
    }

    /// A stable lower-case name for logs and reports: `loader-wait`, `loader`, `application`, `updater`,
    /// `upgrade`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::LoaderWait => "loader-wait",
            Self::Loader => "loader",
            Self::Application => "application",
            Self::Updater => "updater",
            Self::Upgrade => "upgrade",
        }
    }

    /// The `AT+SMSWBOOT` target that boots into this mode (mode m → m−1 for m ≥ 2; LoaderWait → 0), if
    /// any.
    ///
    /// [`Loader`](Self::Loader) has none: it is reached by pushing the loader ELF, not by a boot
    /// selection (spec §2.2).
    pub const fn boot_target(self) -> Option<u8> {
        match self {
            Self::LoaderWait => Some(0),
            Self::Loader => None,
            Self::Application => Some(1),
            Self::Updater => Some(2),
            Self::Upgrade => Some(3),
        }
    }

    /// The mode an `AT+SMSWBOOT` target boots into (the inverse of [`boot_target`](Self::boot_target)).
    pub const fn from_boot_target(target: u8) -> Option<Self> {
        match target {
            0 => Some(Self::LoaderWait),
            1 => Some(Self::Application),
            2 => Some(Self::Updater),
            3 => Some(Self::Upgrade),
            _ => None,
        }
    }
}

impl fmt::Display for BootMode {
    /// `application (SMOD 2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SMOD {})", self.name(), self.smod())
    }
}
