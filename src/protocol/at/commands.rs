//! The typed commands an upgrade sends, each with the reply it expects and its timing policy.
//!
//! | Type | Sends | Reply read | Response | Timeout | Attempts |
//! | --- | --- | --- | --- | --- | --- |
//! | [`Attention`] | `AT` | `OK` | `()` | 1 s | 3 |
//! | [`AttentionWithin`] | `AT` | `OK` | `()` | caller's | 1 |
//! | [`EchoOff`] | `ATE0` | `OK` | `()` | 2 s | 2 |
//! | [`QueryBootMode`] | `AT+SMOD?` | `2` / `OK` | [`BootMode`] | 2 s | 3 |
//! | [`QueryUpgrade`] | `AT+SMUPGRADE?` | `+SMUPGRADE: "success"` / `OK` | [`UpgradeStatus`] | 5 s | 2 |
//! | [`Identify`] | `ATI1` | `UE5.0.0.0d`, `LR5.1.1.0-38638` / `OK` | [`Identity`] | 5 s | 2 |
//! | [`ShowVersion`] | `AT!="showver"` | the version table / `OK` | [`VersionTable`] | 5 s | 2 |
//! | [`SelectBoot`] | `AT+SMSWBOOT=3,1` | `OK` (then a reboot if `,1`) | `()` | 5 s | 1 |
//! | [`QueryBootSelection`] | `AT+SMSWBOOT?` | `+SMSWBOOT: 3,"RECOVERY"` / `OK` | `String<48>` | 5 s | 2 |
//! | [`StartStp`] | `AT+SMSTPU="ON_THE_FLY"` / `AT+SMSTPU` | `OK`, then STP | `()` | 5 s | 1 |
//! | [`LoaderStp`] | `AT+STP` + LF | `OK`, then STP | `()` | 2 s | 1 |
//! | [`SetBaud`] | `AT+IPR=921600` | `OK`, then the new rate | `()` | 2 s | 1 |
//! | [`SoftReset`] | `AT^RESET` | `OK`, `+SHUTDOWN`, reboot | `()` | 5 s | 1 |
//! | [`StartUpgrade`] | `AT+SMUPGRADE` | `OK` | `()` | 5 s | 1 |
//! | [`SetFunctionality`] | `AT+CFUN=4` | `OK` | `()` | 15 s | 2 |
//! | [`QueryImei`] | `AT+CGSN` | `354346099225475` / `OK` | `String<20>` | 2 s | 2 |
//!
//! Commands that change what the link carries (a reboot, STP mode, a new baud rate) are never resent
//! automatically: a resent `AT+SMSTPU` would land in the STP stream, a resent `AT+IPR` would go out at
//! the wrong rate. `+++` is not here: it is not an AT command (no terminator, no reply grammar), the
//! driver writes it raw with its guard time.

use super::boot_mode::BootMode;
use super::command::{AtCommand, CommandText, Found, Terminator, put, put_decimal};
use super::digest::FinalResult;
use super::error::{AtError, lossy};
use super::replies::{
    IMEI_CAPACITY, Identity, UE_CAPACITY, UpgradeStatus, VersionTable, parse_boot_mode, parse_imei,
    showver_row,
};
use crate::image::FirmwareVersion;

/// The part of an [`AtCommand`] impl shared by every command whose reply is only a final result: no
/// information lines, `()` on `OK`, [`AtError::Rejected`] otherwise.
macro_rules! unit_reply {
    () => {
        type Response = ();
        type Acc = ();

        fn on_info(&self, _acc: &mut (), _line: &[u8]) {}

        fn finish(&self, _acc: (), result: FinalResult) -> Result<(), AtError> {
            result.require_ok(Self::NAME)
        }
    };
}

/// Implements [`AtCommand`] for a unit command with a fixed text, no information lines and a `()`
/// response.
macro_rules! plain_command {
    ($ty:ty, $text:literal, timeout: $timeout:expr, attempts: $attempts:expr, reboots: $reboots:expr) => {
        impl AtCommand for $ty {
            unit_reply!();
            const NAME: &'static str = $text;

            fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
                put(out, $text.as_bytes(), Self::NAME)
            }

            fn timeout_ms(&self) -> u32 {
                $timeout
            }

            fn attempts(&self) -> u8 {
                $attempts
            }

            fn reboots(&self) -> bool {
                $reboots
            }
        }
    };
}

