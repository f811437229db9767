//! The mode switch's fallback, against a scripted modem: `AT+SMSWBOOT=3,1` answered `ERROR` makes the
//! upgrader wait, send `AT+SMSWBOOT=3,0` and then `AT^RESET` (Pycom's rule, sequans-protocol.md
//! §2.2); a refusal of both forms is reported as such, never as a transfer failure. (`modem-sim` never
//! refuses the switch, hence this scripted modem.)

#![allow(
    clippy::result_large_err,
    reason = "the upgrader's failure carries its report"
)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::rc::Rc;

use modem_sim::{Model, synth};
use modem_upgrade::storage::MemImage;
use modem_upgrade::storage::journal::MemJournal;
use modem_upgrade::transport::{Clock, Link, SetBaud};
use modem_upgrade::upgrade::{
    BLOCK_BUFFER_LEN, Buffers, Error, Options, Outcome, READ_AHEAD_LEN, Source, Upgrader,
};

/// An application-mode modem that answers by script; it refuses `AT+SMSWBOOT=3,1`, and accepts or
/// refuses the `,0` form; after `AT^RESET` it goes silent (the test only looks at the commands).
struct Scripted {
    now: Rc<Cell<u64>>,
    line: Vec<u8>,
    out: VecDeque<u8>,
    commands: Rc<RefCell<Vec<String>>>,
    accept_store_form: bool,
    silent: bool,
}

impl Scripted {
    fn answer(&mut self, command: &str) {
        let reply: &str = match command {
            "AT" | "ATE0" | "AT+CFUN=4" => "\r\nOK\r\n",
            "AT+SMOD?" => "\r\n2\r\n\r\nOK\r\n",
            "AT+SMUPGRADE?" => "\r\n+SMUPGRADE: \"No report\"\r\n\r\nOK\r\n",
            "ATI1" => "\r\nUE5.0.0.0d\r\nLR5.1.1.0-38638\r\n\r\nOK\r\n",
            "AT+SMSWBOOT=3,1" => "\r\nERROR\r\n",
            "AT+SMSWBOOT=3,0" if self.accept_store_form => "\r\nOK\r\n",
            "AT+SMSWBOOT=3,0" => "\r\nERROR\r\n",
            "AT^RESET" => {
                self.silent = true;
                "\r\nOK\r\n"
            }
            _ => "\r\nERROR\r\n",
        };
        self.out.extend(reply.bytes());
    }
}

impl embedded_io::ErrorType for Scripted {
    type Error = Infallible;
}

impl embedded_io::Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &b in buf {
            if b == b'\r' || b == b'\n' {
                if !self.line.is_empty() {
                    let command = String::from_utf8_lossy(&self.line).into_owned();
                    self.line.clear();
                    self.commands.borrow_mut().push(command.clone());
                    if !self.silent {
                        self.answer(&command);
                    }
                }
            } else {
                self.line.push(b);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl embedded_io::ReadReady for Scripted {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.out.is_empty())
    }
}

impl embedded_io::Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(self.out.len());
        for slot in buf.iter_mut().take(n) {
            *slot = self.out.pop_front().unwrap_or(0);
        }
        self.now.set(self.now.get() + 1);
        Ok(n)
    }
}

impl SetBaud for Scripted {
    type Error = Infallible;
    fn set_baud(&mut self, _baud: u32) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Virtual milliseconds: one passes on every idle poll.
struct Ticks(Rc<Cell<u64>>);

impl Clock for Ticks {
    fn now_ms(&mut self) -> u64 {
        self.0.get()
    }
    fn idle(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn run(
    accept_store_form: bool,
) -> (
    Vec<String>,
    Error<Infallible, Infallible, Infallible>,
    Outcome,
) {
    let now = Rc::new(Cell::new(0));
    let commands = Rc::new(RefCell::new(Vec::new()));
    let modem = Scripted {
        now: now.clone(),
        line: Vec::new(),
        out: VecDeque::new(),
        commands: commands.clone(),
        accept_store_form,
        silent: false,
    };
    let mut link = Link::new(modem, Ticks(now));
    let dup = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 20_000);
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let mut options = Options::default();
    options.timing.reboot_ms = 10_000;
    let failure = Upgrader::new(
        &mut link,
        Source::new("CATM1-39529.dup", MemImage::new(&dup)),
        MemJournal::new(),
        Buffers {
            block: &mut block,
            window: &mut window,
        },
    )
    .with_options(options)
    .run()
    .expect_err("the scripted modem never reaches upgrade mode");
    let commands = commands.borrow().clone();
    (commands, failure.error, failure.report.outcome)
}

fn position(commands: &[String], wanted: &str) -> usize {
    commands
        .iter()
        .position(|c| c == wanted)
        .unwrap_or_else(|| panic!("{wanted} not sent: {commands:?}"))
}

#[test]
fn an_error_to_the_reboot_form_falls_back_to_store_and_reset() {
    let (commands, error, outcome) = run(true);
    let (now, store, reset) = (
        position(&commands, "AT+SMSWBOOT=3,1"),
        position(&commands, "AT+SMSWBOOT=3,0"),
        position(&commands, "AT^RESET"),
    );
    assert!(now < store && store < reset, "{commands:?}");
    // The modem never came back: a clean "did not answer again", after the switch was made.
    assert!(matches!(error, Error::NoReturn { .. }), "{error}");
    assert_eq!(outcome, Outcome::Failed);
}

#[test]
fn a_refusal_of_both_forms_is_reported_as_such() {
    let (commands, error, outcome) = run(false);
    assert!(
        matches!(error, Error::SwitchRefused { target: 3 }),
        "{error}"
    );
    assert!(error.to_string().contains("AT+SMSWBOOT=3,0"));
    assert!(!commands.iter().any(|c| c == "AT^RESET"), "{commands:?}");
    assert!(
        !commands.iter().any(|c| c.starts_with("AT+SMSTPU")),
        "{commands:?}"
    );
    assert_eq!(outcome, Outcome::Failed);
}
