//! The AT layer against hand-written byte streams: line splitting, classification, every typed
//! command's exact request bytes, and realistic replies (shapes from sequans-protocol.md §2–3 and the
//! simulator's `modem.rs`), including the failure replies and the error each one must produce.

use modem_upgrade::image::FirmwareVersion;
use modem_upgrade::protocol::at::{
    AtCommand, AtError, Attention, BootMode, CommandText, Digester, EchoOff, Exchange, FinalResult,
    Identify, Identity, LineKind, LineTooLong, LoaderStp, QueryBootMode, QueryBootSelection,
    QueryImei, QueryUpgrade, SelectBoot, SetBaud, SetFunctionality, ShowVersion, SoftReset,
    StartStp, StartUpgrade, Step, Terminator, UpgradeStatus, UrcListener, VersionTable,
    boot_selection_mode, classify, put,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Feeds `bytes` to a digester one by one and collects what it completed.
fn lines<const N: usize>(d: &mut Digester<N>, bytes: &[u8]) -> Vec<Result<Vec<u8>, LineTooLong>> {
    let mut out = Vec::new();
    for &b in bytes {
        if let Some(r) = d.push(b) {
            out.push(r.map(<[u8]>::to_vec));
        }
    }
    out
}

fn ok_lines(items: &[&[u8]]) -> Vec<Result<Vec<u8>, LineTooLong>> {
    items.iter().map(|l| Ok(l.to_vec())).collect()
}

/// What an exchange reported while digesting a stream.
#[derive(Debug)]
struct Run<R> {
    echoes: usize,
    urcs: Vec<Vec<u8>>,
    done: Option<Result<R, AtError>>,
    /// Index of the byte on which `Done` came.
    done_at: Option<usize>,
}

fn run<C: AtCommand, const N: usize>(
    exchange: &mut Exchange<C, N>,
    bytes: &[u8],
) -> Run<C::Response>
where
    C::Response: std::fmt::Debug,
{
    let mut run = Run {
        echoes: 0,
        urcs: Vec::new(),
        done: None,
        done_at: None,
    };
    for (i, &b) in bytes.iter().enumerate() {
        match exchange.push(b) {
            Step::Pending => {}
            Step::Echo => run.echoes += 1,
            Step::Urc(line) => run.urcs.push(line.to_vec()),
            Step::Done(result) => {
                assert!(run.done.is_none(), "Done reported twice: {result:?}");
                run.done = Some(result);
                run.done_at = Some(i);
            }
        }
    }
    run
}

/// Runs `command` against `reply` with the default line capacity; asserts the request bytes first.
fn exchange<C: AtCommand>(command: C, request: &[u8], reply: &[u8]) -> Run<C::Response>
where
    C::Response: std::fmt::Debug,
{
    let mut ex: Exchange<C> = Exchange::new(command);
    assert_eq!(
        ex.request().expect("request fits").as_slice(),
        request,
        "request bytes of {}",
        C::NAME
    );
    assert!(!ex.is_done());
    let run = run(&mut ex, reply);
    assert_eq!(ex.is_done(), run.done.is_some());
    run
}

fn done<R: std::fmt::Debug>(run: Run<R>) -> Result<R, AtError> {
    run.done.expect("the exchange ended")
}

fn s<const N: usize>(text: &str) -> heapless::String<N> {
    heapless::String::try_from(text).expect("fits")
}

// ---------------------------------------------------------------------------------------------
// Digester

#[test]
fn echo_info_and_ok_become_three_lines() {
    let mut d = Digester::<128>::new();
    assert_eq!(
        lines(&mut d, b"AT+SMOD?\r\r\n2\r\n\r\nOK\r\n"),
        ok_lines(&[b"AT+SMOD?", b"2", b"OK"])
    );
    assert_eq!(d.partial(), b"");
}

#[test]
fn urc_between_reply_lines_is_its_own_line() {
    let mut d: Digester = Digester::new();
    assert_eq!(
        lines(
            &mut d,
            b"ATI1\r\r\nUE5.0.0.0d\r\n+CEREG: 2\r\nLR5.1.1.0-38638\r\n\r\nOK\r\n"
        ),
        ok_lines(&[
            b"ATI1",
            b"UE5.0.0.0d",
            b"+CEREG: 2",
            b"LR5.1.1.0-38638",
            b"OK"
        ])
    );
}

#[test]
fn partial_lines_fed_byte_by_byte() {
    let mut d: Digester = Digester::new();
    for (i, &b) in b"LR5.1.1.0-38638".iter().enumerate() {
        assert_eq!(d.push(b), None);
        assert_eq!(d.partial(), &b"LR5.1.1.0-38638"[..=i]);
    }
    assert_eq!(d.push(b'\r'), Some(Ok(&b"LR5.1.1.0-38638"[..])));
    assert_eq!(d.partial(), b"");
    assert_eq!(d.push(b'\n'), None);
}

#[test]
fn odd_chunks_give_the_same_lines_as_one_chunk() {
    let stream: &[u8] = b"\r\nUE5.0.0.0d\r\n+CEREG: 2\r\nLR5.1.1.0-38638\r\n\r\nOK\r\n";
    let whole = lines(&mut Digester::<128>::new(), stream);
    for chunk in [1, 2, 3, 5, 7, 11, 13, 64] {
        let mut d = Digester::<128>::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            got.extend(lines(&mut d, piece));
        }
        assert_eq!(got, whole, "chunk size {chunk}");
    }
    // A split in the middle of a CR LF pair and in the middle of a line.
    let mut d = Digester::<128>::new();
    let mut got = lines(&mut d, b"\r\nUE5.0.0");
    assert_eq!(d.partial(), b"UE5.0.0");
    got.extend(lines(&mut d, b".0d\r"));
    got.extend(lines(&mut d, b"\n+CEREG: 2\r\nLR5.1.1.0-38638\r\n\r\nO"));
    assert_eq!(d.partial(), b"O");
    got.extend(lines(&mut d, b"K\r\n"));
    assert_eq!(got, whole);
}

