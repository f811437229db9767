//! The inspector: walks the container structure with small positional reads, then verifies every
//! signature and trailer in a single sequential pass over the file.

use super::checksum::{Crc32, Fletcher32, WordOrder};
use super::elf;
use super::problem::{ContainerRef, Problem, ProblemKind};
use super::read::{Checked, Fail, bad, bytes_at, le16, le32, read_array, read_into};
use super::types::*;
use crate::storage::{ImageSource, ReadExactError, read_exact_at};

/// Most containers one image may hold (real images hold 4 to 6, plus the outer `PACK`).
pub const MAX_CONTAINERS: usize = 16;
/// Most problems a report keeps (the rest are counted in [`Report::problems_dropped`]).
pub const MAX_PROBLEMS: usize = 8;
/// Each container has at most one signature and one flash-image trailer.
const MAX_CHECKS: usize = 2 * MAX_CONTAINERS;
/// Bytes of a CABA v3 description that are kept (longer ones are truncated in the report).
const MAX_DESCRIPTION: usize = 32;

/// Everything the inspector found out about one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Length of the file.
    pub size: u32,
    /// Overall shape.
    pub kind: ImageKind,
    /// Every container in file order (an outer `PACK` first).
    pub containers: heapless::Vec<Container, MAX_CONTAINERS>,
    /// For a plain ELF file: its facts.
    pub elf: Option<ElfInfo>,
    /// The firmware version the image installs: the `.versionString` of the main firmware (`fff`)
    /// package, or of the ELF for a loader file. Never the first version-looking text in the file.
    pub target_version: Option<TargetVersion>,
    /// What is wrong, in file order.
    pub problems: heapless::Vec<Problem, MAX_PROBLEMS>,
    /// Problems found beyond [`MAX_PROBLEMS`].
    pub problems_dropped: u16,
    /// CRC-32 (ISO-HDLC, the zip/PNG one) of the whole file, computed in the same sequential pass
    /// that verifies the signatures. With the length it identifies the image a resume journal
    /// belongs to. `None` when the source ended before its stated length.
    pub crc32: Option<u32>,
}

/// An empty report (size 0, kind unknown): the starting point for [`inspect_into`].
impl Default for Report {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Report {
    fn new(size: u32) -> Self {
        Self {
            size,
            kind: ImageKind::Unknown,
            containers: heapless::Vec::new(),
            elf: None,
            target_version: None,
            problems: heapless::Vec::new(),
            problems_dropped: 0,
            crc32: None,
        }
    }

    /// Back to the empty state, in place. Destructured, so that a new field cannot be forgotten.
    fn reset(&mut self, size: u32) {
        let Report {
            size: old_size,
            kind,
            containers,
            elf,
            target_version,
            problems,
            problems_dropped,
            crc32,
        } = self;
        *old_size = size;
        *kind = ImageKind::Unknown;
        containers.clear();
        *elf = None;
        *target_version = None;
        problems.clear();
        *problems_dropped = 0;
        *crc32 = None;
    }

    /// `true` when the structure is sound and every signature and trailer that exists was verified.
    /// A signature that cannot be verified (ECDSA/RSA) makes this `false`: nothing unproven is "valid".
    pub fn is_valid(&self) -> bool {
        self.verdict().is_ok()
    }

