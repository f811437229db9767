//! Fault injection: the `--faults` grammar and the per-run fault state.
//!
//! Grammar (comma-separated items, order irrelevant, whitespace ignored):
//!
//! | item | effect |
//! | --- | --- |
//! | `seed=N` | seed of the fault RNG (default 0); same seed and same host bytes give the same run |
//! | `flip=P` | each byte on the line, either direction, gets one random bit flipped with probability P |
//! | `drop=P` | each byte is lost with probability P |
//! | `dup=P` | each byte is delivered twice with probability P |
//! | `stall=MS@P` | each modem reply (AT result or STP response) is delayed by MS milliseconds with probability P |
//! | `residue=P` | each STP TRANSFER_BLOCK is answered with a random non-zero residue with probability P |
//! | `nack=P` | (STP v2) each valid request is refused with a NACK with probability P |
//! | `power-loss=PHASE[@AT]` | the modem loses power once, in PHASE (see [`Phase`]) at point AT |
//! | `reboot-during-transfer@AT` | the modem resets itself once during an STP transfer at point AT |
//!
//! `AT` is a fraction of the phase (`0.5`, `50%`; default 0.5) or a whole count whose unit depends on
//! the phase: bytes of the stream for `transfer` (and `reboot-during-transfer`), answered AT commands for
//! `idle` (default 1; `idle` takes only a count), milliseconds into the phase for `switching`,
//! `programming` and `reboot`. The fraction of a transfer is measured against the length the stream
//! announces in its first header (a `PACK` container: the whole file; an ELF: its extent; a bare `UPGR`
//! concatenation: the first package only, because nothing announces the total; a zlib stream: nothing, so
//! the fault never fires), so use a byte count for bare concatenations and compressed streams.

use crate::rng::Rng;
use std::fmt;

/// Where a power loss strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// After the N-th answered AT command, with nothing else going on.
    Idle,
    /// During a reboot into upgrade mode (after `AT+SMSWBOOT=3,x`).
    Switching,
    /// During an STP transfer (loader ELF or package).
    Transfer,
    /// While the received package is being programmed.
    Programming,
    /// During the reboot into the application (for example after `AT+SMSWBOOT=1,1`).
    Reboot,
}

impl Phase {
    fn parse(s: &str) -> Result<Self, FaultSpecError> {
        Ok(match s {
            "idle" => Phase::Idle,
            "switching" => Phase::Switching,
            "transfer" => Phase::Transfer,
            "programming" => Phase::Programming,
            "reboot" => Phase::Reboot,
            other => {
                return Err(FaultSpecError(format!(
                    "unknown power-loss phase `{other}`; expected one of idle, switching, transfer, programming, reboot"
                )));
            }
        })
    }

    /// The name used in the grammar.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Switching => "switching",
            Phase::Transfer => "transfer",
            Phase::Programming => "programming",
            Phase::Reboot => "reboot",
        }
    }
}

/// Where inside a phase a one-shot fault strikes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    /// A fraction of the phase, `0.0..=1.0`.
    Fraction(f64),
    /// An absolute count: bytes of a transfer, or answered commands for `idle`.
    Count(u64),
}

impl Point {
    fn parse(s: &str) -> Result<Self, FaultSpecError> {
        let bad = || {
            FaultSpecError(format!(
                "bad fault point `{s}`; expected a fraction like 0.5 or 50%, or a whole count like 300000"
            ))
        };
        if let Some(pct) = s.strip_suffix('%') {
            let v: f64 = pct.parse().map_err(|_| bad())?;
            return fraction(v / 100.0).ok_or_else(bad);
        }
        if s.contains('.') {
            let v: f64 = s.parse().map_err(|_| bad())?;
            return fraction(v).ok_or_else(bad);
        }
        s.parse().map(Point::Count).map_err(|_| bad())
    }

    /// The trigger position inside a phase of `len` units.
    pub fn resolve(self, len: u64) -> u64 {
        match self {
            Point::Fraction(f) => (len as f64 * f) as u64,
            Point::Count(n) => n,
        }
    }
}