#[test]
fn blank_lines_and_padding_are_dropped() {
    let mut d: Digester = Digester::new();
    assert_eq!(
        lines(
            &mut d,
            b"\r\n\r\n\n\r  \r\n\t\r\n\0\r\n  OK  \r\n\0\0ERROR\0\r\n"
        ),
        ok_lines(&[b"OK", b"ERROR"])
    );
}

#[test]
fn bare_cr_and_bare_lf_end_lines() {
    let mut d: Digester = Digester::new();
    assert_eq!(
        lines(&mut d, b"one\rtwo\nthree\n\rfour\r"),
        ok_lines(&[b"one", b"two", b"three", b"four"])
    );
}

#[test]
fn bootloader_reply_with_crlf_only_after_lines() {
    let mut d: Digester = Digester::new();
    assert_eq!(lines(&mut d, b"0\r\nOK\r\n"), ok_lines(&[b"0", b"OK"]));
}

#[test]
fn over_long_line_reported_once_then_next_line_recovers() {
    let mut d = Digester::<8>::new();
    assert_eq!(
        lines(&mut d, b"12345678\r\n123456789ABCDEF\r\nOK\r\n"),
        vec![
            Ok(b"12345678".to_vec()),
            Err(LineTooLong { capacity: 8 }),
            Ok(b"OK".to_vec()),
        ]
    );
    // The error comes on the byte that overflows, not at the terminator.
    let mut d = Digester::<4>::new();
    assert_eq!(lines(&mut d, b"abcd"), vec![]);
    assert_eq!(d.push(b'e'), Some(Err(LineTooLong { capacity: 4 })));
    assert_eq!(d.partial(), b"");
    assert_eq!(lines(&mut d, b"fghijklmnop"), vec![]);
    assert_eq!(lines(&mut d, b"\r\nOK\r\n"), ok_lines(&[b"OK"]));
    // Leading padding does not count against the capacity.
    assert_eq!(lines(&mut d, b"        OK\r\n"), ok_lines(&[b"OK"]));
}

#[test]
fn reset_forgets_the_unfinished_line() {
    let mut d: Digester = Digester::new();
    assert_eq!(lines(&mut d, b"\xff\xfe garbage at the wrong baud"), vec![]);
    d.reset();
    assert_eq!(d.partial(), b"");
    assert_eq!(lines(&mut d, b"OK\r\n"), ok_lines(&[b"OK"]));
    // Also leaves the discarding state.
    let mut d = Digester::<2>::new();
    assert_eq!(
        lines(&mut d, b"abc"),
        vec![Err(LineTooLong { capacity: 2 })]
    );
    d.reset();
    assert_eq!(lines(&mut d, b"OK\r"), ok_lines(&[b"OK"]));
}

