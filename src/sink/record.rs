//! One record's way through the sink: whether it is this load's, decoding, batching, and
//! what is left to await (an upload to hand out, a record set aside, a replay).

use super::{dead_letter, State};
use crate::clock::Now;
use crate::metrics::us_between;
use crate::model::tick::{Tick, TickDecoder};

/// A record as the sink loop hands it on: where it is, what it holds, when it was received.
#[derive(Clone, Copy)]
pub(super) struct Record<'a> {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) payload: &'a [u8],
    pub(super) t_recv: Now,
}

impl<'a> Record<'a> {
    /// The record of a message from librdkafka, received at `t_recv`.
    #[inline]
    pub(super) fn of(m: &'a rdkafka::message::BorrowedMessage<'_>, t_recv: Now) -> Record<'a> {
        use rdkafka::message::Message as _;
        Record {
            partition: m.partition(),
            offset: m.offset(),
            payload: m.payload().unwrap_or_default(),
            t_recv,
        }
    }

    fn parts(self) -> (i32, i64, &'a [u8], Now) {
        (self.partition, self.offset, self.payload, self.t_recv)
    }
}

/// What is left to do with a record once it is taken (see `State::take_record`).
pub(super) enum Next {
    Done,
    Dispatch,
    SetAside(String),
    Replaying,
}

/// The tick in a record, or why it is not one.
#[inline]
fn decode<'d>(payload: &[u8], dec: &'d mut TickDecoder) -> Result<&'d Tick, String> {
    if payload.len() > dead_letter::MAX_RECORD_BYTES {
        Err(format!(
            "oversized: {} bytes (a tick is about 100; the limit is {})",
            payload.len(),
            dead_letter::MAX_RECORD_BYTES
        ))
    } else {
        dec.decode(payload).map_err(|e| e.to_string())
    }
}

impl State {
    /// What [`take_record`](Self::take_record) left to do with a record: its awaits.
    pub(super) async fn finish_record(
        &mut self,
        next: Next,
        rec: Record<'_>,
        dec: &mut TickDecoder,
    ) {
        let (partition, offset, payload, t_recv) = rec.parts();
        match next {
            Next::Done => {}
            Next::Dispatch => self.dispatch().await,
            Next::SetAside(error) => {
                self.set_aside(partition, offset, &error, payload, t_recv)
                    .await
            }
            Next::Replaying => self.on_replayed_record(rec, dec).await,
        }
    }

    /// Takes one record without an await: what is left (an upload to hand out, a record that
    /// is not a tick, a replay) is for [`finish_record`](Self::finish_record). A future per
    /// record cost more than the rest of the record's work.
    #[inline]
    pub(super) fn take_record(&mut self, rec: Record<'_>, dec: &mut TickDecoder) -> Next {
        let (partition, offset, payload, t_recv) = rec.parts();
        if !self.replay.is_empty() {
            return Next::Replaying;
        }
        if !self.take_position(partition, offset) {
            return Next::Done;
        }
        match decode(payload, dec) {
            Ok(tick) => {
                self.land(partition, offset, tick, payload, t_recv);
                if self.actions.is_empty() {
                    Next::Done
                } else {
                    Next::Dispatch
                }
            }
            Err(error) => Next::SetAside(error),
        }
    }

    /// Whether the record at `offset` is this load's to land; counts it (and any gap before it).
    #[inline]
    fn take_position(&mut self, partition: i32, offset: i64) -> bool {
        if !self.is_ours(partition, offset) {
            return false;
        }
        self.note_position(partition, offset);
        true
    }

    /// Whether the record at `offset` belongs to this load and to a partition being landed.
    #[inline]
    fn is_ours(&mut self, partition: i32, offset: i64) -> bool {
        if offset
            < self
                .settings
                .start_offsets
                .get(&partition)
                .copied()
                .unwrap_or(0)
        {
            self.report.skipped_preexisting += 1;
            return false;
        }
        // Table mode: what the table already covers (a snapshot another sink, or this sink's
        // earlier life, committed) is passed over, though the sink's position moves past it.
        if self
            .table
            .as_ref()
            .and_then(|t| t.floor(partition))
            .is_some_and(|floor| offset < floor)
        {
            self.note_position(partition, offset);
            self.report.replay_skipped += 1;
            return false;
        }
        // A resetting partition's batches were dropped; its records are read again (or by the
        // next owner).
        !self.resetting.contains_key(&partition)
    }

    #[inline]
    fn note_position(&mut self, partition: i32, offset: i64) {
        let next = self.next_offset.entry(partition).or_insert(offset);
        if offset > *next {
            self.report.offset_gaps += (offset - *next) as u64;
        }
        *next = offset + 1;
        self.report.consumed += 1;
    }

    /// A decoded tick into its batch.
    #[inline]
    fn land(&mut self, partition: i32, offset: i64, tick: &Tick, payload: &[u8], t_recv: Now) {
        self.kafka_e2e.tick_value(
            &self.rec,
            us_between(tick.ts_ns, t_recv.wall_ns),
            tick.ts_ns,
            t_recv.wall_ns,
        );
        self.batcher
            .push(partition, offset, tick, payload, t_recv, &mut self.actions);
    }

    /// A record of a partition whose uploads are being replayed after a reset: records already
    /// durable are skipped, and the batch is cut where the durable ones end.
    async fn on_replayed_record(&mut self, rec: Record<'_>, dec: &mut TickDecoder) {
        let (partition, offset, payload, t_recv) = rec.parts();
        if !self.is_ours(partition, offset) {
            return;
        }
        let mut replaying = false;
        if let Some(r) = self.replay.get_mut(&partition) {
            if r.over(offset) {
                self.replay.remove(&partition);
            } else {
                replaying = true;
                if r.cut_before(offset) {
                    self.batcher
                        .close_partition(partition, t_recv, &mut self.actions);
                    self.dispatch().await;
                }
            }
        }
        self.note_position(partition, offset);
        let decoded = decode(payload, dec);
        if replaying
            && self
                .replay
                .get_mut(&partition)
                .is_some_and(|r| r.durable(offset, decoded.is_ok()))
        {
            self.report.replay_skipped += 1;
            return;
        }
        match decoded {
            Ok(tick) => {
                self.land(partition, offset, tick, payload, t_recv);
                if !self.actions.is_empty() {
                    self.dispatch().await;
                }
            }
            Err(error) => {
                self.set_aside(partition, offset, &error, payload, t_recv)
                    .await
            }
        }
    }
}
