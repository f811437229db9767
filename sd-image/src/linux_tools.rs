//! The same cards made by the standard Linux tools (`sfdisk` from util-linux/fdisk, `mkfs.fat` from
//! dosfstools, `mmd` and `mcopy` from mtools), so the tests also see volumes that `fatfs` did not
//! write.
//!
//! Steps of [`build`]: `File::set_len`; `sfdisk` writes the table (`label: dos` with one partition
//! of the layout's type at `start_lba`, or `label: gpt` with one Microsoft basic data partition);
//! the partition is read back from the image; `mkfs.fat -F {12|16|32} -S 512 -s {sectors per
//! cluster} -f 2 -r 512 -h {start} --offset {start}` formats it (or the whole file with
//! `--mbr=n` for a superfloppy); `mmd -i IMAGE@@OFFSET` makes the folders and
//! `mcopy -m -i IMAGE@@OFFSET` copies the files (mtools keeps long names); finally [`crate::list`]
//! reads the card back and it must show the FAT type, table and files asked for.
//!
//! Files get the modification time 2000-01-01 00:00 (their staging copies are stamped so and
//! `mcopy -m` keeps it), the volume ID and label are the pure-Rust builder's and `mkfs.fat` runs
//! with `--invariant`; folders made by `mmd` carry the current time, so these images are not
//! byte-for-byte reproducible the way [`crate::build`]'s are.
//!
//! The tools are looked up on `PATH` and in `/usr/sbin`, `/sbin`, `/usr/bin` and `/bin` (a
//! non-root `PATH` often lacks the sbin directories where `mkfs.fat` and `sfdisk` live).

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use crate::build::{Plan, check_read_back};
use crate::error::BuildError;
use crate::layout::{Fat, Layout, ROOT_ENTRIES, SECTOR, Table, VOLUME_ID};
use crate::table;

/// Every tool [`build`] may run, in the order [`missing`] reports them.
const TOOLS: [&str; 4] = ["mkfs.fat", "mcopy", "mmd", "sfdisk"];
/// Searched after `PATH`.
const EXTRA_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
/// Modification time given to the copied files (2000-01-01 00:00 UTC), so it does not depend on
/// when the test ran.
const FILE_MTIME_SECS: u64 = 946_684_800;

/// Why [`build`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ToolError {
    /// A tool is not installed (on Debian/Ubuntu: `apt-get install dosfstools mtools fdisk`).
    Missing {
        /// Its name, e.g. `"mkfs.fat"`.
        tool: &'static str,
    },
    /// The layout or the entries were refused before any tool ran (same checks as
    /// [`crate::build`]).
    Rejected(BuildError),
    /// A tool ran and failed.
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The tools succeeded but the card does not read back as asked (e.g. `mkfs.fat` chose a
    /// geometry with a cluster count of another FAT type).
    Mismatch(BuildError),
    /// Creating, writing or reading a file failed.
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Missing { tool } => write!(
                f,
                "{tool} is not installed (looked on PATH and in /usr/sbin, /sbin, /usr/bin, /bin): \
                 install dosfstools, mtools and fdisk (apt-get install dosfstools mtools fdisk)"
            ),
            ToolError::Rejected(e) => write!(f, "{e}"),
            ToolError::Failed {
                command,
                status,
                stderr,
            } => write!(
                f,
                "`{command}` failed ({status}): {}",
                if stderr.trim().is_empty() {
                    "it printed nothing on stderr"
                } else {
                    stderr.trim()
                }
            ),
            ToolError::Mismatch(e) => write!(f, "the card made by the Linux tools is wrong: {e}"),
            ToolError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for ToolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ToolError::Rejected(e) | ToolError::Mismatch(e) => Some(e),
            ToolError::Io { source, .. } => Some(source),
            ToolError::Missing { .. } | ToolError::Failed { .. } => None,
        }
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> ToolError {
    let context = context.into();
    move |source| ToolError::Io { context, source }
}

/// The first of `mkfs.fat`, `mcopy`, `mmd`, `sfdisk` that is not installed, or `None` when all are.
pub fn missing() -> Option<&'static str> {
    TOOLS.into_iter().find(|tool| find(tool).is_none())
}

