use std::io::Write;

use super::*;

fn tick(i: u64) -> Tick {
    Tick {
        symbol: format!("S{i}"),
        seq: i,
        ts_ns: 1_700_000_000_000_000_000 + i,
        price: 100.5 + i as f64,
        bid: 100.25,
        ask: 100.75,
        size: 10 + i as u32,
    }
}

fn json_of(t: &Tick) -> String {
    serde_json::to_string(t).unwrap()
}

fn read(key: &str, bytes: &[u8], map: &Mapping) -> (Decoded, Vec<Option<Tick>>) {
    let mut got = Vec::new();
    let d = decode(key, bytes, map, |t| got.push(t)).unwrap();
    (d, got)
}

fn all(n: u64) -> Vec<Option<Tick>> {
    (0..n).map(|i| Some(tick(i))).collect()
}

#[test]
fn json_lines_concatenated_and_arrays_are_told_apart_by_content() {
    let lines: String = (0..3).map(|i| json_of(&tick(i)) + "\n").collect();
    let glued: String = (0..3).map(|i| json_of(&tick(i))).collect();
    let array = format!(
        "[{}]",
        (0..3)
            .map(|i| json_of(&tick(i)))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (text, container) in [
        (&lines, Container::JsonLines),
        (&glued, Container::JsonConcatenated),
        (&array, Container::JsonArray),
    ] {
        // The name says nothing: Firehose's objects have no extension.
        let (d, got) = read(
            "delivery-1-2026-12-01",
            text.as_bytes(),
            &Mapping::default(),
        );
        assert_eq!(
            (d.container, d.records, d.ticks),
            (container, 3, 3),
            "{text}"
        );
        assert_eq!(got, all(3));
    }
}

#[test]
fn envelopes_and_wrappers_are_unwrapped() {
    let t = tick(7);
    let connect = format!(
        "{{\"schema\":{{\"type\":\"struct\",\"fields\":[]}},\"payload\":{}}}\n",
        json_of(&t)
    );
    let vector = format!(
        "{{\"message\":{},\"topic\":\"ticks\"}}\n",
        serde_json::to_string(&json_of(&t)).unwrap()
    );
    let value = format!("{{\"key\":\"S7\",\"value\":{}}}\n", json_of(&t));
    for text in [connect, vector, value] {
        let (d, got) = read("x.json", text.as_bytes(), &Mapping::default());
        assert_eq!((d.records, d.ticks), (1, 1), "{text}");
        assert_eq!(got, vec![Some(t.clone())], "{text}");
    }
}

#[test]
fn renamed_fields_and_paths_follow_the_mapping() {
    let o: Observe = toml::from_str(
        "prefix = \"p\"\nrecord = \"data.tick\"\n[fields]\nsymbol = \"sym\"\nts_ns = \"event_ns\"\n",
    )
    .unwrap();
    let map = Mapping::of(&o);
    let t = tick(3);
    let text = format!(
        "{{\"data\":{{\"tick\":{{\"sym\":\"S3\",\"seq\":3,\"event_ns\":{},\"price\":103.5,\"bid\":100.25,\"ask\":100.75,\"size\":13}}}}}}",
        t.ts_ns
    );
    let (d, got) = read("k", text.as_bytes(), &map);
    assert_eq!(d.ticks, 1);
    assert_eq!(got, vec![Some(t)]);
    // Without the mapping the same record is not a tick: counted, not dropped.
    let (d, got) = read("k", text.as_bytes(), &Mapping::default());
    assert_eq!((d.records, d.ticks, got), (1, 0, vec![None]));
}

#[test]
fn unknown_tick_field_names_the_allowed_ones() {
    let e = toml::from_str::<Observe>("prefix = \"p\"\n[fields]\nsymbl = \"sym\"\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("symbl") && msg.contains("ts_ns"), "{msg}");
}

#[test]
fn csv_columns_in_any_order() {
    let mut text = String::from("size,symbol,ts_ns,seq,ask,bid,price,extra\n");
    for i in 0..2 {
        let t = tick(i);
        text += &format!(
            "{},{},{},{},{},{},{},x\n",
            t.size, t.symbol, t.ts_ns, t.seq, t.ask, t.bid, t.price
        );
    }
    text += "junk\n";
    let (d, got) = read("out", text.as_bytes(), &Mapping::default());
    assert_eq!((d.container, d.records, d.ticks), (Container::Csv, 3, 2));
    assert_eq!(got[..2], all(2)[..]);
    let e = decode("plain.txt", b"hello world\n", &Mapping::default(), |_| {}).unwrap_err();
    assert!(format!("{e:#}").contains("no column `symbol`"), "{e:#}");
}

#[test]
fn compression_is_told_by_magic_bytes() {
    let text: String = (0..4).map(|i| json_of(&tick(i)) + "\n").collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(text.as_bytes(), 1).unwrap();
    let mut sn = snap::write::FrameEncoder::new(Vec::new());
    sn.write_all(text.as_bytes()).unwrap();
    let sn = sn.into_inner().unwrap();
    let raw = snap::raw::Encoder::new()
        .compress_vec(text.as_bytes())
        .unwrap();
    for (key, bytes, codec) in [
        ("a", gz, Codec::Gzip),
        ("b", zst, Codec::Zstd),
        ("c", sn, Codec::Snappy),
        ("d.json.snappy", raw, Codec::Snappy),
    ] {
        let (d, got) = read(key, &bytes, &Mapping::default());
        assert_eq!((d.codec, d.ticks), (codec, 4), "{key}");
        assert_eq!(got, all(4));
    }
    let e = decode("e", &[0x1f, 0x8b, 1, 2, 3], &Mapping::default(), |_| {}).unwrap_err();
    assert!(format!("{e:#}").contains("e: gzip"), "{e:#}");
}

#[test]
fn avro_container_files_with_any_codec() {
    let schema = apache_avro::Schema::parse_str(
        r#"{"type":"record","name":"Tick","fields":[
            {"name":"symbol","type":"string"},{"name":"seq","type":"long"},
            {"name":"ts_ns","type":"long"},{"name":"price","type":"double"},
            {"name":"bid","type":"double"},{"name":"ask","type":"double"},
            {"name":"size","type":"int"}]}"#,
    )
    .unwrap();
    for codec in [
        apache_avro::Codec::Null,
        apache_avro::Codec::Deflate(Default::default()),
        apache_avro::Codec::Snappy,
    ] {
        let mut w = apache_avro::Writer::with_codec(&schema, Vec::new(), codec).unwrap();
        for i in 0..5 {
            let t = tick(i);
            let mut r = apache_avro::types::Record::new(&schema).unwrap();
            r.put("symbol", t.symbol);
            r.put("seq", t.seq as i64);
            r.put("ts_ns", t.ts_ns as i64);
            r.put("price", t.price);
            r.put("bid", t.bid);
            r.put("ask", t.ask);
            r.put("size", t.size as i32);
            w.append_value(r).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let (d, got) = read("ticks+0+0000000000.avro", &bytes, &Mapping::default());
        assert_eq!((d.container, d.ticks), (Container::Avro, 5), "{codec:?}");
        assert_eq!(got, all(5));
    }
}

#[test]
fn a_bad_record_is_counted_and_the_rest_still_read() {
    let text = format!("{}\n{{not json\n{}\n", json_of(&tick(0)), json_of(&tick(1)));
    let (d, got) = read("k.json", text.as_bytes(), &Mapping::default());
    assert_eq!((d.records, d.ticks), (3, 2));
    assert_eq!(got, vec![Some(tick(0)), None, Some(tick(1))]);
}
