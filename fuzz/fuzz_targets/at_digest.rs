//! The AT layer fed arbitrary bytes: the digester, the URC listener and an exchange of every typed
//! command the upgrade uses must never panic, and an exchange ends at most once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem_upgrade::protocol::at::{
    AtCommand, Digester, Exchange, Identify, QueryBootMode, QueryBootSelection, QueryImei,
    QueryUpgrade, ShowVersion, StartStp, Step, UrcListener,
};

fn run<C: AtCommand>(command: C, data: &[u8]) {
    let mut exchange: Exchange<C> = Exchange::new(command);
    let _ = exchange.request();
    let mut done = 0;
    for &b in data {
        if let Step::Done(_) = exchange.push(b) {
            done += 1;
        }
    }
    assert!(done <= 1, "an exchange ended {done} times");
    exchange.restart();
    for &b in data.iter().rev() {
        let _ = exchange.push(b);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut small: Digester<8> = Digester::new();
    let mut default: Digester = Digester::new();
    let mut urcs: UrcListener = UrcListener::new();
    for &b in data {
        let _ = small.push(b);
        let _ = default.feed(b);
        let _ = urcs.push(b);
    }
    run(QueryBootMode::new(), data);
    run(QueryBootMode::bootloader(), data);
    run(QueryUpgrade, data);
    run(Identify, data);
    run(ShowVersion, data);
    run(QueryImei, data);
    run(QueryBootSelection, data);
    run(StartStp { on_the_fly: true }, data);
});
