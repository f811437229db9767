//! Every fault kind, injected through the same `--faults` grammar the binary takes, against the
//! hand-written test host on virtual time.

mod common;

use common::{Host, SEC, Transfer};
use modem_sim::synth::{full_dup, loader_elf};
use modem_sim::transcript::EntryKind;
use modem_sim::{BootMode, FaultSpec, Model, SimConfig, UpgradeReport};
use std::time::Duration;

const NEW: &str = "5.1.2.0 [39529]";

fn host(mode: BootMode, faults: &str) -> Host {
    let spec = FaultSpec::parse(faults).expect("valid fault spec");
    Host::new(SimConfig::sqn3330().with_mode(mode).with_faults(spec))
}

/// 200 `AT` exchanges through a noisy line; returns (bytes received, OK count).
fn noisy_at_run(faults: &str) -> (Vec<u8>, usize) {
    let mut h = host(BootMode::App, faults);
    let mut all = Vec::new();
    for _ in 0..200 {
        h.send(b"AT\r");
        all.extend(h.collect(Duration::from_millis(20)));
    }
    let oks = all.windows(6).filter(|w| w == b"\r\nOK\r\n").count();
    (all, oks)
}

#[test]
fn line_noise_is_seeded_and_real() {
    let (clean, clean_oks) = noisy_at_run("seed=1");
    assert_eq!(clean_oks, 200);
    for kind in ["flip", "drop", "dup"] {
        let spec = format!("seed=5,{kind}=0.02");
        let (a, oks) = noisy_at_run(&spec);
        let (b, _) = noisy_at_run(&spec);
        assert_eq!(a, b, "{kind}: same seed, same bytes");
        let (c, _) = noisy_at_run(&format!("seed=6,{kind}=0.02"));
        assert_ne!(a, c, "{kind}: another seed, another run");
        assert_ne!(a, clean, "{kind} changed the line");
        assert!(oks < 200 && oks > 100, "{kind}: {oks} clean answers of 200");
        match kind {
            "drop" => assert!(a.len() < clean.len()),
            "dup" => assert!(a.len() > clean.len()),
            _ => {}
        }
    }
}

#[test]
fn stall_delays_replies() {
    let mut h = host(BootMode::App, "stall=700@1");
    h.at_ok("ATE0");
    let t0 = h.sim.now();
    h.at_ok("AT");
    assert!(
        h.sim.now() - t0 >= Duration::from_millis(700),
        "reply after the stall (virtual time)"
    );
    assert!(h.sim.status().faults.stalls >= 2);
}

#[test]
fn residues_are_resent_and_the_package_survives() {
    let mut h = host(BootMode::Upgrade, "seed=3,residue=0.3");
    h.at_ok("ATE0");
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    let dup = full_dup(Model::Sqn3330, NEW, 40_000);
    let log = h.stp_transfer(&dup, Transfer::default());
    assert!(log.residue_bytes > 0 && log.blocks as usize > dup.len().div_ceil(2016));
    h.assert_upgraded();
    assert_eq!(h.sim.status().stp.residue_bytes, log.residue_bytes);
}

#[test]
fn spurious_nacks_in_v2() {
    let spec = FaultSpec::parse("seed=11,nack=0.2").unwrap();
    let mut h = Host::new(
        SimConfig::gm02s()
            .with_mode(BootMode::Upgrade)
            .with_faults(spec),
    );
    h.at_ok("ATE0");
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    let log = h.stp_transfer(
        &full_dup(Model::Gm02s, "8.2.1.0 [61488]", 30_000),
        Transfer {
            data_type: Some(4),
            ..Transfer::default()
        },
    );
    assert!(log.nacks > 0);
    assert_eq!(u64::from(log.nacks), h.sim.status().faults.nacks);
    h.assert_upgraded();
}

