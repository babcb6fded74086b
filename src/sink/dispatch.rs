//! Handing the batcher's parts and closed batches, and the dead letters, to the uploader: each
//! under its key, counted in flight for its partition until its upload ends.

use super::batcher::{self, Action, BatchId};
use super::upload::Chunk;
use super::{dead_letter, State};
use crate::clock::Now;
use crate::model::layout::object_key;

impl State {
    /// An upload for partition `p` started.
    pub(super) fn started(&mut self, p: i32) {
        self.in_flight += 1;
        *self.in_flight_by.entry(p).or_default() += 1;
    }

    /// Writes a record that is not a tick to the dead-letter prefix; its partition is not
    /// committed past it until that object is durable.
    pub(super) async fn set_aside(
        &mut self,
        partition: i32,
        offset: i64,
        error: &str,
        payload: &[u8],
        now: Now,
    ) {
        self.report.malformed += 1;
        *self.report.set_aside.entry(partition).or_default() += 1;
        let (opened, closed) = self.dead.push(partition, offset, error, payload, now);
        if let Some(id) = opened {
            self.tracker().opened(id.partition, id.first_offset);
        }
        for b in closed {
            self.put_dead(b).await;
        }
    }

    pub(super) async fn put_dead(&mut self, b: batcher::ClosedBatch) {
        let p = b.id.partition;
        let key = dead_letter::key(&self.settings.prefix, &self.settings.topic, &b);
        self.uploader
            .put_as(key, b, "application/x-ndjson", self.done_tx.clone())
            .await;
        self.started(p);
    }

    /// Hands the batcher's parts and closed batches to the uploader.
    pub(super) async fn dispatch(&mut self) {
        for action in std::mem::take(&mut self.actions) {
            match action {
                Action::Opened(id) => self.tracker().opened(id.partition, id.first_offset),
                Action::Part {
                    id,
                    time,
                    symbol,
                    bytes,
                } => {
                    self.sample_memory();
                    let tx = match self.streams.get(&id) {
                        Some(tx) => tx.clone(),
                        None => {
                            let key = self.key(id, time, symbol.as_deref());
                            let tx = self.uploader.start_multipart(key, id, self.done_tx.clone());
                            self.started(id.partition);
                            self.streams.insert(id, tx.clone());
                            tx
                        }
                    };
                    // Waits while the uploads are at their limit: backpressure, bounded memory.
                    self.uploader.send(&tx, Chunk::Part(bytes)).await;
                }
                Action::Close(batch) => {
                    *self
                        .report
                        .close_reasons
                        .entry(batch.reason.name().to_string())
                        .or_default() += 1;
                    let t = self.settings.triggers;
                    match self.streams.remove(&batch.id) {
                        Some(tx) => {
                            self.uploader.send(&tx, Chunk::Last(batch)).await;
                        }
                        // A whole batch over the threshold (buffered mode, or compressed output
                        // that stayed under a part until the end): multipart, cut into parts here.
                        None if batch.tail.len() as u64 > t.multipart_threshold => {
                            let key = self.key(batch.id, batch.time, batch.symbol.as_deref());
                            let tx =
                                self.uploader
                                    .start_multipart(key, batch.id, self.done_tx.clone());
                            self.started(batch.id.partition);
                            let mut batch = batch;
                            let mut rest = std::mem::take(&mut batch.tail);
                            while rest.len() as u64 > t.part_size {
                                let tail = rest.split_off(t.part_size as usize);
                                let part = std::mem::replace(&mut rest, tail);
                                self.uploader.send(&tx, Chunk::Part(part)).await;
                            }
                            batch.tail = rest;
                            self.uploader.send(&tx, Chunk::Last(batch)).await;
                        }
                        None => {
                            let key = self.key(batch.id, batch.time, batch.symbol.as_deref());
                            // Waits for a request slot: closed batches never pile up in memory.
                            let p = batch.id.partition;
                            self.uploader.put(key, batch, self.done_tx.clone()).await;
                            self.started(p);
                        }
                    }
                }
            }
        }
    }

    fn key(
        &mut self,
        id: BatchId,
        time: crate::model::layout::TimeBucket,
        symbol: Option<&str>,
    ) -> String {
        if let Some(t) = &mut self.table {
            let ext = self.settings.encoding.extension();
            return t.key(id, time, symbol, &self.settings.topic, &ext);
        }
        object_key(
            &self.settings.prefix,
            &self.settings.topic,
            time,
            symbol,
            id.partition,
            id.first_offset,
            &self.settings.encoding.extension(),
        )
    }
}
