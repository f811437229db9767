//! The contents of `updater`, `fff` and `pxl` components: the `FFF!` slim flash header with its
//! trailer, the `IELF` wrapper, and the simulator's `DIFF` model.
//!
//! Offsets below are from the first byte after the UPGR's 4-byte component type word.
//!
//! `FFF!` slim header (40 bytes, little-endian; spec §7.3, fields checked here are the ones the
//! spec verified on every real package):
//!
//! | offset | size | field | check |
//! | --- | --- | --- | --- |
//! | 0 | 4 | magic | `FFF!` |
//! | 4 | 4 | header/format version (inferred) | not checked (0 in real files) |
//! | 8 | 4 | features | bit 0 (SLIM) set |
//! | 12 | 16 | four u32, unknown | not checked (0 in real files) |
//! | 28 | 4 | payload length | 4 + 40 + payload + 4 = UPGR data length |
//! | 32 | 4 | two u16, unknown | not checked (0 in real files) |
//! | 36 | 2 | signature type | 1 (Fletcher-32) |
//! | 38 | 2 | signature size | 4 |
//! | 40 | payload length | payload | ELF or `IELF` + ELF |
//! | 40 + payload | 4 | trailer | LE u32 Fletcher-32 over header + payload, word order per modem |
//!
//! The trailer's word order is big-endian on SQN3330 and little-endian on GM02S (spec §7.3); the
//! caller says which through [`PackageRules::trailer_order`](super::PackageRules).
//!
//! `IELF` wrapper (at the start of the payload; spec §7.4, corrected on the real files):
//!
//! | offset | size | field | check |
//! | --- | --- | --- | --- |
//! | 0 | 4 | magic | `IELF` |
//! | 4 | 4 | ELF offset from the start of the wrapper | ≥ 16 (16 for the updater; larger in NB1's fff, raw bytes in between) |
//! | 8 | 4 | ELF length | offset + length ≤ payload length (bytes may follow the ELF) |
//! | 12 | 4 | unknown (0xFFFFFFFF seen) | not checked |
//!
//! `DIFF` differential image (**simulator convention** — the real diff format is not public; only
//! the `DIFF` magic name is known, spec §7.3). Allowed only in the `fff` component, in place of the
//! `FFF!` header:
//!
//! | offset | size | field | check |
//! | --- | --- | --- | --- |
//! | 0 | 4 | magic | `DIFF` |
//! | 4 | 4 | base build (LE u32) | must equal the installed build |
//! | 8 | 32 | target version text, NUL-padded, e.g. `5.1.1.0 [39529]` | must parse |
//! | 40 | rest of the UPGR data | opaque delta bytes | not checked (no `FFF!` trailer) |

use super::bytes::{field, le_u16, le_u32, range_within, show_magic, until_nul};
use super::elf::check_elf;
use super::{ComponentKind, PackageRules, RejectReason, Rejection};
use crate::checksum::fletcher32;
use crate::version::SimVersion;

const FFF_MAGIC: &[u8] = b"FFF!";
const DIFF_MAGIC: &[u8] = b"DIFF";
const IELF_MAGIC: &[u8] = b"IELF";
const ELF_MAGIC: &[u8] = b"\x7fELF";
const FFF_HEADER_LEN: usize = 40;
const IELF_HEADER_LEN: usize = 16;
const DIFF_HEADER_LEN: usize = 40;
const DIFF_TEXT_LEN: usize = 32;
const FEATURE_SLIM: u32 = 1;

/// What a flash component turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FlashContent {
    /// A full image; the version from its ELF's `.versionString`, if any.
    Image { version: Option<SimVersion> },
    /// A `DIFF` image (fff only): base build and target version.
    Diff { base: u32, target: SimVersion },
}