/// `AT`: is anyone listening at this baud rate? Expects `OK`.
///
/// Short timeout and three attempts: this is the probe used to find the modem (spec §3.2), where the
/// first `AT` after a reset or a baud change is often lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attention;
plain_command!(Attention, "AT", timeout: 1_000, attempts: 3, reboots: false);

/// `AT` with a caller-chosen deadline and a single attempt: the building block of baud probing, where
/// the caller decides how many tries each rate gets and how long a silent rate may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AttentionWithin {
    /// How long to wait for the answer, in milliseconds.
    pub timeout_ms: u32,
}

impl AtCommand for AttentionWithin {
    unit_reply!();
    const NAME: &'static str = "AT";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT", Self::NAME)
    }

    fn timeout_ms(&self) -> u32 {
        self.timeout_ms
    }
}

/// `ATE0`: echo off. Expects `OK` (the reply to this very command may still be preceded by its echo).
///
/// Needed before `AT+SMSTPU`, whose `OK` is the last thing before binary STP (spec §3.5 step 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EchoOff;
plain_command!(EchoOff, "ATE0", timeout: 2_000, attempts: 2, reboots: false);

/// `AT^RESET`: software reset. Expects `OK`; the modem then sends `+SHUTDOWN` and reboots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftReset;
plain_command!(SoftReset, "AT^RESET", timeout: 5_000, attempts: 1, reboots: true);

/// `AT+SMUPGRADE`: program the package stored by a previous `AT+SMSTPU` (the "FFF" method,
/// spec §3.6). Expects `OK`; progress is then read with [`QueryUpgrade`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StartUpgrade;
plain_command!(StartUpgrade, "AT+SMUPGRADE", timeout: 5_000, attempts: 1, reboots: false);

/// `AT+SMOD?`: the current boot mode. Expects a bare number line, then `OK`:
///
/// ```text
/// 2
/// OK
/// ```
///
/// `+SMOD: 2` is accepted too. A number other than 0–4 is [`AtError::Unparsable`]. The FFH bootloader
/// (SMOD 0) needs a bare-LF terminator: use [`QueryBootMode::bootloader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueryBootMode {
    /// What ends the command on the wire.
    pub terminator: Terminator,
}

impl QueryBootMode {
    /// `AT+SMOD?\r\n`, for application firmware, the loader and the updater.
    pub const fn new() -> Self {
        Self {
            terminator: Terminator::CrLf,
        }
    }

    /// `AT+SMOD?\n`, for the FFH bootloader (it answers exactly `0\r\nOK\r\n`).
    pub const fn bootloader() -> Self {
        Self {
            terminator: Terminator::Lf,
        }
    }
}

impl AtCommand for QueryBootMode {
    type Response = BootMode;
    type Acc = Found<BootMode>;
    const NAME: &'static str = "AT+SMOD?";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT+SMOD?", Self::NAME)
    }

    fn terminator(&self) -> Terminator {
        self.terminator
    }

    fn attempts(&self) -> u8 {
        3
    }

    fn info_prefix(&self) -> Option<&'static [u8]> {
        Some(b"+SMOD:")
    }

    fn on_info(&self, acc: &mut Self::Acc, line: &[u8]) {
        acc.offer(parse_boot_mode(line), line);
    }

    fn finish(&self, acc: Self::Acc, result: FinalResult) -> Result<BootMode, AtError> {
        result.require_ok(Self::NAME)?;
        acc.into_result(Self::NAME, "a boot mode number 0-4")
    }
}

/// `AT+SMUPGRADE?`: the verdict on the last upgrade. Expects one `+SMUPGRADE:` line, then `OK`:
///
/// ```text
/// +SMUPGRADE: "fail","bad signature"
/// OK
/// ```
///
/// See [`UpgradeStatus::parse`] for how leniently the line is read. 5 s: the modem answers slowly
/// while it programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueryUpgrade;

