//! Firmware versions as the modem reports them.
//!
//! A Sequans build is identified by a four-part dotted version plus a build number. It appears in
//! several spellings (spec §3.13, §7.4, §7.5):
//!
//! | where | spelling |
//! | --- | --- |
//! | ELF `.versionString` section | `5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46` |
//! | `ATI1` (LR line) | `LR5.1.1.0-38638` |
//! | `ATI1` (UE line) | `UE5.0.0.0` (major version only) |
//! | `AT+SHOWVER` style | `5.1.1.0 [38638]` |
//!
//! [`SimVersion`] holds the canonical parts so the simulator can print any of them.

use std::fmt;
use std::str::FromStr;

/// A firmware version: the dotted text and the build number.
///
/// The text is normalised to plain decimal parts (`"05.1.1.0"` is stored as `"5.1.1.0"`), so two
/// versions compare equal exactly when their numbers do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SimVersion {
    /// The four dotted numbers, e.g. `"5.1.1.0"`.
    pub text: String,
    /// The build number, e.g. `38638`.
    pub build: u32,
}

/// Why a version string could not be parsed by [`SimVersion::from_str`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseVersionError {
    input: String,
}

impl fmt::Display for ParseVersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a firmware version (expected LR5.1.1.0-38638, 5.1.1.0-38638 or 5.1.1.0 [38638]): {:?}",
            self.input
        )
    }
}

impl std::error::Error for ParseVersionError {}

/// Parses a run of ASCII decimal digits at the start of `s` (at least one, value fits `u32`);
/// returns the value and the rest.
fn take_number(s: &str) -> Option<(u32, &str)> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let (digits, rest) = s.split_at(end);
    // Leading zeros make a long run legal; strip them so a 40-digit "000..1" still parses.
    let trimmed = digits.trim_start_matches('0');
    let value = if trimmed.is_empty() {
        0
    } else {
        trimmed.parse::<u32>().ok()?
    };
    Some((value, rest))
}

/// Parses `a.b.c.d` at the start of `s`; returns the canonical text, the major number and the rest.
fn take_dotted(s: &str) -> Option<(String, &str)> {
    let mut parts = [0u32; 4];
    let mut rest = s;
    for (i, part) in parts.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let (n, r) = take_number(rest)?;
        *part = n;
        rest = r;
    }
    let text = format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[3]);
    Some((text, rest))
}

/// Parses `" [build]"` at the start of `s`; returns the build and the rest.
fn take_bracket_build(s: &str) -> Option<(u32, &str)> {
    let rest = s.strip_prefix(" [")?;
    let (build, rest) = take_number(rest)?;
    let rest = rest.strip_prefix(']')?;
    Some((build, rest))
}

impl SimVersion {
    /// Parses the contents of an ELF `.versionString` section, e.g.
    /// `"5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46"`: four dotted numbers, then
    /// `" [build]"`; anything after the closing bracket (builder, date) is ignored, because the
    /// modem only reports the version and the build.
    ///
    /// Returns `None` when the text does not start with that shape.
    pub fn parse_version_string(s: &str) -> Option<SimVersion> {
        let (text, rest) = take_dotted(s)?;
        let (build, _rest) = take_bracket_build(rest)?;
        Some(SimVersion { text, build })
    }

    /// Scans raw bytes for the first `d.d.d.d [n]` text, as found inside the bootrom blob (which has
    /// no ELF section table to look the version up in).
    pub fn find_in_bytes(bytes: &[u8]) -> Option<SimVersion> {
        // Only start where a number starts (not in the middle of one), and try a bounded window:
        // the longest accepted form is 4 × 10 digits + 3 dots + " [" + 10 digits + "]".
        const WINDOW: usize = 4 * 10 + 3 + 2 + 10 + 1;
        let mut previous_is_number_char = false;
        for (i, &b) in bytes.iter().enumerate() {
            if b.is_ascii_digit() && !previous_is_number_char {
                let end = i.saturating_add(WINDOW).min(bytes.len());
                let window = bytes.get(i..end).unwrap_or(&[]);
                // Cut the window at the first non-ASCII byte so it is valid UTF-8.
                let ascii_len = window
                    .iter()
                    .position(|c| !c.is_ascii())
                    .unwrap_or(window.len());
                if let Some(Ok(text)) = window.get(..ascii_len).map(std::str::from_utf8)
                    && let Some(v) = Self::parse_version_string(text)
                {
                    return Some(v);
                }
            }
            previous_is_number_char = b.is_ascii_digit() || b == b'.';
        }
        None
    }

    /// The major (first) number of the dotted version.
    pub fn major(&self) -> u32 {
        take_number(&self.text).map_or(0, |(n, _)| n)
    }

    /// The `ATI1` LR line, e.g. `"LR5.1.1.0-38638"`.
    pub fn lr(&self) -> String {
        format!("LR{}-{}", self.text, self.build)
    }

    /// The `ATI1` UE line, e.g. `"UE5.0.0.0"` (the modem reports only the major number there).
    pub fn ue(&self) -> String {
        format!("UE{}.0.0.0", self.major())
    }

