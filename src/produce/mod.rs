//! The producer driver: walks the open-loop schedule, sends each tick at its intended time (never
//! earlier; later only shows up as schedule lag), and records delivery reports.

mod send;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, ClientContext};

use anyhow::Context as _;

use crate::metrics::{us_between, Counters, LocalStage, Recorders, Stage};
use crate::model::load::Schedule;
use crate::model::sim::{Generator, Model, Share};
use crate::model::tick::decode_payload;
use crate::results::DeliveryFailed;

/// What the delivery reports of one producer thread add up to, recorded without shared locks.
struct Delivered {
    produce: LocalStage,
    produce_raw: LocalStage,
    /// Indexed by partition: the lowest and highest offset the broker acknowledged.
    offsets: Vec<(i64, i64)>,
    /// Indexed by partition: acknowledgements received (compared with the offsets' span, it
    /// shows a broker that gives one offset to two messages).
    acks: Vec<u64>,
    /// Acknowledgements that carried no offset (librdkafka reports -1, for example when an
    /// idempotent producer's retry is answered as a duplicate of a batch the broker has).
    acks_without_offset: u64,
    /// Acknowledgements not yet added to the shared counter (it is updated in steps, not per
    /// message: an atomic add per message is measurable at a million a second).
    acked_pending: u64,
}

impl Delivered {
    fn publish(&mut self, counters: &Counters) {
        counters
            .acked
            .fetch_add(self.acked_pending, Ordering::Relaxed);
        self.acked_pending = 0;
    }
}

/// Records delivery reports. The opaque of each message is its packed send times (see
/// `Stamp`), so nothing is allocated per message and the (by then cold) payload is not read.
pub struct DeliveryContext {
    rec: Arc<Recorders>,
    counters: Arc<Counters>,
    /// The schedule's start, which packed send times count from.
    base_ns: u64,
    /// Paces the schedule and stamps sends and acks (see `clock::Anchored`).
    clock: crate::clock::Anchored,
    failed: Mutex<Vec<DeliveryFailed>>,
    // Served by the producer's own thread (BaseProducer): the lock is never contended.
    delivered: Mutex<Delivered>,
    /// The most messages librdkafka's statistics showed as sent more than once (see `stats`).
    resent: AtomicU64,
    /// The time a `poll(0)` began, which stamps every delivery report it serves (0: read the
    /// clock per report). A poll serves reports that had already arrived, so this is within
    /// the poll's own few µs of each one, and it saves a clock read per message.
    poll_ns: AtomicU64,
}

/// A message's intended and actual send times, packed into its 64-bit delivery opaque.
///
/// Packed form (top bit 0): the intended time in whole µs since the schedule's start (35 bits,
/// 9.5 hours) and the schedule lag in µs (28 bits, 268 s). Histograms count whole µs, so
/// nothing they show is lost. Outside those ranges (top bit 1) the opaque is the actual send time
/// in ns and the intended time is read back from the payload's `ts_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(u64);

const _: () = assert!(usize::BITS == 64, "the delivery opaque holds 64 bits");

impl Stamp {
    const LAG_BITS: u32 = 28;
    const OFFSET_BITS: u32 = 35;
    const WIDE: u64 = 1 << 63;

    fn pack(base_ns: u64, t_sched: u64, t_send: u64) -> Stamp {
        let off_us = t_sched.wrapping_sub(base_ns) / 1000;
        let lag_us = t_send.saturating_sub(t_sched) / 1000;
        if t_sched >= base_ns && off_us < 1 << Self::OFFSET_BITS && lag_us < 1 << Self::LAG_BITS {
            Stamp(off_us << Self::LAG_BITS | lag_us)
        } else {
            Stamp(Self::WIDE | t_send)
        }
    }

    /// (t_sched, t_send) in ns; `payload` is read only for the wide form.
    fn unpack(self, base_ns: u64, payload: Option<&[u8]>) -> (u64, u64) {
        if self.0 & Self::WIDE == 0 {
            let t_sched = base_ns + (self.0 >> Self::LAG_BITS) * 1000;
            (
                t_sched,
                t_sched + (self.0 & ((1 << Self::LAG_BITS) - 1)) * 1000,
            )
        } else {
            let t_send = self.0 & !Self::WIDE;
            (payload.and_then(ts_ns_of).unwrap_or(t_send), t_send)
        }
    }
}

