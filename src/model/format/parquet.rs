//! Apache Parquet: one row group per `row_group_records` records (or `row_group_bytes` buffered),
//! typed columns that Athena and DataFusion read without a SerDe.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{Compression, Encoding, ObjectWriter};
use crate::model::tick::Tick;

/// Records buffered in Arrow builders before they go to the Parquet writer as one batch.
const ARROW_BATCH: usize = 8192;

/// The columns, in the tick's wire order. Integers are signed 64-bit: Athena (Presto/Trino) has
/// no unsigned types.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("seq", DataType::Int64, false),
        Field::new("ts_ns", DataType::Int64, false),
        Field::new("price", DataType::Float64, false),
        Field::new("bid", DataType::Float64, false),
        Field::new("ask", DataType::Float64, false),
        Field::new("size", DataType::Int64, false),
    ]))
}

/// The columns of an Iceberg table's data files: the tick's, each with the field id the table's
/// schema gives it (readers match columns by id, not name), and `ts`, the event time as a UTC
/// timestamp (microseconds) that the table's day or hour partitions are a transform of.
pub fn iceberg_schema() -> SchemaRef {
    let with_id = |f: &Field, id: usize| {
        f.clone().with_metadata(
            [(
                parquet::arrow::PARQUET_FIELD_ID_META_KEY.to_string(),
                id.to_string(),
            )]
            .into(),
        )
    };
    let mut fields: Vec<Field> = schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| with_id(f, i + 1))
        .collect();
    let ts = Field::new(
        "ts",
        DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into())),
        false,
    );
    fields.push(with_id(&ts, fields.len() + 1));
    Arc::new(Schema::new(fields))
}

struct Columns {
    symbol: StringBuilder,
    seq: Int64Builder,
    ts_ns: Int64Builder,
    price: Float64Builder,
    bid: Float64Builder,
    ask: Float64Builder,
    size: Int64Builder,
    /// Iceberg data files only.
    ts: Option<TimestampMicrosecondBuilder>,
}

impl Columns {
    fn new(iceberg: bool) -> Columns {
        Columns {
            symbol: StringBuilder::with_capacity(ARROW_BATCH, ARROW_BATCH * 8),
            seq: Int64Builder::with_capacity(ARROW_BATCH),
            ts_ns: Int64Builder::with_capacity(ARROW_BATCH),
            price: Float64Builder::with_capacity(ARROW_BATCH),
            bid: Float64Builder::with_capacity(ARROW_BATCH),
            ask: Float64Builder::with_capacity(ARROW_BATCH),
            size: Int64Builder::with_capacity(ARROW_BATCH),
            ts: iceberg.then(|| {
                TimestampMicrosecondBuilder::with_capacity(ARROW_BATCH).with_timezone("UTC")
            }),
        }
    }

    fn push(&mut self, t: &Tick) {
        self.symbol.append_value(&t.symbol);
        self.seq.append_value(t.seq as i64);
        self.ts_ns.append_value(t.ts_ns as i64);
        self.price.append_value(t.price);
        self.bid.append_value(t.bid);
        self.ask.append_value(t.ask);
        self.size.append_value(t.size as i64);
        if let Some(ts) = &mut self.ts {
            ts.append_value((t.ts_ns / 1000) as i64);
        }
    }

    fn len(&self) -> usize {
        arrow_array::builder::ArrayBuilder::len(&self.seq)
    }

    fn finish(&mut self, schema: &SchemaRef) -> RecordBatch {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.symbol.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.ts_ns.finish()),
            Arc::new(self.price.finish()),
            Arc::new(self.bid.finish()),
            Arc::new(self.ask.finish()),
            Arc::new(self.size.finish()),
        ];
        if let Some(ts) = &mut self.ts {
            cols.push(Arc::new(ts.finish()));
        }
        RecordBatch::try_new(schema.clone(), cols).expect("columns match the schema")
    }
}

pub struct ParquetWriter {
    schema: SchemaRef,
    writer: ArrowWriter<Vec<u8>>,
    cols: Columns,
    staged: Option<Tick>,
    taken: u64,
    /// Encoded bytes per record seen so far (written row groups), for estimates.
    per_record: f64,
    records: u64,
}

/// Bytes a record is assumed to take before a row group has been written: a tick compresses to
/// about 20 bytes in Parquet; erring high closes an early object a little small, never large.
const FIRST_PER_RECORD: f64 = 40.0;

impl ParquetWriter {
    pub fn new(enc: &Encoding) -> ParquetWriter {
        let codec = match enc.compression {
            Compression::Zstd => Codec::ZSTD(ZstdLevel::default()),
            Compression::Snappy => Codec::SNAPPY,
            _ => Codec::UNCOMPRESSED,
        };
        let props = WriterProperties::builder()
            .set_compression(codec)
            .set_max_row_group_row_count(Some(enc.row_group_records.max(1)))
            .set_max_row_group_bytes(Some(enc.row_group_bytes.max(1 << 20)))
            .set_created_by(format!("tickbench {}", env!("CARGO_PKG_VERSION")))
            .build();
        let iceberg = enc.format == super::Format::Iceberg;
        let schema = if iceberg { iceberg_schema() } else { schema() };
        ParquetWriter {
            writer: ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
                .expect("the tick schema is valid Parquet"),
            schema,
            cols: Columns::new(iceberg),
            staged: None,
            taken: 0,
            per_record: FIRST_PER_RECORD,
            records: 0,
        }
    }

    fn write_columns(&mut self) {
        if self.cols.len() > 0 {
            let batch = self.cols.finish(&self.schema);
            // Into memory: only a schema mismatch could fail, and the schema is ours.
            self.writer.write(&batch).expect("a tick batch encodes");
        }
    }
}

impl ObjectWriter for ParquetWriter {
    fn stage(&mut self, tick: &Tick, _json: &[u8]) -> u64 {
        self.staged = Some(tick.clone());
        self.per_record.ceil() as u64
    }

    fn commit(&mut self) {
        if let Some(t) = self.staged.take() {
            self.cols.push(&t);
            self.records += 1;
            if self.cols.len() >= ARROW_BATCH {
                self.write_columns();
            }
            let flushed: u64 = self
                .writer
                .flushed_row_groups()
                .iter()
                .map(|g| g.num_rows() as u64)
                .sum();
            if flushed > 0 {
                self.per_record = self.writer.bytes_written() as f64 / flushed as f64;
            }
        }
    }

    fn size(&self) -> u64 {
        let written = self.writer.bytes_written() as u64;
        let flushed: u64 = self
            .writer
            .flushed_row_groups()
            .iter()
            .map(|g| g.num_rows() as u64)
            .sum();
        // Rows not yet in a written row group, at the bytes per record seen so far, plus a footer.
        let pending = self.records - flushed;
        written + (pending as f64 * self.per_record) as u64 + 1024
    }

    fn exact(&self) -> bool {
        false
    }

    fn take_part(&mut self, part: usize) -> Option<Vec<u8>> {
        // The writer only appends and counts what it wrote; taking finished bytes from the
        // front of its buffer does not disturb it.
        super::cut(self.writer.inner_mut(), part, &mut self.taken)
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<Vec<u8>> {
        self.write_columns();
        self.writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}