impl AtCommand for QueryUpgrade {
    type Response = UpgradeStatus;
    type Acc = Found<UpgradeStatus>;
    const NAME: &'static str = "AT+SMUPGRADE?";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT+SMUPGRADE?", Self::NAME)
    }

    fn timeout_ms(&self) -> u32 {
        5_000
    }

    fn attempts(&self) -> u8 {
        2
    }

    fn info_prefix(&self) -> Option<&'static [u8]> {
        Some(b"+SMUPGRADE:")
    }

    fn on_info(&self, acc: &mut Self::Acc, line: &[u8]) {
        acc.offer(UpgradeStatus::parse(line), line);
    }

    /// A long failure reason: the status field (before the first comma) is whole, so the verdict is
    /// read from it and the reason is cut. Without a comma in the kept bytes the status itself may be
    /// cut: refused.
    fn on_truncated_info(&self, acc: &mut Self::Acc, prefix: &[u8]) -> bool {
        if !prefix.contains(&b',') {
            return false;
        }
        acc.offer(UpgradeStatus::parse(prefix), prefix);
        true
    }

    fn finish(&self, acc: Self::Acc, result: FinalResult) -> Result<UpgradeStatus, AtError> {
        result.require_ok(Self::NAME)?;
        acc.into_result(
            Self::NAME,
            "+SMUPGRADE: with success, fail, No report or on-going",
        )
    }
}

/// What [`Identify`] has read so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IdentityLines {
    /// The first `UE…` line.
    pub ue: Option<heapless::String<UE_CAPACITY>>,
    /// The first `LR…` line that parsed (or the first that did not).
    pub lr: Found<FirmwareVersion>,
}

/// `ATI1`: the firmware identity. Expects a `UE` line and an `LR` line, then `OK`:
///
/// ```text
/// UE5.0.0.0d
/// LR5.1.1.0-38638
/// OK
/// ```
///
/// Other lines are ignored. An `LR` line that does not parse is [`AtError::Unparsable`]; a reply with
/// neither line is [`AtError::MissingInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Identify;

impl AtCommand for Identify {
    type Response = Identity;
    type Acc = IdentityLines;
    const NAME: &'static str = "ATI1";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"ATI1", Self::NAME)
    }

    fn timeout_ms(&self) -> u32 {
        5_000
    }

    fn attempts(&self) -> u8 {
        2
    }

    fn on_info(&self, acc: &mut Self::Acc, line: &[u8]) {
        let head = line.get(..2).unwrap_or_default();
        if head.eq_ignore_ascii_case(b"UE") {
            if acc.ue.is_none() {
                acc.ue = Some(lossy(line));
            }
        } else if head.eq_ignore_ascii_case(b"LR") {
            acc.lr.offer(FirmwareVersion::parse_ati1_line(line), line);
        }
    }

    fn finish(&self, acc: Self::Acc, result: FinalResult) -> Result<Identity, AtError> {
        result.require_ok(Self::NAME)?;
        const EXPECTED: &str = "an LR line like LR5.1.1.0-38638";
        let version = match acc.lr {
            Found::Nothing if acc.ue.is_none() => {
                return Err(AtError::MissingInfo {
                    command: Self::NAME,
                    expected: "a UE or LR version line",
                });
            }
            Found::Nothing => None,
            lr => Some(lr.into_result(Self::NAME, EXPECTED)?),
        };
        Ok(Identity {
            version,
            ue: acc.ue.unwrap_or_default(),
        })
    }
}

/// What [`ShowVersion`] has read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VersionLines {
    /// The versions found so far.
    pub table: VersionTable,
    /// Whether a `Software` row was seen (even one without a version).
    pub software_row: bool,
    /// Whether a `Bootloader0` row was seen (even one without a version).
    pub bootloader0_row: bool,
}

/// `AT!="showver"`: the version table (see [`VersionTable`]). Expects the table lines, then `OK`.
///
/// Rows other than `Software` and `Bootloader0` are ignored; a row whose value is not a version gives
/// `None`. A reply with neither row is [`AtError::MissingInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShowVersion;

