//! Simulator configuration: which modem, which state it starts in, and how it behaves.

use crate::faults::FaultSpec;
use crate::time::{MS, Nanos, SECOND};
use crate::version::SimVersion;

/// The modem's boot mode, as `AT+SMOD?` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootMode {
    /// 0: the FFH bootloader waits for a loader ELF (`updater.elf` / `mtools.elf`) over `AT+STP`.
    LoaderWait,
    /// 1: a loader ELF pushed by the host is running from RAM and accepts a package.
    Loader,
    /// 2: the normal application (FFF).
    App,
    /// 3: the updater image (never observed by a host; kept for completeness).
    Updater,
    /// 4: upgrade ("recovery" in Walter/Microchip terms): the updater accepts a package ON_THE_FLY.
    Upgrade,
}

impl BootMode {
    /// The `AT+SMOD?` value.
    pub fn smod(self) -> u8 {
        match self {
            BootMode::LoaderWait => 0,
            BootMode::Loader => 1,
            BootMode::App => 2,
            BootMode::Updater => 3,
            BootMode::Upgrade => 4,
        }
    }

    /// The mode a boot selection (`AT+SMSWBOOT=<target>`) leads to.
    pub fn from_boot_target(target: u8) -> Option<Self> {
        Some(match target {
            0 => BootMode::LoaderWait,
            1 => BootMode::App,
            2 => BootMode::Updater,
            3 => BootMode::Upgrade,
            _ => return None,
        })
    }

    /// The `--mode` name.
    pub fn name(self) -> &'static str {
        match self {
            BootMode::LoaderWait => "loader-wait",
            BootMode::Loader => "loader",
            BootMode::App => "app",
            BootMode::Updater => "updater",
            BootMode::Upgrade => "recovery",
        }
    }

    /// Parses a `--mode` name (`app`, `recovery`, `loader-wait`, `loader`; `upgrade` is an alias of
    /// `recovery`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "app" => BootMode::App,
            "recovery" | "upgrade" => BootMode::Upgrade,
            "loader-wait" => BootMode::LoaderWait,
            "loader" => BootMode::Loader,
            _ => return None,
        })
    }
}

/// Which modem family is simulated; it fixes the defaults that differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Monarch 1 (Pycom FiPy/GPy, GM01Q): application at 921600 baud, FFH bootloader at 115200,
    /// `FFF!` trailers over big-endian words.
    Sqn3330,
    /// Monarch 2: everything at 115200 baud, `FFF!` trailers over little-endian words.
    Gm02s,
}

impl Model {
    /// Parses a `--model` name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sqn3330" | "gm01q" | "monarch1" => Some(Model::Sqn3330),
            "gm02s" | "monarch2" => Some(Model::Gm02s),
            _ => None,
        }
    }
}

/// How bytes are paced on the simulated line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Bytes arrive instantly (the binary's default: the real transport paces them).
    Instant,
    /// Every byte takes the time it would at this fixed baud rate (`--baud-model N`).
    Fixed(u32),
    /// Every byte takes the time it would at the modem's current baud rate (the in-process default).
    LineRate,
}

/// Which CRC fields the modem fills in its STP responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCrc {
    /// hcrc = 0 and pcrc = 0 ("not provided").
    None,
    /// hcrc = 0 (as the real SQN3330's RESET ACK), pcrc computed when there is a payload. The default.
    PayloadOnly,
    /// Both computed.
    Both,
}