fn fraction(v: f64) -> Option<Point> {
    (0.0..=1.0).contains(&v).then_some(Point::Fraction(v))
}

/// A one-shot power loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLoss {
    /// The phase it strikes in.
    pub phase: Phase,
    /// Where in the phase.
    pub at: Point,
}

/// The parsed `--faults` specification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    /// RNG seed.
    pub seed: u64,
    /// Per-byte bit-flip probability.
    pub flip: f64,
    /// Per-byte loss probability.
    pub drop: f64,
    /// Per-byte duplication probability.
    pub dup: f64,
    /// Reply stall: (milliseconds, probability).
    pub stall: Option<(u64, f64)>,
    /// Per-block probability of a spurious residue.
    pub residue: f64,
    /// Per-request probability of a spurious NACK (STP v2).
    pub nack: f64,
    /// One-shot power losses, each fired at most once.
    pub power_loss: Vec<PowerLoss>,
    /// One-shot self-reset during a transfer.
    pub reboot_during_transfer: Option<Point>,
}

/// A `--faults` string that does not parse; the message says what was found and what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpecError(pub String);

impl fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FaultSpecError {}

fn probability(key: &str, v: &str) -> Result<f64, FaultSpecError> {
    match v.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(FaultSpecError(format!(
            "`{key}={v}`: expected a probability between 0 and 1, for example {key}=0.001"
        ))),
    }
}

