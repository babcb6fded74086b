//! `max` mode: the highest rate the pipeline sustains. Each step is a whole run at a constant
//! rate (its own results folder); a step is sustained when the audit passes, the producer kept to
//! the schedule (schedule lag p99 within bound), the consumer kept up (Kafka end-to-end p99
//! within bound) and the scenario's `[thresholds]` hold. The rate grows by a factor while steps are sustained, then bisects between the
//! last sustained and the first failed rate.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::commands::run::{run, RunOptions};
use crate::config::{MaxSearch, Scenario};
use crate::metrics::Stage;
use crate::results;

/// One step of the search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub ticks_per_second: f64,
    pub sustained: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    pub schedule_lag_p99_us: u64,
    pub kafka_e2e_p99_us: u64,
    pub pipeline_e2e_p99_us: u64,
    pub landed_per_s: f64,
    /// Ctrl-C stopped this step; the search ends with it.
    pub interrupted: bool,
    pub run_dir: PathBuf,
}

/// `max.json`: how the search went and where it settled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaxOutcome {
    pub scenario: String,
    pub search: MaxSearch,
    pub steps: Vec<Step>,
    /// The highest sustained rate, if any step was sustained.
    pub settled_ticks_per_second: Option<f64>,
    /// The lowest rate that was not sustained, if one was tried.
    pub first_failed_ticks_per_second: Option<f64>,
    pub dir: PathBuf,
}

impl MaxOutcome {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{:>12}  {:>9}  {:>14}  {:>12}  {:>12}  {:>12}\n",
            "ticks/s", "result", "sched lag p99", "kafka p99", "pipeline p99", "landed/s"
        );
        for st in &self.steps {
            s.push_str(&format!(
                "{:>12.0}  {:>9}  {:>12.2}ms  {:>10.1}ms  {:>10.1}ms  {:>12.0}{}\n",
                st.ticks_per_second,
                if st.sustained { "sustained" } else { "FAILED" },
                st.schedule_lag_p99_us as f64 / 1e3,
                st.kafka_e2e_p99_us as f64 / 1e3,
                st.pipeline_e2e_p99_us as f64 / 1e3,
                st.landed_per_s,
                st.reason
                    .as_ref()
                    .map(|r| format!("  ({r})"))
                    .unwrap_or_default()
            ));
        }
        match (self.settled_ticks_per_second, self.first_failed_ticks_per_second) {
            (Some(ok), Some(bad)) => s.push_str(&format!(
                "settled at {ok:.0} ticks/s (sustained); {bad:.0} ticks/s was not\n"
            )),
            (Some(ok), None) => s.push_str(&format!(
                "settled at {ok:.0} ticks/s: every step was sustained; raise max.max_steps or max.start to look higher\n"
            )),
            (None, _) => s.push_str("no rate was sustained: lower max.start, or loosen the bounds\n"),
        }
        s
    }
}

/// Runs the search. Each step writes its own run folder under `<results>/<stamp>-<name>-max/`.
pub async fn search(
    scenario: &Scenario,
    m: &MaxSearch,
    opts: &RunOptions,
) -> anyhow::Result<MaxOutcome> {
    let dir = results::RunDir::create(
        &opts.results_root,
        &format!("{}-max", scenario.name),
        chrono::Utc::now(),
    )?
    .path()
    .to_path_buf();
    let step_opts = RunOptions {
        results_root: dir.clone(),
        ..opts.clone()
    };
    let mut steps = Vec::new();
    let mut good: Option<f64> = None;
    let mut bad: Option<f64> = None;
    let mut rate = m.start;
    for _ in 0..m.max_steps {
        let st = step(scenario, m, rate, &step_opts).await?;
        let (ok, stop) = (st.sustained, st.interrupted);
        steps.push(st);
        if stop {
            break;
        }
        if ok {
            good = Some(rate);
            rate *= m.factor;
        } else {
            bad = Some(rate);
            break;
        }
    }
    if let (Some(mut lo), Some(mut hi)) = (good, bad) {
        for _ in 0..m.refine {
            let mid = (lo + hi) / 2.0;
            let st = step(scenario, m, mid, &step_opts).await?;
            if st.interrupted {
                steps.push(st);
                break;
            }
            if st.sustained {
                lo = mid;
            } else {
                hi = mid;
            }
            steps.push(st);
        }
        good = Some(lo);
        bad = Some(hi);
    }
    let outcome = MaxOutcome {
        scenario: scenario.name.clone(),
        search: m.clone(),
        steps,
        settled_ticks_per_second: good,
        first_failed_ticks_per_second: bad,
        dir: dir.clone(),
    };
    results::write_json(&dir.join(results::files::MAX), &outcome)?;
    Ok(outcome)
}