/// A noisy STP transfer in v1: corrupted requests get no answer, the host re-sends with the same tid,
/// the slave's cache keeps data from being applied twice; the package still verifies.
#[test]
fn noisy_v1_transfer_still_programs_correctly() {
    let mut h = host(BootMode::Upgrade, "seed=21,flip=0.00002");
    h.at_ok("ATE0");
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    let log = h.stp_transfer(
        &full_dup(Model::Sqn3330, NEW, 150_000),
        Transfer {
            max_retries: 20,
            ..Transfer::default()
        },
    );
    let s = h.sim.status();
    assert!(
        s.faults.flipped > 0 && log.retries > 0,
        "faults struck: {:?}, retries {}",
        s.faults,
        log.retries
    );
    h.assert_upgraded();
}

#[test]
fn power_loss_when_idle_reboots_into_the_same_mode() {
    let mut h = host(BootMode::App, "power-loss=idle@2");
    h.at_ok("ATE0");
    h.at_ok("AT");
    assert_eq!(h.collect(SEC), b"", "off");
    h.expect(b"\r\n+SYSSTART\r\n", 30 * SEC);
    let s = h.sim.status();
    assert_eq!((s.mode, s.flash.power_losses), (BootMode::App, 1));
}

#[test]
fn power_loss_is_not_cancelled_by_a_reboot_command() {
    let mut h = host(BootMode::App, "power-loss=idle@2");
    h.at_ok("ATE0");
    h.at_ok("AT^RESET");
    h.wait(20 * SEC);
    let s = h.sim.status();
    assert_eq!((s.flash.power_losses, s.faults.power_losses), (1, 1));
}

#[test]
fn power_loss_while_switching_still_lands_in_upgrade_mode() {
    let mut h = host(BootMode::App, "power-loss=switching@0.5");
    h.at_ok("ATE0");
    h.at_ok("AT+SMSWBOOT=3,1");
    h.wait(20 * SEC);
    h.wait_for_at(30 * SEC);
    h.at_ok("ATE0");
    assert_eq!(h.at("AT+SMOD?"), "\r\n4\r\n\r\nOK\r\n");
    assert_eq!(h.sim.status().flash.power_losses, 1);
}

#[test]
fn power_loss_during_transfer_keeps_upgrade_mode() {
    let mut h = host(BootMode::Upgrade, "power-loss=transfer@0.5");
    h.at_ok("ATE0");
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    let dup = full_dup(Model::Sqn3330, NEW, 40_000);
    let (mut tid, mut offset, mut blocks) = (2u32, 0usize, 0);
    h.exchange(&common::request(0, 0, 0, &[]), SEC).unwrap();
    h.exchange(&common::request(1, 1, 1, &[]), SEC).unwrap();
    let died = loop {
        let chunk = &dup[offset..(offset + 2016).min(dup.len())];
        if h.exchange(
            &common::request(2, 1, tid, &(chunk.len() as u16).to_be_bytes()),
            SEC,
        )
        .is_none()
            || h.exchange(&common::request(3, 1, tid + 1, chunk), SEC)
                .is_none()
        {
            break offset;
        }
        blocks += 1;
        offset += chunk.len();
        tid += 2;
    };
    assert!(
        blocks > 0 && died >= dup.len() / 2 - 2016 && died <= dup.len() / 2,
        "died at {died} of {}",
        dup.len()
    );
    h.wait_for_at(60 * SEC);
    h.at_ok("ATE0");
    assert_eq!(
        h.at("AT+SMOD?"),
        "\r\n4\r\n\r\nOK\r\n",
        "boot selection persists"
    );
    assert_eq!(
        h.sim.status().flash.firmware.unwrap().build,
        38638,
        "nothing programmed"
    );
    // A fresh transfer from byte 0 succeeds.
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    h.stp_transfer(&dup, Transfer::default());
    h.assert_upgraded();
}