impl FaultSpec {
    /// Parses the comma-separated grammar described in the module documentation.
    pub fn parse(spec: &str) -> Result<Self, FaultSpecError> {
        let mut out = FaultSpec::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(at) = item.strip_prefix("reboot-during-transfer@") {
                out.reboot_during_transfer = Some(Point::parse(at)?);
                continue;
            }
            let Some((key, value)) = item.split_once('=').map(|(k, v)| (k.trim(), v.trim())) else {
                return Err(FaultSpecError(format!(
                    "fault item `{item}` has no value; expected KEY=VALUE (seed, flip, drop, dup, stall, residue, nack, power-loss) or reboot-during-transfer@AT"
                )));
            };
            match key {
                "seed" => {
                    out.seed = value.parse().map_err(|_| {
                        FaultSpecError(format!("`seed={value}`: expected a whole number"))
                    })?
                }
                "flip" => out.flip = probability(key, value)?,
                "drop" => out.drop = probability(key, value)?,
                "dup" => out.dup = probability(key, value)?,
                "residue" => out.residue = probability(key, value)?,
                "nack" => out.nack = probability(key, value)?,
                "stall" => {
                    let (ms, p) = value.split_once('@').ok_or_else(|| {
                        FaultSpecError(format!(
                            "`stall={value}`: expected MS@P, for example stall=500@0.01"
                        ))
                    })?;
                    let ms = ms.parse().map_err(|_| {
                        FaultSpecError(format!(
                            "`stall={value}`: `{ms}` is not a whole number of milliseconds"
                        ))
                    })?;
                    out.stall = Some((ms, probability("stall", p)?));
                }
                "power-loss" => {
                    let (phase, at) = match value.split_once('@') {
                        Some((phase, at)) => (Phase::parse(phase)?, Some(Point::parse(at)?)),
                        None => (Phase::parse(value)?, None),
                    };
                    if phase == Phase::Idle && matches!(at, Some(Point::Fraction(_))) {
                        return Err(FaultSpecError(format!(
                            "`power-loss={value}`: idle takes a count of answered AT commands, for example power-loss=idle@3"
                        )));
                    }
                    let default = if phase == Phase::Idle {
                        Point::Count(1)
                    } else {
                        Point::Fraction(0.5)
                    };
                    out.power_loss.push(PowerLoss {
                        phase,
                        at: at.unwrap_or(default),
                    });
                }
                other => {
                    return Err(FaultSpecError(format!(
                        "unknown fault `{other}`; expected seed, flip, drop, dup, stall, residue, nack, power-loss or reboot-during-transfer@AT"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// True when no fault at all is configured.
    pub fn is_clean(&self) -> bool {
        let quiet = FaultSpec {
            seed: self.seed,
            ..FaultSpec::default()
        };
        *self == quiet
    }
}

/// What happened to one byte on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteFate {
    /// Delivered as is.
    Clean,
    /// Delivered with one bit flipped.
    Flipped(u8),
    /// Lost.
    Dropped,
    /// Delivered twice.
    Duplicated,
}

/// Per-run fault state: the spec, the RNG and the one-shot faults not yet fired.
#[derive(Debug, Clone)]
pub struct Faults {
    /// The parsed specification.
    pub spec: FaultSpec,
    rng: Rng,
    pending_power_loss: Vec<PowerLoss>,
    pending_reboot: Option<Point>,
    /// Faults injected so far, by kind, for the final report.
    pub counts: FaultCounts,
}

/// How many faults of each kind were injected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Bytes with a flipped bit.
    pub flipped: u64,
    /// Bytes lost.
    pub dropped: u64,
    /// Bytes doubled.
    pub duplicated: u64,
    /// Replies delayed.
    pub stalls: u64,
    /// Spurious residues.
    pub residues: u64,
    /// Spurious NACKs.
    pub nacks: u64,
    /// Power losses fired.
    pub power_losses: u64,
    /// Self-resets fired.
    pub reboots: u64,
}

impl Faults {
    /// Fresh state for `spec`.
    pub fn new(spec: FaultSpec) -> Self {
        Self {
            rng: Rng::new(spec.seed),
            pending_power_loss: spec.power_loss.clone(),
            pending_reboot: spec.reboot_during_transfer,
            counts: FaultCounts::default(),
            spec,
        }
    }

    /// Decides the fate of one byte crossing the line.
    pub fn byte(&mut self, b: u8) -> ByteFate {
        if self.rng.chance(self.spec.drop) {
            self.counts.dropped += 1;
            return ByteFate::Dropped;
        }
        if self.rng.chance(self.spec.flip) {
            self.counts.flipped += 1;
            return ByteFate::Flipped(b ^ (1 << self.rng.range(0, 7)));
        }
        if self.rng.chance(self.spec.dup) {
            self.counts.duplicated += 1;
            return ByteFate::Duplicated;
        }
        ByteFate::Clean
    }

    /// Extra delay, in nanoseconds, before the next reply.
    pub fn stall(&mut self) -> u64 {
        match self.spec.stall {
            Some((ms, p)) if self.rng.chance(p) => {
                self.counts.stalls += 1;
                ms * crate::time::MS
            }
            _ => 0,
        }
    }

    /// A spurious residue for a block of `len` bytes, if one strikes.
    pub fn residue(&mut self, len: u16) -> Option<u16> {
        if len > 0 && self.rng.chance(self.spec.residue) {
            self.counts.residues += 1;
            Some(self.rng.range(1, u64::from(len)) as u16)
        } else {
            None
        }
    }

    /// Whether a valid request gets a spurious NACK.
    pub fn nack(&mut self) -> bool {
        let hit = self.rng.chance(self.spec.nack);
        if hit {
            self.counts.nacks += 1;
        }
        hit
    }

    /// A random garbage byte (for a receiver listening at the wrong baud rate).
    pub fn garbage(&mut self) -> Option<u8> {
        // At the wrong rate a receiver sees about every other frame as a (wrong) byte.
        if self.rng.chance(0.5) {
            Some(self.rng.next_u64() as u8)
        } else {
            None
        }
    }

    /// The pending power loss for `phase`, if any (not yet consumed).
    pub fn power_loss_point(&self, phase: Phase) -> Option<Point> {
        self.pending_power_loss
            .iter()
            .find(|p| p.phase == phase)
            .map(|p| p.at)
    }

    /// Consumes the pending power loss for `phase`.
    pub fn fire_power_loss(&mut self, phase: Phase) {
        if let Some(i) = self
            .pending_power_loss
            .iter()
            .position(|p| p.phase == phase)
        {
            self.pending_power_loss.remove(i);
            self.counts.power_losses += 1;
        }
    }

    /// The pending self-reset point, if any.
    pub fn reboot_point(&self) -> Option<Point> {
        self.pending_reboot
    }

    /// Consumes the pending self-reset.
    pub fn fire_reboot(&mut self) {
        if self.pending_reboot.take().is_some() {
            self.counts.reboots += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item() {
        let s = FaultSpec::parse(
            "seed=42, flip=0.001,drop=1e-4,dup=0.5,stall=250@0.1,residue=0.2,nack=0.3,\
             power-loss=programming@30%,power-loss=idle,power-loss=transfer@300000,reboot-during-transfer@0.75",
        )
        .unwrap();
        assert_eq!(s.seed, 42);
        assert_eq!(
            (s.flip, s.drop, s.dup, s.residue, s.nack),
            (0.001, 1e-4, 0.5, 0.2, 0.3)
        );
        assert_eq!(s.stall, Some((250, 0.1)));
        assert_eq!(
            s.power_loss,
            vec![
                PowerLoss {
                    phase: Phase::Programming,
                    at: Point::Fraction(0.3)
                },
                PowerLoss {
                    phase: Phase::Idle,
                    at: Point::Count(1)
                },
                PowerLoss {
                    phase: Phase::Transfer,
                    at: Point::Count(300_000)
                },
            ]
        );
        assert_eq!(s.reboot_during_transfer, Some(Point::Fraction(0.75)));
        assert!(!s.is_clean());
        assert!(FaultSpec::parse("seed=9").unwrap().is_clean());
        assert!(FaultSpec::parse("").unwrap().is_clean());
    }

    #[test]
    fn errors_say_what_is_expected() {
        for (spec, needle) in [
            ("flip=2", "between 0 and 1"),
            ("flip", "no value"),
            ("jitter=0.1", "unknown fault `jitter`"),
            ("power-loss=lunch", "unknown power-loss phase"),
            ("power-loss=transfer@1.5", "bad fault point"),
            ("power-loss=idle@0.5", "idle takes a count"),
            ("stall=100", "MS@P"),
            ("stall=x@0.1", "milliseconds"),
            ("seed=-1", "whole number"),
        ] {
            let err = FaultSpec::parse(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }

    #[test]
    fn byte_faults_follow_the_seed() {
        let spec = FaultSpec::parse("seed=3,flip=0.1,drop=0.1,dup=0.1").unwrap();
        let run = |spec: &FaultSpec| {
            let mut f = Faults::new(spec.clone());
            (0..1000u32).map(|i| f.byte(i as u8)).collect::<Vec<_>>()
        };
        assert_eq!(run(&spec), run(&spec));
        let fates = run(&spec);
        let flips = fates
            .iter()
            .filter(|f| matches!(f, ByteFate::Flipped(_)))
            .count();
        let drops = fates.iter().filter(|f| **f == ByteFate::Dropped).count();
        assert!(
            (50..150).contains(&flips) && (50..150).contains(&drops),
            "{flips} {drops}"
        );
        // A flipped byte differs from the original in exactly one bit.
        let mut f = Faults::new(FaultSpec::parse("flip=1").unwrap());
        for b in 0..=255u8 {
            let ByteFate::Flipped(x) = f.byte(b) else {
                panic!("flip=1 must flip")
            };
            assert_eq!((x ^ b).count_ones(), 1);
        }
    }

    #[test]
    fn one_shot_faults_fire_once() {
        let mut f = Faults::new(
            FaultSpec::parse("power-loss=reboot@0.2,reboot-during-transfer@100").unwrap(),
        );
        assert_eq!(
            f.power_loss_point(Phase::Reboot),
            Some(Point::Fraction(0.2))
        );
        assert_eq!(f.power_loss_point(Phase::Transfer), None);
        f.fire_power_loss(Phase::Reboot);
        assert_eq!(f.power_loss_point(Phase::Reboot), None);
        assert_eq!(f.reboot_point(), Some(Point::Count(100)));
        f.fire_reboot();
        assert_eq!(f.reboot_point(), None);
        assert_eq!((f.counts.power_losses, f.counts.reboots), (1, 1));
        assert_eq!(Point::Fraction(0.25).resolve(400), 100);
        assert_eq!(Point::Count(7).resolve(400), 7);
    }
}