async fn step(
    base: &Scenario,
    m: &MaxSearch,
    rate: f64,
    opts: &RunOptions,
) -> anyhow::Result<Step> {
    let mut s = base.clone();
    s.max = None;
    s.name = format!("{}-{:.0}", base.name, rate);
    s.duration = m.step;
    s.rate.ticks_per_second = Some(rate);
    s.rate.segments.clear();
    opts.reporter
        .note(&format!("max: trying {rate:.0} ticks/s"));
    let out = match run(&s, None, opts).await {
        Ok(out) => out,
        // A step that could not even start (a broker gone between steps) is a failed step;
        // the search goes on, and max.json says why.
        Err(e) => {
            opts.reporter.note(&format!(
                "max: the step at {rate:.0} ticks/s could not run: {e:#}"
            ));
            return Ok(Step {
                ticks_per_second: rate,
                sustained: false,
                reason: Some(format!("could not run: {e:#}")),
                schedule_lag_p99_us: 0,
                kafka_e2e_p99_us: 0,
                pipeline_e2e_p99_us: 0,
                landed_per_s: 0.0,
                interrupted: false,
                run_dir: opts.results_root.clone(),
            });
        }
    };
    let sum = &out.summary;
    let lag = sum.stages[&Stage::ScheduleLag].p99_us;
    let e2e = sum.stages[&Stage::KafkaE2e].p99_us;
    let reason = if sum.interrupted {
        Some("interrupted".to_string())
    } else if let Some(f) = &sum.failure {
        Some(format!(
            "did not complete: {}",
            f.chars().take(160).collect::<String>()
        ))
    } else if !sum.passed {
        // The table gets the gist; max.json and the step's summary.json have every problem.
        let first = sum.problems.first().map(String::as_str).unwrap_or("");
        let gist: String = first
            .split(", for example")
            .next()
            .unwrap_or(first)
            .chars()
            .take(120)
            .collect();
        Some(format!(
            "audit failed: {gist}{}",
            if sum.problems.len() > 1 { "; ..." } else { "" }
        ))
    } else if lag as u128 > m.schedule_lag_p99.as_micros() {
        Some(format!(
            "schedule lag p99 {:.2} ms > {:?}",
            lag as f64 / 1e3,
            m.schedule_lag_p99
        ))
    } else if e2e as u128 > m.kafka_e2e_p99.as_micros() {
        Some(format!(
            "Kafka end-to-end p99 {:.1} ms > {:?}",
            e2e as f64 / 1e3,
            m.kafka_e2e_p99
        ))
    } else {
        // The scenario's own thresholds are part of "sustained": the ceiling is the highest
        // rate at which they all hold.
        sum.thresholds.iter().find(|t| !t.passed).map(|t| {
            format!(
                "threshold {} {}: {}",
                t.metric,
                t.condition,
                t.actual_text()
            )
        })
    };
    Ok(Step {
        ticks_per_second: rate,
        sustained: reason.is_none(),
        reason,
        schedule_lag_p99_us: lag,
        kafka_e2e_p99_us: e2e,
        pipeline_e2e_p99_us: sum.stages[&Stage::PipelineE2e].p99_us,
        landed_per_s: sum.throughput.landed_per_s,
        interrupted: sum.interrupted,
        run_dir: out.dir,
    })
}
