//! Deciding where an upgrade continues: the journal's record against what the modem says about
//! itself. **The modem's state wins**; the journal only adds what the modem cannot know (how many
//! attempts were made, how far a transfer got) and is ignored where the two disagree.
//!
//! | modem says (asked first) | journal (same image) | plan |
//! |---|---|---|
//! | application mode, runs the image's target version | anything | [`Plan::AlreadyInstalled`]: verify, send nothing |
//! | updater mode (`AT+SMOD?` 3), or `AT+SMUPGRADE?` = on-going | anything | [`Plan::AwaitVerdict`] |
//! | upgrade mode, `AT+SMUPGRADE?` = success | Transferred, Programming or Verifying | [`Plan::RebootAndVerify`] |
//! | upgrade mode, success | none, other image, or an earlier phase | transfer again: the success may belong to another package |
//! | upgrade mode (4) | Transferring, policy [`ResumePolicy::FromAcknowledged`] | transfer from the acknowledged offset |
//! | upgrade mode (4) | anything else | transfer from byte 0, skipping the mode switch |
//! | loader-wait (0) | anything | push the loader ELF, then transfer from byte 0 (the modem kept nothing) |
//! | loader running (1) | anything | transfer from byte 0 |
//! | application mode, another version | anything | switch to upgrade mode, transfer from byte 0 |
//!
//! Attempt counters are carried over only from a record of this very image ([`Resume::Continue`]),
//! so the upgrader's limits hold across reboots without ever charging a new image for an old one.

use super::{Attempts, Phase, Resume};
use crate::protocol::at::BootMode;

/// The modem's `AT+SMUPGRADE?` answer, reduced to what the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Not asked, not answered, or `No report`.
    None,
    /// `on-going`: still programming.
    OnGoing,
    /// `success`.
    Success,
    /// `fail`.
    Failed,
}

/// What the modem said about itself at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ModemView {
    /// `AT+SMOD?`.
    pub boot_mode: BootMode,
    /// `AT+SMUPGRADE?`.
    pub verdict: Verdict,
    /// The installed version equals the image's target version; `None` when it could not be read
    /// (no `ATI1` outside the application) or the image names no version.
    pub runs_target: Option<bool>,
}

/// Whether a transfer interrupted by a reboot continues where the modem's acknowledgements stopped.
///
/// No public source shows a Sequans modem accepting a transfer continued at an offset in a new
/// session (every known tool re-sends from byte 0), so the default restarts. `FromAcknowledged` is
/// for modems shown to accept it; the modem's final verdict still decides, and a failed verdict
/// makes the upgrader send the whole image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResumePolicy {
    /// Re-send the whole image (what every known tool does).
    #[default]
    Restart,
    /// Continue from the last acknowledged offset recorded in the journal.
    FromAcknowledged,
}

/// How the modem has to be brought to accept the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ModemEntry {
    /// Application running: switch to upgrade mode first (`AT+SMSWBOOT=3,1`).
    SwitchFromApplication,
    /// Already in upgrade mode: go straight to `AT+SMSTPU`.
    UpgradeMode,
    /// Only the bootloader answers: push the loader ELF first.
    PushLoader,
    /// The loader ELF is running: send the package.
    LoaderRunning,
}

/// Where to continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Plan {
    /// The modem already runs the image's version: verify it and send nothing.
    AlreadyInstalled,
    /// The modem is programming: poll the verdict, then reboot and verify.
    AwaitVerdict,
    /// The modem accepted this image: reboot into it and verify the version.
    RebootAndVerify,
    /// Send the image.
    Transfer {
        /// How to get the modem ready.
        entry: ModemEntry,
        /// First image byte to send (0 unless continuing under [`ResumePolicy::FromAcknowledged`]).
        from: u32,
    },
}

/// The decision and what it was based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Decision {
    /// What to do.
    pub plan: Plan,
    /// Attempts already made for this image (zero unless the journal is for this image).
    pub attempts: Attempts,
    /// The phase the journal recorded for this image, if it had a record of it.
    pub journal_phase: Option<Phase>,
}

