//! AT commands, sans-IO: bytes in → lines → echo / information / URC / final result → typed responses.
//!
//! Three layers, each usable alone:
//!
//! 1. [`Digester`] splits received bytes into lines; [`classify`] says what a line is given the command
//!    in flight. Pure functions of their input, no command knowledge.
//! 2. [`AtCommand`] describes one command: its text and terminator, its timeout and how often it may be
//!    resent, and how its information lines fold into a typed response. The typed commands the upgrade
//!    needs are in the table of the [`commands`] module docs ([`QueryBootMode`] → [`BootMode`],
//!    [`QueryUpgrade`] → [`UpgradeStatus`], [`Identify`] → [`Identity`], …).
//! 3. [`Exchange`] runs one command: [`request`](Exchange::request) gives the bytes to write,
//!    [`push`](Exchange::push) digests the reply one byte at a time and ends in [`Step::Done`].
//!    [`UrcListener`] digests the link between commands (waiting for `+SYSSTART`).
//!
//! Nothing here blocks, sleeps, reads a clock or allocates: the driver (`transport::Link`) moves the
//! bytes and enforces the deadlines the commands ask for.
//!
//! # Reply grammar (V.250 as the modem uses it)
//!
//! A reply is zero or more information lines, then one final result line. URCs may be interleaved
//! anywhere, including between the lines of a reply. With echo on, the command line comes back first.
//!
//! | Bytes on the wire | Line | Kind |
//! | --- | --- | --- |
//! | `41 54 2b 53 4d 4f 44 3f 0d` | `AT+SMOD?` | echo (equal to the command text; on after every boot until `ATE0`) |
//! | `0d 0a` | – | blank: noise, dropped |
//! | `32 0d 0a` | `2` | information |
//! | `0d 0a 2b 43 45 52 45 47 3a 20 32 0d 0a` | `+CEREG: 2` | URC (starts with `+`, not the command's info prefix) |
//! | `0d 0a 4f 4b 0d 0a` | `OK` | final: success |
//! | `45 52 52 4f 52 0d 0a` | `ERROR` | final: rejected |
//! | `2b 43 4d 45 20 45 52 52 4f 52 3a 20 31 30 0d 0a` | `+CME ERROR: 10` | final: rejected with a 27.007 code |
//! | `+CMS ERROR: <n>` | | final: rejected with a 27.005 code |
//!
//! A whole application reply to `AT+SMOD?` with echo on is therefore
//! `AT+SMOD?\r` `\r\n2\r\n` `\r\nOK\r\n`; the FFH bootloader (SMOD 0) answers the same command with
//! exactly `0\r\nOK\r\n` (no echo, no leading CR LF).
//!
//! Line rules ([`Digester`]): CR, LF or both end a line; blank lines are dropped; spaces, tabs and NUL
//! bytes around a line are trimmed; a line longer than the digester's capacity is reported once
//! ([`LineTooLong`]) and skipped up to its terminator.
//!
//! Classification rules ([`classify`]), in order: equal to the command → echo; `OK` / `ERROR` /
//! `+CME ERROR:` / `+CMS ERROR:` → final; a line starting with `+` or `^` that does not start with the
//! command's [`info_prefix`](AtCommand::info_prefix) → URC; anything else → information. With no
//! command in flight every non-final line is a URC. Comparisons ignore ASCII case.
//!
//! # Terminators
//!
//! | Receiver | Command terminator | Source |
//! | --- | --- | --- |
//! | application, loader, updater (SMOD 1–4) | `\r\n` ([`Terminator::CrLf`]; a bare `\r` also works) | Pycom sends `\r\n`, Microchip `\r` |
//! | FFH bootloader (SMOD 0) | a bare `\n` ([`Terminator::Lf`]) | Pycom: `AT+STP\n`, `AT+IPR=921600\n` |
//!
//! Replies always end their lines with `\r\n`.
//!
//! # What is confirmed and what is inferred
//!
//! | Fact | Status |
//! | --- | --- |
//! | `AT+SMOD?` answers a bare integer line, then `OK` (`0\r\nOK\r\n` from the bootloader) | confirmed (console log, spec §2.1) |
//! | `ATI1` answers `UE5.0.0.0d` / `LR5.1.1.0-38638`; the LR build is the package build | confirmed (Pycom README, spec §3.13) |
//! | `AT!="showver"` rows `Bootloader0 : 5.1.1.0 [33080]`, `Software : … [38638] by …` | confirmed (logs in issues, spec §3.13) |
//! | `AT+CGSN` answers a 15-digit IMEI line | confirmed (spec §3.13) |
//! | `+SMUPGRADE:` replies contain `success`, `fail`, `No report` or `on-going` | confirmed as substrings only (spec §3.10) |
//! | the quotes and the `,"<reason>"` field of a `+SMUPGRADE:` failure | inferred (the simulator's guess): parsed leniently |
//! | `AT+SMSWBOOT?` answers something containing `RECOVERY`, `FFH` or `FFF` | confirmed as substrings only; the `+SMSWBOOT: 3,"RECOVERY"` shape is inferred |
//! | `+SMOD: 2` and `+CGSN: "…"` forms | not seen anywhere; accepted anyway because they cost nothing |
//! | textual `+CME ERROR: <text>` (after `AT+CMEE=2`) | standard 27.007 behaviour, not seen in a Sequans log |
//!
//! # Example
//!
//! ```
//! use modem_upgrade::protocol::at::{BootMode, Exchange, QueryBootMode, Step};
//!
//! let mut exchange: Exchange<QueryBootMode> = Exchange::new(QueryBootMode::new());
//! assert_eq!(exchange.request().unwrap().as_slice(), b"AT+SMOD?\r\n");
//!
//! let mut answer = None;
//! for &byte in b"AT+SMOD?\r\r\n2\r\n\r\n+CEREG: 2\r\n\r\nOK\r\n" {
//!     match exchange.push(byte) {
//!         Step::Done(result) => answer = Some(result),
//!         Step::Urc(line) => assert_eq!(line, b"+CEREG: 2"),
//!         Step::Echo | Step::Pending => {}
//!     }
//! }
//! assert_eq!(answer, Some(Ok(BootMode::Application)));
//! ```

mod boot_mode;
mod command;
pub mod commands;
mod digest;
mod error;
mod exchange;
mod replies;

pub use boot_mode::BootMode;
pub use command::{
    AtCommand, CommandText, Found, MAX_COMMAND_LEN, MAX_REQUEST_LEN, RequestBytes, Terminator, put,
    put_decimal,
};
pub use commands::{
    Attention, AttentionWithin, BOOT_SELECTION_CAPACITY, EchoOff, Identify, IdentityLines,
    LoaderStp, QueryBootMode, QueryBootSelection, QueryImei, QueryUpgrade, SelectBoot, SetBaud,
    SetFunctionality, ShowVersion, SoftReset, StartStp, StartUpgrade, VersionLines,
};
pub use digest::{
    DEFAULT_LINE_CAPACITY, Digester, FinalResult, LineKind, LineTooLong, Overflow, classify,
};
pub use error::{AtError, FOUND_CAPACITY, lossy};
pub use exchange::{Exchange, Step, UrcListener};
pub use replies::{
    IMEI_CAPACITY, Identity, REASON_CAPACITY, UE_CAPACITY, UpgradeStatus, VersionTable,
    boot_selection_mode, parse_boot_mode, parse_imei, showver_row,
};