#[test]
fn self_reset_during_transfer() {
    let mut h = host(BootMode::Upgrade, "reboot-during-transfer@5000");
    h.at_ok("ATE0");
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    h.exchange(&common::request(0, 0, 0, &[]), SEC).unwrap();
    h.exchange(&common::request(1, 1, 1, &[]), SEC).unwrap();
    let mut tid = 2;
    for _ in 0..3 {
        h.exchange(&common::request(2, 1, tid, &2016u16.to_be_bytes()), SEC)
            .unwrap();
        let r = h.exchange(&common::request(3, 1, tid + 1, &[0x55; 2016]), SEC);
        tid += 2;
        if r.is_none() {
            break;
        }
    }
    h.wait_for_at(60 * SEC);
    h.at_ok("ATE0");
    assert_eq!(h.at("AT+SMOD?"), "\r\n4\r\n\r\nOK\r\n");
    let s = h.sim.status();
    assert_eq!((s.faults.reboots, s.flash.power_losses), (1, 0));
    assert!(!s.in_stp, "the STP session died with the reset");
}

/// Power lost while programming: the firmware is damaged, the modem comes back in loader-wait at
/// 115200 and needs the loader ELF before a full package; then everything works again.
#[test]
fn power_loss_while_programming_needs_the_loader() {
    let mut h = host(BootMode::Upgrade, "power-loss=programming@30%");
    h.at_ok("ATE0");
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    let dup = full_dup(Model::Sqn3330, NEW, 30_000);
    h.stp_transfer(&dup, Transfer::default());
    assert!(h.at("AT+SMUPGRADE?").contains("on-going"));
    h.wait(60 * SEC);
    let s = h.sim.status();
    assert_eq!(
        (s.mode, s.flash.firmware.as_ref()),
        (BootMode::LoaderWait, None)
    );
    assert!(matches!(s.flash.report, UpgradeReport::Fail(ref why) if why.contains("power")));
    h.port.set_baud(Some(921_600));
    h.send(b"AT\r");
    assert!(
        !String::from_utf8_lossy(&h.collect(2 * SEC)).contains("OK"),
        "not at the application rate"
    );
    h.port.set_baud(Some(115_200));
    h.send(b"\nAT\n");
    assert!(h.collect(SEC).ends_with(b"OK\r\n"));
    h.load_loader(&loader_elf("6.0.0.0 [37781]", true));
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    h.stp_transfer(&dup, Transfer::default());
    h.assert_upgraded();
    h.at_ok("AT+SMSWBOOT=1,1");
    h.port.set_baud(Some(921_600)); // the application runs at its own rate again
    h.expect(b"+SYSSTART", 30 * SEC);
    assert_eq!(h.sim.status().running.unwrap().lr(), "LR5.1.2.0-39529");
}

#[test]
fn power_loss_during_the_final_reboot() {
    let mut h = host(BootMode::Upgrade, "power-loss=reboot@0.5");
    h.at_ok("ATE0");
    h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
    h.stp_transfer(&full_dup(Model::Sqn3330, NEW, 10_000), Transfer::default());
    h.assert_upgraded();
    h.at_ok("AT+SMSWBOOT=1,1");
    h.expect(b"\r\n+SYSSTART\r\n", 60 * SEC);
    let s = h.sim.status();
    assert_eq!(s.flash.power_losses, 1);
    assert_eq!(
        s.running.unwrap().lr(),
        "LR5.1.2.0-39529",
        "programming had finished"
    );
}

/// Same seed, same host bytes: the whole transcript replays identically.
#[test]
fn runs_replay_exactly() {
    let run = || {
        let mut h = host(
            BootMode::Upgrade,
            "seed=99,flip=0.00002,residue=0.05,stall=100@0.05",
        );
        h.at_ok("ATE0");
        h.start_stp("AT+SMSTPU=\"ON_THE_FLY\"");
        h.stp_transfer(
            &full_dup(Model::Sqn3330, NEW, 60_000),
            Transfer {
                max_retries: 20,
                ..Transfer::default()
            },
        );
        h.sim.transcript()
    };
    let (a, b) = (run(), run());
    assert!(a.iter().any(|e| e.kind == EntryKind::Fault));
    assert_eq!(a, b);
}
