//! The AT command vocabulary the simulated modem understands, parsed from the command-line text.
//!
//! Written from the commands the real upgrade tools send (spec §2–3); the modem decides per boot mode
//! which of them it accepts. Command names are case-insensitive, arguments are kept as sent.

/// One parsed command (the text after the `AT` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `AT`: liveness.
    Attention,
    /// `ATE0` / `ATE1` (`ATE` = `ATE0`).
    Echo(bool),
    /// `ATI` (0) and `ATI1` (1); other numbers are answered with ERROR.
    Identify(u8),
    /// `AT!="showver"`: the version table.
    ShowVersion,
    /// `AT+SMOD?`: the boot mode.
    BootModeQuery,
    /// `AT+SMSWBOOT=<target>,<reset>` (`reset` defaults to 0).
    SelectBoot {
        /// 0 FFH, 1 FFF, 2 updater, 3 recovery/upgrade.
        target: u8,
        /// 1: reboot now.
        reset: u8,
    },
    /// `AT+SMSWBOOT?`.
    BootSelectionQuery,
    /// `AT^RESET`.
    Reset,
    /// `AT+CFUN=<fun>[,<rst>]`.
    SetFunctionality(u8, Option<u8>),
    /// `AT+CFUN?`.
    FunctionalityQuery,
    /// `AT+BIND=...`, `AT+SQNSUPGRADENTF=...`, `AT+SQNWL=...`: accepted and only logged, as the
    /// tools only log their replies.
    Accepted(String),
    /// `AT+SMLOG?`.
    LogQuery,
    /// `AT+SMSTPU="ON_THE_FLY"`: STP, programming as the package arrives.
    StpOnTheFly,
    /// `AT+SMSTPU`: STP, storing the package for a later `AT+SMUPGRADE`.
    StpStore,
    /// `AT+SMUPGRADE`: program the stored package.
    StartUpgrade,
    /// `AT+SMUPGRADE?`: the upgrade verdict.
    UpgradeQuery,
    /// `AT+CGSN`: the IMEI.
    Imei,
    /// `AT+IPR=<rate>`.
    SetBaud(u32),
    /// `AT+IPR?`.
    BaudQuery,
    /// `AT+STP`: only the FFH bootloader accepts it.
    Stp,
    /// Anything else (answered with ERROR).
    Unknown(String),
}

/// Standard UART rates `AT+IPR` accepts.
pub const BAUD_RATES: [u32; 12] = [
    9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600, 1_000_000, 1_843_200,
    3_000_000, 3_686_400,
];

/// Parses the text after `AT` (for example `+SMSWBOOT=3,1`, `I1`, `!="showver"`).
pub fn parse(body: &str) -> Command {
    let upper = body.to_ascii_uppercase();
    let unknown = || Command::Unknown(body.to_string());
    let (name, arg) = match upper.split_once('=') {
        Some((n, _)) => (n, body.get(n.len() + 1..).unwrap_or("")),
        None => (upper.as_str(), ""),
    };
    let has_arg = upper.contains('=');
    match (name, has_arg) {
        ("", false) => Command::Attention,
        ("E" | "E0", false) => Command::Echo(false),
        ("E1", false) => Command::Echo(true),
        ("I" | "I0", false) => Command::Identify(0),
        ("I1", false) => Command::Identify(1),
        ("!", true) if arg.trim() == "\"showver\"" => Command::ShowVersion,
        ("+SMOD?", false) => Command::BootModeQuery,
        ("+SMSWBOOT?", false) => Command::BootSelectionQuery,
        ("+SMSWBOOT", true) => {
            let mut it = arg.split(',').map(|s| s.trim().parse::<u8>());
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(target)), None, None) => Command::SelectBoot { target, reset: 0 },
                (Some(Ok(target)), Some(Ok(reset)), None) => Command::SelectBoot { target, reset },
                _ => unknown(),
            }
        }
        ("^RESET", false) => Command::Reset,
        ("+CFUN?", false) => Command::FunctionalityQuery,
        ("+CFUN", true) => {
            let mut it = arg.split(',').map(|s| s.trim().parse::<u8>());
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(f)), None, None) => Command::SetFunctionality(f, None),
                (Some(Ok(f)), Some(Ok(r)), None) => Command::SetFunctionality(f, Some(r)),
                _ => unknown(),
            }
        }
        ("+BIND" | "+SQNSUPGRADENTF" | "+SQNWL", true) => Command::Accepted(body.to_string()),
        ("+SMLOG?", false) => Command::LogQuery,
        ("+SMSTPU", true) if arg.trim().eq_ignore_ascii_case("\"ON_THE_FLY\"") => {
            Command::StpOnTheFly
        }
        ("+SMSTPU", false) => Command::StpStore,
        ("+SMUPGRADE", false) => Command::StartUpgrade,
        ("+SMUPGRADE?", false) => Command::UpgradeQuery,
        ("+CGSN", false) => Command::Imei,
        ("+IPR?", false) => Command::BaudQuery,
        ("+IPR", true) => match arg.trim().parse::<u32>() {
            Ok(rate) if BAUD_RATES.contains(&rate) => Command::SetBaud(rate),
            _ => unknown(),
        },
        ("+STP", false) => Command::Stp,
        _ => unknown(),
    }
}