    /// `Ok` when nothing is wrong, else the first problem. Every failure records a problem (an
    /// unrecognisable file included), so "no problem" is exactly "valid".
    pub fn verdict(&self) -> Result<(), &Problem> {
        match self.problems.first() {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }

    fn push_problem(&mut self, p: Problem) {
        if self.problems.push(p).is_err() {
            // Keep the first problems found; count the rest.
            self.problems_dropped = self.problems_dropped.saturating_add(1);
        }
    }
}

/// Validates `source` completely and reports what it holds.
///
/// `buf` is scratch space for the sequential checksum pass (its size is the read size; 512 bytes to a
/// few KiB is a good choice; smaller than 64 bytes falls back to an internal 64-byte buffer).
///
/// Structure problems and signature mismatches are reported inside the [`Report`]; only a failure of
/// the source itself is an `Err`. Never panics, and every loop is bounded by the file length and
/// [`MAX_CONTAINERS`].
pub fn inspect<S: ImageSource>(source: &mut S, buf: &mut [u8]) -> Result<Report, S::Error> {
    let mut report = Report::default();
    inspect_into(source, buf, &mut report)?;
    Ok(report)
}

/// [`inspect`] into a report the caller owns (its old contents are replaced), so that the report
/// (about 4 KiB) exists once on the stack instead of being built in this function's frame and then
/// moved into the caller's: what a firmware with a small stack wants. On `Err` the report holds
/// what was found before the source failed.
pub fn inspect_into<S: ImageSource>(
    source: &mut S,
    buf: &mut [u8],
    report: &mut Report,
) -> Result<(), S::Error> {
    let len = source.len();
    report.reset(len);
    let mut walk = Walk {
        src: source,
        len,
        report,
        checks: heapless::Vec::new(),
    };
    match walk.structure() {
        Ok(()) => {}
        Err(Fail::Io(e)) => return Err(e),
        Err(Fail::Bad(p)) => walk.report.push_problem(p),
    }
    walk.classify();
    let mut fallback = [0u8; 64];
    let buf = if buf.len() < fallback.len() {
        &mut fallback[..]
    } else {
        buf
    };
    walk.verify_checks(buf)?;
    walk.report.problems.sort_unstable_by_key(|p| p.offset);
    Ok(())
}

/// [`inspect`] for an image already in memory (for example in memory-mapped MCU flash).
///
/// Not generic, so it is compiled into the library itself: the `thumbv7em-none-eabihf` CI build
/// therefore generates the reader's code, not only type-checks it.
pub fn inspect_bytes(bytes: &[u8], scratch: &mut [u8]) -> Report {
    let Ok(report) = inspect(&mut crate::storage::MemImage::new(bytes), scratch);
    report
}

/// A region whose checksum is verified during the sequential pass.
struct Check {
    start: u32,
    end: u32,
    stored: u32,
    acc: Accumulator,
    target: Target,
}

enum Accumulator {
    Fletcher(Fletcher32),
    /// `FFF!` trailers: SQN3330 uses big-endian words, GM02S little-endian; compute both.
    FletcherBoth(Fletcher32, Fletcher32),
    Crc(Crc32),
}

#[derive(Clone, Copy)]
enum Target {
    Signature(usize),
    Trailer(usize),
}

struct Walk<'s, S: ImageSource> {
    src: &'s mut S,
    len: u32,
    report: &'s mut Report,
    checks: heapless::Vec<Check, MAX_CHECKS>,
}

/// The area a sequence of containers lives in.
#[derive(Clone, Copy)]
struct Area {
    start: u32,
    end: u32,
    /// `true` when `end` is the end of the file (overruns are truncation), `false` inside a `PACK`.
    ends_at_eof: bool,
}

impl<S: ImageSource> Walk<'_, S> {
    fn structure(&mut self) -> Checked<(), S::Error> {
        if self.len == 0 {
            return bad(0, None, ProblemKind::Empty);
        }
        let mut head = [0u8; 4];
        let n = head.len().min(self.len as usize);
        read_into(self.src, 0, head.get_mut(..n).unwrap_or_default())?;
        if head == Magic::ELF.0 {
            let info = elf::check(self.src, 0, self.len, None);
            self.report.kind = ImageKind::Elf;
            let info = info?;
            self.report.elf = Some(info);
            self.report.target_version = info
                .version
                .zip(info.version_offset)
                .map(|(version, offset)| TargetVersion { version, offset });
            return Ok(());
        }
        if n < 4 {
            return bad(
                0,
                None,
                ProblemKind::HeaderTruncated {
                    what: "container header",
                    needed: 18,
                    available: self.len,
                },
            );
        }
        self.sequence(
            Area {
                start: 0,
                end: self.len,
                ends_at_eof: true,
            },
            0,
            None,
        )
    }

    fn classify(&mut self) {
        if self.report.kind != ImageKind::Unknown {
            return;
        }
        let top = self
            .report
            .containers
            .iter()
            .filter(|c| c.depth == 0)
            .count();
        self.report.kind = match self.report.containers.first() {
            Some(c) if c.magic == Magic::PACK => ImageKind::Dup,
            Some(_) if top >= 2 => ImageKind::Dup,
            Some(_) => ImageKind::Caba,
            None => ImageKind::Unknown,
        };
    }

