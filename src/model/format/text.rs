//! JSON lines and CSV, uncompressed or through gzip or zstd.

use std::io::Write;

use flate2::write::GzEncoder;

use super::{Compression, Format, ObjectWriter};
use crate::model::tick::{Tick, CSV_HEADER};

enum Sink {
    Plain(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

pub struct TextWriter {
    format: Format,
    sink: Sink,
    staged: Vec<u8>,
    /// Uncompressed bytes written so far.
    in_bytes: u64,
    /// Compressed bytes taken from the front of the output by the batcher.
    taken: u64,
    /// Input and output totals when the compressor last emitted output: its ratio so far, and the
    /// input it still holds (a gzip or zstd stream emits in blocks of tens of KiB).
    at_emit: (u64, u64),
}

/// The ratio assumed before a compressor has emitted anything: JSON ticks compress about 4:1
/// (gzip) to 5:1 (zstd); erring high closes an early object a little small, never large.
const FIRST_RATIO: f64 = 0.35;

impl TextWriter {
    pub fn new(format: Format, compression: Compression) -> TextWriter {
        let out = Vec::new();
        let sink = match compression {
            Compression::Gzip => Sink::Gzip(GzEncoder::new(out, flate2::Compression::default())),
            Compression::Zstd => Sink::Zstd(
                zstd::stream::write::Encoder::new(out, 3).expect("zstd level 3 is valid"),
            ),
            _ => Sink::Plain(out),
        };
        let mut w = TextWriter {
            format,
            sink,
            staged: Vec::with_capacity(256),
            in_bytes: 0,
            taken: 0,
            at_emit: (0, 0),
        };
        if format == Format::Csv {
            w.staged.extend_from_slice(CSV_HEADER.as_bytes());
            w.staged.push(b'\n');
            w.commit();
        }
        w
    }

    fn out_total(&self) -> u64 {
        self.taken
            + match &self.sink {
                Sink::Plain(v) => v.len(),
                Sink::Gzip(e) => e.get_ref().len(),
                Sink::Zstd(e) => e.get_ref().len(),
            } as u64
    }

    fn ratio(&self) -> f64 {
        match self.sink {
            Sink::Plain(_) => 1.0,
            _ if self.at_emit.0 == 0 => FIRST_RATIO,
            _ => self.at_emit.1 as f64 / self.at_emit.0 as f64,
        }
    }
}

impl ObjectWriter for TextWriter {
    fn stage(&mut self, tick: &Tick, json: &[u8]) -> u64 {
        self.staged.clear();
        match self.format {
            Format::Csv => tick.encode_csv(&mut self.staged),
            _ if json.contains(&b'\n') => tick.encode_json_escaped(&mut self.staged),
            _ => self.staged.extend_from_slice(json),
        }
        self.staged.push(b'\n');
        (self.staged.len() as f64 * self.ratio()).ceil() as u64
    }

    fn commit(&mut self) {
        let n = self.staged.len() as u64;
        match &mut self.sink {
            Sink::Plain(v) => v.extend_from_slice(&self.staged),
            // Writing into a Vec cannot fail.
            Sink::Gzip(e) => e.write_all(&self.staged).expect("gzip into memory"),
            Sink::Zstd(e) => e.write_all(&self.staged).expect("zstd into memory"),
        }
        self.in_bytes += n;
        let out = self.out_total();
        if out != self.at_emit.1 {
            self.at_emit = (self.in_bytes, out);
        }
    }

    fn size(&self) -> u64 {
        if let Sink::Plain(v) = &self.sink {
            return self.taken + v.len() as u64;
        }
        let held = self.in_bytes - self.at_emit.0;
        self.out_total() + (held as f64 * self.ratio()).ceil() as u64
    }

    fn exact(&self) -> bool {
        matches!(self.sink, Sink::Plain(_))
    }

    fn take_part(&mut self, part: usize) -> Option<Vec<u8>> {
        let out = match &mut self.sink {
            Sink::Plain(v) => v,
            Sink::Gzip(e) => e.get_mut(),
            Sink::Zstd(e) => e.get_mut(),
        };
        super::cut(out, part, &mut self.taken)
    }

    fn finish(self: Box<Self>) -> std::io::Result<Vec<u8>> {
        match self.sink {
            Sink::Plain(v) => Ok(v),
            Sink::Gzip(e) => e.finish(),
            Sink::Zstd(e) => e.finish(),
        }
    }
}
