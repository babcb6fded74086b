//! The per-record half of the audit: which ticks of the run were found in S3, how often, and what
//! was found that is not a tick of this run, whichever sink wrote the objects.

use std::collections::HashMap;

use super::{Audit, Expected, SAMPLE};

/// Per symbol, which ticks were found, and what was found that is not a tick of this run: the
/// audit of the records themselves, whichever sink wrote them (the built-in one, or one watched
/// from outside, which knows nothing of offsets).
pub struct Ledger {
    index: HashMap<String, u32>,
    schedule_ns: (u64, u64),
    /// Per symbol, a bit per seq found; grows as ticks arrive (a watched sink's records come
    /// while the load is still going, before its counts are known).
    seen: Vec<Vec<u64>>,
    audit: Audit,
}

/// What one record was, to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A tick of this run, found for the first time.
    First,
    /// A tick of this run found before.
    Again,
    /// Not this run's: another load's tick, or not a tick.
    NotOurs,
}

impl Ledger {
    /// For a load of these symbols whose intended send times lie in `schedule_ns`.
    pub fn new<'t>(tickers: impl IntoIterator<Item = &'t str>, schedule_ns: (u64, u64)) -> Ledger {
        let index: HashMap<String, u32> = tickers
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        Ledger {
            seen: vec![Vec::new(); index.len()],
            index,
            schedule_ns,
            audit: Audit::default(),
        }
    }

    /// One record read from `key` (None: not a tick).
    pub fn record(&mut self, t: Option<crate::model::tick::Tick>, key: &str) -> Seen {
        let audit = &mut self.audit;
        let Some(tick) = t else {
            audit.unexpected += 1;
            return Seen::NotOurs;
        };
        if tick.ts_ns < self.schedule_ns.0 || tick.ts_ns > self.schedule_ns.1 {
            audit.foreign += 1;
            if audit.foreign_sample.len() < SAMPLE {
                audit.foreign_sample.push(format!(
                    "{}#{}@{} in {key}",
                    tick.symbol, tick.seq, tick.ts_ns
                ));
            }
            return Seen::NotOurs;
        }
        let Some(&sym) = self.index.get(tick.symbol.as_str()) else {
            audit.unexpected += 1;
            return Seen::NotOurs;
        };
        let words = &mut self.seen[sym as usize];
        let (w, bit) = ((tick.seq / 64) as usize, 1u64 << (tick.seq % 64));
        if words.len() <= w {
            words.resize(w + 1, 0);
        }
        if words[w] & bit != 0 {
            audit.duplicated += 1;
            let p = crate::model::layout::parse_object_name(key).map(|(_, p, _)| p);
            *audit.duplicated_by_partition.entry(p).or_default() += 1;
            if audit.duplicated_sample.len() < SAMPLE {
                audit
                    .duplicated_sample
                    .push(format!("{}#{} in {key}", tick.symbol, tick.seq));
            }
            Seen::Again
        } else {
            words[w] |= bit;
            Seen::First
        }
    }

    /// Distinct ticks of this run found so far.
    pub fn found(&self) -> u64 {
        self.seen
            .iter()
            .flatten()
            .map(|w| w.count_ones() as u64)
            .sum()
    }

    /// Every acknowledged tick found (landed) or not (lost), with the problems named; `into` has
    /// the object-level findings so far. Copies found twice are not told apart by their cause
    /// (an observed sink's objects do not say which offsets they hold).
    pub fn finish(self, exp: &Expected<'_>, into: Audit) -> Audit {
        self.finish_with(exp, into, None)
    }

    /// As [`Ledger::finish`]; with the partitions whose offsets the sink did not land exactly once
    /// (`unaccounted`), copies elsewhere are told to be the log's, not the sink's.
    pub(super) fn finish_with(
        mut self,
        exp: &Expected<'_>,
        mut into: Audit,
        unaccounted: Option<&std::collections::BTreeSet<i32>>,
    ) -> Audit {
        // Ticks past what was produced are not this run's.
        for (sym, n) in exp.per_symbol.iter().enumerate() {
            if let Some(words) = self.seen.get_mut(sym) {
                let beyond: u64 = (*n..(words.len() as u64 * 64))
                    .filter(|seq| words[(seq / 64) as usize] & (1 << (seq % 64)) != 0)
                    .count() as u64;
                self.audit.unexpected += beyond;
                words.resize((*n as usize).div_ceil(64), 0);
            }
        }
        let a = self.audit;
        into.unexpected += a.unexpected;
        into.foreign += a.foreign;
        into.foreign_sample.extend(a.foreign_sample);
        into.duplicated += a.duplicated;
        into.duplicated_sample.extend(a.duplicated_sample);
        into.duplicated_by_partition = a.duplicated_by_partition;
        match unaccounted {
            Some(u) => into.attribute(u),
            None => into.duplicated_by_partition.clear(),
        }
        let index: HashMap<&str, u32> = self.index.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        tally(exp, &index, &self.seen, &mut into);
        name_problems(&mut into);
        into
    }
}

/// Every acknowledged tick: found once (landed) or not (lost); unacknowledged ones found too.
fn tally(exp: &Expected<'_>, index: &HashMap<&str, u32>, seen: &[Vec<u64>], audit: &mut Audit) {
    let failed: std::collections::HashSet<(u32, u64)> = exp
        .failed
        .iter()
        .filter_map(|f| index.get(f.symbol.as_str()).map(|i| (*i, f.seq)))
        .collect();
    for (sym, n) in exp.per_symbol.iter().enumerate() {
        for seq in 0..*n {
            let found = seen[sym][(seq / 64) as usize] & (1 << (seq % 64)) != 0;
            let acked = !failed.contains(&(sym as u32, seq));
            match (acked, found) {
                (true, true) => audit.landed += 1,
                (true, false) => {
                    audit.lost += 1;
                    if audit.lost_sample.len() < SAMPLE {
                        audit
                            .lost_sample
                            .push(format!("{}#{seq}", exp.tickers[sym]));
                    }
                }
                (false, true) => audit.landed_unacked += 1,
                (false, false) => {}
            }
        }
    }
}

/// The counts that fail the audit, as problems with examples.
fn name_problems(audit: &mut Audit) {
    if audit.lost > 0 {
        audit.problems.push(format!(
            "{} acknowledged ticks are not in S3, for example {}",
            audit.lost,
            audit.lost_sample.join(", ")
        ));
    }
    // Copies the log holds twice are the producer's (a warning); the rest, or all of them where
    // nothing tells them apart, fail the audit.
    let against_sink = audit.duplicated - audit.duplicated_in_log;
    if against_sink > 0 {
        audit.problems.push(format!(
            "{against_sink} ticks are in S3 more than once{}, for example {}",
            if audit.duplicated_by_sink > 0 {
                " from one offset of the log: the sink landed them twice"
            } else {
                ""
            },
            audit.duplicated_sample.join(", ")
        ));
    }
    if audit.unexpected > 0 {
        audit.problems.push(format!(
            "{} lines in S3 are not ticks this run produced",
            audit.unexpected
        ));
    }
}