    /// Walks consecutive containers filling `area`.
    fn sequence(
        &mut self,
        area: Area,
        depth: u8,
        parent: Option<&ContainerRef>,
    ) -> Checked<(), S::Error> {
        let mut offset = area.start;
        // Bounded: every container is at least 16 bytes long and at most MAX_CONTAINERS are accepted.
        while offset < area.end {
            let index = self.container(offset, area, depth, parent)?;
            let Some(c) = self.report.containers.get(index) else {
                break;
            };
            let (total, magic, data_offset, data_len) =
                (c.total_len, c.magic, c.data_offset, c.data_len);
            let end = u64::from(offset) + total;
            let truncated = end > u64::from(area.end);
            if magic == Magic::PACK {
                let me = container_ref(c);
                if depth > 0 {
                    return bad(offset, Some(&me), ProblemKind::NestedPack);
                }
                // Walk the children even when the PACK is cut short, so intact packages still get checked.
                let data_end = u64::from(data_offset) + u64::from(data_len);
                let data_cut = data_end > u64::from(self.len);
                let inner = Area {
                    start: data_offset,
                    end: u32::try_from(data_end.min(u64::from(self.len))).unwrap_or(self.len),
                    ends_at_eof: data_cut,
                };
                self.sequence(inner, depth + 1, Some(&me))?;
            } else if !truncated {
                self.payload(index)?;
            }
            if truncated {
                break;
            }
            // end <= area.end <= u32::MAX here.
            offset = u32::try_from(end).unwrap_or(u32::MAX);
        }
        Ok(())
    }