impl ClientContext for DeliveryContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        crate::io::msk_iam::oauth_token(config)
    }

    /// librdkafka counts a message in a partition's `txmsgs` each time it is sent; those that
    /// left its queues were sent at least once. The difference is a lower bound of the messages
    /// sent again (retries after failed Produce requests), at each `statistics.interval.ms`.
    fn stats(&self, s: Statistics) {
        let resent: i64 = s
            .topics
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0)
            .map(|p| p.txmsgs as i64 - (p.msgs as i64 - p.msgq_cnt - p.xmit_msgq_cnt))
            .sum();
        self.resent
            .fetch_max(resent.max(0) as u64, Ordering::Relaxed);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, stamp: usize) {
        let t_ack = match self.poll_ns.load(Ordering::Relaxed) {
            0 => self.clock.wall_ns(),
            t => t,
        };
        match result {
            Ok(msg) => {
                let (t_sched, t_send) = Stamp(stamp as u64).unpack(self.base_ns, msg.payload());
                let mut d = self.delivered.lock().expect("delivery stats");
                let (p, off) = (msg.partition().max(0) as usize, msg.offset());
                if d.offsets.len() <= p {
                    d.offsets.resize(p + 1, (i64::MAX, i64::MIN));
                    d.acks.resize(p + 1, 0);
                }
                if off >= 0 {
                    d.acks[p] += 1;
                    let e = &mut d.offsets[p];
                    *e = (e.0.min(off), e.1.max(off));
                } else {
                    d.acks_without_offset += 1;
                }
                d.produce
                    .tick_value(&self.rec, us_between(t_sched, t_ack), t_sched, t_ack);
                d.produce_raw
                    .tick_value(&self.rec, us_between(t_send, t_ack), t_sched, t_ack);
                d.acked_pending += 1;
                if d.acked_pending >= 1024 {
                    d.publish(&self.counters);
                }
            }
            Err((e, msg)) => {
                self.counters
                    .delivery_failed
                    .fetch_add(1, Ordering::Relaxed);
                let tick = msg
                    .payload()
                    .and_then(|p| decode_payload(p, &mut Vec::new()).ok());
                self.failed
                    .lock()
                    .expect("failed list")
                    .push(DeliveryFailed {
                        symbol: tick.as_ref().map(|t| t.symbol.clone()).unwrap_or_default(),
                        seq: tick.map(|t| t.seq).unwrap_or(u64::MAX),
                        error: e.to_string(),
                    });
            }
        }
    }
}

/// The `ts_ns` of an encoded tick, read at its known place without decoding the rest: the
/// producer wrote `{"symbol":"…","seq":N,"ts_ns":T,…`. Anything else is None.
#[inline]
fn ts_ns_of(p: &[u8]) -> Option<u64> {
    const HEAD: &[u8] = b"{\"symbol\":\"";
    const SEQ: &[u8] = b"\",\"seq\":";
    const TS: &[u8] = b",\"ts_ns\":";
    let rest = p.strip_prefix(HEAD)?;
    let q = rest.iter().position(|b| *b == b'"')?;
    let rest = rest[q..].strip_prefix(SEQ)?;
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest[n..].strip_prefix(TS)?;
    let mut v: u64 = 0;
    for d in rest.iter().take_while(|b| b.is_ascii_digit()) {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(v)
}

/// What the producer did.
#[derive(Debug, Default)]
pub struct ProduceReport {
    /// Ticks handed to librdkafka.
    pub produced: u64,
    /// Ticks generated per symbol (each symbol's seq ran 0..n).
    pub per_symbol: Vec<u64>,
    /// Ticks whose delivery failed.
    pub failed: Vec<DeliveryFailed>,
    /// Ticks the producer never got to (the run was stopped).
    pub not_sent: u64,
    /// Times the local queue was full and the producer had to wait (load it could not absorb).
    pub queue_full_waits: u64,
    /// Messages still undelivered when the final flush gave up.
    pub unflushed: i32,
    /// Per partition, the lowest and highest offset the broker acknowledged for this run.
    pub acked_offsets: BTreeMap<i32, (i64, i64)>,
    /// Per partition, how many acknowledgements the broker sent.
    pub acks: BTreeMap<i32, u64>,
    /// Acknowledgements without an offset.
    pub acks_without_offset: u64,
    /// Messages librdkafka sent more than once (a lower bound, from its statistics).
    pub resent: u64,
    /// Payload bytes handed to librdkafka.
    pub bytes: u64,
    /// CPU time of the producer threads, seconds (None where /proc is missing).
    pub cpu_s: Option<f64>,
}

/// The load a producer's report belongs to.
pub struct LoadOf<'a> {
    pub scenario: &'a crate::config::Scenario,
    pub share: Share,
    pub schedule: &'a Schedule,
    pub tickers: Vec<String>,
    /// Per partition, the high watermark before and after the load.
    pub start_offsets: BTreeMap<i32, i64>,
    pub end_offsets: BTreeMap<i32, i64>,
}

