//! The sink's loop: what it waits on (uploads and table commits done, the drain target, its 20 ms
//! timer, records, the group's events) and what each does, until everything up to the drain
//! target is landed and committed.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt as _;
use rdkafka::consumer::Consumer;
use tokio::sync::{mpsc, oneshot, watch};

use super::error::SinkError;
use super::fetched::Fetched;
use super::record::{Next, Record};
use super::table::{self, TableDone};
use super::upload::UploadGaveUp;
use super::{SinkControl, State};
use crate::clock::{Now, StepWatch};
use crate::model::tick::TickDecoder;
use crate::results::Landed;

/// Records taken from librdkafka's queue in one go (see [`Serving::on_records`]).
pub(super) const BURST: usize = 1024;
/// Within a burst, the receive time is read again every this many records (~64 µs).
const CLOCK_EVERY: usize = 64;
/// The loop's 20 ms timer hands kafka_e2e to the shared recorders every this many ticks.
const FLUSH_EVERY: u32 = 10;

/// What the loop waits on besides the consumer: uploads' and table commits' outcomes.
pub(super) struct Inputs {
    pub done_rx: mpsc::UnboundedReceiver<Result<Landed, UploadGaveUp>>,
    pub table_rx: Option<mpsc::UnboundedReceiver<TableDone>>,
}

/// The loop's own state: the run's signals, the drain target and its deadline, the wall
/// clock's steps, the decoder.
pub(super) struct Serving {
    ready: Option<oneshot::Sender<()>>,
    drain: watch::Receiver<Option<BTreeMap<i32, i64>>>,
    target: Option<BTreeMap<i32, i64>>,
    deadline_mono_ns: u64,
    pub steps: StepWatch,
    drained: bool,
    dec: TickDecoder,
    flushes: u32,
}

impl Serving {
    pub fn new(control: SinkControl) -> Serving {
        Serving {
            ready: Some(control.ready),
            drain: control.drain,
            target: None,
            deadline_mono_ns: u64::MAX,
            steps: StepWatch::default(),
            drained: false,
            dec: TickDecoder::default(),
            flushes: 0,
        }
    }

    /// Serves the group until the drain target is landed and committed, and nothing is in
    /// flight.
    pub async fn serve(
        &mut self,
        st: &mut State,
        inputs: &mut Inputs,
        fetched: &mut Fetched,
    ) -> Result<(), SinkError> {
        let consumer = st.consumer.clone();
        let fetched_ready = fetched.ready();
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // One stream for the whole run (each `recv` makes, and registers a waker slot for, a
        // stream of its own): it serves the group's events.
        let mut stream = consumer.stream();
        loop {
            tokio::select! {
                biased;
                Some(res) = inputs.done_rx.recv() => {
                    st.on_done(res)?;
                    st.finish_resets().await?;
                }
                Some(d) = table::next(&mut inputs.table_rx) => {
                    st.on_table_done(d)?;
                    st.finish_resets().await?;
                }
                changed = self.drain.changed(), if self.target.is_none() => {
                    if changed.is_ok() {
                        self.on_drain(st);
                    }
                }
                // Before recv: under steady load recv is always ready and would starve the age
                // trigger and the drain check.
                _ = ticker.tick() => self.on_tick(st).await?,
                // The records of the assigned partitions, a burst at a time (see `fetched.rs`).
                _ = fetched_ready.notified(), if !self.drained => {
                    self.on_records(st, fetched).await;
                }
                // Group events (served inside the poll). Records come here only for a partition
                // assigned before `fetched` existed, which the order above rules out: one at a
                // time.
                Some(msg) = stream.next(), if !self.drained => match msg {
                    Ok(m) => {
                        let rec = Record::of(&m, Now::read());
                        let consumed = st.report.consumed;
                        match st.take_record(rec, &mut self.dec) {
                            Next::Done => {}
                            next => st.finish_record(next, rec, &mut self.dec).await,
                        }
                        st.counters.consumed.fetch_add(st.report.consumed - consumed, Ordering::Relaxed);
                    }
                    Err(_) => st.report.consumer_errors += 1,
                },
            }
            let events = consumer.context().take();
            if !events.is_empty() {
                st.on_membership(events);
                st.finish_resets().await?;
            }
            if std::mem::take(&mut st.read_again) {
                self.drained = false;
            }
            if self.drained
                && st.in_flight == 0
                && st.resetting.is_empty()
                && st.table.as_ref().is_none_or(|t| t.idle())
            {
                return Ok(());
            }
        }
    }

    /// The load is over: land up to each partition's high watermark, within the drain timeout.
    fn on_drain(&mut self, st: &State) {
        self.target = self.drain.borrow().clone();
        if self.target.is_some() {
            self.deadline_mono_ns =
                crate::clock::mono_ns() + st.settings.drain_timeout.as_nanos() as u64;
        }
    }

    /// Every 20 ms: ages, the table's commits, dead letters, memory, and the drain's progress.
    async fn on_tick(&mut self, st: &mut State) -> Result<(), SinkError> {
        let now = Now::read();
        if let Some(step) = self.steps.observe(now) {
            tracing::warn!(
                "the wall clock stepped by {:+.3} s: latencies across the step are off by as much (batch ages and deadlines are on the monotonic clock)",
                step as f64 / 1e9
            );
        }
        if self.ready.is_some() && st.consumer.assignment().is_ok_and(|a| a.count() > 0) {
            let _ = self.ready.take().map(|r| r.send(()));
        }
        st.finish_resets().await?;
        st.batcher.expire(now, &mut st.actions);
        st.dispatch().await;
        st.commit_table(now, self.drained);
        for b in st
            .dead
            .expire(now, st.settings.triggers.max_age.as_nanos() as u64)
        {
            st.put_dead(b).await;
        }
        st.sample_memory();
        self.flushes += 1;
        if self.flushes.is_multiple_of(FLUSH_EVERY) {
            st.kafka_e2e.flush(&st.rec);
        }
        if let (Some(t), false) = (&self.target, self.drained) {
            if st.reached(t) {
                st.batcher.drain(now, &mut st.actions);
                st.dispatch().await;
                for b in st.dead.drain(now) {
                    st.put_dead(b).await;
                }
                self.drained = true;
            } else if now.mono_ns > self.deadline_mono_ns {
                return Err(SinkError::DrainTimeout {
                    timeout: st.settings.drain_timeout,
                    positions: st.next_offset.clone(),
                    targets: t.clone(),
                });
            }
        }
        Ok(())
    }

    /// A burst of records from the assigned partitions.
    async fn on_records(&mut self, st: &mut State, fetched: &mut Fetched) {
        let consumed = st.report.consumed;
        let burst = fetched.take(BURST);
        let mut t_recv = Now::read();
        for i in 0..burst.len() {
            if i > 0 && i.is_multiple_of(CLOCK_EVERY) {
                t_recv = Now::read();
            }
            let Some(rec) = burst.record(i, t_recv) else {
                st.report.consumer_errors += 1;
                continue;
            };
            match st.take_record(rec, &mut self.dec) {
                Next::Done => {}
                next => st.finish_record(next, rec, &mut self.dec).await,
            }
        }
        drop(burst);
        st.counters
            .consumed
            .fetch_add(st.report.consumed - consumed, Ordering::Relaxed);
    }
}