impl AtCommand for ShowVersion {
    type Response = VersionTable;
    type Acc = VersionLines;
    const NAME: &'static str = "AT!=\"showver\"";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT!=\"showver\"", Self::NAME)
    }

    fn timeout_ms(&self) -> u32 {
        5_000
    }

    fn attempts(&self) -> u8 {
        2
    }

    fn on_info(&self, acc: &mut Self::Acc, line: &[u8]) {
        let Some((key, value)) = showver_row(line) else {
            return;
        };
        if key.eq_ignore_ascii_case(b"Software") && !acc.software_row {
            acc.software_row = true;
            acc.table.software = FirmwareVersion::parse_showver(value);
        } else if key.eq_ignore_ascii_case(b"Bootloader0") && !acc.bootloader0_row {
            acc.bootloader0_row = true;
            acc.table.bootloader0 = FirmwareVersion::parse_showver(value);
        }
    }

    fn finish(&self, acc: Self::Acc, result: FinalResult) -> Result<VersionTable, AtError> {
        result.require_ok(Self::NAME)?;
        if !acc.software_row && !acc.bootloader0_row {
            return Err(AtError::MissingInfo {
                command: Self::NAME,
                expected: "a version table with Software and Bootloader0 rows",
            });
        }
        Ok(acc.table)
    }
}

/// `AT+SMSWBOOT=<target>,<reset>`: select the boot target (spec §2.2). Expects `OK`.
///
/// With `reset: true` the modem reboots right after its `OK` (it may be lost): confirm with
/// `AT+SMOD?`. With `reset: false` only the selection is stored; send [`SoftReset`] next. Targets:
/// see [`BootMode::boot_target`]. Never resent automatically: a second reboot would race the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SelectBoot {
    /// 0 FFH bootloader, 1 application, 2 updater, 3 upgrade mode.
    pub target: u8,
    /// Reboot now (`,1`) or only store the selection (`,0`).
    pub reset: bool,
}

impl AtCommand for SelectBoot {
    unit_reply!();
    const NAME: &'static str = "AT+SMSWBOOT";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT+SMSWBOOT=", Self::NAME)?;
        put_decimal(out, u32::from(self.target), Self::NAME)?;
        put(out, if self.reset { b",1" } else { b",0" }, Self::NAME)
    }

    fn timeout_ms(&self) -> u32 {
        5_000
    }

    fn reboots(&self) -> bool {
        self.reset
    }
}

/// How many characters of the `AT+SMSWBOOT?` line [`QueryBootSelection`] keeps.
pub const BOOT_SELECTION_CAPACITY: usize = 48;

/// `AT+SMSWBOOT?`: the stored boot selection. Expects one line, then `OK`, e.g.
/// `+SMSWBOOT: 3,"RECOVERY"`.
///
/// The exact format is not public (spec §12; only the words `RECOVERY`/`FFH`/`FFF` are known), so the
/// response is the first information line, raw (lossy, cut at 48 characters); read it with
/// [`boot_selection_mode`](super::boot_selection_mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueryBootSelection;

impl AtCommand for QueryBootSelection {
    type Response = heapless::String<BOOT_SELECTION_CAPACITY>;
    type Acc = Found<heapless::String<BOOT_SELECTION_CAPACITY>>;
    const NAME: &'static str = "AT+SMSWBOOT?";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT+SMSWBOOT?", Self::NAME)
    }

    fn timeout_ms(&self) -> u32 {
        5_000
    }

    fn attempts(&self) -> u8 {
        2
    }

    fn info_prefix(&self) -> Option<&'static [u8]> {
        Some(b"+SMSWBOOT:")
    }

    fn on_info(&self, acc: &mut Self::Acc, line: &[u8]) {
        acc.offer(Some(lossy(line)), line);
    }

    fn finish(&self, acc: Self::Acc, result: FinalResult) -> Result<Self::Response, AtError> {
        result.require_ok(Self::NAME)?;
        acc.into_result(Self::NAME, "a +SMSWBOOT: line")
    }
}