impl ProduceReport {
    /// What this producer sent, in the detail the audit needs (`produced.json`).
    pub fn into_produced(self, load: LoadOf<'_>) -> crate::results::Produced {
        crate::results::Produced {
            worker: load.share.worker,
            workers: load.share.workers,
            topic: load.scenario.kafka.topic.clone(),
            start_ns: load.schedule.start_ns,
            schedule_ns: (load.schedule.start_ns, load.schedule.end_ns()),
            warmup_s: load.scenario.warmup.as_secs_f64(),
            measured_s: load.scenario.duration.as_secs_f64(),
            tickers: load.tickers,
            per_symbol: self.per_symbol,
            failed: self.failed,
            not_sent: self.not_sent,
            start_offsets: load.start_offsets,
            end_offsets: load.end_offsets,
            acked_offsets: self.acked_offsets,
            acks: self.acks,
            acks_without_offset: self.acks_without_offset,
            resent: self.resent,
        }
    }
}

impl DeliveryContext {
    /// Notes a tick that was not delivered.
    fn fail(&self, symbol: String, seq: u64, error: String) {
        let f = DeliveryFailed { symbol, seq, error };
        self.failed.lock().expect("failed list").push(f);
    }
}

/// A delivery context whose packed send times count from `base_ns` (the schedule's start).
pub fn new_context(rec: Arc<Recorders>, counters: Arc<Counters>, base_ns: u64) -> DeliveryContext {
    DeliveryContext {
        rec,
        counters,
        base_ns,
        clock: crate::clock::Anchored::now(),
        failed: Mutex::new(Vec::new()),
        delivered: Mutex::new(Delivered {
            produce: LocalStage::new(Stage::Produce),
            produce_raw: LocalStage::new(Stage::ProduceRaw),
            offsets: Vec::new(),
            acks: Vec::new(),
            acks_without_offset: 0,
            acked_pending: 0,
        }),
        resent: AtomicU64::new(0),
        poll_ns: AtomicU64::new(0),
    }
}

/// Serves the delivery reports that are ready, stamped with one clock reading taken at `now`.
#[inline]
fn serve(producer: &BaseProducer<DeliveryContext>, now: u64) {
    let ctx = producer.context();
    ctx.poll_ns.store(now.max(1), Ordering::Relaxed);
    producer.poll(Duration::ZERO);
    ctx.poll_ns.store(0, Ordering::Relaxed);
}

impl ProduceReport {
    /// Adds another producer thread's report (their symbols are disjoint).
    pub fn merge(&mut self, other: ProduceReport) {
        self.produced += other.produced;
        self.bytes += other.bytes;
        self.cpu_s = match (self.cpu_s, other.cpu_s) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        if self.per_symbol.len() < other.per_symbol.len() {
            self.per_symbol.resize(other.per_symbol.len(), 0);
        }
        for (a, b) in self.per_symbol.iter_mut().zip(&other.per_symbol) {
            *a += b;
        }
        self.failed.extend(other.failed);
        self.not_sent += other.not_sent;
        self.queue_full_waits += other.queue_full_waits;
        self.unflushed += other.unflushed;
        self.acks_without_offset += other.acks_without_offset;
        self.resent += other.resent;
        for (p, n) in other.acks {
            *self.acks.entry(p).or_default() += n;
        }
        for (p, (lo, hi)) in other.acked_offsets {
            let e = self.acked_offsets.entry(p).or_insert((lo, hi));
            e.0 = e.0.min(lo);
            e.1 = e.1.max(hi);
        }
    }
}

