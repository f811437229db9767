//! `modem-sim`: serve a simulated Sequans modem over TCP or a pseudo-terminal (see docs/simulator.md).

use modem_sim::serve::{self, Endpoint, PtyEndpoint, ServeOptions, TcpEndpoint};
use modem_sim::{BootMode, FaultSpec, Model, Modem, Pacing, ResponseCrc, SimConfig, SimVersion};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const USAGE: &str = "\
usage: modem-sim (--listen HOST:PORT | --pty) [options]

Serves a simulated Sequans Monarch modem (AT + STP) to an external host, on wall time.

  --listen HOST:PORT     serve one TCP client at a time (port 0 picks a free port; the address is printed)
  --pty                  create a pseudo-terminal and print its path; open it like a serial port
  --model NAME           sqn3330 (default; also gm01q) or gm02s
  --mode MODE            app (AT+SMOD? 2, default), recovery (4), loader-wait (0), loader (1)
  --firmware VERSION     installed firmware, e.g. LR5.1.1.0-38638 (default depends on --model)
  --stp-version 1|2      STP version the modem reports (default: 1 for sqn3330, 2 for gm02s)
  --max-transfer N       max_transfer in upgrade/loader modes (default 8192; the FFH bootloader uses 2048)
  --baud-model N         pace bytes as a UART at N baud would (default: no pacing)
  --flash-time SECONDS   programming time after a package transfer (default 60)
  --boot-time SECONDS    reboot time (default 3)
  --loader-time SECONDS  time a loader ELF takes to start (default 5)
  --faults SPEC          fault injection, e.g. seed=7,flip=0.0001,power-loss=programming@0.5
  --response-hcrc        fill the header CRC of STP responses (the real modem leaves it 0)
  --silent-programming   answer nothing while programming
  --data-mode            start in PPP data mode (only +++ gets the AT interpreter back)
  --once                 exit when the first client disconnects
  --transcript FILE      write the transcript there at exit
  --verbose              print the transcript live on stderr
  --help                 this text

At exit (end of --once, Ctrl-C, SIGTERM) the final modem state is printed on stderr.";

struct Args {
    listen: Option<String>,
    pty: bool,
    once: bool,
    transcript: Option<String>,
    verbose: bool,
    cfg: SimConfig,
}