/// Checks a flash component's body (`body` = UPGR data after the type word, which starts at
/// absolute stream offset `at`).
pub(crate) fn check_flash(
    body: &[u8],
    at: usize,
    kind: ComponentKind,
    rules: &PackageRules,
) -> Result<FlashContent, Rejection> {
    let name = kind.name();
    let header_error = |offset: usize, detail: String| {
        Rejection::new(
            RejectReason::BadFlashHeader,
            offset,
            format!("{name} component: {detail}"),
        )
    };
    let magic = field(body, 0, 4).unwrap_or(body);
    if magic == DIFF_MAGIC {
        if kind != ComponentKind::Firmware {
            return Err(header_error(
                at,
                "DIFF images are only allowed in the fff component".into(),
            ));
        }
        return check_diff(body, at, rules);
    }
    if magic != FFF_MAGIC {
        return Err(header_error(
            at,
            format!("magic {} is not \"FFF!\"", show_magic(magic)),
        ));
    }
    if body.len() < FFF_HEADER_LEN {
        return Err(header_error(
            at,
            format!(
                "{} bytes, shorter than the 40-byte FFF! slim header",
                body.len()
            ),
        ));
    }
    // The 40-byte header is present, so these reads cannot fail.
    let features = le_u32(body, 8).unwrap_or(0);
    let payload_len = le_u32(body, 28).unwrap_or(0) as usize;
    let sig_type = le_u16(body, 36).unwrap_or(0);
    let sig_size = le_u16(body, 38).unwrap_or(0);
    if features & FEATURE_SLIM == 0 {
        return Err(header_error(
            at + 8,
            format!(
                "features {features:#x} lack the SLIM bit (only the 40-byte slim header is known)"
            ),
        ));
    }
    if sig_type != 1 || sig_size != 4 {
        return Err(header_error(
            at + 36,
            format!("signature type/size {sig_type}/{sig_size}, expected 1/4 (Fletcher-32)"),
        ));
    }
    let expected = FFF_HEADER_LEN
        .checked_add(payload_len)
        .and_then(|n| n.checked_add(4));
    if expected != Some(body.len()) {
        return Err(header_error(
            at + 28,
            format!(
                "payload length {payload_len} needs {} bytes after the type word, the UPGR data has {}",
                FFF_HEADER_LEN as u64 + payload_len as u64 + 4,
                body.len()
            ),
        ));
    }
    let signed_len = FFF_HEADER_LEN + payload_len;
    let signed = body.get(..signed_len).unwrap_or(&[]);
    let stored = le_u32(body, signed_len).unwrap_or(0);
    let computed = fletcher32(signed, rules.trailer_order);
    if stored != computed {
        return Err(Rejection::new(
            RejectReason::BadSignature,
            at + signed_len,
            format!(
                "{name} FFF! trailer ({:?} words): stored {stored:#010x}, computed {computed:#010x}",
                rules.trailer_order
            ),
        ));
    }
    let payload = body.get(FFF_HEADER_LEN..signed_len).unwrap_or(&[]);
    let version = check_payload(payload, at + FFF_HEADER_LEN, name)?;
    Ok(FlashContent::Image { version })
}

/// Checks an ELF or `IELF`-wrapped ELF payload starting at absolute offset `at`.
fn check_payload(payload: &[u8], at: usize, name: &str) -> Result<Option<SimVersion>, Rejection> {
    let elf_error = |offset: usize, detail: String| {
        Rejection::new(
            RejectReason::BadElf,
            offset,
            format!("{name} payload: {detail}"),
        )
    };
    let magic = field(payload, 0, 4).unwrap_or(payload);
    let (elf, elf_at) = if magic == IELF_MAGIC {
        let (Some(offset), Some(length)) = (le_u32(payload, 4), le_u32(payload, 8)) else {
            return Err(elf_error(at, "IELF wrapper shorter than 16 bytes".into()));
        };
        let (offset, length) = (offset as usize, length as usize);
        let inner = if offset >= IELF_HEADER_LEN {
            range_within(offset, length, payload.len())
        } else {
            None
        };
        let Some(inner) = inner else {
            return Err(elf_error(
                at + 4,
                format!(
                    "IELF says the ELF is {length} bytes at {offset:#x}, outside the {}-byte payload \
                     (or inside the 16-byte wrapper)",
                    payload.len()
                ),
            ));
        };
        (payload.get(inner).unwrap_or(&[]), at + offset)
    } else if magic == ELF_MAGIC {
        (payload, at)
    } else {
        return Err(elf_error(
            at,
            format!("starts with {}, neither ELF nor IELF", show_magic(magic)),
        ));
    };
    match check_elf(elf) {
        Ok(info) => Ok(info.version),
        Err(e) => Err(elf_error(elf_at.saturating_add(e.at), e.detail)),
    }
}

/// Checks a `DIFF` body (see the module table).
fn check_diff(body: &[u8], at: usize, rules: &PackageRules) -> Result<FlashContent, Rejection> {
    if body.len() < DIFF_HEADER_LEN {
        return Err(Rejection::new(
            RejectReason::BadFlashHeader,
            at,
            format!(
                "fff DIFF image of {} bytes, shorter than its 40-byte header",
                body.len()
            ),
        ));
    }
    let base = le_u32(body, 4).unwrap_or(0);
    let text_bytes = until_nul(field(body, 8, DIFF_TEXT_LEN).unwrap_or(&[]));
    let target = std::str::from_utf8(text_bytes)
        .ok()
        .and_then(SimVersion::parse_version_string);
    let Some(target) = target else {
        return Err(Rejection::new(
            RejectReason::NoTargetVersion,
            at + 8,
            format!(
                "fff DIFF target text {:?} is not a version like \"5.1.1.0 [39529]\"",
                String::from_utf8_lossy(text_bytes)
            ),
        ));
    };
    if rules.installed_build != Some(base) {
        let installed = match rules.installed_build {
            Some(build) => format!("build {build} is installed"),
            None => "no valid firmware is installed".to_owned(),
        };
        return Err(Rejection::new(
            RejectReason::DiffBaseMismatch,
            at + 4,
            format!("fff DIFF to {target} requires base build {base}, but {installed}"),
        ));
    }
    Ok(FlashContent::Diff { base, target })
}