/// Where `tool` is: the first executable file of that name on `PATH`, then in the sbin/bin
/// directories.
fn find(tool: &str) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Builds the card `layout` describes at `out` (created or truncated) with the Linux tools and
/// copies `entries` onto it under their long names.
///
/// # Errors
/// [`ToolError::Missing`] when a needed tool is absent (`sfdisk` is not needed for a superfloppy,
/// `mmd` only with folders); [`ToolError::Rejected`] for an invalid layout or entries (checked
/// first, like [`crate::build`]); [`ToolError::Failed`] when a tool fails;
/// [`ToolError::Mismatch`] when the result does not read back as asked.
pub fn build(out: &Path, layout: &Layout, entries: &[crate::Entry]) -> Result<(), ToolError> {
    let geometry = layout.geometry().map_err(ToolError::Rejected)?;
    let plan = Plan::new(entries).map_err(ToolError::Rejected)?;
    let tool = |name: &'static str| find(name).ok_or(ToolError::Missing { tool: name });
    let mkfs = tool("mkfs.fat")?;
    let mcopy = tool("mcopy")?;
    let mmd = if plan.dirs.is_empty() {
        None
    } else {
        Some(tool("mmd")?)
    };
    let sfdisk = match layout.table {
        Table::Superfloppy => None,
        Table::Mbr { .. } | Table::GptProtective => Some(tool("sfdisk")?),
    };

    let file = File::create(out).map_err(io_error(format!("creating {}", out.display())))?;
    file.set_len(layout.size_bytes)
        .map_err(io_error(format!("sizing {}", out.display())))?;
    drop(file);

    // The partition as the tools laid it out (sfdisk may align the end), or the whole card.
    let (start_lba, volume_sectors) = match sfdisk {
        Some(sfdisk) => {
            let script = sfdisk_script(layout, geometry.volume_start_lba, geometry.volume_sectors);
            let mut command = Command::new(sfdisk);
            command
                .args(["--no-reread", "--no-tell-kernel", "--quiet"])
                .arg(out);
            run(&mut command, Some(&script))?;
            let mut image = open_rw(out)?;
            let extent = table::detect(&mut image).map_err(ToolError::Mismatch)?;
            (extent.start_lba, extent.sectors)
        }
        None => (0, geometry.disk_sectors),
    };

    let fat_bits = match layout.fat {
        Fat::Fat12 => "12",
        Fat::Fat16 => "16",
        Fat::Fat32 => "32",
    };
    let mut command = Command::new(mkfs);
    // `--invariant` first: it also sets the volume ID, and a later `-i` overrides it.
    command
        .arg("--invariant")
        .args(["-F", fat_bits, "-S", "512", "-f", "2", "-r"])
        .arg(ROOT_ENTRIES.to_string())
        .arg("-s")
        .arg(geometry.sectors_per_cluster.to_string())
        .arg("-i")
        .arg(format!("{VOLUME_ID:08X}"))
        .arg("-h")
        .arg(start_lba.to_string());
    let label = String::from_utf8_lossy(&geometry.label)
        .trim_end()
        .to_owned();
    if label != "NO NAME" {
        command.arg("-n").arg(&label);
    }
    if layout.table == Table::Superfloppy {
        command.arg("--mbr=n");
    } else {
        command.arg(format!("--offset={start_lba}"));
    }
    // mkfs.fat counts in 1024-byte blocks; an odd last sector of the partition stays unused.
    command
        .arg(out)
        .arg((u64::from(volume_sectors) / 2).to_string());
    run(&mut command, None)?;

    let image = mtools_image(out, u64::from(start_lba) * SECTOR);
    if let Some(mmd) = mmd {
        for dir in &plan.dirs {
            let mut command = Command::new(&mmd);
            command.arg("-i").arg(&image).arg(format!("::/{dir}"));
            mtools_env(&mut command);
            run(&mut command, None)?;
        }
    }
    let staging = Staging::new()?;
    for (index, entry) in plan.files.iter().enumerate() {
        let source = staging.write(index, entry.data)?;
        let mut command = Command::new(&mcopy);
        command
            .args(["-m", "-i"])
            .arg(&image)
            .arg(&source)
            .arg(format!("::/{}", entry.path));
        mtools_env(&mut command);
        run(&mut command, None)?;
    }
    drop(staging);

    let mut image = open_rw(out)?;
    check_read_back(&mut image, layout, &geometry, &plan).map_err(ToolError::Mismatch)
}

/// The `sfdisk` input: one partition of the layout's type (MBR) or a basic-data partition (GPT).
fn sfdisk_script(layout: &Layout, start: u32, sectors: u32) -> String {
    match layout.table {
        Table::Mbr { type_id } => format!(
            "label: dos\nunit: sectors\n\nstart={start}, size={sectors}, type={type_id:x}\n"
        ),
        _ => format!(
            "label: gpt\nunit: sectors\n\nstart={start}, size={sectors}, \
             type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n"
        ),
    }
}

/// `IMAGE@@OFFSET`, mtools' way to address a partition inside an image file.
fn mtools_image(out: &Path, offset: u64) -> OsString {
    let mut spec = out.as_os_str().to_owned();
    if offset != 0 {
        spec.push(format!("@@{offset}"));
    }
    spec
}

/// Don't let mtools refuse a volume whose geometry it did not make itself, and don't read a user's
/// `~/.mtoolsrc`.
fn mtools_env(command: &mut Command) {
    command
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("MTOOLSRC", "/dev/null");
}

fn open_rw(path: &Path) -> Result<File, ToolError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error(format!("opening {}", path.display())))
}

/// Runs `command` with `stdin` (or nothing: a tool that prompts gets end-of-file instead of
/// hanging) and turns a failure into [`ToolError::Failed`] with its stderr.
fn run(command: &mut Command, stdin: Option<&str>) -> Result<(), ToolError> {
    let shown = render(command);
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(io_error(format!("starting `{shown}`")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(io_error(format!("feeding `{shown}`")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(io_error(format!("waiting for `{shown}`")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ToolError::Failed {
            command: shown,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

fn render(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    std::iter::once(program)
        .chain(command.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A private temporary folder holding the entries' contents for `mcopy`, removed on drop.
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn new() -> Result<Self, ToolError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sd-image-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        Ok(Staging { dir })
    }

    /// Writes `data` to a file named by `index` (the card name comes from the mcopy target) with a
    /// fixed modification time.
    fn write(&self, index: usize, data: &[u8]) -> Result<PathBuf, ToolError> {
        let path = self.dir.join(format!("{index}.bin"));
        let context = format!("writing {}", path.display());
        let mut file = File::create(&path).map_err(io_error(context.clone()))?;
        file.write_all(data).map_err(io_error(context.clone()))?;
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(FILE_MTIME_SECS))
            .map_err(io_error(context))?;
        Ok(path)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temp dir is harmless.
        let _ = fs::remove_dir_all(&self.dir);
    }
}
