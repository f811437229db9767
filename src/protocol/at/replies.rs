//! Typed responses and the pure functions that read them out of information lines.
//!
//! Everything here takes one trimmed line and returns `Option`: the commands in
//! [`commands`](super::commands) decide whether a `None` is an error.

use super::boot_mode::BootMode;
use super::digest::strip_prefix_ci;
use super::error::lossy;
use crate::image::FirmwareVersion;
use core::fmt;

/// How many characters of a failure reason [`UpgradeStatus::Failed`] keeps.
pub const REASON_CAPACITY: usize = 64;

/// The modem's verdict on the last upgrade, from `AT+SMUPGRADE?`.
///
/// Only the words `success`, `fail`, `No report` and `on-going` are known from public sources
/// (spec §3.10, §12); quotes and the reason field are the simulator's guess. Parsing is therefore
/// lenient about quotes, case and spacing, but conservative about success: a status field that
/// mentions `fail` anywhere is a failure, and `success` only counts as a word of its own (so
/// `unsuccessful` is not a success).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UpgradeStatus {
    /// `No report`: no upgrade has been run (or its report was cleared).
    NoReport,
    /// `on-going`: the modem is still programming; ask again later.
    OnGoing,
    /// `success`: the package was programmed.
    Success,
    /// `fail`: the package was refused or programming failed.
    Failed {
        /// The reason text after the status, if the modem gave one (quotes stripped, lossy, cut at
        /// 64 characters); empty otherwise.
        reason: heapless::String<REASON_CAPACITY>,
    },
}

impl UpgradeStatus {
    /// Reads a `+SMUPGRADE:` line (the prefix is optional): `+SMUPGRADE: "success"`,
    /// `+SMUPGRADE: "fail","bad signature"`, `+SMUPGRADE: No report`, …
    ///
    /// The status is the text before the first comma; the reason is the text after it. `None` when
    /// the status names none of the known words.
    pub fn parse(line: &[u8]) -> Option<Self> {
        let body = strip_prefix_ci(line, b"+SMUPGRADE:").unwrap_or(line);
        let (status, reason) = match body.iter().position(|&b| b == b',') {
            Some(comma) => (
                body.get(..comma).unwrap_or_default(),
                body.get(comma.saturating_add(1)..).unwrap_or_default(),
            ),
            None => (body, &b""[..]),
        };
        if contains_ci(status, b"fail") {
            return Some(Self::Failed {
                reason: lossy(trim_quoted(reason)),
            });
        }
        if contains_word_start_ci(status, b"success") {
            return Some(Self::Success);
        }
        if contains_ci(status, b"no report") {
            return Some(Self::NoReport);
        }
        if contains_ci(status, b"on-going") || contains_ci(status, b"ongoing") {
            return Some(Self::OnGoing);
        }
        None
    }

    /// `true` for the verdicts that end polling: success or failure.
    pub const fn is_final(&self) -> bool {
        matches!(self, Self::Success | Self::Failed { .. })
    }
}

impl fmt::Display for UpgradeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoReport => f.write_str("no report"),
            Self::OnGoing => f.write_str("on-going"),
            Self::Success => f.write_str("success"),
            Self::Failed { reason } if reason.is_empty() => f.write_str("fail"),
            Self::Failed { reason } => write!(f, "fail ({reason})"),
        }
    }
}

/// How many characters of the `UE` line [`Identity`] keeps.
pub const UE_CAPACITY: usize = 24;

/// The firmware identity from `ATI1`.
///
/// | Line | SQN3330 | GM02S |
/// | --- | --- | --- |
/// | `UE…` | `UE5.0.0.0d` | `UE8.0.5.13` |
/// | `LR…` | `LR5.1.1.0-38638` | `LR8.0.5.13-59577` |
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Identity {
    /// From the `LR` line: the numbers and the build (`5.1.1.0 [38638]`); `None` if there was none.
    pub version: Option<FirmwareVersion>,
    /// The `UE` line as sent (`UE5.0.0.0d`), lossy, cut at 24 characters; empty if there was none.
    pub ue: heapless::String<UE_CAPACITY>,
}

