//! The command line: options, their checks, and the usage text.

use std::path::PathBuf;

use modem_sim::{BootMode as SimMode, FaultSpec};
use modem_upgrade::transport::serial::FlowControl;

pub const USAGE: &str = "\
usage: upgrade_from_sd [options]

Upgrades a Sequans Monarch modem (SQN3330 / GM01Q / GM02S) from the firmware package on an SD card.
With no options: builds target/demo/sd.img and upgrades the built-in simulated modem from it.

  --sd PATH          FAT card image or block device (/dev/sdb), or a plain directory
                     (default: the demo card, rebuilt on every run)
  --image NAME       the package's file name, long or 8.3 (default: the one .dup on the card)
  --loader NAME      loader ELF for a modem in loader-wait mode (updater.elf / mtools.elf)
  --port DEV         a real serial port (/dev/ttyUSB0, COM3)
  --baud N           its first baud rate to try (default 921600; 115200 is tried too)
  --flow rtscts|none serial flow control (default rtscts, as Sequans modems use)
  --connect HOST:PORT  a TCP stream as the UART (e.g. a `modem-sim --listen` process)
  --force            install even when the modem runs the same or a newer version
  --json             print one JSON report object on stdout at the end (human text on stderr)
  --sim-faults SPEC  faults for the built-in simulator (modem-sim --faults grammar),
                     e.g. seed=3,flip=0.00002,residue=0.01
  --sim-mode MODE    the built-in simulator's start mode: app (default), recovery, loader-wait, loader
  --sim-transcript FILE  write the built-in simulator's transcript (every AT line, STP frame and
                     state change, with its virtual time) to FILE at the end
  --help             this text

Without --port or --connect the built-in simulator is the modem.
Exit code: 0 upgraded (or already current), 1 failed, 2 bad input (the modem untouched).";

/// Where the modem is.
pub enum Modem {
    Simulator {
        mode: SimMode,
        faults: FaultSpec,
        transcript: Option<PathBuf>,
    },
    Serial {
        port: String,
        baud: u32,
        flow: FlowControl,
    },
    Tcp {
        addr: String,
    },
}

pub struct Args {
    pub sd: Option<PathBuf>,
    pub image: Option<String>,
    pub loader: Option<String>,
    pub modem: Modem,
    pub force: bool,
}

/// How a run ended before the upgrader could report.
pub enum Stop {
    /// Usage text requested.
    Help,
    /// Bad arguments: usage on stderr, exit 2.
    Usage(String),
    /// Bad input (card, file): exit 2.
    Rejected(String),
    /// The modem could not be reached at all: exit 1.
    Failed(String),
}

pub fn parse_args(argv: &[String]) -> Result<Args, Stop> {
    let mut it = argv.iter();
    let (mut sd, mut image, mut loader) = (None, None, None);
    let (mut port, mut baud, mut flow, mut connect) = (None, None, None, None);
    let mut force = false;
    let (mut sim_faults, mut sim_mode, mut sim_transcript) = (None, None, None);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Stop::Usage(format!("{name} needs a value")))
        };
        if inline.is_some() && matches!(name, "--help" | "--json" | "--force") {
            return Err(Stop::Usage(format!("{name} takes no value")));
        }
        match name {
            "--help" | "-h" => return Err(Stop::Help),
            // Read by `main` before parsing, so that even bad arguments get a JSON report.
            "--json" => {}
            "--force" => force = true,
            "--sd" => sd = Some(PathBuf::from(value()?)),
            "--image" => image = Some(value()?),
            "--loader" => loader = Some(value()?),
            "--port" => port = Some(value()?),
            "--connect" => connect = Some(value()?),
            "--baud" => {
                let v = value()?;
                baud = Some(v.parse::<u32>().ok().filter(|&b| b > 0).ok_or_else(|| {
                    Stop::Usage(format!("--baud {v}: expected a baud rate such as 921600"))
                })?);
            }
            "--flow" => {
                let v = value()?;
                flow = Some(match v.as_str() {
                    "rtscts" | "hw" | "hardware" => FlowControl::Hardware,
                    "none" => FlowControl::None,
                    _ => return Err(Stop::Usage(format!("--flow {v}: expected rtscts or none"))),
                });
            }
            "--sim-faults" => {
                let v = value()?;
                let spec = FaultSpec::parse(&v)
                    .map_err(|e| Stop::Usage(format!("--sim-faults {v}: {e}")))?;
                sim_faults = Some(spec);
            }
            "--sim-transcript" => sim_transcript = Some(PathBuf::from(value()?)),
            "--sim-mode" => {
                let v = value()?;
                let mode = match v.as_str() {
                    "app" | "recovery" | "loader-wait" | "loader" => SimMode::parse(&v),
                    _ => None,
                };
                sim_mode = Some(mode.ok_or_else(|| {
                    Stop::Usage(format!(
                        "--sim-mode {v}: expected app, recovery, loader-wait or loader"
                    ))
                })?);
            }
            other if other.starts_with('-') => {
                return Err(Stop::Usage(format!("unknown option {other}")));
            }
            other => return Err(Stop::Usage(format!("unexpected argument {other}"))),
        }
    }
    let usage = |text: &str| Err(Stop::Usage(text.into()));
    if port.is_some() && connect.is_some() {
        return usage("--port and --connect exclude each other: give one modem");
    }
    let simulated = sim_faults.is_some() || sim_mode.is_some() || sim_transcript.is_some();
    if simulated && (port.is_some() || connect.is_some()) {
        return usage(
            "--sim-faults, --sim-mode and --sim-transcript are for the built-in simulator, not --port/--connect",
        );
    }
    if (baud.is_some() || flow.is_some()) && port.is_none() {
        return usage(
            "--baud and --flow need --port (a TCP stream and the built-in simulator have no baud rate)",
        );
    }
    let modem = match (port, connect) {
        (Some(port), _) => Modem::Serial {
            port,
            baud: baud.unwrap_or(921_600),
            flow: flow.unwrap_or(FlowControl::Hardware),
        },
        (None, Some(addr)) => Modem::Tcp { addr },
        (None, None) => Modem::Simulator {
            mode: sim_mode.unwrap_or(SimMode::App),
            faults: sim_faults.unwrap_or_default(),
            transcript: sim_transcript,
        },
    };
    Ok(Args {
        sd,
        image,
        loader,
        modem,
        force,
    })
}
