//! Property tests for the AT layer: untrusted bytes never panic anything, every exchange ends once a
//! final result line arrives, line splitting does not depend on chunking (checked against an
//! independent model), and what the library emits it parses back.

use modem_upgrade::image::FirmwareVersion;
use modem_upgrade::protocol::at::{
    AtCommand, AtError, Attention, BootMode, Digester, EchoOff, Exchange, FinalResult, Identify,
    LineKind, LineTooLong, LoaderStp, QueryBootMode, QueryBootSelection, QueryImei, QueryUpgrade,
    SelectBoot, SetBaud, SetFunctionality, ShowVersion, SoftReset, StartStp, StartUpgrade, Step,
    Terminator, UpgradeStatus, UrcListener, classify,
};
use proptest::prelude::*;

type Lines = Vec<Result<Vec<u8>, LineTooLong>>;

/// The reference model of line splitting, written independently of the digester: cut at every CR or
/// LF, drop leading padding, report a segment longer than the capacity, trim trailing padding, drop
/// empty lines.
fn model_lines(stream: &[u8], capacity: usize) -> Lines {
    let pad = |b: &u8| matches!(b, b' ' | b'\t' | 0);
    let mut out = Vec::new();
    let mut segments: Vec<&[u8]> = stream.split(|&b| b == b'\r' || b == b'\n').collect();
    // The last segment has no terminator yet: it is not a line (but may already have overflowed).
    let unfinished = segments.pop().unwrap_or_default();
    for segment in segments.iter().copied().chain([unfinished]) {
        let start = segment
            .iter()
            .position(|b| !pad(b))
            .unwrap_or(segment.len());
        let kept = &segment[start..];
        if kept.len() > capacity {
            out.push(Err(LineTooLong { capacity }));
            continue;
        }
        if std::ptr::eq(segment, unfinished) {
            continue;
        }
        let end = kept.iter().rposition(|b| !pad(b)).map_or(0, |i| i + 1);
        if end > 0 {
            out.push(Ok(kept[..end].to_vec()));
        }
    }
    out
}

fn digest_in_chunks<const N: usize>(stream: &[u8], cuts: &[usize]) -> Lines {
    let mut d = Digester::<N>::new();
    let mut out = Vec::new();
    let mut rest = stream;
    for &cut in cuts {
        let (chunk, tail) = rest.split_at(cut.min(rest.len()));
        for &b in chunk {
            if let Some(r) = d.push(b) {
                out.push(r.map(<[u8]>::to_vec));
            }
        }
        rest = tail;
    }
    for &b in rest {
        if let Some(r) = d.push(b) {
            out.push(r.map(<[u8]>::to_vec));
        }
    }
    out
}

/// Bytes biased towards what matters to the digester: terminators, padding, `+`, letters of finals.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => any::<u8>(),
        2 => Just(b'\r'),
        2 => Just(b'\n'),
        1 => Just(b' '),
        1 => Just(0u8),
        1 => Just(b'+'),
        1 => prop::sample::select(b"OKERRORCMS:0123456789ATI".to_vec()),
    ];
    prop::collection::vec(byte, 0..400)
}

/// Feeds `bytes`; returns the result if `Done` came (asserting it comes at most once).
fn feed<C: AtCommand, const N: usize>(
    ex: &mut Exchange<C, N>,
    bytes: &[u8],
) -> Result<Option<Result<C::Response, AtError>>, TestCaseError> {
    let was_done = ex.is_done();
    let mut done = None;
    for &b in bytes {
        match ex.push(b) {
            Step::Done(r) => {
                prop_assert!(done.is_none(), "Done twice");
                done = Some(r);
            }
            Step::Urc(line) => {
                prop_assert!(!line.is_empty());
                prop_assert!(matches!(line.first(), Some(b'+' | b'^')));
            }
            Step::Echo | Step::Pending => {}
        }
    }
    prop_assert_eq!(ex.is_done(), was_done || done.is_some());
    prop_assert!(!(was_done && done.is_some()), "Done after Done");
    Ok(done)
}

/// Arbitrary bytes then a final line: the exchange must be done; if the noise did not end it first, the
/// final line decides whether the command was rejected.
fn ends_on_final<C: AtCommand>(
    command: C,
    noise: &[u8],
    final_line: &[u8],
) -> Result<(), TestCaseError> {
    let mut ex: Exchange<C> = Exchange::new(command);
    let early = feed(&mut ex, noise)?;
    let mut tail = b"\r\n".to_vec();
    tail.extend_from_slice(final_line);
    tail.extend_from_slice(b"\r\n");
    let late = feed(&mut ex, &tail)?;
    prop_assert!(ex.is_done());
    prop_assert!(early.is_some() != late.is_some());
    if let Some(result) = late {
        match FinalResult::parse(final_line) {
            Some(FinalResult::Ok) => prop_assert!(
                !matches!(result, Err(AtError::Rejected { .. })),
                "OK reported as a rejection"
            ),
            Some(rejected) => prop_assert!(
                matches!(result, Err(AtError::Rejected { result, .. }) if result == rejected),
                "{:?} not reported as a rejection",
                rejected
            ),
            None => prop_assert!(false, "the test's final line is not final"),
        }
    }
    // Bytes after Done change nothing.
    prop_assert!(feed(&mut ex, noise)?.is_none());
    Ok(())
}