#[test]
fn line_too_long_message_names_the_capacity() {
    let text = LineTooLong { capacity: 128 }.to_string();
    assert!(text.contains("128"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// classify and FinalResult

#[test]
fn finals_are_recognised() {
    let cases: [(&[u8], FinalResult); 10] = [
        (b"OK", FinalResult::Ok),
        (b"ok", FinalResult::Ok),
        (b"ERROR", FinalResult::Error),
        (b"+CME ERROR: 10", FinalResult::CmeError(10)),
        (b"+CME ERROR:3", FinalResult::CmeError(3)),
        (b"+CME ERROR: SIM not inserted", FinalResult::CmeError(10)),
        (
            b"+CME ERROR: operation not allowed",
            FinalResult::CmeError(3),
        ),
        (b"+CME ERROR: something new", FinalResult::CmeError(100)),
        (b"+CME ERROR: 99999", FinalResult::CmeError(100)),
        (b"+CMS ERROR: 500", FinalResult::CmsError(500)),
    ];
    for (line, result) in cases {
        assert_eq!(FinalResult::parse(line), Some(result), "{line:?}");
        assert_eq!(
            classify(line, Some(b"AT"), None),
            LineKind::Final(result),
            "{line:?}"
        );
        assert_eq!(classify(line, None, None), LineKind::Final(result));
    }
    assert_eq!(
        FinalResult::parse(b"+CMS ERROR: memory full"),
        Some(FinalResult::CmsError(500))
    );
    for not_final in [
        &b"OKAY"[..],
        b"NO CARRIER",
        b"+CME ERRORS",
        b"0",
        b"ERROR 1",
    ] {
        assert_eq!(FinalResult::parse(not_final), None, "{not_final:?}");
    }
}

#[test]
fn final_result_display_is_the_wire_text() {
    assert_eq!(FinalResult::Ok.to_string(), "OK");
    assert_eq!(FinalResult::Error.to_string(), "ERROR");
    assert_eq!(FinalResult::CmeError(10).to_string(), "+CME ERROR: 10");
    assert_eq!(FinalResult::CmsError(321).to_string(), "+CMS ERROR: 321");
    assert!(FinalResult::Ok.is_ok());
    assert!(!FinalResult::CmeError(0).is_ok());
}

#[test]
fn classify_echo_info_and_urc() {
    let cmd = Some(&b"AT+SMUPGRADE?"[..]);
    let prefix = Some(&b"+SMUPGRADE:"[..]);
    assert_eq!(classify(b"AT+SMUPGRADE?", cmd, prefix), LineKind::Echo);
    assert_eq!(classify(b"at+smupgrade?", cmd, prefix), LineKind::Echo);
    assert_eq!(
        classify(b"+SMUPGRADE: \"success\"", cmd, prefix),
        LineKind::Info(b"+SMUPGRADE: \"success\"")
    );
    assert_eq!(
        classify(b"+CEREG: 2", cmd, prefix),
        LineKind::Urc(b"+CEREG: 2")
    );
    assert_eq!(
        classify(b"^SYSSTART", cmd, prefix),
        LineKind::Urc(b"^SYSSTART")
    );
    assert_eq!(
        classify(b"+SMUPGRADE: x", Some(b"AT+CGSN"), None),
        LineKind::Urc(b"+SMUPGRADE: x")
    );
    assert_eq!(
        classify(b"354346099225475", Some(b"AT+CGSN"), None),
        LineKind::Info(b"354346099225475")
    );
    // No command in flight: everything but finals is a URC, even the text of a command.
    assert_eq!(
        classify(b"+SYSSTART", None, None),
        LineKind::Urc(b"+SYSSTART")
    );
    assert_eq!(classify(b"2", None, None), LineKind::Urc(b"2"));
    // Padding is trimmed by classify too.
    assert_eq!(
        classify(b"  OK \t", None, None),
        LineKind::Final(FinalResult::Ok)
    );
    assert_eq!(
        classify(b" 2 ", Some(b"AT+SMOD?"), None),
        LineKind::Info(b"2")
    );
}

// ---------------------------------------------------------------------------------------------
// Typed commands: request bytes and replies

#[test]
fn attention_with_echo() {
    let run = exchange(Attention, b"AT\r\n", b"AT\r\r\nOK\r\n");
    assert_eq!(run.echoes, 1);
    assert_eq!(run.done_at, Some(7), "on the CR after OK");
    assert_eq!(done(run), Ok(()));
    assert_eq!(Attention.timeout_ms(), 1_000);
    assert_eq!(Attention.attempts(), 3);
}

#[test]
fn attention_from_the_bootloader_and_rejected() {
    assert_eq!(done(exchange(Attention, b"AT\r\n", b"OK\r\n")), Ok(()));
    assert_eq!(
        done(exchange(Attention, b"AT\r\n", b"\r\nERROR\r\n")),
        Err(AtError::Rejected {
            command: "AT",
            result: FinalResult::Error
        })
    );
}

#[test]
fn echo_off() {
    let run = exchange(EchoOff, b"ATE0\r\n", b"ATE0\r\r\nOK\r\n");
    assert_eq!(run.echoes, 1);
    assert_eq!(done(run), Ok(()));
}

#[test]
fn query_boot_mode_application() {
    let run = exchange(
        QueryBootMode::new(),
        b"AT+SMOD?\r\n",
        b"AT+SMOD?\r\r\n2\r\n\r\nOK\r\n",
    );
    assert_eq!(run.echoes, 1);
    assert_eq!(done(run), Ok(BootMode::Application));
    assert_eq!(QueryBootMode::default(), QueryBootMode::new());
}

#[test]
fn query_boot_mode_from_the_bootloader() {
    assert_eq!(QueryBootMode::bootloader().terminator(), Terminator::Lf);
    let run = exchange(QueryBootMode::bootloader(), b"AT+SMOD?\n", b"0\r\nOK\r\n");
    assert_eq!(run.echoes, 0);
    assert_eq!(done(run), Ok(BootMode::LoaderWait));
}

#[test]
fn query_boot_mode_other_forms_and_failures() {
    assert_eq!(
        done(exchange(
            QueryBootMode::new(),
            b"AT+SMOD?\r\n",
            b"\r\n4\r\n\r\nOK\r\n"
        )),
        Ok(BootMode::Upgrade)
    );
    assert_eq!(
        done(exchange(
            QueryBootMode::new(),
            b"AT+SMOD?\r\n",
            b"\r\n+SMOD: 1\r\n\r\nOK\r\n"
        )),
        Ok(BootMode::Loader)
    );
    // Noise before the answer: the first line that parses wins (Pycom's rule).
    assert_eq!(
        done(exchange(
            QueryBootMode::new(),
            b"AT+SMOD?\r\n",
            b"\xf0\x0f~\r\n2\r\nOK\r\n"
        )),
        Ok(BootMode::Application)
    );
    assert_eq!(
        done(exchange(
            QueryBootMode::new(),
            b"AT+SMOD?\r\n",
            b"\r\n7\r\n\r\nOK\r\n"
        )),
        Err(AtError::Unparsable {
            command: "AT+SMOD?",
            expected: "a boot mode number 0-4",
            found: s("7"),
        })
    );
    assert_eq!(
        done(exchange(
            QueryBootMode::new(),
            b"AT+SMOD?\r\n",
            b"\r\n\xffmode\x01\r\nOK\r\n"
        )),
        Err(AtError::Unparsable {
            command: "AT+SMOD?",
            expected: "a boot mode number 0-4",
            found: s("?mode?"),
        })
    );
    assert_eq!(
        done(exchange(
            QueryBootMode::new(),
            b"AT+SMOD?\r\n",
            b"\r\nOK\r\n"
        )),
        Err(AtError::MissingInfo {
            command: "AT+SMOD?",
            expected: "a boot mode number 0-4",
        })
    );
    assert_eq!(
        done(exchange(
            QueryBootMode::new(),
            b"AT+SMOD?\r\n",
            b"\r\n+CME ERROR: 4\r\n"
        )),
        Err(AtError::Rejected {
            command: "AT+SMOD?",
            result: FinalResult::CmeError(4),
        })
    );
}

#[test]
fn query_upgrade_verdicts() {
    let cases: [(&[u8], UpgradeStatus); 7] = [
        (
            b"\r\n+SMUPGRADE: \"success\"\r\n\r\nOK\r\n",
            UpgradeStatus::Success,
        ),
        (
            b"\r\n+SMUPGRADE: success\r\n\r\nOK\r\n",
            UpgradeStatus::Success,
        ),
        (
            b"\r\n+SMUPGRADE: \"on-going\"\r\n\r\nOK\r\n",
            UpgradeStatus::OnGoing,
        ),
        (
            b"\r\n+SMUPGRADE: \"No report\"\r\n\r\nOK\r\n",
            UpgradeStatus::NoReport,
        ),
        (
            b"\r\n+SMUPGRADE: NO REPORT\r\n\r\nOK\r\n",
            UpgradeStatus::NoReport,
        ),
        (
            b"\r\n+SMUPGRADE: \"fail\",\"bad signature in UPGR 2\"\r\n\r\nOK\r\n",
            UpgradeStatus::Failed {
                reason: s("bad signature in UPGR 2"),
            },
        ),
        (
            b"\r\n+SMUPGRADE: \"fail\"\r\n\r\nOK\r\n",
            UpgradeStatus::Failed { reason: s("") },
        ),
    ];
    for (reply, status) in cases {
        assert_eq!(
            done(exchange(QueryUpgrade, b"AT+SMUPGRADE?\r\n", reply)),
            Ok(status),
            "{}",
            String::from_utf8_lossy(reply)
        );
    }
    assert_eq!(QueryUpgrade.timeout_ms(), 5_000);
}

#[test]
fn query_upgrade_with_urc_inside_and_failures() {
    let run = exchange(
        QueryUpgrade,
        b"AT+SMUPGRADE?\r\n",
        b"AT+SMUPGRADE?\r\r\n+CEREG: 2\r\n+SMUPGRADE: \"success\"\r\n+SYSSTART\r\n\r\nOK\r\n",
    );
    assert_eq!(run.echoes, 1);
    assert_eq!(run.urcs, vec![b"+CEREG: 2".to_vec(), b"+SYSSTART".to_vec()]);
    assert_eq!(done(run), Ok(UpgradeStatus::Success));

    // "unsuccessful" is not a success, and not a known word either.
    assert_eq!(
        done(exchange(
            QueryUpgrade,
            b"AT+SMUPGRADE?\r\n",
            b"\r\n+SMUPGRADE: \"unsuccessful\"\r\n\r\nOK\r\n"
        )),
        Err(AtError::Unparsable {
            command: "AT+SMUPGRADE?",
            expected: "+SMUPGRADE: with success, fail, No report or on-going",
            found: s("+SMUPGRADE: \"unsuccessful\""),
        })
    );
    // Pycom sleeps and asks again on an empty reply: here that is MissingInfo.
    assert!(matches!(
        done(exchange(QueryUpgrade, b"AT+SMUPGRADE?\r\n", b"\r\nOK\r\n")),
        Err(AtError::MissingInfo {
            command: "AT+SMUPGRADE?",
            ..
        })
    ));
    assert_eq!(
        done(exchange(
            QueryUpgrade,
            b"AT+SMUPGRADE?\r\n",
            b"\r\nERROR\r\n"
        )),
        Err(AtError::Rejected {
            command: "AT+SMUPGRADE?",
            result: FinalResult::Error,
        })
    );
}

#[test]
fn upgrade_status_parse_is_lenient_but_conservative() {
    assert_eq!(
        UpgradeStatus::parse(b"+SMUPGRADE: fail,\"success was expected\""),
        Some(UpgradeStatus::Failed {
            reason: s("success was expected")
        })
    );
    assert_eq!(
        UpgradeStatus::parse(b"\"FAILED\""),
        Some(UpgradeStatus::Failed { reason: s("") })
    );
    assert_eq!(
        UpgradeStatus::parse(b"ongoing"),
        Some(UpgradeStatus::OnGoing)
    );
    assert_eq!(UpgradeStatus::parse(b"+SMUPGRADE: "), None);
    let long = [b'x'; 100];
    let mut line = b"+SMUPGRADE: \"fail\",\"".to_vec();
    line.extend_from_slice(&long);
    line.push(b'"');
    match UpgradeStatus::parse(&line) {
        Some(UpgradeStatus::Failed { reason }) => assert_eq!(reason.len(), 64),
        other => panic!("{other:?}"),
    }
    assert!(UpgradeStatus::Success.is_final());
    assert!(!UpgradeStatus::OnGoing.is_final());
    assert_eq!(
        UpgradeStatus::Failed { reason: s("x") }.to_string(),
        "fail (x)"
    );
}

#[test]
fn identify_with_urc_between_the_lines() {
    let run = exchange(
        Identify,
        b"ATI1\r\n",
        b"ATI1\r\r\nUE5.0.0.0d\r\n+CEREG: 2\r\nLR5.1.1.0-38638\r\n\r\nOK\r\n",
    );
    assert_eq!(run.echoes, 1);
    assert_eq!(run.urcs, vec![b"+CEREG: 2".to_vec()]);
    assert_eq!(
        done(run),
        Ok(Identity {
            version: Some(FirmwareVersion {
                numbers: [5, 1, 1, 0],
                build: 38638
            }),
            ue: s("UE5.0.0.0d"),
        })
    );
}

#[test]
fn identify_gm02s_and_partial_replies() {
    assert_eq!(
        done(exchange(
            Identify,
            b"ATI1\r\n",
            b"\r\nUE8.0.5.13\r\nLR8.0.5.13-59577\r\n\r\nOK\r\n"
        )),
        Ok(Identity {
            version: Some(FirmwareVersion {
                numbers: [8, 0, 5, 13],
                build: 59577
            }),
            ue: s("UE8.0.5.13"),
        })
    );
    // Only a UE line: no version, but not an error.
    assert_eq!(
        done(exchange(
            Identify,
            b"ATI1\r\n",
            b"\r\nUE5.0.0.0d\r\n\r\nOK\r\n"
        )),
        Ok(Identity {
            version: None,
            ue: s("UE5.0.0.0d"),
        })
    );
    assert_eq!(
        done(exchange(
            Identify,
            b"ATI1\r\n",
            b"\r\nLR5.1.1.0\r\n\r\nOK\r\n"
        )),
        Err(AtError::Unparsable {
            command: "ATI1",
            expected: "an LR line like LR5.1.1.0-38638",
            found: s("LR5.1.1.0"),
        })
    );
    assert_eq!(
        done(exchange(
            Identify,
            b"ATI1\r\n",
            b"\r\nSEQUANS\r\n\r\nOK\r\n"
        )),
        Err(AtError::MissingInfo {
            command: "ATI1",
            expected: "a UE or LR version line",
        })
    );
    // The simulator answers ERROR to ATI1 when no firmware runs.
    assert_eq!(
        done(exchange(Identify, b"ATI1\r\n", b"\r\nERROR\r\n")),
        Err(AtError::Rejected {
            command: "ATI1",
            result: FinalResult::Error,
        })
    );
}

const SHOWVER: &[u8] = b"AT!=\"showver\"\r\
\r\nSYSTEM VERSION\r\n--------------\r\n  Bootloader0  : 5.1.1.0 [33080]\r\n  Bootloader1  : 5.1.1.0 [33080]\r\n\
  Bootloader2* : 5.1.1.0 [33080]\r\n  NV Info      : 1.1,0,0\r\n\
  Software     : 5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46\r\n  UE           : 5.0.0.0d\r\n\
COMPONENTS\r\n----------\r\n  ZSP0         : 1.0.99-13604\r\n  ZSP1         : 1.0.99-12341\r\n\r\nOK\r\n";

#[test]
fn show_version_table() {
    let run = exchange(ShowVersion, b"AT!=\"showver\"\r\n", SHOWVER);
    assert_eq!(run.echoes, 1);
    assert!(run.urcs.is_empty());
    assert_eq!(
        done(run),
        Ok(VersionTable {
            software: Some(FirmwareVersion {
                numbers: [5, 1, 1, 0],
                build: 38638
            }),
            bootloader0: Some(FirmwareVersion {
                numbers: [5, 1, 1, 0],
                build: 33080
            }),
        })
    );
}

#[test]
fn show_version_without_firmware_and_failures() {
    assert_eq!(
        done(exchange(
            ShowVersion,
            b"AT!=\"showver\"\r\n",
            b"\r\nSYSTEM VERSION\r\n Bootloader0:5.1.1.0[33080]\r\n Software : none\r\n\r\nOK\r\n"
        )),
        Ok(VersionTable {
            software: None,
            bootloader0: Some(FirmwareVersion {
                numbers: [5, 1, 1, 0],
                build: 33080
            }),
        })
    );
    assert_eq!(
        done(exchange(ShowVersion, b"AT!=\"showver\"\r\n", b"\r\nOK\r\n")),
        Err(AtError::MissingInfo {
            command: "AT!=\"showver\"",
            expected: "a version table with Software and Bootloader0 rows",
        })
    );
    assert_eq!(
        done(exchange(
            ShowVersion,
            b"AT!=\"showver\"\r\n",
            b"\r\n+CME ERROR: 4\r\n"
        )),
        Err(AtError::Rejected {
            command: "AT!=\"showver\"",
            result: FinalResult::CmeError(4),
        })
    );
}

#[test]
fn select_boot_requests_and_replies() {
    let run = exchange(
        SelectBoot {
            target: 3,
            reset: true,
        },
        b"AT+SMSWBOOT=3,1\r\n",
        b"AT+SMSWBOOT=3,1\r\r\nOK\r\n",
    );
    assert_eq!(done(run), Ok(()));
    assert_eq!(
        done(exchange(
            SelectBoot {
                target: 1,
                reset: false
            },
            b"AT+SMSWBOOT=1,0\r\n",
            b"\r\nOK\r\n"
        )),
        Ok(())
    );
    assert_eq!(
        done(exchange(
            SelectBoot {
                target: 0,
                reset: true
            },
            b"AT+SMSWBOOT=0,1\r\n",
            b"\r\nERROR\r\n"
        )),
        Err(AtError::Rejected {
            command: "AT+SMSWBOOT",
            result: FinalResult::Error,
        })
    );
    let select = SelectBoot {
        target: 255,
        reset: true,
    };
    assert_eq!(
        Exchange::<_>::new(select).request().unwrap().as_slice(),
        b"AT+SMSWBOOT=255,1\r\n"
    );
    assert!(select.reboots());
    assert_eq!(select.attempts(), 1);
    assert!(
        !SelectBoot {
            target: 3,
            reset: false
        }
        .reboots()
    );
}

#[test]
fn query_boot_selection() {
    let run = exchange(
        QueryBootSelection,
        b"AT+SMSWBOOT?\r\n",
        b"\r\n+SMSWBOOT: 3,\"RECOVERY\"\r\n\r\nOK\r\n",
    );
    let line = done(run).unwrap();
    assert_eq!(line.as_str(), "+SMSWBOOT: 3,\"RECOVERY\"");
    assert_eq!(
        boot_selection_mode(line.as_bytes()),
        Some(BootMode::Upgrade)
    );
    assert_eq!(
        boot_selection_mode(b"+SMSWBOOT: 1,\"FFF\""),
        Some(BootMode::Application)
    );
    assert_eq!(boot_selection_mode(b"ffh"), Some(BootMode::LoaderWait));
    assert_eq!(
        boot_selection_mode(b"+SMSWBOOT: 2"),
        Some(BootMode::Updater)
    );
    assert_eq!(boot_selection_mode(b"+SMSWBOOT: 9"), None);
    assert_eq!(boot_selection_mode(b"+SMSWBOOT: 12"), None);
    assert_eq!(
        done(exchange(
            QueryBootSelection,
            b"AT+SMSWBOOT?\r\n",
            b"\r\nOK\r\n"
        )),
        Err(AtError::MissingInfo {
            command: "AT+SMSWBOOT?",
            expected: "a +SMSWBOOT: line",
        })
    );
}

#[test]
fn start_stp_and_bytes_after_done_are_ignored() {
    let mut ex: Exchange<StartStp> = Exchange::new(StartStp { on_the_fly: true });
    assert_eq!(
        ex.request().unwrap().as_slice(),
        b"AT+SMSTPU=\"ON_THE_FLY\"\r\n"
    );
    // Echo off: exactly OK CR LF, then the first STP bytes.
    let run = run(&mut ex, b"OK\r\n\x55\x66\x77\x88OK\r\n");
    assert_eq!(run.done_at, Some(2));
    assert_eq!(run.done, Some(Ok(())));
    assert!(ex.is_done());
    assert_eq!(ex.push(b'\r'), Step::Pending);

    assert_eq!(
        done(exchange(
            StartStp { on_the_fly: false },
            b"AT+SMSTPU\r\n",
            b"\r\nOK\r\n"
        )),
        Ok(())
    );
    assert_eq!(
        done(exchange(
            StartStp { on_the_fly: true },
            b"AT+SMSTPU=\"ON_THE_FLY\"\r\n",
            b"\r\nERROR\r\n"
        )),
        Err(AtError::Rejected {
            command: "AT+SMSTPU",
            result: FinalResult::Error,
        })
    );
}

#[test]
fn loader_stp_is_lf_terminated() {
    assert_eq!(done(exchange(LoaderStp, b"AT+STP\n", b"OK\r\n")), Ok(()));
    assert_eq!(
        done(exchange(LoaderStp, b"AT+STP\n", b"ERROR\r\n")),
        Err(AtError::Rejected {
            command: "AT+STP",
            result: FinalResult::Error,
        })
    );
}

#[test]
fn set_baud_requests() {
    assert_eq!(
        done(exchange(
            SetBaud::bootloader(921_600),
            b"AT+IPR=921600\n",
            b"OK\r\n"
        )),
        Ok(())
    );
    assert_eq!(
        done(exchange(
            SetBaud::new(115_200),
            b"AT+IPR=115200\r\n",
            b"\r\nOK\r\n"
        )),
        Ok(())
    );
    let cases: [(u32, &[u8]); 3] = [
        (0, b"AT+IPR=0\r"),
        (9, b"AT+IPR=9\r"),
        (u32::MAX, b"AT+IPR=4294967295\r"),
    ];
    for (baud, request) in cases {
        let cmd = SetBaud {
            baud,
            terminator: Terminator::Cr,
        };
        assert_eq!(
            Exchange::<_>::new(cmd).request().unwrap().as_slice(),
            request
        );
    }
    assert_eq!(
        done(exchange(
            SetBaud::new(12_345),
            b"AT+IPR=12345\r\n",
            b"\r\nERROR\r\n"
        )),
        Err(AtError::Rejected {
            command: "AT+IPR",
            result: FinalResult::Error,
        })
    );
}

#[test]
fn soft_reset_then_shutdown_urc_for_the_listener() {
    let mut ex: Exchange<SoftReset> = Exchange::new(SoftReset);
    assert_eq!(ex.request().unwrap().as_slice(), b"AT^RESET\r\n");
    assert!(SoftReset.reboots());
    let stream: &[u8] = b"\r\nOK\r\n\r\n+SHUTDOWN\r\n";
    let r = run(&mut ex, stream);
    assert_eq!(r.done, Some(Ok(())));
    assert!(r.urcs.is_empty(), "bytes after Done are the driver's");
    let rest = &stream[r.done_at.unwrap() + 1..];
    let mut listener: UrcListener = UrcListener::new();
    let mut urcs = Vec::new();
    for &b in rest {
        if let Some(Ok(LineKind::Urc(line))) = listener.push(b) {
            urcs.push(line.to_vec());
        }
    }
    assert_eq!(urcs, vec![b"+SHUTDOWN".to_vec()]);
}

#[test]
fn start_upgrade_and_set_functionality() {
    assert_eq!(
        done(exchange(StartUpgrade, b"AT+SMUPGRADE\r\n", b"\r\nOK\r\n")),
        Ok(())
    );
    assert_eq!(
        done(exchange(
            SetFunctionality(4),
            b"AT+CFUN=4\r\n",
            b"AT+CFUN=4\r\r\nOK\r\n"
        )),
        Ok(())
    );
    assert_eq!(
        done(exchange(
            SetFunctionality(5),
            b"AT+CFUN=5\r\n",
            b"\r\n+CME ERROR: 3\r\n"
        )),
        Err(AtError::Rejected {
            command: "AT+CFUN",
            result: FinalResult::CmeError(3),
        })
    );
    assert_eq!(
        Exchange::<_>::new(SetFunctionality(255))
            .request()
            .unwrap()
            .as_slice(),
        b"AT+CFUN=255\r\n"
    );
}

#[test]
fn query_imei() {
    let imei = done(exchange(
        QueryImei,
        b"AT+CGSN\r\n",
        b"\r\n354346099225475\r\n\r\nOK\r\n",
    ))
    .unwrap();
    assert_eq!(imei.as_str(), "354346099225475");
    assert_eq!(
        done(exchange(
            QueryImei,
            b"AT+CGSN\r\n",
            b"\r\n+CGSN: \"354346099225475\"\r\n\r\nOK\r\n"
        ))
        .unwrap()
        .as_str(),
        "354346099225475"
    );
    for bad in [
        &b"3543460992254"[..],
        b"354346099225475123",
        b"35434609922547X",
    ] {
        let mut reply = b"\r\n".to_vec();
        reply.extend_from_slice(bad);
        reply.extend_from_slice(b"\r\n\r\nOK\r\n");
        assert_eq!(
            done(exchange(QueryImei, b"AT+CGSN\r\n", &reply)),
            Err(AtError::Unparsable {
                command: "AT+CGSN",
                expected: "an IMEI of 14-17 digits",
                found: s(std::str::from_utf8(bad).unwrap()),
            })
        );
    }
}

#[test]
fn over_long_line_in_a_reply_spoils_it_but_the_reply_is_consumed() {
    let mut ex: Exchange<QueryBootMode, 16> = Exchange::new(QueryBootMode::new());
    let stream: &[u8] = b"\r\n+CEREG: a very long unsolicited line indeed\r\n2\r\n\r\nOK\r\n";
    let r = run(&mut ex, stream);
    assert_eq!(r.done, Some(Err(AtError::LineTooLong { capacity: 16 })));
    assert_eq!(r.done_at, Some(stream.len() - 2), "on the CR after OK");

    // A rejection is still reported as such.
    let mut ex: Exchange<QueryBootMode, 16> = Exchange::new(QueryBootMode::new());
    let r = run(&mut ex, b"\r\n0123456789abcdefghij\r\nERROR\r\n");
    assert_eq!(
        r.done,
        Some(Err(AtError::Rejected {
            command: "AT+SMOD?",
            result: FinalResult::Error
        }))
    );
}

#[test]
fn restart_forgets_what_was_received() {
    let mut ex: Exchange<QueryBootMode> = Exchange::new(QueryBootMode::new());
    let r = run(&mut ex, b"\r\n7\r\nO");
    assert!(r.done.is_none());
    ex.restart();
    let r = run(&mut ex, b"K\r\n\r\n2\r\n\r\nOK\r\n");
    assert_eq!(r.done, Some(Ok(BootMode::Application)));
    ex.restart();
    assert!(!ex.is_done());
    let r = run(&mut ex, b"\r\n4\r\nOK\r\n");
    assert_eq!(r.done, Some(Ok(BootMode::Upgrade)));
    assert_eq!(ex.command(), &QueryBootMode::new());
}

/// A command of the caller's own, to show the trait is open and that over-long texts are refused.
#[derive(Debug)]
struct Custom(&'static [u8]);

impl AtCommand for Custom {
    type Response = usize;
    type Acc = usize;
    const NAME: &'static str = "AT+CUSTOM";

    fn text(&self, out: &mut CommandText) -> Result<(), AtError> {
        put(out, self.0, Self::NAME)
    }

    fn on_info(&self, acc: &mut usize, _line: &[u8]) {
        *acc += 1;
    }

    fn finish(&self, acc: usize, result: FinalResult) -> Result<usize, AtError> {
        result.require_ok(Self::NAME)?;
        Ok(acc)
    }
}

#[test]
fn custom_commands_and_command_too_long() {
    let mut ex: Exchange<Custom> = Exchange::new(Custom(b"AT+BIND=AT"));
    assert_eq!(ex.request().unwrap().as_slice(), b"AT+BIND=AT\r\n");
    let r = run(&mut ex, b"\r\nline one\r\nline two\r\n+URC\r\nOK\r\n");
    assert_eq!(r.done, Some(Ok(2)));

    assert_eq!(
        Exchange::<_>::new(Custom(&[b'A'; 48]))
            .request()
            .unwrap()
            .len(),
        50
    );
    let ex: Exchange<Custom> = Exchange::new(Custom(&[b'A'; 49]));
    assert_eq!(
        ex.request(),
        Err(AtError::CommandTooLong {
            command: "AT+CUSTOM"
        })
    );
}

#[test]
fn errors_read_as_sentences() {
    let rejected = AtError::Rejected {
        command: "AT+SMSWBOOT",
        result: FinalResult::CmeError(3),
    }
    .to_string();
    assert!(rejected.contains("AT+SMSWBOOT") && rejected.contains("+CME ERROR: 3"));
    let unparsable = AtError::Unparsable {
        command: "AT+SMOD?",
        expected: "a boot mode number 0-4",
        found: s("7"),
    }
    .to_string();
    assert!(unparsable.contains("\"7\"") && unparsable.contains("0-4"));
    assert!(
        AtError::LineTooLong { capacity: 16 }
            .to_string()
            .contains("16")
    );
    assert!(
        AtError::CommandTooLong { command: "AT+X" }
            .to_string()
            .contains("48")
    );
    let missing = AtError::MissingInfo {
        command: "ATI1",
        expected: "a UE or LR version line",
    }
    .to_string();
    assert!(missing.contains("ATI1") && missing.contains("UE or LR"));
    assert_eq!(
        AtError::from(LineTooLong { capacity: 9 }),
        AtError::LineTooLong { capacity: 9 }
    );
}

#[test]
fn urc_listener_between_commands() {
    let mut listener: UrcListener = UrcListener::new();
    let mut got = Vec::new();
    for &b in b"\r\n+SYSSTART\r\n\r\nOK\r\n2\r\n" {
        if let Some(kind) = listener.push(b) {
            got.push(format!("{kind:?}"));
        }
    }
    assert_eq!(
        got,
        vec![
            format!("{:?}", Ok::<_, LineTooLong>(LineKind::Urc(b"+SYSSTART"))),
            format!(
                "{:?}",
                Ok::<_, LineTooLong>(LineKind::Final(FinalResult::Ok))
            ),
            format!("{:?}", Ok::<_, LineTooLong>(LineKind::Urc(b"2"))),
        ]
    );
    let mut small = UrcListener::<4>::new();
    let mut errors = 0;
    for &b in b"+SYSSTART\r\n" {
        if let Some(Err(e)) = small.push(b) {
            assert_eq!(e, LineTooLong { capacity: 4 });
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
}

// ---------------------------------------------------------------------------------------------
// BootMode and version helpers

#[test]
fn boot_mode_numbers_names_and_targets() {
    let table = [
        (0, BootMode::LoaderWait, "loader-wait", Some(0)),
        (1, BootMode::Loader, "loader", None),
        (2, BootMode::Application, "application", Some(1)),
        (3, BootMode::Updater, "updater", Some(2)),
        (4, BootMode::Upgrade, "upgrade", Some(3)),
    ];
    for (n, mode, name, target) in table {
        assert_eq!(BootMode::from_smod(n), Some(mode));
        assert_eq!(mode.smod(), n);
        assert_eq!(mode.name(), name);
        assert_eq!(mode.boot_target(), target);
        if let Some(t) = target {
            assert_eq!(BootMode::from_boot_target(t), Some(mode));
        }
    }
    assert_eq!(BootMode::from_smod(5), None);
    assert_eq!(BootMode::from_smod(255), None);
    assert_eq!(BootMode::from_boot_target(4), None);
    assert_eq!(BootMode::Application.to_string(), "application (SMOD 2)");
    assert_eq!(BootMode::ALL.len(), 5);
}

#[test]
fn firmware_version_from_ati1_and_showver() {
    let v = |numbers, build| Some(FirmwareVersion { numbers, build });
    assert_eq!(
        FirmwareVersion::parse_ati1_line(b"LR5.1.1.0-38638"),
        v([5, 1, 1, 0], 38638)
    );
    assert_eq!(
        FirmwareVersion::parse_ati1_line(b"  lr8.2.1.0-61488 "),
        v([8, 2, 1, 0], 61488)
    );
    for bad in [
        &b"UE5.0.0.0d"[..],
        b"LR5.1.1-38638",
        b"LR5.1.1.0",
        b"LR5.1.1.0-",
        b"LR5.1.1.0-1234567890",
        b"LR70000.1.1.0-1",
        b"",
    ] {
        assert_eq!(FirmwareVersion::parse_ati1_line(bad), None, "{bad:?}");
    }
    assert_eq!(
        FirmwareVersion::parse_showver(b" 5.1.1.0 [38638] by robot-soft at 2018-08-20 09:51:46"),
        v([5, 1, 1, 0], 38638)
    );
    assert_eq!(
        FirmwareVersion::parse_showver(b"5.1.1.0   [33080]"),
        v([5, 1, 1, 0], 33080)
    );
    assert_eq!(
        FirmwareVersion::parse_showver(b"5.1.1.0[33080]"),
        v([5, 1, 1, 0], 33080)
    );
    for bad in [
        &b"none"[..],
        b"1.1,0,0",
        b"1.0.99-13604",
        b"5.1.1.0 [33080",
        b"",
    ] {
        assert_eq!(FirmwareVersion::parse_showver(bad), None, "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Timing policy: the table in `commands`' module docs and docs/protocol.md §2.2

/// `(timeout_ms, attempts, reboots)` of a command.
fn policy<C: AtCommand>(command: &C) -> (u32, u8, bool) {
    (command.timeout_ms(), command.attempts(), command.reboots())
}

#[test]
fn every_command_has_the_documented_timeout_and_attempts() {
    use modem_upgrade::protocol::at::AttentionWithin;
    assert_eq!(policy(&Attention), (1_000, 3, false));
    assert_eq!(
        policy(&AttentionWithin { timeout_ms: 750 }),
        (750, 1, false)
    );
    assert_eq!(policy(&EchoOff), (2_000, 2, false));
    assert_eq!(policy(&QueryBootMode::new()), (2_000, 3, false));
    assert_eq!(policy(&QueryBootMode::bootloader()), (2_000, 3, false));
    assert_eq!(policy(&QueryUpgrade), (5_000, 2, false));
    assert_eq!(policy(&Identify), (5_000, 2, false));
    assert_eq!(policy(&ShowVersion), (5_000, 2, false));
    assert_eq!(
        policy(&SelectBoot {
            target: 3,
            reset: true
        }),
        (5_000, 1, true)
    );
    assert_eq!(
        policy(&SelectBoot {
            target: 3,
            reset: false
        }),
        (5_000, 1, false)
    );
    assert_eq!(policy(&QueryBootSelection), (5_000, 2, false));
    assert_eq!(policy(&StartStp { on_the_fly: true }), (5_000, 1, false));
    assert_eq!(policy(&StartStp { on_the_fly: false }), (5_000, 1, false));
    assert_eq!(policy(&LoaderStp), (2_000, 1, false));
    assert_eq!(policy(&SetBaud::new(921_600)), (2_000, 1, false));
    assert_eq!(policy(&SetBaud::bootloader(921_600)), (2_000, 1, false));
    assert_eq!(policy(&SoftReset), (5_000, 1, true));
    assert_eq!(policy(&StartUpgrade), (5_000, 1, false));
    assert_eq!(policy(&SetFunctionality(4)), (15_000, 2, false));
    assert_eq!(policy(&QueryImei), (2_000, 2, false));
}

/// A failure reason longer than the line buffer must not hide the verdict: its status field comes
/// first and is whole (it ends at the first comma), so the verdict is read and the reason cut. The
/// simulator's reasons reach ~200 bytes; the default buffer holds 128.
#[test]
fn smupgrade_with_an_over_long_reason_still_gives_the_verdict() {
    let reason = "diff base mismatch at 0x51: fff DIFF to 5.1.2.0 [39529] requires base build 38638, \
                  but no valid firmware is installed (and some more words to pass 128 bytes)";
    let reply = format!("\r\n+SMUPGRADE: \"fail\",\"{reason}\"\r\n\r\nOK\r\n");
    match done(exchange(
        QueryUpgrade,
        b"AT+SMUPGRADE?\r\n",
        reply.as_bytes(),
    )) {
        Ok(UpgradeStatus::Failed { reason: kept }) => {
            assert!(reason.starts_with(kept.as_str()), "{kept}");
            assert!(!kept.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // Without a comma in the kept bytes the status field itself may be cut: not trusted.
    let long_status = format!("\r\n+SMUPGRADE: {}\r\n\r\nOK\r\n", "x".repeat(200));
    assert!(matches!(
        done(exchange(
            QueryUpgrade,
            b"AT+SMUPGRADE?\r\n",
            long_status.as_bytes()
        )),
        Err(AtError::LineTooLong { .. })
    ));
    // Other commands keep refusing an over-long line.
    let long_ati = format!("\r\nLR5.1.1.0-38638{}\r\n\r\nOK\r\n", ",x".repeat(100));
    assert!(matches!(
        done(exchange(Identify, b"ATI1\r\n", long_ati.as_bytes())),
        Err(AtError::LineTooLong { .. })
    ));
}