/// The rows of `AT!="showver"` the upgrade needs.
///
/// The table (spec §3.13; spacing varies, `*` marks the active bootloader slot):
///
/// ```text
/// SYSTEM VERSION
/// --------------
///   Bootloader0  : 5.1.1.0 [33080]
///   Bootloader1  : 5.1.1.0 [33080]
///   Bootloader2* : 5.1.1.0 [33080]
///   NV Info      : 1.1,0,0
///   Software     : 5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46
///   UE           : 5.0.0.0d
/// COMPONENTS
/// ----------
///   ZSP0         : 1.0.99-13604
/// ```
///
/// Pycom decides whether the bootrom must be refreshed from `Bootloader0` and `Software` (an old
/// bootloader has build 33080, spec §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VersionTable {
    /// The `Software` row; `None` if missing or not a version (`none` on a modem without firmware).
    pub software: Option<FirmwareVersion>,
    /// The `Bootloader0` row; `None` if missing or not a version.
    pub bootloader0: Option<FirmwareVersion>,
}

/// Splits a `showver` row into its key and value: `Bootloader2* : 5.1.1.0 [33080]` gives
/// `(b"Bootloader2", b"5.1.1.0 [33080]")`.
///
/// The key is the text before the first colon, spaces and the active-slot `*` stripped; the value is
/// the rest, spaces stripped (it may itself contain colons, as in a time of day). `None` for lines
/// without a colon or with an empty key.
pub fn showver_row(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (key, value) = line.split_at_checked(colon)?;
    let value = value.get(1..).unwrap_or_default();
    let key = trim_bytes(key, b" \t*");
    if key.is_empty() {
        return None;
    }
    Some((key, trim_bytes(value, b" \t")))
}

/// The boot target an `AT+SMSWBOOT?` line names, by the words Pycom looks for (spec §2.2):
/// `RECOVERY` → [`BootMode::Upgrade`], `FFH` → [`BootMode::LoaderWait`], `FFF` →
/// [`BootMode::Application`], `UPDATER` → [`BootMode::Updater`] (case-insensitive). When no word is
/// present, a leading target number (`+SMSWBOOT: 3`) is used instead.
pub fn boot_selection_mode(line: &[u8]) -> Option<BootMode> {
    const WORDS: [(&[u8], BootMode); 4] = [
        (b"RECOVERY", BootMode::Upgrade),
        (b"FFH", BootMode::LoaderWait),
        (b"FFF", BootMode::Application),
        (b"UPDATER", BootMode::Updater),
    ];
    if let Some(&(_, mode)) = WORDS.iter().find(|(word, _)| contains_ci(line, word)) {
        return Some(mode);
    }
    let body = trim_bytes(strip_prefix_ci(line, b"+SMSWBOOT:").unwrap_or(line), b" \t");
    let digits = body.iter().take_while(|b| b.is_ascii_digit()).count();
    match body.get(..digits) {
        Some(&[d]) => BootMode::from_boot_target(d.wrapping_sub(b'0')),
        _ => None,
    }
}

/// Reads an `AT+SMOD?` information line: a bare number (`2`), also accepted as `+SMOD: 2`. `None`
/// for anything else, including numbers no source documents.
pub fn parse_boot_mode(line: &[u8]) -> Option<BootMode> {
    let body = trim_bytes(strip_prefix_ci(line, b"+SMOD:").unwrap_or(line), b" \t");
    match body {
        &[d] if d.is_ascii_digit() => BootMode::from_smod(d.wrapping_sub(b'0')),
        _ => None,
    }
}

/// How many characters [`parse_imei`] keeps.
pub const IMEI_CAPACITY: usize = 20;

/// Reads an `AT+CGSN` information line: 14–17 digits (an IMEI is 15, an IMEISV 16), optionally as
/// `+CGSN: "…"`. `None` for anything else.
pub fn parse_imei(line: &[u8]) -> Option<heapless::String<IMEI_CAPACITY>> {
    let body = trim_quoted(strip_prefix_ci(line, b"+CGSN:").unwrap_or(line));
    if !(14..=17).contains(&body.len()) || !body.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(lossy(body))
}

/// Whether `needle` occurs in `hay`, ignoring ASCII case.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether `needle` occurs in `hay` (ignoring ASCII case) not preceded by a letter.
fn contains_word_start_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.windows(needle.len()).enumerate().any(|(i, w)| {
        w.eq_ignore_ascii_case(needle)
            && i.checked_sub(1)
                .and_then(|p| hay.get(p))
                .is_none_or(|b| !b.is_ascii_alphabetic())
    })
}

/// `text` without leading and trailing bytes from `strip`.
fn trim_bytes<'a>(text: &'a [u8], strip: &[u8]) -> &'a [u8] {
    let start = text
        .iter()
        .position(|b| !strip.contains(b))
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !strip.contains(b))
        .map_or(start, |i| i.saturating_add(1));
    text.get(start..end).unwrap_or_default()
}

/// `text` without surrounding spaces and double quotes.
fn trim_quoted(text: &[u8]) -> &[u8] {
    trim_bytes(text, b" \t\"")
}