/// A verbose (ATV1) reply: each information line framed by CR LF, then the final result code.
pub fn reply(info: &[String], ok: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if !info.is_empty() {
        out.extend_from_slice(b"\r\n");
        for line in info {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(if ok { b"\r\nOK\r\n" } else { b"\r\nERROR\r\n" });
    out
}

/// An unsolicited result code, framed like an information line.
pub fn urc(text: &str) -> Vec<u8> {
    format!("\r\n{text}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_tools_send() {
        assert_eq!(parse(""), Command::Attention);
        assert_eq!(parse("E0"), Command::Echo(false));
        assert_eq!(parse("e1"), Command::Echo(true));
        assert_eq!(parse("I"), Command::Identify(0));
        assert_eq!(parse("I1"), Command::Identify(1));
        assert_eq!(parse("I7"), Command::Unknown("I7".into()));
        assert_eq!(parse("!=\"showver\""), Command::ShowVersion);
        assert_eq!(parse("+SMOD?"), Command::BootModeQuery);
        assert_eq!(parse("+smod?"), Command::BootModeQuery);
        assert_eq!(
            parse("+SMSWBOOT=3,1"),
            Command::SelectBoot {
                target: 3,
                reset: 1
            }
        );
        assert_eq!(
            parse("+SMSWBOOT=1"),
            Command::SelectBoot {
                target: 1,
                reset: 0
            }
        );
        assert_eq!(
            parse("+SMSWBOOT=x,1"),
            Command::Unknown("+SMSWBOOT=x,1".into())
        );
        assert_eq!(parse("+SMSWBOOT?"), Command::BootSelectionQuery);
        assert_eq!(parse("^RESET"), Command::Reset);
        assert_eq!(parse("+CFUN=4"), Command::SetFunctionality(4, None));
        assert_eq!(parse("+CFUN=5,1"), Command::SetFunctionality(5, Some(1)));
        assert_eq!(parse("+BIND=AT"), Command::Accepted("+BIND=AT".into()));
        assert_eq!(
            parse("+SQNSUPGRADENTF=\"started\""),
            Command::Accepted("+SQNSUPGRADENTF=\"started\"".into())
        );
        assert_eq!(
            parse("+SQNWL=\"sqndcc\",2"),
            Command::Accepted("+SQNWL=\"sqndcc\",2".into())
        );
        assert_eq!(parse("+SMLOG?"), Command::LogQuery);
        assert_eq!(parse("+SMSTPU=\"ON_THE_FLY\""), Command::StpOnTheFly);
        assert_eq!(parse("+SMSTPU"), Command::StpStore);
        assert_eq!(
            parse("+SMSTPU=\"OTHER\""),
            Command::Unknown("+SMSTPU=\"OTHER\"".into())
        );
        assert_eq!(parse("+SMUPGRADE"), Command::StartUpgrade);
        assert_eq!(parse("+SMUPGRADE?"), Command::UpgradeQuery);
        assert_eq!(parse("+CGSN"), Command::Imei);
        assert_eq!(parse("+IPR=921600"), Command::SetBaud(921_600));
        assert_eq!(parse("+IPR=12345"), Command::Unknown("+IPR=12345".into()));
        assert_eq!(parse("+IPR?"), Command::BaudQuery);
        assert_eq!(parse("+STP"), Command::Stp);
        assert_eq!(parse("+FOO"), Command::Unknown("+FOO".into()));
    }

    #[test]
    fn reply_shapes() {
        assert_eq!(reply(&[], true), b"\r\nOK\r\n");
        assert_eq!(reply(&[], false), b"\r\nERROR\r\n");
        assert_eq!(reply(&["2".into()], true), b"\r\n2\r\n\r\nOK\r\n");
        assert_eq!(
            reply(&["UE5.0.0.0".into(), "LR5.1.1.0-38638".into()], true),
            b"\r\nUE5.0.0.0\r\nLR5.1.1.0-38638\r\n\r\nOK\r\n"
        );
        assert_eq!(urc("+SYSSTART"), b"\r\n+SYSSTART\r\n");
    }
}