    /// Parses the container header at `offset`, registers its signature check, records it.
    fn container(
        &mut self,
        offset: u32,
        area: Area,
        depth: u8,
        parent: Option<&ContainerRef>,
    ) -> Checked<usize, S::Error> {
        let room = area.end - offset;
        let short = |what: &'static str, needed: u32| {
            let kind = if area.ends_at_eof {
                ProblemKind::HeaderTruncated {
                    what,
                    needed,
                    available: room,
                }
            } else {
                ProblemKind::ChildOverrunsParent {
                    child_end: u64::from(offset) + u64::from(needed),
                    parent_end: area.end,
                }
            };
            bad(offset, parent, kind)
        };
        if room < 6 {
            return short("container header", 18);
        }
        let mut h = [0u8; 20];
        let n = h.len().min(room as usize);
        read_into(self.src, offset, h.get_mut(..n).unwrap_or_default())?;
        let magic = Magic(bytes_at(&h, 0));
        if magic != Magic::PACK && magic != Magic::UPGR {
            return bad(offset, parent, ProblemKind::UnknownMagic { found: magic });
        }
        let format = le16(&h, 4);
        let header_len: u32 = match format {
            1 => 20,
            2 => 16,
            3 => 18,
            found => {
                return bad(
                    offset,
                    parent,
                    ProblemKind::UnsupportedCabaVersion { found },
                );
            }
        };
        let what = match format {
            1 => "CABA v1 header",
            2 => "CABA v2 header",
            _ => "CABA v3 header",
        };
        if room < header_len {
            return short(what, header_len);
        }
        let flags = le16(&h, 6);
        let data_len = le32(&h, 8);
        let (sig_type, sig_size, descr_size) = match format {
            1 => (SignatureType::Fletcher32, 4u16, 0u16),
            _ => (
                SignatureType::from_code(le16(&h, 12)),
                le16(&h, 14),
                if format == 3 { le16(&h, 16) } else { 0 },
            ),
        };
        let mut description = Description::default();
        let mut problems: heapless::Vec<ProblemKind, 2> = heapless::Vec::new();
        if descr_size > 0 {
            if room < header_len + u32::from(descr_size) {
                return short("CABA v3 description", header_len + u32::from(descr_size));
            }
            let mut raw = [0u8; MAX_DESCRIPTION + 1];
            let keep = raw.len().min(usize::from(descr_size));
            read_into(
                self.src,
                offset + header_len,
                raw.get_mut(..keep).unwrap_or_default(),
            )?;
            description = Description::from_bytes(raw.get(..keep).unwrap_or_default());
            let [last]: [u8; 1] =
                read_array(self.src, offset + header_len + u32::from(descr_size) - 1)?;
            if last != 0 {
                let _ = problems.push(ProblemKind::DescriptionNotTerminated {
                    declared: descr_size,
                });
            }
        }
        let head_total = header_len + u32::from(descr_size);
        let data_offset = offset + head_total;
        // v1 keeps its checksum in the header; v2/v3 append the signature after the data.
        let trailer = if format == 1 { 0 } else { u64::from(sig_size) };
        let total_len = u64::from(head_total) + u64::from(data_len) + trailer;
        let mut container = Container {
            offset,
            depth,
            magic,
            format,
            flags,
            description,
            data_offset,
            data_len,
            total_len,
            component: None,
            signature: Signature {
                ty: sig_type,
                status: SignatureStatus::NotChecked,
            },
            header_crc: None,
            payload: Payload::Raw,
        };
        let end = u64::from(offset) + total_len;
        // Name the component even of a package cut short, as long as its type word is there.
        let word_end = u64::from(data_offset) + 4;
        if magic == Magic::UPGR && data_len >= 4 && word_end <= u64::from(area.end) {
            let word: [u8; 4] = read_array(self.src, data_offset)?;
            container.component = Some(Component::from_word(u32::from_le_bytes(word)));
        } else if magic == Magic::UPGR && data_len < 4 {
            let _ = problems.push(ProblemKind::MissingComponentWord { data_len });
        }
        let me = container_ref(&container);
        let overrun = if end <= u64::from(area.end) {
            None
        } else if area.ends_at_eof {
            Some(ProblemKind::Truncated {
                declared_end: end,
                file_len: self.len,
            })
        } else {
            Some(ProblemKind::ChildOverrunsParent {
                child_end: end,
                parent_end: area.end,
            })
        };
        let index = self.report.containers.len();
        if overrun.is_none() {
            if format == 1 {
                self.register_v1(index, offset, &h, data_offset, data_len, &mut container)?;
            } else {
                let signed_end = data_offset + data_len;
                container.signature.status = self.register(
                    Target::Signature(index),
                    offset,
                    signed_end,
                    sig_type,
                    sig_size,
                    &me,
                )?;
            }
        }
        if self.report.containers.push(container).is_err() {
            return bad(
                offset,
                parent,
                ProblemKind::TooManyContainers {
                    max: MAX_CONTAINERS as u32,
                },
            );
        }
        for kind in problems {
            self.report.push_problem(Problem {
                offset,
                container: Some(me.clone()),
                kind,
            });
        }
        match overrun {
            // A PACK cut short is walked further (its intact packages are still checked).
            Some(kind) if magic == Magic::PACK && area.ends_at_eof => {
                self.report.push_problem(Problem {
                    offset,
                    container: Some(me),
                    kind,
                });
                Ok(index)
            }
            Some(kind) => bad(offset, Some(&me), kind),
            None => Ok(index),
        }
    }

    /// CABA v1: Fletcher-32 of the data (streamed) and of the header with `hcrc` zeroed (here).
    fn register_v1(
        &mut self,
        index: usize,
        offset: u32,
        h: &[u8; 20],
        data_offset: u32,
        data_len: u32,
        c: &mut Container,
    ) -> Checked<(), S::Error> {
        let stored_hcrc = le32(h, 16);
        let mut zeroed = *h;
        zeroed[16..20].copy_from_slice(&[0; 4]);
        let computed = Fletcher32::checksum(WordOrder::Big, &zeroed);
        c.header_crc = Some(if computed == stored_hcrc {
            SignatureStatus::Valid
        } else {
            SignatureStatus::Mismatch {
                stored: stored_hcrc,
                computed,
            }
        });
        if computed != stored_hcrc {
            self.report.push_problem(Problem {
                offset,
                container: Some(container_ref(c)),
                kind: ProblemKind::HeaderCrcMismatch {
                    stored: stored_hcrc,
                    computed,
                },
            });
        }
        self.add_check(Check {
            start: data_offset,
            end: data_offset + data_len,
            stored: le32(h, 12),
            acc: Accumulator::Fletcher(Fletcher32::new(WordOrder::Big)),
            target: Target::Signature(index),
        });
        Ok(())
    }

    /// Registers the check of a signature (or trailer) covering `[start, signed_end)` and stored right
    /// after it, and returns its status until the pass settles it.
    #[allow(clippy::too_many_arguments)]
    fn register(
        &mut self,
        target: Target,
        start: u32,
        signed_end: u32,
        ty: SignatureType,
        size: u16,
        me: &ContainerRef,
    ) -> Checked<SignatureStatus, S::Error> {
        let fletcher = match target {
            Target::Signature(_) => Accumulator::Fletcher(Fletcher32::new(WordOrder::Big)),
            // `FFF!` trailers: SQN3330 uses big-endian words, GM02S little-endian; compute both.
            Target::Trailer(_) => Accumulator::FletcherBoth(
                Fletcher32::new(WordOrder::Big),
                Fletcher32::new(WordOrder::Little),
            ),
        };
        let wrong_size = ty.required_size().filter(|&expected| expected != size);
        let (status, problem, acc) = match ty {
            _ if let Some(expected) = wrong_size => {
                let kind = ProblemKind::SignatureSizeMismatch {
                    ty,
                    expected,
                    found: size,
                };
                (SignatureStatus::NotChecked, Some(kind), None)
            }
            SignatureType::None => (SignatureStatus::Absent, None, None),
            SignatureType::Fletcher32 => (SignatureStatus::NotChecked, None, Some(fletcher)),
            SignatureType::Crc32 => (
                SignatureStatus::NotChecked,
                None,
                Some(Accumulator::Crc(Crc32::new())),
            ),
            SignatureType::Unknown(found) => {
                let kind = ProblemKind::UnknownSignatureType { found };
                (SignatureStatus::Unverifiable, Some(kind), None)
            }
            SignatureType::Ecdsa256 | SignatureType::RsaSha256 => {
                let kind = ProblemKind::UnverifiableSignature { ty };
                (SignatureStatus::Unverifiable, Some(kind), None)
            }
        };
        if let Some(kind) = problem {
            self.report.push_problem(Problem {
                offset: signed_end,
                container: Some(me.clone()),
                kind,
            });
        }
        if let Some(acc) = acc {
            let stored = u32::from_le_bytes(read_array(self.src, signed_end)?);
            self.add_check(Check {
                start,
                end: signed_end,
                stored,
                acc,
                target,
            });
        }
        Ok(status)
    }

    fn add_check(&mut self, check: Check) {
        // MAX_CHECKS = 2 per container and containers are capped, so this cannot overflow; if it ever
        // did, the target keeps its NotChecked status and the image is not reported valid.
        let _ = self.checks.push(check);
    }

    /// Looks inside an intact `UPGR`: the `FFF!` flash image of updater / fff / pxl packages.
    fn payload(&mut self, index: usize) -> Checked<(), S::Error> {
        let Some(c) = self.report.containers.get(index) else {
            return Ok(());
        };
        let Some(component) = c.component else {
            return Ok(());
        };
        let me = container_ref(c);
        let body = c.data_offset + 4;
        let body_len = c.data_len - 4;
        let mut head = [0u8; 40];
        let n = head.len().min(body_len as usize);
        read_into(self.src, body, head.get_mut(..n).unwrap_or_default())?;
        let magic = Magic(bytes_at(&head, 0));
        let is_flash = magic == Magic::FFF && n >= 4;
        if !is_flash {
            if component.carries_flash_image() {
                self.set_payload(index, Payload::Opaque(magic));
            }
            return Ok(());
        }
        if n < 40 {
            return bad(
                body,
                Some(&me),
                ProblemKind::HeaderTruncated {
                    what: "FFF! header",
                    needed: 40,
                    available: body_len,
                },
            );
        }
        let features = le32(&head, 8);
        if features & 1 == 0 {
            self.set_payload(index, Payload::FlashFullHeader);
            return Ok(());
        }
        let payload_len = le32(&head, 28);
        let trailer_ty = SignatureType::from_code(le16(&head, 36));
        let trailer_size = le16(&head, 38);
        let declared = 40 + u64::from(payload_len) + u64::from(trailer_size);
        let mut image = FlashImage {
            offset: body,
            payload_len,
            trailer: Signature {
                ty: trailer_ty,
                status: SignatureStatus::NotChecked,
            },
            trailer_order: None,
            content: FlashContent::NotChecked,
        };
        if declared != u64::from(body_len) {
            self.set_payload(index, Payload::Flash(image));
            return bad(
                body,
                Some(&me),
                ProblemKind::FlashLengthMismatch {
                    declared,
                    available: body_len,
                },
            );
        }
        // declared == body_len, so everything below stays inside the package.
        let payload = body + 40;
        let signed_end = payload + payload_len;
        image.trailer.status = self.register(
            Target::Trailer(index),
            body,
            signed_end,
            trailer_ty,
            trailer_size,
            &me,
        )?;
        let content = self.flash_content(payload, payload_len, &me);
        image.content = match content {
            Ok(content) => content,
            Err(Fail::Io(e)) => return Err(Fail::Io(e)),
            Err(Fail::Bad(p)) => {
                self.report.push_problem(p);
                FlashContent::NotChecked
            }
        };
        let found_version = match image.content {
            FlashContent::Elf(e) | FlashContent::Ielf { elf: Some(e), .. } => {
                e.version.zip(e.version_offset)
            }
            _ => None,
        };
        if component == Component::Firmware
            && self.report.target_version.is_none()
            && let Some((version, offset)) = found_version
        {
            self.report.target_version = Some(TargetVersion { version, offset });
        }
        self.set_payload(index, Payload::Flash(image));
        Ok(())
    }

    /// Identifies the flash payload: a plain ELF, an `IELF`-wrapped ELF, or something opaque.
    fn flash_content(
        &mut self,
        payload: u32,
        payload_len: u32,
        me: &ContainerRef,
    ) -> Checked<FlashContent, S::Error> {
        let mut head = [0u8; 16];
        let n = head.len().min(payload_len as usize);
        read_into(self.src, payload, head.get_mut(..n).unwrap_or_default())?;
        let magic = Magic(bytes_at(&head, 0));
        if n >= 4 && magic == Magic::ELF {
            return Ok(FlashContent::Elf(elf::check(
                self.src,
                payload,
                payload_len,
                Some(me),
            )?));
        }
        if n >= 4 && magic == Magic::IELF {
            if n < 16 {
                return bad(
                    payload,
                    Some(me),
                    ProblemKind::HeaderTruncated {
                        what: "IELF header",
                        needed: 16,
                        available: payload_len,
                    },
                );
            }
            let (elf_offset, elf_len) = (le32(&head, 4), le32(&head, 8));
            let fits = elf_offset >= 16
                && u64::from(elf_offset) + u64::from(elf_len) <= u64::from(payload_len);
            if !fits {
                return bad(
                    payload,
                    Some(me),
                    ProblemKind::IelfOutOfBounds {
                        elf_offset,
                        elf_len,
                        payload_len,
                    },
                );
            }
            let elf = elf::check(self.src, payload + elf_offset, elf_len, Some(me))?;
            return Ok(FlashContent::Ielf {
                elf_offset,
                elf_len,
                elf: Some(elf),
            });
        }
        Ok(FlashContent::Opaque(magic))
    }

    fn set_payload(&mut self, index: usize, payload: Payload) {
        if let Some(c) = self.report.containers.get_mut(index) {
            c.payload = payload;
        }
    }

    /// One sequential pass over `[first check start, last check end)` feeding every check it overlaps.
    /// One sequential pass over the whole file: feeds every check's region to its accumulator and
    /// the whole file to the image CRC-32. Reading the parts no check covers costs little (the
    /// checks span nearly all of a real package) and gives the journal its image identity.
    fn verify_checks(&mut self, buf: &mut [u8]) -> Result<(), S::Error> {
        let end = self.len;
        let mut image_crc = Crc32::new();
        let mut offset = 0u32;
        let mut complete = true;
        // Bounded: advances by at least one byte (buf is non-empty) per iteration, up to `end`.
        while offset < end {
            let want = buf.len().min((end - offset) as usize);
            let Some(chunk) = buf.get_mut(..want) else {
                break;
            };
            match read_exact_at(self.src, offset, chunk) {
                Ok(()) => {}
                Err(ReadExactError::Source(e)) => return Err(e),
                Err(ReadExactError::UnexpectedEnd { offset: at }) => {
                    // The structure walk may already have run into the same early end.
                    let known = self
                        .report
                        .problems
                        .iter()
                        .any(|p| matches!(p.kind, ProblemKind::SourceEnded { .. }));
                    if !known {
                        self.report.push_problem(Problem {
                            offset: at,
                            container: None,
                            kind: ProblemKind::SourceEnded { at },
                        });
                    }
                    complete = false;
                    break;
                }
            }
            image_crc.update(chunk);
            let chunk_end = offset + want as u32;
            for check in self.checks.iter_mut() {
                let from = check.start.max(offset);
                let to = check.end.min(chunk_end);
                if from >= to {
                    continue;
                }
                let Some(part) = chunk.get((from - offset) as usize..(to - offset) as usize) else {
                    continue;
                };
                match &mut check.acc {
                    Accumulator::Fletcher(f) => f.update(part),
                    Accumulator::FletcherBoth(big, little) => {
                        big.update(part);
                        little.update(part);
                    }
                    Accumulator::Crc(c) => c.update(part),
                }
            }
            offset = chunk_end;
        }
        if complete {
            self.report.crc32 = Some(image_crc.finish());
            let checks = core::mem::take(&mut self.checks);
            for check in &checks {
                self.settle(check);
            }
        }
        Ok(())
    }

    /// Turns a finished check into a verdict (and a problem on mismatch).
    fn settle(&mut self, check: &Check) {
        let stored = check.stored;
        let (status, order, kind) = match &check.acc {
            Accumulator::Fletcher(f) => compare(SignatureType::Fletcher32, stored, f.finish()),
            Accumulator::Crc(c) => compare(SignatureType::Crc32, stored, c.finish()),
            Accumulator::FletcherBoth(big, little) => {
                let (b, l) = (big.finish(), little.finish());
                if b == stored {
                    (SignatureStatus::Valid, Some(WordOrder::Big), None)
                } else if l == stored {
                    (SignatureStatus::Valid, Some(WordOrder::Little), None)
                } else {
                    (
                        SignatureStatus::Mismatch {
                            stored,
                            computed: b,
                        },
                        None,
                        Some(ProblemKind::FlashTrailerMismatch {
                            stored,
                            computed_big: b,
                            computed_little: l,
                        }),
                    )
                }
            }
        };
        let Some(c) = self.report.containers.get_mut(check.target_index()) else {
            return;
        };
        match check.target {
            Target::Trailer(_) => {
                if let Payload::Flash(image) = &mut c.payload {
                    image.trailer.status = status;
                    image.trailer_order = order;
                }
            }
            Target::Signature(_) => c.signature.status = status,
        }
        if let Some(kind) = kind {
            let me = container_ref(c);
            self.report.push_problem(Problem {
                offset: check.end,
                container: Some(me),
                kind,
            });
        }
    }
}

impl Check {
    fn target_index(&self) -> usize {
        match self.target {
            Target::Signature(i) | Target::Trailer(i) => i,
        }
    }
}

/// Verdict of a single-algorithm check.
fn compare(
    ty: SignatureType,
    stored: u32,
    computed: u32,
) -> (SignatureStatus, Option<WordOrder>, Option<ProblemKind>) {
    if stored == computed {
        (SignatureStatus::Valid, None, None)
    } else {
        (
            SignatureStatus::Mismatch { stored, computed },
            None,
            Some(ProblemKind::SignatureMismatch {
                ty,
                stored,
                computed,
            }),
        )
    }
}

fn container_ref(c: &Container) -> ContainerRef {
    ContainerRef {
        offset: c.offset,
        magic: c.magic,
        description: c.description.clone(),
        component: c.component,
    }
}
