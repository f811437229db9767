//! CABA containers (spec §7.1, from MCHP `caba.py`; all fields little-endian): header parsing with
//! bounds checks, and signature verification.
//!
//! v1 header (20 bytes), then `size` bytes of data:
//!
//! | offset | size | field | meaning |
//! | --- | --- | --- | --- |
//! | 0 | 4 | magic | `PACK` or `UPGR` |
//! | 4 | 2 | version | 1 |
//! | 6 | 2 | flags | not checked |
//! | 8 | 4 | size | data length |
//! | 12 | 4 | crc | Fletcher-32 (big-endian words) of the data |
//! | 16 | 4 | hcrc | Fletcher-32 (big-endian words) of the 20-byte header with hcrc = 0 |
//!
//! v2 header (16 bytes), then data, then `sig_size` bytes of signature over header + data:
//!
//! | offset | size | field | meaning |
//! | --- | --- | --- | --- |
//! | 0 | 4 | magic | `PACK` or `UPGR` |
//! | 4 | 2 | version | 2 |
//! | 6 | 2 | flags | not checked |
//! | 8 | 4 | size | data length |
//! | 12 | 2 | sig_type | see below |
//! | 14 | 2 | sig_size | signature length |
//!
//! v3 header (18 bytes) = the v2 fields plus `descr_size` u16 at 16; then the description
//! (`descr_size` bytes, NUL-terminated text, not checked), the data, and the signature over
//! header + description + data. Total = 18 + descr_size + size + sig_size.
//!
//! | sig_type | name | sig_size | check |
//! | --- | --- | --- | --- |
//! | 0 | NONE | 0 | accepted, nothing to verify |
//! | 1 | "CRC32" = Fletcher-32 | 4 | big-endian words, stored as a LE u32 |
//! | 2 | ECDSA_256 | > 0 | cannot be verified: rejected unless `accept_unverifiable_signatures` |
//! | 3 | RSA_SHA256 | 256 | cannot be verified: rejected unless `accept_unverifiable_signatures` |
//! | 4 | ZCRC32 = zlib CRC-32 | 4 | stored as a LE u32 |
//!
//! Facts from the spec: the layouts, the signature types and sizes (except ECDSA's, which the spec
//! does not give), the signed ranges, and the v1 CRC definitions (no real file uses v1, so the v1
//! Fletcher word order is taken to be the same big-endian default as the v3 signature). Simulator
//! conventions: a signature size that contradicts its type is rejected as a format error, and
//! ECDSA/RSA are not verified (no keys are public).

use std::ops::Range;

use super::bytes::{field, le_u16, le_u32, show_magic};
use super::{PackageRules, RejectReason, Rejection};
use crate::checksum::{WordOrder, crc32_ieee, fletcher32};

/// Outer container magic.
pub(crate) const PACK: [u8; 4] = *b"PACK";
/// Component container magic.
pub(crate) const UPGR: [u8; 4] = *b"UPGR";

/// A parsed CABA header whose whole extent is known to lie inside the region it was parsed from.
/// All ranges are absolute offsets in the stream.
#[derive(Clone, Debug)]
pub(crate) struct Caba {
    pub offset: usize,
    pub magic: [u8; 4],
    pub data: Range<usize>,
    pub end: usize,
    check: Check,
}

/// The integrity data a container carries.
#[derive(Clone, Debug)]
enum Check {
    /// v1: Fletcher-32 of the data and of the header.
    V1 { data_crc: u32, header_crc: u32 },
    /// v2/v3: a signature of `sig_type` at `sig` over `offset .. sig.start`.
    Signed { sig_type: u16, sig: Range<usize> },
}

impl Caba {
    /// The container's name for messages, e.g. `UPGR at 0x76183 (fff)`.
    pub(crate) fn name(&self, label: &str) -> String {
        let magic = String::from_utf8_lossy(&self.magic).into_owned();
        if label.is_empty() {
            format!("{magic} at {:#x}", self.offset)
        } else {
            format!("{magic} at {:#x} ({label})", self.offset)
        }
    }
}

/// Where a container sits: at top level (running past `limit` means the stream was cut short) or
/// inside a PACK (running past `limit` means the PACK's contents are inconsistent).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Place {
    TopLevel,
    InPack { pack_offset: usize },
}

impl Place {
    fn overrun(self, offset: usize, detail: String) -> Rejection {
        match self {
            Place::TopLevel => Rejection::new(RejectReason::Truncated, offset, detail),
            Place::InPack { pack_offset } => Rejection::new(
                RejectReason::BadLayout,
                offset,
                format!("{detail} (inside the PACK at {pack_offset:#x})"),
            ),
        }
    }
}