/// Sends this generator's share of the ticks of `schedule` to `topic`, keyed by symbol, each at its
/// intended time. Blocking: run it on a thread of its own. Delivery reports are served by this
/// thread too, as librdkafka's own rdkafka_performance does: after every send, and continuously
/// while it waits for the next tick's time, so a report is timed within a send of its arrival
/// without a second busy thread on the machine.
#[allow(clippy::too_many_arguments)]
pub fn drive(
    producer: BaseProducer<DeliveryContext>,
    topic: &str,
    schedule: &Schedule,
    mut gen: Generator,
    record_size: usize,
    rec: Arc<Recorders>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> ProduceReport {
    let mut report = ProduceReport::default();
    let mut buf = Vec::with_capacity(256);
    let mut lag = LocalStage::new(Stage::ScheduleLag);
    let mut last_poll = 0u64;
    // The shared `produced` counter is advanced at each poll, not per message.
    let mut published = 0u64;
    let base_ns = producer.context().base_ns;
    let mut prev_sched = 0u64;
    let mut ticks = schedule.iter();
    let topic = match send::Topic::new(&producer, topic) {
        Ok(t) => Some(t),
        Err(e) => {
            // As if every send had failed: the run reports it, and the ticks count as not sent.
            producer.context().fail(
                String::new(),
                u64::MAX,
                format!("opening topic {topic}: {e}"),
            );
            None
        }
    };
    for (i, t_sched) in ticks.by_ref() {
        let Some(topic) = &topic else {
            report.not_sent += gen.owns_tick(i) as u64;
            continue;
        };
        if stop.load(Ordering::Relaxed) {
            report.not_sent += gen.owns_tick(i) as u64;
            break;
        }
        // Made before it is due, sent when it is due.
        let Some((_, tick)) = gen.tick(i, t_sched) else {
            continue;
        };
        buf.clear();
        tick.encode_json(&mut buf);
        if buf.len() < record_size {
            // JSON allows whitespace after a value: every reader still finds the tick.
            buf.resize(record_size, b' ');
        }
        let (key, seq) = (tick.symbol, tick.seq);
        // Spinning out the last µs before a tick only pays where ticks are far apart: closer
        // together the thread would spin all the time, taking a core from the broker and the
        // sink on a small machine. It then sleeps through and sends what came due meanwhile.
        let spin = t_sched.saturating_sub(prev_sched) >= SPIN_GAP_NS;
        prev_sched = t_sched;
        let t_send = wait_until(&producer, t_sched, spin);
        let mut stamp = Stamp::pack(base_ns, t_sched, t_send).0 as usize;
        loop {
            match topic.send(key, &buf, stamp) {
                Ok(()) => break,
                Err(RDKafkaErrorCode::QueueFull) => {
                    // The local queue is full: wait for deliveries, then try again. The wait
                    // shows up as schedule lag of this and the following ticks.
                    report.queue_full_waits += 1;
                    producer.poll(Duration::from_millis(1));
                    stamp = Stamp::pack(base_ns, t_sched, producer.context().clock.wall_ns()).0
                        as usize;
                }
                Err(e) => {
                    counters.delivery_failed.fetch_add(1, Ordering::Relaxed);
                    let symbol = String::from_utf8_lossy(key).into_owned();
                    producer.context().fail(symbol, seq, e.to_string());
                    break;
                }
            }
        }
        // Serve delivery reports at least every 50 µs: often enough to time them well, rarely
        // enough that polling (several clock reads each) stays off the hot path at a million a
        // second. Each report event carries a whole produce response's messages.
        if t_send.saturating_sub(last_poll) >= 50_000 {
            serve(&producer, t_send);
            last_poll = t_send;
            counters
                .produced
                .fetch_add(report.produced - published, Ordering::Relaxed);
            published = report.produced;
        }
        lag.tick_value(&rec, us_between(t_sched, t_send), t_sched, t_send);
        report.produced += 1;
        report.bytes += buf.len() as u64;
    }
    counters
        .produced
        .fetch_add(report.produced - published, Ordering::Relaxed);
    report.not_sent += ticks.filter(|(i, _)| gen.owns_tick(*i)).count() as u64;
    drop(topic);
    finish(producer, report, gen, lag, &rec, &counters)
}

/// Flushes and gathers what the delivery reports added up to.
fn finish(
    producer: BaseProducer<DeliveryContext>,
    mut report: ProduceReport,
    gen: Generator,
    mut lag: LocalStage,
    rec: &Recorders,
    counters: &Counters,
) -> ProduceReport {
    // Delivery reports arrive during flush; message.timeout.ms bounds how long it can take.
    let _ = producer.flush(Duration::from_secs(60));
    report.unflushed = producer.in_flight_count();
    report.cpu_s = crate::resources::thread_cpu_s();
    lag.flush(rec);
    report.per_symbol = vec![0; gen.model().universe.len()];
    for (s, n) in gen.produced() {
        report.per_symbol[s] = n;
    }
    report.failed = std::mem::take(&mut producer.context().failed.lock().expect("failed list"));
    let mut d = producer.context().delivered.lock().expect("delivery stats");
    d.produce.flush(rec);
    d.produce_raw.flush(rec);
    d.publish(counters);
    report.acked_offsets = d
        .offsets
        .iter()
        .enumerate()
        .filter(|(_, (lo, hi))| lo <= hi)
        .map(|(p, r)| (p as i32, *r))
        .collect();
    report.acks_without_offset = d.acks_without_offset;
    report.resent = producer.context().resent.load(Ordering::Relaxed);
    report.acks = d
        .acks
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(p, n)| (p as i32, *n))
        .collect();
    drop(d);
    report
}