    /// The bracketed form, e.g. `"5.1.1.0 [38638]"`.
    pub fn showver(&self) -> String {
        format!("{} [{}]", self.text, self.build)
    }
}

/// Free-function form of [`SimVersion::parse_version_string`], for callers that parse section text
/// without naming the type.
pub fn parse_version_string(s: &str) -> Option<SimVersion> {
    SimVersion::parse_version_string(s)
}

impl fmt::Display for SimVersion {
    /// The bracketed form, as [`SimVersion::showver`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.text, self.build)
    }
}

impl FromStr for SimVersion {
    type Err = ParseVersionError;

    /// Accepts exactly `LR5.1.1.0-38638`, `5.1.1.0-38638` or `5.1.1.0 [38638]` (surrounding
    /// whitespace ignored), the spellings a host or a test would use to name a build.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseVersionError {
            input: s.to_owned(),
        };
        let trimmed = s.trim();
        let body = trimmed.strip_prefix("LR").unwrap_or(trimmed);
        let (text, rest) = take_dotted(body).ok_or_else(err)?;
        let (build, rest) = if let Some(after_dash) = rest.strip_prefix('-') {
            take_number(after_dash).ok_or_else(err)?
        } else if body.len() == trimmed.len() {
            // The bracket form is only accepted without the "LR" prefix.
            take_bracket_build(rest).ok_or_else(err)?
        } else {
            return Err(err());
        };
        if !rest.is_empty() {
            return Err(err());
        }
        Ok(SimVersion { text, build })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str, build: u32) -> SimVersion {
        SimVersion {
            text: text.to_owned(),
            build,
        }
    }

    #[test]
    fn parses_version_string_section() {
        assert_eq!(
            SimVersion::parse_version_string(
                "5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46"
            ),
            Some(v("5.1.1.0", 38638))
        );
        assert_eq!(
            parse_version_string("8.2.1.0 [61488]"),
            Some(v("8.2.1.0", 61488))
        );
        assert_eq!(
            SimVersion::parse_version_string("05.1.1.0 [038638]x"),
            Some(v("5.1.1.0", 38638))
        );
        for bad in [
            "",
            "5.1.1 [38638]",
            "5.1.1.0",
            "5.1.1.0 38638",
            "5.1.1.0 [38638",
            "5.1.1.0 []",
            "5.1.1.0  [1]",
            " 5.1.1.0 [1]",
            "5.1.1.0 [99999999999]",
            "a.1.1.0 [1]",
            "5..1.1.0 [1]",
        ] {
            assert_eq!(SimVersion::parse_version_string(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn from_str_forms() {
        for s in [
            "LR5.1.1.0-38638",
            "5.1.1.0-38638",
            "5.1.1.0 [38638]",
            " LR5.1.1.0-38638\r\n",
        ] {
            assert_eq!(s.parse::<SimVersion>(), Ok(v("5.1.1.0", 38638)), "{s:?}");
        }
        for bad in [
            "LR5.1.1.0 [38638]",
            "5.1.1.0 [38638] by x",
            "5.1.1.0-",
            "5.1.1.0",
            "UE5.0.0.0",
            "LR5.1.1.0-38638x",
            "",
        ] {
            assert!(bad.parse::<SimVersion>().is_err(), "{bad:?}");
        }
        let e = "x".parse::<SimVersion>().unwrap_err();
        assert!(e.to_string().contains("\"x\""));
    }

    #[test]
    fn output_forms() {
        let version = v("5.1.1.0", 38638);
        assert_eq!(version.lr(), "LR5.1.1.0-38638");
        assert_eq!(version.ue(), "UE5.0.0.0");
        assert_eq!(version.showver(), "5.1.1.0 [38638]");
        assert_eq!(version.to_string(), "5.1.1.0 [38638]");
        assert_eq!(v("10.2.0.1", 7).ue(), "UE10.0.0.0");
        // Round trips through every accepted spelling.
        for s in [
            version.lr(),
            version.showver(),
            format!("{}-{}", version.text, version.build),
        ] {
            assert_eq!(s.parse::<SimVersion>(), Ok(version.clone()));
        }
    }

    #[test]
    fn finds_version_in_raw_bytes() {
        let mut blob = vec![0u8, 0xFF, b'1', b'.', b'2', 0x80];
        blob.extend_from_slice(b"xx 12.5.1.1.0 [1] nope ");
        blob.extend_from_slice(b"\xFE5.1.1.0 [38638]'\n more 6.0.0.0 [1]");
        // "12.5.1.1.0 [1]" is not a version (5 parts, and "5.1.1.0" inside it starts mid-number).
        assert_eq!(SimVersion::find_in_bytes(&blob), Some(v("5.1.1.0", 38638)));
        assert_eq!(SimVersion::find_in_bytes(b"no version here 1.2.3"), None);
        assert_eq!(SimVersion::find_in_bytes(b""), None);
        assert_eq!(
            SimVersion::find_in_bytes(b"9.9.9.9 [9]"),
            Some(v("9.9.9.9", 9))
        );
    }
}
