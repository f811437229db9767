//! What a vendor file name suggests about its content — reported as a hint, separately from what the
//! content proves.
//!
//! | example | family | version | build | diff base | step |
//! |---|---|---|---|---|---|
//! | `CATM1-38638.dup` | `CATM1` | – | 38638 | – | – |
//! | `NB1-41019-1.dup` | `NB1` | – | 41019 | – | 1 |
//! | `upgdiff_33080-to-39529.dup` | – | – | 39529 | 33080 | – |
//! | `GM02RB6Q_LR8.0.5.13-59577.dup` | `GM02RB6Q` | 8.0.5.13 | 59577 | – | – |
//! | `updater-37781.elf`, `mtools-61488.elf` | `updater`, `mtools` | – | 37781, 61488 | – | – |

/// Hints read from a file name. Every field is `None` when the name does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameHints<'a> {
    /// Leading product / family token (`CATM1`, `NB1`, `GM02RB6Q`, `updater`).
    pub family: Option<&'a str>,
    /// Dotted version after `LR` (`8.0.5.13`).
    pub version: Option<[u16; 4]>,
    /// Build number the file installs (`38638`, or the `to` side of a diff).
    pub build: Option<u32>,
    /// For `upgdiff_A-to-B`: the build `A` the modem must already run.
    pub diff_base: Option<u32>,
    /// Step of a multi-part upgrade (`-1.dup`, `-2.dup`).
    pub step: Option<u8>,
}

impl<'a> NameHints<'a> {
    /// Reads hints from a file name (a path's directories are ignored; the extension is dropped).
    pub fn parse(name: &'a str) -> Self {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let stem = match base.rsplit_once('.') {
            Some((stem, ext)) if is_image_extension(ext) => stem,
            _ => base,
        };
        let mut hints = Self::default();
        if let Some(rest) = strip_prefix_ignore_case(stem, "upgdiff_")
            && let Some((from, to)) = rest.split_once("-to-")
        {
            hints.diff_base = number(from, 4, 7);
            let to_build = to.split(['-', '_']).next().unwrap_or(to);
            hints.build = number(to_build, 4, 7);
            return hints;
        }
        let mut tokens = stem.split(['-', '_']).filter(|t| !t.is_empty());
        hints.family = tokens
            .next()
            .filter(|t| t.bytes().any(|b| b.is_ascii_alphabetic()));
        for token in stem.split(['-', '_']) {
            if let Some(v) = token
                .strip_prefix("LR")
                .or_else(|| token.strip_prefix("UE"))
                .and_then(dotted)
            {
                hints.version = Some(v);
            } else if let Some(build) = number(token, 4, 7) {
                hints.build = Some(build);
            } else if hints.build.is_some()
                && let Some(step) = number(token, 1, 1)
            {
                hints.step = u8::try_from(step).ok();
            }
        }
        hints
    }
}

fn is_image_extension(ext: &str) -> bool {
    ["dup", "elf", "bin"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// All-digit token of `min..=max` digits.
fn number(token: &str, min: usize, max: usize) -> Option<u32> {
    let ok = (min..=max).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_digit());
    if ok { token.parse().ok() } else { None }
}

/// `a.b.c.d` with 1..=5 digits each.
fn dotted(s: &str) -> Option<[u16; 4]> {
    let mut out = [0u16; 4];
    let mut parts = s.split('.');
    for slot in &mut out {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_names() {
        let h = NameHints::parse("CATM1-38638.dup");
        assert_eq!(
            (h.family, h.build, h.diff_base, h.version),
            (Some("CATM1"), Some(38638), None, None)
        );
        let h = NameHints::parse("/sd/NB1-41019-1.dup");
        assert_eq!(
            (h.family, h.build, h.step),
            (Some("NB1"), Some(41019), Some(1))
        );
        let h = NameHints::parse("upgdiff_33080-to-39529.dup");
        assert_eq!(
            (h.family, h.build, h.diff_base),
            (None, Some(39529), Some(33080))
        );
        let h = NameHints::parse("GM02RB6Q_LR8.0.5.13-59577.dup");
        assert_eq!(
            (h.family, h.version, h.build),
            (Some("GM02RB6Q"), Some([8, 0, 5, 13]), Some(59577))
        );
        let h = NameHints::parse("mtools-61488.elf");
        assert_eq!((h.family, h.build), (Some("mtools"), Some(61488)));
        let h = NameHints::parse("FIRMWARE.DUP");
        assert_eq!((h.family, h.build), (Some("FIRMWARE"), None));
        assert_eq!(NameHints::parse(""), NameHints::default());
        assert_eq!(NameHints::parse("12345").build, Some(12345));
    }
}
