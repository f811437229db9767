//! The STP session engine fed arbitrary modem answers: it must never panic, never report more bytes
//! acknowledged than the image holds, never go backwards, and always end (done, failed, or out of
//! input, with every timeout counted against its bounded retries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem_upgrade::protocol::stp::{Poll, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, mut input)) = data.split_first() else {
        return;
    };
    let config = SessionConfig {
        block_cap: 1 + u16::from(shape & 0x3f) * 32,
        retry_budget: 4,
        ..SessionConfig::default()
    };
    let image_len = 1 + u32::from(shape >> 6) * 3000;
    let Ok(mut session) = Session::new(config, image_len, 0) else {
        return;
    };
    let block = vec![0u8; usize::from(config.block_cap)];
    let mut last = session.acknowledged();
    for _ in 0..20_000 {
        match session.poll() {
            Poll::Transmit { data, .. } => {
                let len = data.map_or(0, |r| usize::from(r.len));
                let _ = session.frame(&block[..len]);
            }
            Poll::Await { .. } => {
                // Chunks of 1..=32 bytes; an empty input is a timeout.
                let Some((&n, rest)) = input.split_first() else {
                    if session.timed_out().is_err() {
                        break;
                    }
                    continue;
                };
                let take = (usize::from(n % 32) + 1).min(rest.len());
                let (chunk, rest) = rest.split_at(take);
                input = rest;
                let mut chunk = chunk;
                while !chunk.is_empty() {
                    match session.receive(chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(used) => chunk = &chunk[used.min(chunk.len())..],
                    }
                }
            }
            Poll::Done | Poll::Failed(_) => break,
        }
        let acked = session.acknowledged();
        assert!(acked <= image_len, "acknowledged {acked} of {image_len}");
        assert!(acked >= last, "acknowledged went back from {last} to {acked}");
        last = acked;
    }
});
