//! `cargo xtask sd-image --out PATH [--size MIB] [--cluster BYTES] [--folder NAME] FILE...`:
//! a FAT32 SD-card image (MBR, partition type 0x0C at LBA 2048) holding the files under their own
//! long names, written as a sparse file, then listed as read back from that file.
//!
//! Exit codes: 0 written and listed; 1 reading or writing failed; 2 bad input (no FILE, a missing
//! or unreadable FILE, duplicate names, bad numbers, a layout that cannot exist), with the usage.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sd_image::{BuildError, Entry, Layout, Listing};

const MIB: u64 = 1024 * 1024;

/// The parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    out: PathBuf,
    size_mib: Option<u64>,
    cluster_bytes: Option<u32>,
    folder: Option<String>,
    files: Vec<PathBuf>,
}

/// Why the command failed: bad input (exit 2, with the usage) or an I/O failure (exit 1).
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Usage(String),
    Io(String),
}

pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{}", crate::USAGE);
        return ExitCode::SUCCESS;
    }
    let result = parse(args)
        .map_err(Failure::Usage)
        .and_then(|options| execute(&options));
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(message)) => crate::usage_error(&format!("sd-image: {message}")),
        Err(Failure::Io(message)) => {
            eprintln!("error: sd-image: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut out = None;
    let mut size_mib = None;
    let mut cluster_bytes = None;
    let mut folder = None;
    let mut files = Vec::new();
    let mut rest = args.iter();
    let mut only_files = false;
    while let Some(arg) = rest.next() {
        if only_files || !arg.starts_with('-') || arg == "-" {
            files.push(PathBuf::from(arg));
            continue;
        }
        if arg == "--" {
            only_files = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name {
            "--out" => set_once(&mut out, name, PathBuf::from(value()?))?,
            "--size" => set_once(&mut size_mib, name, number::<u64>(name, &value()?)?)?,
            "--cluster" => set_once(&mut cluster_bytes, name, number::<u32>(name, &value()?)?)?,
            "--folder" => {
                let folder_name = value()?;
                if folder_name.is_empty() {
                    return Err("--folder needs a non-empty name".to_owned());
                }
                set_once(&mut folder, name, folder_name)?;
            }
            _ => return Err(format!("unknown option `{arg}`")),
        }
    }
    let out = out.ok_or("--out PATH is required")?;
    if files.is_empty() {
        return Err("no FILE given: name at least one file to put on the card".to_owned());
    }
    if size_mib == Some(0) {
        return Err("--size must be at least 1 (MiB)".to_owned());
    }
    Ok(Options {
        out,
        size_mib,
        cluster_bytes,
        folder,
        files,
    })
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{name} is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{name} wants a whole number, got `{text}`"))
}

/// Reads the files, builds and saves the card, and returns the report printed on success.
fn execute(options: &Options) -> Result<String, Failure> {
    let mut names: Vec<(String, Vec<u8>)> = Vec::with_capacity(options.files.len());
    for file in &options.files {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            return Err(Failure::Usage(format!(
                "{} has no file name in UTF-8 to use on the card",
                file.display()
            )));
        };
        let data = std::fs::read(file)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
        let path = match &options.folder {
            Some(folder) => format!("{folder}/{name}"),
            None => name.to_owned(),
        };
        if let Some((earlier, _)) = names
            .iter()
            .find(|(p, _)| p.to_uppercase() == path.to_uppercase())
        {
            return Err(Failure::Usage(format!(
                "two files would both be {earlier:?} on the card (FAT names ignore case): {}",
                file.display()
            )));
        }
        names.push((path, data));
    }
    let total: u64 = names.iter().map(|(_, d)| d.len() as u64).sum();
    let mut layout = Layout::fat32_for(total);
    if let Some(mib) = options.size_mib {
        layout.size_bytes = mib
            .checked_mul(MIB)
            .ok_or_else(|| Failure::Usage(format!("--size {mib} MiB is too large")))?;
    }
    if let Some(cluster) = options.cluster_bytes {
        layout.cluster_bytes = cluster;
    }
    let entries: Vec<Entry> = names
        .iter()
        .map(|(path, data)| Entry { path, data })
        .collect();
    let disk = sd_image::build_image(&layout, &entries).map_err(build_failure)?;
    disk.save(&options.out)
        .map_err(|e| Failure::Io(format!("writing {}: {e}", options.out.display())))?;
    let listing = read_back(&options.out)?;
    Ok(report(&options.out, &listing))
}

/// I/O failures exit 1; everything else `build_image` refuses is bad input.
fn build_failure(error: BuildError) -> Failure {
    match error {
        BuildError::Io { .. } => Failure::Io(error.to_string()),
        _ => Failure::Usage(error.to_string()),
    }
}

/// Lists the card from the file just written (not from memory), so the report shows what is on disk.
fn read_back(path: &Path) -> Result<Listing, Failure> {
    let mut file =
        File::open(path).map_err(|e| Failure::Io(format!("reopening {}: {e}", path.display())))?;
    sd_image::list(&mut file)
        .map_err(|e| Failure::Io(format!("reading {} back: {e}", path.display())))
}

fn report(path: &Path, listing: &Listing) -> String {
    let mut text = String::new();
    let _ = write!(text, "wrote {}", path.display());
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = write!(text, ": {} MiB card", meta.len() / MIB);
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let allocated = meta.blocks() * 512;
            let _ = write!(
                text,
                ", {:.1} MiB allocated on disk (sparse file)",
                allocated as f64 / MIB as f64
            );
        }
    }
    let _ = write!(text, "\n{listing}");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("xtask-sd-image-{}-{name}", std::process::id()))
    }

    #[test]
    fn parses_options_in_both_spellings() {
        let options = parse(&args(&[
            "--out",
            "card.img",
            "--size=300",
            "--cluster",
            "8192",
            "--folder=FW",
            "a.dup",
            "--",
            "--odd-name.elf",
        ]))
        .unwrap();
        assert_eq!(
            options,
            Options {
                out: "card.img".into(),
                size_mib: Some(300),
                cluster_bytes: Some(8192),
                folder: Some("FW".to_owned()),
                files: vec!["a.dup".into(), "--odd-name.elf".into()],
            }
        );
    }

    #[test]
    fn refuses_bad_command_lines() {
        for (line, wanted) in [
            (&["a.dup"][..], "--out PATH is required"),
            (&["--out", "x.img"][..], "no FILE given"),
            (
                &["--out", "x.img", "--size", "ten", "a"][..],
                "whole number",
            ),
            (&["--out", "x.img", "--size", "0", "a"][..], "at least 1"),
            (
                &["--out", "x.img", "--cluster", "-1", "a"][..],
                "whole number",
            ),
            (
                &["--out", "x.img", "--out", "y.img", "a"][..],
                "given twice",
            ),
            (&["--out", "x.img", "--bogus", "a"][..], "unknown option"),
            (&["--out"][..], "needs a value"),
        ] {
            let error = parse(&args(line)).unwrap_err();
            assert!(error.contains(wanted), "{line:?}: {error}");
        }
    }

    #[test]
    fn builds_saves_and_lists_a_card() {
        let a = temp("CATM1-38638.dup");
        let b = temp("updater-37781.elf");
        std::fs::write(&a, vec![0x42; 100_000]).unwrap();
        std::fs::write(&b, b"ELF").unwrap();
        let out = temp("card.img");
        let options = Options {
            out: out.clone(),
            size_mib: None,
            cluster_bytes: None,
            folder: Some("FW".to_owned()),
            files: vec![a.clone(), b.clone()],
        };
        let report = execute(&options).unwrap();
        let prefix = format!("xtask-sd-image-{}-", std::process::id());
        assert!(
            report.contains(&format!("FW/{prefix}CATM1-38638.dup")),
            "{report}"
        );
        assert!(report.contains("100,000"), "{report}");
        assert!(report.contains("partition 1 at LBA 2048"), "{report}");
        assert!(report.contains("FAT32, 4096-byte clusters"), "{report}");
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 258 * MIB);

        // --size too small for FAT32 with 4 KiB clusters: bad input with the numbers.
        let small = Options {
            size_mib: Some(64),
            ..options
        };
        match execute(&small) {
            Err(Failure::Usage(message)) => {
                assert!(
                    message.contains("FAT32 needs at least 65,525 clusters"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        for path in [a, b, out] {
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn missing_files_and_duplicates_are_bad_input() {
        let options = |files: Vec<PathBuf>| Options {
            out: temp("never.img"),
            size_mib: None,
            cluster_bytes: None,
            folder: None,
            files,
        };
        let missing = execute(&options(vec![temp("no-such-file.dup")]));
        assert!(
            matches!(&missing, Err(Failure::Usage(m)) if m.contains("cannot read")),
            "{missing:?}"
        );

        let dir_a = temp("a");
        let dir_b = temp("b");
        std::fs::create_dir_all(&dir_a).unwrap();
        std::fs::create_dir_all(&dir_b).unwrap();
        std::fs::write(dir_a.join("x.dup"), b"1").unwrap();
        std::fs::write(dir_b.join("X.DUP"), b"2").unwrap();
        let twice = execute(&options(vec![dir_a.join("x.dup"), dir_b.join("X.DUP")]));
        assert!(
            matches!(&twice, Err(Failure::Usage(m)) if m.contains("ignore case")),
            "{twice:?}"
        );
        assert!(!temp("never.img").exists());
        std::fs::remove_dir_all(dir_a).unwrap();
        std::fs::remove_dir_all(dir_b).unwrap();
    }
}
