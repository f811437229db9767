//! Host tools: finding a program (on `PATH`, then in the sbin folders) and installing Debian
//! packages with `apt-get` when that is possible (root, or password-less `sudo`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cmd;

/// Searched after `PATH` (a non-root `PATH` often lacks the sbin folders `mkfs.fat` lives in).
const SBIN_DIRS: &[&str] = &["/usr/sbin", "/sbin"];
/// Bound on each `apt-get` run (a stuck mirror or dpkg lock must not eat the CI budget).
const APT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How often a long `apt-get` run says it is still going.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// The first executable `name` on `PATH`, then in /usr/sbin and /sbin.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// `apt-get install -y --no-install-recommends PACKAGES` as root (or through `sudo -n`), with
/// `apt-get update` once and a retry when the first attempt fails; each run is time-bounded.
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    let apt = find_tool("apt-get").ok_or("apt-get not found: not a Debian/Ubuntu machine")?;
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| {
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0"
    });
    let sudo = if root {
        None
    } else if cmd::succeeds(Command::new("sudo").args(["-n", "true"])) {
        Some("sudo")
    } else {
        return Err("not root and `sudo -n true` is not allowed".to_owned());
    };
    let apt_get = |args: &[&str]| {
        let mut command = match sudo {
            Some(sudo) => {
                let mut command = cmd::tool(sudo, ["-n", "env", "DEBIAN_FRONTEND=noninteractive"]);
                command.arg(&apt);
                command
            }
            None => {
                let mut command = cmd::tool(&apt, [] as [&str; 0]);
                command.env("DEBIAN_FRONTEND", "noninteractive");
                command
            }
        };
        command.args(args);
        cmd::run_with_timeout(&mut command, APT_TIMEOUT, HEARTBEAT)
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(packages);
    match apt_get(&install) {
        Ok(()) => Ok(()),
        Err(first) => {
            println!("{first}; running `apt-get update` once and retrying");
            apt_get(&["update"])?;
            apt_get(&install)
        }
    }
}