/// Parses the CABA header at `offset` and checks that the whole container ends at or before
/// `limit`. `allowed` lists the magics acceptable here.
pub(crate) fn parse_header(
    stream: &[u8],
    offset: usize,
    limit: usize,
    allowed: &[[u8; 4]],
    place: Place,
) -> Result<Caba, Rejection> {
    let region = stream.get(offset..limit).unwrap_or(&[]);
    let Some(magic) = field(region, 0, 4) else {
        if allowed.iter().any(|m| m.starts_with(region)) {
            return Err(place.overrun(
                offset,
                format!("container header cut after {} bytes", region.len()),
            ));
        }
        return Err(Rejection::new(
            RejectReason::BadMagic,
            offset,
            format!("{} is not a CABA container", show_magic(region)),
        ));
    };
    let Some(magic) = allowed.iter().find(|m| m.as_slice() == magic).copied() else {
        let expected: Vec<String> = allowed.iter().map(|m| show_magic(m)).collect();
        return Err(Rejection::new(
            RejectReason::BadMagic,
            offset,
            format!(
                "magic {} where {} was expected",
                show_magic(magic),
                expected.join(" or ")
            ),
        ));
    };
    let name = String::from_utf8_lossy(&magic).into_owned();
    let Some(version) = le_u16(region, 4) else {
        return Err(place.overrun(offset, format!("{name} header cut before its version")));
    };
    let header_len: usize = match version {
        1 => 20,
        2 => 16,
        3 => 18,
        other => {
            return Err(Rejection::new(
                RejectReason::BadVersion,
                offset,
                format!("{name} has CABA version {other}; only 1, 2 and 3 exist"),
            ));
        }
    };
    if region.len() < header_len {
        return Err(place.overrun(
            offset,
            format!(
                "{name} v{version} header needs {header_len} bytes, {} remain",
                region.len()
            ),
        ));
    }
    // The header is complete from here on, so these reads cannot fail; default to 0 regardless.
    let size = le_u32(region, 8).unwrap_or(0) as u64;
    let (descr_len, sig_len, check_fields) = match version {
        1 => (0u64, 0u64, None),
        _ => {
            let sig_type = le_u16(region, 12).unwrap_or(0);
            let sig_size = u64::from(le_u16(region, 14).unwrap_or(0));
            let descr = if version == 3 {
                u64::from(le_u16(region, 16).unwrap_or(0))
            } else {
                0
            };
            (descr, sig_size, Some(sig_type))
        }
    };
    let total = header_len as u64 + descr_len + size + sig_len;
    if total > region.len() as u64 {
        return Err(place.overrun(
            offset,
            format!(
                "{name} at {offset:#x} declares {total} bytes, only {} remain",
                region.len()
            ),
        ));
    }
    // `total` fits in the region, so every offset below fits in usize.
    let data_start = offset + header_len + descr_len as usize;
    let data_end = data_start + size as usize;
    let end = offset + total as usize;
    let check = match check_fields {
        None => Check::V1 {
            data_crc: le_u32(region, 12).unwrap_or(0),
            header_crc: le_u32(region, 16).unwrap_or(0),
        },
        Some(sig_type) => Check::Signed {
            sig_type,
            sig: data_end..end,
        },
    };
    Ok(Caba {
        offset,
        magic,
        data: data_start..data_end,
        end,
        check,
    })
}

fn mismatch(caba: &Caba, label: &str, what: &str, stored: u32, computed: u32) -> Rejection {
    Rejection::new(
        RejectReason::BadSignature,
        caba.offset,
        format!(
            "{} {what}: stored {stored:#010x}, computed {computed:#010x}",
            caba.name(label)
        ),
    )
}

/// Verifies the container's CRCs or signature; `label` names the component for messages.
pub(crate) fn verify_signature(
    stream: &[u8],
    caba: &Caba,
    rules: &PackageRules,
    label: &str,
) -> Result<(), Rejection> {
    match &caba.check {
        Check::V1 {
            data_crc,
            header_crc,
        } => {
            let mut header: [u8; 20] = super::bytes::array(stream, caba.offset).unwrap_or([0; 20]);
            header[16..].fill(0);
            let computed = fletcher32(&header, WordOrder::Big);
            if computed != *header_crc {
                return Err(mismatch(
                    caba,
                    label,
                    "v1 header CRC",
                    *header_crc,
                    computed,
                ));
            }
            let data = stream.get(caba.data.clone()).unwrap_or(&[]);
            let computed = fletcher32(data, WordOrder::Big);
            if computed != *data_crc {
                return Err(mismatch(caba, label, "v1 data CRC", *data_crc, computed));
            }
            Ok(())
        }
        Check::Signed { sig_type, sig } => {
            let signed = stream.get(caba.offset..sig.start).unwrap_or(&[]);
            let stored = stream.get(sig.clone()).unwrap_or(&[]);
            let size = stored.len();
            let expect_size = |expected: usize, name: &str| {
                if size == expected {
                    Ok(())
                } else {
                    Err(Rejection::new(
                        RejectReason::BadLayout,
                        caba.offset,
                        format!(
                            "{} signature type {sig_type} ({name}) with sig_size {size}, expected {expected}",
                            caba.name(label)
                        ),
                    ))
                }
            };
            match sig_type {
                0 => expect_size(0, "none"),
                1 | 4 => {
                    expect_size(
                        4,
                        if *sig_type == 1 {
                            "Fletcher-32"
                        } else {
                            "CRC-32"
                        },
                    )?;
                    let stored = le_u32(stored, 0).unwrap_or(0);
                    let computed = if *sig_type == 1 {
                        fletcher32(signed, WordOrder::Big)
                    } else {
                        crc32_ieee(signed)
                    };
                    if stored == computed {
                        Ok(())
                    } else {
                        Err(mismatch(caba, label, "signature", stored, computed))
                    }
                }
                2 | 3 => {
                    let name = if *sig_type == 2 { "ECDSA" } else { "RSA" };
                    if !rules.accept_unverifiable_signatures {
                        return Err(Rejection::new(
                            RejectReason::UnsupportedSignature,
                            caba.offset,
                            format!(
                                "{} is signed with {name} (type {sig_type}), which the simulator cannot verify",
                                caba.name(label)
                            ),
                        ));
                    }
                    if *sig_type == 3 {
                        expect_size(256, name)
                    } else if size == 0 {
                        Err(Rejection::new(
                            RejectReason::BadLayout,
                            caba.offset,
                            format!("{} ECDSA signature of size 0", caba.name(label)),
                        ))
                    } else {
                        Ok(())
                    }
                }
                other => Err(Rejection::new(
                    RejectReason::UnsupportedSignature,
                    caba.offset,
                    format!("{} has unknown signature type {other}", caba.name(label)),
                )),
            }
        }
    }
}
