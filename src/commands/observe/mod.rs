//! Measuring a sink tickbench did not run, from the objects it writes (`[observe]`): within a
//! `tickbench run` that produces the load ([`run`]), or as a process of its own beside
//! `tickbench produce` workers on other hosts, its folder merged with theirs by `tickbench merge`
//! ([`standalone`]).

pub mod run;
pub mod standalone;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use tokio::sync::watch;

use crate::config::{Kafka, Observe};
use crate::io::lag::GroupLag;
use crate::metrics::Counters;
use crate::observe::{decode::Mapping, Observation, Watch};
use crate::results::{Observed, ObservedGroup};

/// The watch an `[observe]` section asks for.
fn watch<'a>(o: &Observe, client: &'a Client, bucket: &'a str, prefix: &'a str) -> Watch<'a> {
    Watch {
        client,
        bucket,
        prefix,
        poll: o.poll_interval,
        poll_max: o.poll_interval_max,
        mapping: Mapping::of(o),
        // Validated with the scenario.
        pattern: o
            .key_pattern
            .as_deref()
            .and_then(|p| regex::Regex::new(p).ok()),
    }
}

/// The queue of the bucket's event notifications, when `[observe]` names one.
async fn queue(
    o: &Observe,
    s3: &crate::config::S3,
    bucket: &str,
    prefix: &str,
) -> Option<crate::observe::events::Queue> {
    let url = o.sqs_queue_url.as_deref()?;
    Some(
        crate::observe::events::Queue::connect(
            url,
            s3.region.as_deref(),
            s3.profile.as_deref(),
            bucket,
            prefix,
        )
        .await,
    )
}

/// `prefix` with exactly one trailing slash: what is listed.
fn listed_prefix(o: &Observe) -> String {
    o.prefix.trim_matches('/').to_string() + "/"
}

/// How the sink was watched, for the summary; `group` what the group watch saw.
pub fn observed(
    o: &Observe,
    prefix: &str,
    obs: &Observation,
    group: Option<ObservedGroup>,
) -> Observed {
    Observed {
        method: if o.sqs_queue_url.is_some() {
            "s3-events"
        } else {
            "list-poll"
        }
        .into(),
        prefix: prefix.to_string(),
        poll_interval_ms: o.poll_interval.as_secs_f64() * 1e3,
        poll_interval_max_ms: o.poll_interval_max.as_secs_f64() * 1e3,
        durable_bound_ms: obs.durable_bound_us as f64 / 1e3,
        list_requests: obs.list_requests,
        listings: obs.listings,
        incremental_listings: obs.incremental_listings,
        get_requests: obs.get_requests,
        keys_left_out: obs.keys_left_out,
        sqs_requests: obs.sqs_requests,
        preexisting_objects: obs.preexisting,
        unreadable_objects: obs.unreadable.clone(),
        objects_without_ticks: obs.without_ticks.clone(),
        objects_by_kind: obs.kinds.clone(),
        key_layout: crate::observe::layout::infer(obs.objects.iter().map(|l| l.key.as_str())),
        settled: obs.settled,
        notes: o.notes.clone(),
        group,
    }
}

/// What the watch found wrong: unreadable objects are problems (added to `problems`), objects
/// without ticks a warning (returned).
fn findings(obs: &Observation, problems: &mut Vec<String>) -> Vec<String> {
    for u in &obs.unreadable {
        problems.push(format!("object {u} could not be read as ticks"));
    }
    let mut warnings = Vec::new();
    if !obs.without_ticks.is_empty() {
        warnings.push(format!(
            "{} objects under the prefix held no ticks (another writer's files?), e.g. {}",
            obs.without_ticks.len(),
            obs.without_ticks[0]
        ));
    }
    warnings
}

/// Samples the observed sink's group lag (`observe.group_id`) once a second into the live
/// counters (the progress line, the metrics) until stopped; then what it saw, for the summary.
struct GroupWatch {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<ObservedGroup>,
}

impl GroupWatch {
    /// None when `[observe]` names no group. `from`: where the load began on each partition,
    /// if known (see [`GroupLag::sample`]).
    async fn start(
        o: &Observe,
        brokers: &str,
        k: &Kafka,
        from: BTreeMap<i32, i64>,
        counters: Arc<Counters>,
    ) -> anyhow::Result<Option<GroupWatch>> {
        let Some(group_id) = &o.group_id else {
            return Ok(None);
        };
        crate::io::connect::prepare_auth(k).await?;
        let lag = Arc::new(GroupLag::new(brokers, k, group_id, from)?);
        let mut seen = ObservedGroup {
            group_id: group_id.clone(),
            ..Default::default()
        };
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                // Once more when stopped: the lag as the watch ends.
                let last = tokio::select! {
                    _ = stopped.changed() => true,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => false,
                };
                let l = lag.clone();
                match tokio::task::spawn_blocking(move || l.sample()).await {
                    Ok(Ok(v)) => {
                        counters.sink_lag.set(v);
                        seen.samples += 1;
                        seen.lag_max = seen.lag_max.max(v);
                        seen.lag_last = Some(v);
                    }
                    Ok(Err(e)) => {
                        tracing::debug!("the lag of group {}: {e}", seen.group_id);
                        seen.failed_samples += 1;
                    }
                    Err(_) => seen.failed_samples += 1,
                }
                if last {
                    return seen;
                }
            }
        });
        Ok(Some(GroupWatch { stop, task }))
    }

    async fn stop(self) -> Option<ObservedGroup> {
        let _ = self.stop.send(true);
        self.task.await.ok()
    }
}