/// Everything that configures one simulated modem.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Modem family.
    pub model: Model,
    /// Boot mode at power-on (`--mode`).
    pub initial_mode: BootMode,
    /// Installed firmware (`--firmware`); `None` models an erased/damaged firmware (forces loader-wait).
    pub firmware: Option<SimVersion>,
    /// Bootloader version shown by `AT!="showver"`.
    pub bootloader: SimVersion,
    /// STP protocol version the slave reports (1 or 2).
    pub stp_version: u8,
    /// `max_transfer` reported in upgrade and loader modes (default 8192).
    pub max_transfer: u16,
    /// `max_transfer` reported by the FFH bootloader after `AT+STP` (default 2048).
    pub bootloader_max_transfer: u16,
    /// Application (and upgrade mode) baud rate.
    pub app_baud: u32,
    /// FFH bootloader baud rate.
    pub bootloader_baud: u32,
    /// Byte pacing.
    pub pacing: Pacing,
    /// Programming time after a package transfer (`--flash-time`).
    pub flash_time: Nanos,
    /// Reboot time (from reset to answering AT).
    pub boot_time: Nanos,
    /// Time a loader ELF takes to start after its transfer.
    pub loader_start_time: Nanos,
    /// How long the modem stays off after a power loss.
    pub power_off_time: Nanos,
    /// Delay between a complete AT command and the first byte of its reply.
    pub at_turnaround: Nanos,
    /// Delay between a complete STP request and its response.
    pub stp_turnaround: Nanos,
    /// An incomplete STP frame is dropped after this much silence on the line.
    pub frame_gap: Nanos,
    /// CRC fields in STP responses.
    pub response_crc: ResponseCrc,
    /// Whether the modem answers AT while programming (`false`: silent until done, which hosts must
    /// survive: Pycom waits with AT wake-ups for minutes).
    pub at_during_programming: bool,
    /// Start in PPP data mode (only `+++` with a 1 s guard gets the AT interpreter back).
    pub start_in_data_mode: bool,
    /// Largest package `AT+SMSTPU` (store-then-`AT+SMUPGRADE`) accepts (Pycom's 4 MiB rule).
    pub store_limit: usize,
    /// IMEI for `AT+CGSN`.
    pub imei: String,
    /// Accept ECDSA/RSA signed containers without checking them.
    pub accept_unverifiable_signatures: bool,
    /// Faults to inject.
    pub faults: FaultSpec,
    /// Output kept for an absent TCP/pty client (bytes).
    pub offline_buffer: usize,
    /// Transcript entries kept (older ones are counted, not stored).
    pub transcript_limit: usize,
}

impl SimConfig {
    /// A Monarch 1 (SQN3330) in application mode running `LR5.1.1.0-38638`.
    pub fn sqn3330() -> Self {
        Self {
            model: Model::Sqn3330,
            initial_mode: BootMode::App,
            firmware: Some(SimVersion {
                text: "5.1.1.0".into(),
                build: 38638,
            }),
            bootloader: SimVersion {
                text: "5.1.1.0".into(),
                build: 38638,
            },
            stp_version: 1,
            max_transfer: 8192,
            bootloader_max_transfer: 2048,
            app_baud: 921_600,
            bootloader_baud: 115_200,
            pacing: Pacing::LineRate,
            flash_time: 60 * SECOND,
            boot_time: 3 * SECOND,
            loader_start_time: 5 * SECOND,
            power_off_time: 2 * SECOND,
            at_turnaround: 2 * MS,
            stp_turnaround: MS / 2,
            frame_gap: 100 * MS,
            response_crc: ResponseCrc::PayloadOnly,
            at_during_programming: true,
            start_in_data_mode: false,
            store_limit: 4 * 1024 * 1024,
            imei: "354346099225475".into(),
            accept_unverifiable_signatures: false,
            faults: FaultSpec::default(),
            offline_buffer: 64 * 1024,
            transcript_limit: 200_000,
        }
    }

    /// A Monarch 2 (GM02S) in application mode running `LR8.0.5.13-59577`, STP version 2.
    pub fn gm02s() -> Self {
        Self {
            model: Model::Gm02s,
            firmware: Some(SimVersion {
                text: "8.0.5.13".into(),
                build: 59577,
            }),
            bootloader: SimVersion {
                text: "8.0.5.13".into(),
                build: 59577,
            },
            stp_version: 2,
            app_baud: 115_200,
            bootloader_baud: 115_200,
            ..Self::sqn3330()
        }
    }

    /// A copy with a different initial mode.
    pub fn with_mode(mut self, mode: BootMode) -> Self {
        self.initial_mode = mode;
        self
    }

    /// A copy with faults.
    pub fn with_faults(mut self, faults: FaultSpec) -> Self {
        self.faults = faults;
        self
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::sqn3330()
    }
}