/// Decides where to continue; see the module table.
pub fn reconcile(journal: &Resume, modem: ModemView, policy: ResumePolicy) -> Decision {
    let own = match journal {
        Resume::Continue(cp) => Some(cp),
        Resume::Fresh | Resume::OtherImage { .. } => None,
    };
    let attempts = own.map(|cp| cp.attempts).unwrap_or_default();
    let journal_phase = own.map(|cp| cp.phase);
    let transfer = |entry, from| Plan::Transfer { entry, from };
    let plan = match (modem.boot_mode, modem.verdict) {
        (BootMode::Application, _) if modem.runs_target == Some(true) => Plan::AlreadyInstalled,
        (BootMode::Updater, _) | (_, Verdict::OnGoing) => Plan::AwaitVerdict,
        (BootMode::Upgrade, Verdict::Success)
            if matches!(
                journal_phase,
                Some(Phase::Transferred | Phase::Programming | Phase::Verifying)
            ) =>
        {
            Plan::RebootAndVerify
        }
        (BootMode::Upgrade, _) => {
            let from = match (policy, own) {
                (ResumePolicy::FromAcknowledged, Some(cp)) if cp.phase == Phase::Transferring => {
                    cp.acked_offset
                }
                _ => 0,
            };
            transfer(ModemEntry::UpgradeMode, from)
        }
        (BootMode::LoaderWait, _) => transfer(ModemEntry::PushLoader, 0),
        (BootMode::Loader, _) => transfer(ModemEntry::LoaderRunning, 0),
        (BootMode::Application, _) => transfer(ModemEntry::SwitchFromApplication, 0),
    };
    Decision {
        plan,
        attempts,
        journal_phase,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::journal::{Checkpoint, ImageId};

    fn image() -> ImageId {
        ImageId::new("GM02RB6Q_LR8.0.5.13-59577.dup", 7_020_424, 0x1234_5678)
    }

    fn journal(phase: Phase, acked: u32) -> Resume {
        let mut cp = Checkpoint::new(image(), phase);
        cp.acked_offset = acked;
        cp.attempts = Attempts::NONE.with_transfer().with_transfer();
        Resume::Continue(cp)
    }

    fn modem(boot_mode: BootMode, verdict: Verdict, runs_target: Option<bool>) -> ModemView {
        ModemView {
            boot_mode,
            verdict,
            runs_target,
        }
    }

    fn plan(j: &Resume, m: ModemView, p: ResumePolicy) -> Plan {
        reconcile(j, m, p).plan
    }

    const UP: ModemEntry = ModemEntry::UpgradeMode;

    #[test]
    fn the_modem_overrides_the_journal() {
        let transferring = journal(Phase::Transferring, 3_000_000);
        // The journal thinks a transfer runs, but the modem already runs the target: done.
        let m = modem(BootMode::Application, Verdict::None, Some(true));
        assert_eq!(
            plan(&transferring, m, ResumePolicy::FromAcknowledged),
            Plan::AlreadyInstalled
        );
        // The journal says programming, the modem is back on the old version: start over.
        let m = modem(BootMode::Application, Verdict::Failed, Some(false));
        let programming = journal(Phase::Programming, 7_020_424);
        assert_eq!(
            plan(&programming, m, ResumePolicy::Restart),
            Plan::Transfer {
                entry: ModemEntry::SwitchFromApplication,
                from: 0
            }
        );
        // Whatever the journal says, a loader-wait modem kept nothing.
        let m = modem(BootMode::LoaderWait, Verdict::None, None);
        assert_eq!(
            plan(&transferring, m, ResumePolicy::FromAcknowledged),
            Plan::Transfer {
                entry: ModemEntry::PushLoader,
                from: 0
            }
        );
    }

    #[test]
    fn offsets_are_used_only_under_the_policy_in_upgrade_mode() {
        let transferring = journal(Phase::Transferring, 3_000_000);
        let m = modem(BootMode::Upgrade, Verdict::None, None);
        assert_eq!(
            plan(&transferring, m, ResumePolicy::Restart),
            Plan::Transfer { entry: UP, from: 0 }
        );
        assert_eq!(
            plan(&transferring, m, ResumePolicy::FromAcknowledged),
            Plan::Transfer {
                entry: UP,
                from: 3_000_000
            }
        );
        // A record of another phase carries no offset.
        let switching = journal(Phase::SwitchingMode, 0);
        assert_eq!(
            plan(&switching, m, ResumePolicy::FromAcknowledged),
            Plan::Transfer { entry: UP, from: 0 }
        );
    }

    #[test]
    fn a_success_verdict_counts_only_for_this_images_transfer() {
        let m = modem(BootMode::Upgrade, Verdict::Success, None);
        let transferred = journal(Phase::Transferred, 7_020_424);
        assert_eq!(
            plan(&transferred, m, ResumePolicy::Restart),
            Plan::RebootAndVerify
        );
        for j in [
            Resume::Fresh,
            Resume::OtherImage { journal: image() },
            journal(Phase::Transferring, 10),
        ] {
            assert_eq!(
                plan(&j, m, ResumePolicy::Restart),
                Plan::Transfer { entry: UP, from: 0 },
                "{j:?}"
            );
        }
    }

    #[test]
    fn programming_is_awaited_and_attempts_carry_over_only_for_this_image() {
        for m in [
            modem(BootMode::Updater, Verdict::None, None),
            modem(BootMode::Upgrade, Verdict::OnGoing, None),
        ] {
            assert_eq!(
                plan(&Resume::Fresh, m, ResumePolicy::Restart),
                Plan::AwaitVerdict
            );
        }
        let m = modem(BootMode::Application, Verdict::None, Some(false));
        let d = reconcile(&journal(Phase::Verifying, 0), m, ResumePolicy::Restart);
        assert_eq!(d.attempts.transfers, 2);
        assert_eq!(d.journal_phase, Some(Phase::Verifying));
        let d = reconcile(
            &Resume::OtherImage { journal: image() },
            m,
            ResumePolicy::Restart,
        );
        assert_eq!((d.attempts, d.journal_phase), (Attempts::NONE, None));
        let m = modem(BootMode::Loader, Verdict::None, None);
        assert_eq!(
            plan(&Resume::Fresh, m, ResumePolicy::Restart),
            Plan::Transfer {
                entry: ModemEntry::LoaderRunning,
                from: 0
            }
        );
    }
}
