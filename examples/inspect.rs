//! Validates Sequans firmware files completely and shows what they contain.
//!
//! ```text
//! cargo run --release --example inspect -- [--json] FILE...
//! ```
//!
//! Default output is a readable tree per file. With `--json`, one JSON object per file, one per line:
//! `{"file","valid","kind","size","crc32","packages":[{"offset","magic","description","component","size",
//! "signature":{"type","ok"},…}],"version":{"text","build"}|null,"errors":[…],…}`.
//!
//! Exit code: 0 every file valid, 1 at least one invalid, 2 a file could not be read or bad usage.

use modem_upgrade::image::{
    Container, ElfInfo, FlashContent, NameHints, Payload, Report, SignatureStatus, inspect,
};
use modem_upgrade::storage::FileImage;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: inspect [--json] FILE...\n\n\
Validates Sequans .dup packages and loader ELFs (structure, every signature, target version).\n\
Exit code: 0 all valid, 1 some file invalid, 2 a file unreadable or bad usage.";

/// Scratch size for the sequential checksum pass (a multiple of the SD block size).
const SCRATCH: usize = 64 * 1024;

fn main() -> ExitCode {
    let mut json = false;
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            opt if opt.starts_with("--") => {
                eprintln!("inspect: unknown option {opt}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        eprintln!("inspect: no file given\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut scratch = vec![0u8; SCRATCH];
    let (mut any_invalid, mut any_unreadable) = (false, false);
    for file in &files {
        match FileImage::open(file).and_then(|mut img| inspect(&mut img, &mut scratch)) {
            Ok(report) => {
                any_invalid |= !report.is_valid();
                if json {
                    println!("{}", report_json(file, &report));
                } else {
                    print_tree(file, &report);
                }
            }
            Err(e) => {
                any_unreadable = true;
                if json {
                    let v = json!({"file": file, "valid": false, "kind": null, "size": null, "packages": [],
                        "version": null, "errors": [format!("cannot read the file: {e}")]});
                    println!("{v}");
                } else {
                    eprintln!("{file}: cannot read the file: {e}");
                }
            }
        }
    }
    if any_unreadable {
        ExitCode::from(2)
    } else if any_invalid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn file_name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

/// Messages about the file name disagreeing with the content (never errors: the content decides).
fn name_warnings(hints: &NameHints<'_>, report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(named), Some(v)) = (hints.build, report.target_version)
        && named != v.version.build
    {
        out.push(format!(
            "the file name says build {named}, but the content installs build {} ({}); trust the content",
            v.version.build, v.version
        ));
    }
    if let Some(base) = hints.diff_base {
        out.push(format!(
            "the file name says this is a diff package: the modem must already run build {base} (not provable from the content)"
        ));
    }
    out
}

fn hints_json(h: &NameHints<'_>) -> Value {
    json!({
        "family": h.family,
        "version": h.version.map(|[a, b, c, d]| format!("{a}.{b}.{c}.{d}")),
        "build": h.build,
        "diff_base": h.diff_base,
        "step": h.step,
    })
}

fn status_ok(status: SignatureStatus) -> Value {
    status.ok().map_or(Value::Null, Value::Bool)
}

fn status_text(status: SignatureStatus) -> String {
    match status {
        SignatureStatus::Valid => "ok".into(),
        SignatureStatus::Mismatch { stored, computed } => {
            format!("MISMATCH (stored 0x{stored:08x}, computed 0x{computed:08x})")
        }
        SignatureStatus::Unverifiable => "present, not verifiable here".into(),
        SignatureStatus::Absent => "none".into(),
        SignatureStatus::NotChecked => "not checked".into(),
    }
}

fn elf_json(e: &ElfInfo) -> Value {
    json!({
        "offset": e.offset,
        "endian": if e.big_endian { "big" } else { "little" },
        "machine": e.machine,
        "entry": e.entry,
        "segments": e.segments,
        "sections": e.sections,
        "version": e.version.map(|v| v.to_string()),
    })
}

fn flash_json(c: &Container) -> Value {
    match c.payload {
        Payload::Raw => Value::Null,
        Payload::FlashFullHeader => json!({"format": "fff-full", "checked": false}),
        Payload::Opaque(m) => json!({"format": "opaque", "magic": m.to_string()}),
        Payload::Flash(f) => {
            let (content, elf) = match f.content {
                FlashContent::Elf(e) => ("elf", Some(e)),
                FlashContent::Ielf { elf, .. } => ("ielf", elf),
                FlashContent::Opaque(_) => ("opaque", None),
                FlashContent::NotChecked => ("not_checked", None),
            };
            json!({
                "format": "fff-slim",
                "offset": f.offset,
                "payload_len": f.payload_len,
                "trailer": {"type": f.trailer.ty.name(), "ok": status_ok(f.trailer.status),
                    "word_order": f.trailer_order.map(|o| format!("{o:?}").to_lowercase())},
                "content": content,
                "elf": elf.as_ref().map(elf_json),
            })
        }
    }
}

fn report_json(path: &str, r: &Report) -> Value {
    let hints = NameHints::parse(file_name(path));
    let packages: Vec<Value> = r
        .containers
        .iter()
        .map(|c| {
            json!({
                "offset": c.offset,
                "depth": c.depth,
                "magic": c.magic.to_string(),
                "format": c.format,
                "description": c.description.as_str(),
                "component": c.component.map(|k| k.name()),
                "size": c.total_len,
                "data_size": c.data_len,
                "signature": {"type": c.signature.ty.name(), "ok": status_ok(c.signature.status)},
                "flash": flash_json(c),
            })
        })
        .collect();
    let mut errors: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
    if r.problems_dropped > 0 {
        errors.push(format!("…and {} more problems", r.problems_dropped));
    }
    json!({
        "file": path,
        "valid": r.is_valid(),
        "kind": r.kind.name(),
        "size": r.size,
        "crc32": r.crc32.map(|c| format!("{c:08x}")),
        "packages": packages,
        "version": r.target_version.map(|t| json!({
            "text": t.version.to_string(),
            "build": t.version.build,
            "ati1": t.version.ati1().to_string(),
        })),
        "elf": r.elf.as_ref().map(elf_json),
        "name_hints": hints_json(&hints),
        "warnings": name_warnings(&hints, r),
        "errors": errors,
    })
}

fn print_tree(path: &str, r: &Report) {
    let verdict = if r.is_valid() { "VALID" } else { "INVALID" };
    let crc = r
        .crc32
        .map(|c| format!(", CRC-32 {c:08x}"))
        .unwrap_or_default();
    println!(
        "{path}: {} bytes{crc}, {}: {verdict}",
        r.size,
        r.kind.name()
    );
    match r.target_version {
        Some(t) => println!(
            "  target version: {} (ATI1 will read {})",
            t.version,
            t.version.ati1()
        ),
        None => println!("  target version: not found in the content"),
    }
    if let Some(e) = &r.elf {
        println!("  {}", elf_line(e));
    }
    for c in &r.containers {
        let indent = "  ".repeat(usize::from(c.depth) + 1);
        let component = c.component.map(|k| format!(" {k}")).unwrap_or_default();
        println!(
            "{indent}0x{:06x} {} v{}{component} \"{}\" {} bytes, signature {} {}",
            c.offset,
            c.magic,
            c.format,
            c.description,
            c.total_len,
            c.signature.ty,
            status_text(c.signature.status)
        );
        let inner = format!("{indent}         ");
        match c.payload {
            Payload::Raw => {}
            Payload::FlashFullHeader => {
                println!("{inner}FFF! full header (layout not public; not interpreted)")
            }
            Payload::Opaque(m) => {
                println!("{inner}payload starts with {m}: not interpreted (e.g. a diff)")
            }
            Payload::Flash(f) => {
                let order = f
                    .trailer_order
                    .map(|o| format!(", {o:?}-endian words"))
                    .unwrap_or_default();
                println!(
                    "{inner}FFF! payload {} bytes, trailer {} {}{order}",
                    f.payload_len,
                    f.trailer.ty,
                    status_text(f.trailer.status)
                );
                match f.content {
                    FlashContent::Elf(e) => println!("{inner}{}", elf_line(&e)),
                    FlashContent::Ielf {
                        elf_offset,
                        elf_len,
                        elf,
                    } => {
                        println!("{inner}IELF: ELF at +{elf_offset}, {elf_len} bytes");
                        if let Some(e) = elf {
                            println!("{inner}{}", elf_line(&e));
                        }
                    }
                    FlashContent::Opaque(m) => {
                        println!("{inner}payload starts with {m}: not interpreted")
                    }
                    FlashContent::NotChecked => {}
                }
            }
        }
    }
    for w in name_warnings(&NameHints::parse(file_name(path)), r) {
        println!("  note: {w}");
    }
    for p in &r.problems {
        println!("  PROBLEM {p}");
    }
    if r.problems_dropped > 0 {
        println!("  …and {} more problems", r.problems_dropped);
    }
}

fn elf_line(e: &ElfInfo) -> String {
    let version = e
        .version
        .map(|v| format!(", version {v}"))
        .unwrap_or_else(|| ", no .versionString".into());
    format!(
        "ELF32 {}-endian, machine 0x{:x}, {} segments, {} sections{version}",
        if e.big_endian { "big" } else { "little" },
        e.machine,
        e.segments,
        e.sections
    )
}