/// `AT+SMSTPU="ON_THE_FLY"` (program while receiving; SMOD 1 or 4) or `AT+SMSTPU` (store for
/// [`StartUpgrade`]; SMOD 2). Expects `OK`, after which the link carries STP.
///
/// Echo must be off: the `OK` is the last AT text before binary STP frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StartStp {
    /// `true`: `AT+SMSTPU="ON_THE_FLY"`; `false`: `AT+SMSTPU`.
    pub on_the_fly: bool,
}

impl AtCommand for StartStp {
    unit_reply!();
    const NAME: &'static str = "AT+SMSTPU";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        let text: &[u8] = if self.on_the_fly {
            b"AT+SMSTPU=\"ON_THE_FLY\""
        } else {
            b"AT+SMSTPU"
        };
        put(out, text, Self::NAME)
    }

    fn timeout_ms(&self) -> u32 {
        5_000
    }
}

/// `AT+STP`, LF-terminated: ask the FFH bootloader (SMOD 0) to receive a loader ELF over STP.
/// Expects exactly `OK\r\n`, after which the link carries STP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoaderStp;

impl AtCommand for LoaderStp {
    unit_reply!();
    const NAME: &'static str = "AT+STP";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT+STP", Self::NAME)
    }

    fn terminator(&self) -> Terminator {
        Terminator::Lf
    }
}

/// `AT+IPR=<baud>`: set the modem's UART rate. Expects `OK` at the old rate; the modem listens at the
/// new rate after it.
///
/// Pycom sends it LF-terminated to the FFH bootloader after probing at 115200 (spec §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SetBaud {
    /// The new rate, e.g. 921600.
    pub baud: u32,
    /// What ends the command: [`Terminator::Lf`] for the FFH bootloader.
    pub terminator: Terminator,
}

impl SetBaud {
    /// `AT+IPR=<baud>\r\n`, for application firmware.
    pub const fn new(baud: u32) -> Self {
        Self {
            baud,
            terminator: Terminator::CrLf,
        }
    }

    /// `AT+IPR=<baud>\n`, for the FFH bootloader.
    pub const fn bootloader(baud: u32) -> Self {
        Self {
            baud,
            terminator: Terminator::Lf,
        }
    }
}

impl AtCommand for SetBaud {
    unit_reply!();
    const NAME: &'static str = "AT+IPR";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT+IPR=", Self::NAME)?;
        put_decimal(out, self.baud, Self::NAME)
    }

    fn terminator(&self) -> Terminator {
        self.terminator
    }
}

/// `AT+CFUN=<fun>`: set the functionality level (Pycom sends `AT+CFUN=4`, radio off, before switching
/// mode; Microchip `AT+CFUN=5`). Expects `OK`.
///
/// 15 s: detaching from the network can take several seconds on a real modem; idempotent, so one
/// resend is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SetFunctionality(pub u8);

impl AtCommand for SetFunctionality {
    unit_reply!();
    const NAME: &'static str = "AT+CFUN";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT+CFUN=", Self::NAME)?;
        put_decimal(out, u32::from(self.0), Self::NAME)
    }

    fn timeout_ms(&self) -> u32 {
        15_000
    }

    fn attempts(&self) -> u8 {
        2
    }
}

/// `AT+CGSN`: the IMEI. Expects one line of 14–17 digits (`354346099225475`), then `OK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueryImei;

impl AtCommand for QueryImei {
    type Response = heapless::String<IMEI_CAPACITY>;
    type Acc = Found<heapless::String<IMEI_CAPACITY>>;
    const NAME: &'static str = "AT+CGSN";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, b"AT+CGSN", Self::NAME)
    }

    fn attempts(&self) -> u8 {
        2
    }

    fn info_prefix(&self) -> Option<&'static [u8]> {
        Some(b"+CGSN:")
    }

    fn on_info(&self, acc: &mut Self::Acc, line: &[u8]) {
        acc.offer(parse_imei(line), line);
    }

    fn finish(&self, acc: Self::Acc, result: FinalResult) -> Result<Self::Response, AtError> {
        result.require_ok(Self::NAME)?;
        acc.into_result(Self::NAME, "an IMEI of 14-17 digits")
    }
}
