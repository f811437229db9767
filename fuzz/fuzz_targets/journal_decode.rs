//! The journal record decoder over arbitrary slots: never panics, and whatever it accepts encodes
//! back to a slot that decodes to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem_upgrade::storage::journal::{SLOT_LEN, decode, encode};

fuzz_target!(|data: &[u8]| {
    let mut slot = [0u8; SLOT_LEN];
    let n = data.len().min(SLOT_LEN);
    slot[..n].copy_from_slice(&data[..n]);
    if let Ok((seq, checkpoint)) = decode(&slot) {
        let mut again = [0u8; SLOT_LEN];
        encode(seq, &checkpoint, &mut again);
        assert_eq!(decode(&again), Ok((seq, checkpoint)));
    }
});
