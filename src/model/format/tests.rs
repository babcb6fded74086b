use super::*;

fn ticks(n: u64) -> Vec<Tick> {
    (0..n)
        .map(|i| Tick {
            symbol: format!("S{}", i % 97),
            seq: i / 97,
            ts_ns: 1_795_319_090_000_000_000 + i * 20_000,
            price: 100.0 + (i % 1000) as f64 * 0.01,
            bid: 99.99 + (i % 1000) as f64 * 0.01,
            ask: 100.01 + (i % 1000) as f64 * 0.01,
            size: (i % 500) as u32 + 1,
        })
        .collect()
}

const ALL: [(Format, Compression); 8] = super::WRITTEN;

/// Writes `ticks`, taking parts of `part` bytes as they are ready, and returns the object.
fn write(enc: &Encoding, ticks: &[Tick], part: usize) -> (Vec<u8>, u64, usize) {
    let mut w = super::writer(enc);
    let mut obj = Vec::new();
    let mut parts = 0;
    let mut json = Vec::new();
    for t in ticks {
        json.clear();
        t.encode_json(&mut json);
        w.stage(t, &json);
        w.commit();
        while let Some(p) = w.take_part(part) {
            assert_eq!(p.len(), part);
            obj.extend_from_slice(&p);
            parts += 1;
        }
    }
    let estimate = w.size();
    obj.extend_from_slice(&w.finish().unwrap());
    (obj, estimate, parts)
}

#[test]
fn every_format_reads_back_the_records_it_was_given() {
    let want = ticks(30_000);
    for (f, c) in ALL {
        let mut enc = Encoding::new(f, c);
        enc.row_group_records = 5000;
        let (obj, _, parts) = write(&enc, &want, 64 * 1024);
        let key = format!(
            "p/t/dt=2026-11-22/hour=06/t+0+00000000000000000000.{}",
            enc.extension()
        );
        assert_eq!(encoding_of_key(&key), Some(Encoding::new(f, c)), "{key}");
        let mut got = Vec::new();
        let n = decode_object(&key, &obj, |t| got.push(t.expect("a tick"))).unwrap();
        assert_eq!(n, want.len() as u64, "{key}");
        assert_eq!(got, want, "{key}");
        assert!(parts > 0, "{key}: parts streamed while writing");
    }
}

#[test]
fn sizes_are_exact_for_plain_text_and_close_for_the_rest() {
    let want = ticks(200_000);
    for (f, c) in ALL {
        let enc = Encoding::new(f, c);
        let (obj, estimate, _) = write(&enc, &want, 1 << 20);
        let actual = obj.len() as f64;
        if c == Compression::None && f != Format::Parquet {
            assert_eq!(estimate, obj.len() as u64, "{f:?}");
        } else {
            // Estimated before the compressor's last block and the trailer or footer.
            let err = (estimate as f64 - actual).abs() / actual;
            assert!(err < 0.05, "{f:?}/{c:?}: estimate {estimate} vs {actual}");
        }
    }
}

#[test]
fn csv_has_a_header_and_quotes_what_needs_it() {
    let mut t = ticks(1).remove(0);
    t.symbol = "A,\"B\"".into();
    let enc = Encoding::new(Format::Csv, Compression::None);
    let (obj, _, _) = write(&enc, std::slice::from_ref(&t), 1 << 20);
    let text = String::from_utf8(obj.clone()).unwrap();
    assert!(
        text.starts_with("symbol,seq,ts_ns,price,bid,ask,size\n\"A,\"\"B\"\"\",0,"),
        "{text}"
    );
    let mut got = Vec::new();
    decode_object("x/t+0+0.csv", &obj, |r| got.push(r.unwrap())).unwrap();
    assert_eq!(got, vec![t]);
}

#[test]
fn names_and_content_types() {
    let e = |f, c| Encoding::new(f, c);
    assert_eq!(e(Format::Jsonl, Compression::Gzip).extension(), "jsonl.gz");
    assert_eq!(e(Format::Csv, Compression::Zstd).extension(), "csv.zst");
    assert_eq!(
        e(Format::Parquet, Compression::Snappy).extension(),
        "snappy.parquet"
    );
    assert_eq!(
        e(Format::Jsonl, Compression::None).content_type(),
        "application/x-ndjson"
    );
    assert_eq!(e(Format::Csv, Compression::None).content_type(), "text/csv");
    assert_eq!(
        e(Format::Csv, Compression::Gzip).content_type(),
        "application/gzip"
    );
    assert!(encoding_of_key("a/b+0+1.txt").is_none());
}

#[test]
fn a_corrupt_object_is_an_error_not_a_panic() {
    for ext in ["jsonl.gz", "csv.zst", "snappy.parquet"] {
        let key = format!("t+0+0.{ext}");
        assert!(decode_object(&key, b"garbage", |_| {}).is_err(), "{ext}");
    }
    let mut bad = 0;
    decode_object("t+0+0.jsonl", b"{\"symbol\":1}\nnot json\n", |t| {
        bad += t.is_none() as u32
    })
    .unwrap();
    assert_eq!(bad, 2);
}

#[test]
fn a_parquet_file_of_another_schema_is_an_error_not_a_panic() {
    use arrow_array::{ArrayRef, Int32Array, RecordBatch};
    use std::sync::Arc;
    let col: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3]));
    let batch = RecordBatch::try_from_iter([("symbol", col.clone()), ("seq", col)]).unwrap();
    let mut buf = Vec::new();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let e = decode_object("t+0+0.parquet", &buf, |_| {}).unwrap_err();
    assert!(format!("{e:#}").contains("symbol"), "{e:#}");
}