fn seconds(flag: &str, v: &str) -> Result<u64, String> {
    match v.parse::<f64>() {
        Ok(s) if s >= 0.0 && s.is_finite() => Ok((s * 1e9) as u64),
        _ => Err(format!(
            "{flag} {v}: expected a number of seconds, e.g. {flag} 2.5"
        )),
    }
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut it = argv.iter();
    let mut listen = None;
    let mut pty = false;
    let mut once = false;
    let mut transcript = None;
    let mut verbose = false;
    let mut model = Model::Sqn3330;
    let mut settings: Vec<(String, String)> = Vec::new();
    let mut flags: Vec<String> = Vec::new();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value (see --help)"))
        };
        match arg.as_str() {
            "--help" | "-h" => return Err(String::new()),
            "--listen" => listen = Some(value("--listen")?),
            "--pty" => pty = true,
            "--once" => once = true,
            "--verbose" | "-v" => verbose = true,
            "--transcript" => transcript = Some(value("--transcript")?),
            "--model" => {
                let v = value("--model")?;
                model = Model::parse(&v)
                    .ok_or_else(|| format!("--model {v}: expected sqn3330, gm01q or gm02s"))?;
            }
            "--response-hcrc" | "--silent-programming" | "--data-mode" => flags.push(arg.clone()),
            "--mode" | "--firmware" | "--stp-version" | "--max-transfer" | "--baud-model"
            | "--flash-time" | "--boot-time" | "--loader-time" | "--faults" => {
                let v = value(arg)?;
                settings.push((arg.clone(), v));
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    let mut cfg = match model {
        Model::Sqn3330 => SimConfig::sqn3330(),
        Model::Gm02s => SimConfig::gm02s(),
    };
    cfg.pacing = Pacing::Instant;
    cfg.transcript_limit = 100_000;
    for (flag, v) in settings {
        match flag.as_str() {
            "--mode" => {
                cfg.initial_mode = BootMode::parse(&v).ok_or_else(|| {
                    format!("--mode {v}: expected app, recovery, loader-wait or loader")
                })?
            }
            "--firmware" => {
                cfg.firmware = Some(v.parse::<SimVersion>().map_err(|_| {
                    format!("--firmware {v}: expected a version like LR5.1.1.0-38638")
                })?)
            }
            "--stp-version" => {
                cfg.stp_version = match v.as_str() {
                    "1" => 1,
                    "2" => 2,
                    _ => return Err(format!("--stp-version {v}: expected 1 or 2")),
                }
            }
            "--max-transfer" => {
                cfg.max_transfer = match v.parse::<u16>() {
                    Ok(n) if n > 16 => n,
                    _ => {
                        return Err(format!(
                            "--max-transfer {v}: expected a frame size between 17 and 65535 bytes"
                        ));
                    }
                }
            }
            "--baud-model" => {
                cfg.pacing = match v.parse::<u32>() {
                    Ok(n) if n > 0 => Pacing::Fixed(n),
                    _ => {
                        return Err(format!(
                            "--baud-model {v}: expected a baud rate such as 921600"
                        ));
                    }
                }
            }
            "--flash-time" => cfg.flash_time = seconds("--flash-time", &v)?,
            "--boot-time" => cfg.boot_time = seconds("--boot-time", &v)?,
            "--loader-time" => cfg.loader_start_time = seconds("--loader-time", &v)?,
            "--faults" => {
                cfg.faults = FaultSpec::parse(&v).map_err(|e| format!("--faults {v}: {e}"))?
            }
            _ => unreachable!("every setting flag is listed above"),
        }
    }
    for flag in flags {
        match flag.as_str() {
            "--response-hcrc" => cfg.response_crc = ResponseCrc::Both,
            "--silent-programming" => cfg.at_during_programming = false,
            "--data-mode" => cfg.start_in_data_mode = true,
            _ => unreachable!("every flag is listed above"),
        }
    }
    if listen.is_some() == pty {
        return Err("give exactly one of --listen HOST:PORT or --pty (see --help)".into());
    }
    Ok(Args {
        listen,
        pty,
        once,
        transcript,
        verbose,
        cfg,
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("modem-sim: {msg}");
            return ExitCode::from(2);
        }
    };
    let mut modem = Modem::new(args.cfg);
    modem.transcript_mut().echo_to_stderr = args.verbose;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
        eprintln!(
            "modem-sim: warning: cannot install the Ctrl-C handler ({e}); the final report needs --once"
        );
    }
    let opts = ServeOptions {
        once: args.once,
        stop,
    };
    let mut endpoint: Box<dyn Endpoint> = if let Some(addr) = &args.listen {
        match TcpEndpoint::bind(addr) {
            Ok(ep) => {
                match ep.local_addr() {
                    Ok(a) => println!("modem-sim: listening on {a}"),
                    Err(_) => println!("modem-sim: listening on {addr}"),
                }
                Box::new(ep)
            }
            Err(e) => {
                eprintln!("modem-sim: cannot listen on {addr}: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        debug_assert!(args.pty);
        match PtyEndpoint::open() {
            Ok(ep) => {
                println!("modem-sim: pty {}", ep.path());
                Box::new(ep)
            }
            Err(e) => {
                eprintln!("modem-sim: cannot create a pseudo-terminal: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let status = modem.status();
    println!(
        "modem-sim: {} in {} mode (AT+SMOD? = {}), firmware {}, STP v{}",
        match status.flash.firmware.as_ref() {
            Some(_) => "modem",
            None => "modem (firmware damaged)",
        },
        status.mode.name(),
        status.mode.smod(),
        status
            .flash
            .firmware
            .as_ref()
            .map_or("none".into(), SimVersion::lr),
        modem.config().stp_version,
    );
    let result = serve::serve(&mut modem, endpoint.as_mut(), &opts);
    eprintln!("{}", modem.status());
    if let Some(path) = &args.transcript
        && let Err(e) = std::fs::write(path, modem.transcript().to_string())
    {
        eprintln!("modem-sim: cannot write the transcript to {path}: {e}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modem-sim: serving failed: {e}");
            ExitCode::from(1)
        }
    }
}