fn final_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"OK".to_vec()),
        Just(b"ERROR".to_vec()),
        any::<u16>().prop_map(|n| format!("+CME ERROR: {n}").into_bytes()),
        any::<u16>().prop_map(|n| format!("+CMS ERROR: {n}").into_bytes()),
        Just(b"+CME ERROR: SIM busy".to_vec()),
    ]
}

proptest! {
    #[test]
    fn digester_matches_the_model_for_any_chunking(
        bytes in stream(),
        cuts in prop::collection::vec(0usize..40, 0..20),
    ) {
        let model = model_lines(&bytes, 16);
        prop_assert_eq!(digest_in_chunks::<16>(&bytes, &cuts), model.clone());
        prop_assert_eq!(digest_in_chunks::<16>(&bytes, &[]), model);
        let model = model_lines(&bytes, 128);
        prop_assert_eq!(digest_in_chunks::<128>(&bytes, &cuts), model);
    }

    #[test]
    fn digester_lines_are_clean(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut d = Digester::<32>::new();
        for &b in &bytes {
            if let Some(Ok(line)) = d.push(b) {
                prop_assert!(!line.is_empty() && line.len() <= 32);
                prop_assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
                prop_assert!(!matches!(line.first(), Some(b' ' | b'\t' | 0)));
                prop_assert!(!matches!(line.last(), Some(b' ' | b'\t' | 0)));
            }
            prop_assert!(d.partial().len() <= 32);
        }
    }

    #[test]
    fn classify_never_panics_and_is_consistent(
        line in prop::collection::vec(any::<u8>(), 0..80),
        command in prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
        prefix in prop::option::of(prop::collection::vec(any::<u8>(), 0..12)),
    ) {
        let kind = classify(&line, command.as_deref(), prefix.as_deref());
        match kind {
            LineKind::Echo => prop_assert!(command.is_some()),
            LineKind::Final(result) => prop_assert_eq!(FinalResult::parse(&line), Some(result)),
            LineKind::Info(text) => {
                prop_assert!(command.is_some());
                prop_assert!(FinalResult::parse(text).is_none());
            }
            LineKind::Urc(text) => prop_assert!(FinalResult::parse(text).is_none()),
        }
        if command.is_none() {
            prop_assert!(matches!(kind, LineKind::Final(_) | LineKind::Urc(_)));
        }
    }

    #[test]
    fn every_command_ends_on_a_final_line(noise in stream(), fin in final_line()) {
        ends_on_final(Attention, &noise, &fin)?;
        ends_on_final(EchoOff, &noise, &fin)?;
        ends_on_final(QueryBootMode::new(), &noise, &fin)?;
        ends_on_final(QueryBootMode::bootloader(), &noise, &fin)?;
        ends_on_final(QueryUpgrade, &noise, &fin)?;
        ends_on_final(Identify, &noise, &fin)?;
        ends_on_final(ShowVersion, &noise, &fin)?;
        ends_on_final(SelectBoot { target: 3, reset: true }, &noise, &fin)?;
        ends_on_final(QueryBootSelection, &noise, &fin)?;
        ends_on_final(StartStp { on_the_fly: true }, &noise, &fin)?;
        ends_on_final(StartStp { on_the_fly: false }, &noise, &fin)?;
        ends_on_final(LoaderStp, &noise, &fin)?;
        ends_on_final(SetBaud::bootloader(921_600), &noise, &fin)?;
        ends_on_final(SoftReset, &noise, &fin)?;
        ends_on_final(StartUpgrade, &noise, &fin)?;
        ends_on_final(SetFunctionality(4), &noise, &fin)?;
        ends_on_final(QueryImei, &noise, &fin)?;
    }

    #[test]
    fn raw_bytes_never_panic_an_exchange(bytes in prop::collection::vec(any::<u8>(), 0..500)) {
        let mut small: Exchange<ShowVersion, 8> = Exchange::new(ShowVersion);
        feed(&mut small, &bytes)?;
        let mut identify: Exchange<Identify> = Exchange::new(Identify);
        feed(&mut identify, &bytes)?;
        let mut upgrade: Exchange<QueryUpgrade> = Exchange::new(QueryUpgrade);
        feed(&mut upgrade, &bytes)?;
        let mut imei: Exchange<QueryImei> = Exchange::new(QueryImei);
        feed(&mut imei, &bytes)?;
        let mut listener = UrcListener::<16>::new();
        for &b in &bytes {
            let _ = listener.push(b);
        }
        let _ = UpgradeStatus::parse(&bytes);
        let _ = FirmwareVersion::parse_ati1_line(&bytes);
        let _ = FirmwareVersion::parse_showver(&bytes);
    }

    #[test]
    fn urcs_anywhere_do_not_change_the_answer(
        mode in 0u8..5,
        urcs in prop::collection::vec(("[A-Z]{1,8}", 0u16..1000), 0..4),
        echo in any::<bool>(),
    ) {
        // URCs before the echo, between echo and answer, and between answer and OK.
        let urc_lines: Vec<String> = urcs.iter().map(|(name, n)| format!("\r\n+{name}: {n}\r\n")).collect();
        let mut reply = Vec::new();
        let mut urc_iter = urc_lines.iter();
        reply.extend(urc_iter.next().map(|s| s.as_bytes().to_vec()).unwrap_or_default());
        if echo {
            reply.extend_from_slice(b"AT+SMOD?\r");
        }
        reply.extend(urc_iter.next().map(|s| s.as_bytes().to_vec()).unwrap_or_default());
        reply.extend_from_slice(format!("\r\n{mode}\r\n").as_bytes());
        for rest in urc_iter {
            reply.extend_from_slice(rest.as_bytes());
        }
        reply.extend_from_slice(b"\r\nOK\r\n");
        let mut ex: Exchange<QueryBootMode> = Exchange::new(QueryBootMode::new());
        let mut seen = 0;
        let mut echoes = 0;
        let mut done = None;
        for &b in &reply {
            match ex.push(b) {
                Step::Urc(_) => seen += 1,
                Step::Echo => echoes += 1,
                Step::Done(r) => done = Some(r),
                Step::Pending => {}
            }
        }
        prop_assert_eq!(seen, urcs.len());
        prop_assert_eq!(echoes, usize::from(echo));
        prop_assert_eq!(done, Some(Ok(BootMode::from_smod(mode).unwrap())));
    }

    #[test]
    fn firmware_versions_round_trip(numbers in any::<[u16; 4]>(), build in 0u32..1_000_000_000) {
        let v = FirmwareVersion { numbers, build };
        let ati1 = v.ati1().to_string();
        prop_assert_eq!(FirmwareVersion::parse_ati1_line(ati1.as_bytes()), Some(v));
        let shown = format!("  {v} by robot-soft at 2018-08-20 09:51:46");
        prop_assert_eq!(FirmwareVersion::parse_showver(shown.as_bytes()), Some(v));
        prop_assert_eq!(FirmwareVersion::parse_prefix(v.to_string().as_bytes()), Some(v));
    }

    #[test]
    fn final_results_round_trip(n in any::<u16>(), which in 0u8..4) {
        let result = match which {
            0 => FinalResult::Ok,
            1 => FinalResult::Error,
            2 => FinalResult::CmeError(n),
            _ => FinalResult::CmsError(n),
        };
        prop_assert_eq!(FinalResult::parse(result.to_string().as_bytes()), Some(result));
    }

    #[test]
    fn numeric_requests_round_trip(baud in any::<u32>(), target in any::<u8>(), reset in any::<bool>(), fun in any::<u8>()) {
        let ipr = Exchange::<_>::new(SetBaud { baud, terminator: Terminator::CrLf }).request().unwrap();
        let text = std::str::from_utf8(&ipr).unwrap();
        prop_assert_eq!(text.strip_prefix("AT+IPR=").and_then(|t| t.strip_suffix("\r\n")).map(str::parse::<u32>), Some(Ok(baud)));

        let sel = Exchange::<_>::new(SelectBoot { target, reset }).request().unwrap();
        let expected = format!("AT+SMSWBOOT={target},{}\r\n", u8::from(reset));
        prop_assert_eq!(sel.as_slice(), expected.as_bytes());

        let cfun = Exchange::<_>::new(SetFunctionality(fun)).request().unwrap();
        let expected = format!("AT+CFUN={fun}\n");
        prop_assert_eq!(&cfun[..cfun.len() - 2], &expected.as_bytes()[..expected.len() - 1]);
    }

    #[test]
    fn boot_mode_numbers_round_trip(n in any::<u8>()) {
        match BootMode::from_smod(n) {
            Some(mode) => {
                prop_assert!(n <= 4);
                prop_assert_eq!(mode.smod(), n);
                if let Some(t) = mode.boot_target() {
                    prop_assert_eq!(BootMode::from_boot_target(t), Some(mode));
                }
            }
            None => prop_assert!(n > 4),
        }
    }
}