/// How the producer threads send: how many, and the size records are padded to.
#[derive(Debug, Clone, Copy)]
pub struct Sending {
    pub threads: u32,
    /// Records shorter than this are padded with trailing spaces (`rate.record_size`).
    pub record_size: usize,
}

impl Sending {
    pub fn of(rate: &crate::model::load::Rate) -> Sending {
        Sending {
            threads: rate.producer_threads,
            record_size: rate.record_size.map_or(0, |b| b.as_u64() as usize),
        }
    }
}

/// Starts one producer thread per part of `share` (all symbols, or a worker's), each with its own
/// Kafka client and generator; the returned task ends with their merged report once all have
/// flushed.
#[allow(clippy::too_many_arguments)]
pub fn launch(
    cfg: &ClientConfig,
    topic: &str,
    model: &Arc<Model>,
    schedule: &Schedule,
    share: Share,
    sending: Sending,
    rec: &Arc<Recorders>,
    counters: &Arc<Counters>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<ProduceReport>>> {
    let mut handles = Vec::new();
    for (worker, share) in share.split(sending.threads).enumerate() {
        let producer: BaseProducer<DeliveryContext> = cfg
            .create_with_context(new_context(
                rec.clone(),
                counters.clone(),
                schedule.start_ns,
            ))
            .context("creating the Kafka producer")?;
        crate::io::msk_iam::prime(producer.client().native_client(), cfg)?;
        let gen = Generator::new(model.clone(), share, schedule.start_ns);
        let (r, c, st, topic, sched) = (
            rec.clone(),
            counters.clone(),
            stop.clone(),
            topic.to_string(),
            schedule.clone(),
        );
        handles.push(
            std::thread::Builder::new()
                .name(format!("producer-{worker}"))
                .spawn(move || drive(producer, &topic, &sched, gen, sending.record_size, r, c, st))
                .context("starting a producer thread")?,
        );
    }
    Ok(tokio::task::spawn_blocking(move || {
        let mut total = ProduceReport::default();
        for h in handles {
            total.merge(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a producer thread panicked"))?,
            );
        }
        Ok(total)
    }))
}

/// How long the producer sleeps at a time while it waits for a tick's time, serving delivery
/// reports between sleeps: delivery reports are timed to within about this much at low rates.
const WAIT_SLICE_NS: u64 = 250_000;

/// Ticks at least this far apart are waited for to the µs (the last ~60 µs spun out); closer
/// together, a spinning wait would keep the thread busy all the time.
const SPIN_GAP_NS: u64 = 200_000;

/// Serves delivery reports until `t_ns` (on the context's anchored clock, which a wall-clock step
/// does not move) and returns the time it was reached.
///
/// It sleeps in slices rather than blocking in librdkafka's queue: rdkafka's `poll(timeout)`
/// waits in whole milliseconds and then spins out the sub-millisecond rest of its deadline each
/// time a report arrives early, which kept a core 40 % busy at a few hundred ticks a second.
/// Between slices it serves what is ready. With `spin`, it sleeps for all but the last ~60 µs (a
/// sleep overshoots by about that much) and spins only for those; without, it sleeps those too,
/// and the overshoot shows up as schedule lag, which is measured and reported (the ticks that
/// came due meanwhile then go at once).
fn wait_until(producer: &BaseProducer<DeliveryContext>, t_ns: u64, spin: bool) -> u64 {
    let mut served = false;
    let clock = producer.context().clock;
    loop {
        let now = clock.wall_ns();
        if now >= t_ns {
            return now;
        }
        let ahead = t_ns - now;
        if !served || ahead > WAIT_SLICE_NS {
            serve(producer, now);
            served = true;
        }
        if ahead > 80_000 {
            std::thread::sleep(Duration::from_nanos((ahead - 60_000).min(WAIT_SLICE_NS)));
        } else if spin {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(Duration::from_nanos(ahead));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_send_time_is_read_back_from_the_payload() {
        let tick = crate::model::tick::Tick {
            symbol: "AB".into(),
            seq: 3,
            ts_ns: 1_795_319_090_123_456_789,
            price: 1.5,
            bid: 1.4,
            ask: 1.6,
            size: 100,
        };
        let mut buf = Vec::new();
        tick.encode_json(&mut buf);
        assert_eq!(ts_ns_of(&buf), Some(1_795_319_090_123_456_789));
        assert_eq!(ts_ns_of(b"not a tick"), None);
        assert_eq!(
            ts_ns_of(b"{\"ts_ns\":99999999999999999999999}"),
            None,
            "overflow is not a time"
        );
    }

    #[test]
    fn send_times_survive_the_delivery_opaque() {
        let base = 1_795_319_090_000_000_000u64;
        let us = |t: u64| t / 1000 * 1000;
        // Packed: both times come back to the µs, without the payload.
        let (sched, send) = (base + 3_600_000_123_456, base + 3_600_002_654_321);
        let s = Stamp::pack(base, sched, send);
        assert_eq!(s.0 & Stamp::WIDE, 0);
        let (a, b) = s.unpack(base, None);
        assert_eq!(a, us(sched - base) + base);
        assert!(b >= a && b.abs_diff(send) < 2000, "{b} vs {send}");
        // A lag past the packed range (268 s), or a run past 9.5 hours: the wide form keeps the
        // send time exactly and reads the intended time from the payload.
        let mut payload = Vec::new();
        let late = base + 400 * 1_000_000_000;
        crate::model::tick::Tick {
            symbol: "AB".into(),
            seq: 0,
            ts_ns: sched,
            price: 1.0,
            bid: 1.0,
            ask: 1.0,
            size: 1,
        }
        .encode_json(&mut payload);
        for (t_sched, t_send) in [
            (sched, late + sched - base),
            (base + 10 * 3600 * 1_000_000_000, late + 36_000_000_000_000),
        ] {
            let s = Stamp::pack(base, t_sched, t_send);
            assert_ne!(s.0 & Stamp::WIDE, 0);
            assert_eq!(s.unpack(base, Some(&payload)).1, t_send);
        }
        assert_eq!(
            Stamp::pack(base, sched, late + sched - base).unpack(base, Some(&payload)),
            (sched, late + sched - base)
        );
        // An intended time before the start (cannot be packed) is not mistaken for one.
        let s = Stamp::pack(base, base - 5, base + 10);
        assert_eq!(s.unpack(base, Some(&payload)), (sched, base + 10));
    }
}
