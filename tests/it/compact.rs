//! Compaction over a real run's objects (the embedded S3 of its folder, served again): every tick
//! kept, sorted, sources removed after the target is read back; safe to run twice, including after
//! a run that stopped before removing its sources.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use tickbench::commands::compact::{compact, Source};
use tickbench::commands::store::RunStore;
use tickbench::config;
use tickbench::model::format::decode_object;

async fn keys(client: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let out = client
        .list_objects_v2()
        .bucket("tickbench")
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect()
}

async fn body(client: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let o = client
        .get_object()
        .bucket("tickbench")
        .key(key)
        .send()
        .await
        .unwrap();
    o.body.collect().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_every_tick_sorted_and_is_safe_to_run_twice() {
    let text = "name = \"compact\"\nseed = 5\nduration = \"3s\"\n[symbols]\ncount = 40\n[rate]\nticks_per_second = 2000\n[kafka]\npartitions = 3\n[sink]\nmax_age = \"500ms\"\n";
    let s = config::parse(Path::new("compact.toml"), text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_in(tmp.path(), &s).await.unwrap();
    assert!(out.summary.passed);
    let landed = out.summary.counts.landed;
    let objects = out.summary.objects.count as usize;

    let store = RunStore::open(&out.dir, None).await.unwrap();
    let client = &store.client;
    let sources = keys(client, "tickbench/ticks/").await;
    assert_eq!(sources.len(), objects);
    let kept = (sources[0].clone(), body(client, &sources[0]).await);
    let src = Source {
        client,
        bucket: "tickbench",
        prefix: "tickbench",
        topic: "ticks",
        target_prefix: "tickbench-compacted",
    };

    let done = compact(&src, &[]).await.unwrap();
    assert!(!done.is_empty());
    assert_eq!(done.iter().map(|c| c.target_records).sum::<u64>(), landed);
    assert_eq!(
        done.iter().map(|c| c.sources_removed).sum::<usize>(),
        objects
    );
    assert!(done
        .iter()
        .all(|c| c.target_written && c.duplicates_dropped == 0));
    assert!(
        keys(client, "tickbench/ticks/").await.is_empty(),
        "sources removed"
    );

    // Each target: Parquet, sorted by symbol then time, every tick once over all of them.
    let mut seqs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut first_bytes = Vec::new();
    for c in &done {
        assert!(c.target_key.starts_with("tickbench-compacted/ticks/dt="));
        let b = body(client, &c.target_key).await;
        assert_eq!(&b[..4], b"PAR1");
        let mut ticks = Vec::new();
        decode_object(&c.target_key, &b, |t| ticks.push(t.unwrap())).unwrap();
        assert!(ticks
            .windows(2)
            .all(|w| (&w[0].symbol, w[0].ts_ns) <= (&w[1].symbol, w[1].ts_ns)));
        for t in ticks {
            seqs.entry(t.symbol).or_default().push(t.seq);
        }
        first_bytes.push(b);
    }
    let mut total = 0;
    for (sym, mut v) in seqs {
        v.sort_unstable();
        assert!(v.iter().enumerate().all(|(i, s)| *s == i as u64), "{sym}");
        total += v.len() as u64;
    }
    assert_eq!(total, landed);

    // A run that stopped before removing a source: the next one only removes it.
    client
        .put_object()
        .bucket("tickbench")
        .key(&kept.0)
        .body(ByteStream::from(kept.1.clone()))
        .send()
        .await
        .unwrap();
    let again = compact(&src, &[]).await.unwrap();
    assert_eq!(again.len(), 1);
    let c = &again[0];
    assert!(!c.target_written, "{c:?}");
    assert_eq!(
        (c.sources_removed, c.duplicates_dropped),
        (1, c.records_read - c.target_records)
    );
    assert!(keys(client, "tickbench/ticks/").await.is_empty());
    let i = done
        .iter()
        .position(|d| d.partition == c.partition)
        .unwrap();
    assert_eq!(
        body(client, &c.target_key).await,
        first_bytes[i],
        "the target is unchanged"
    );

    // Nothing left: a third run does nothing; an unknown partition is named.
    assert!(compact(&src, &[]).await.unwrap().is_empty());
    let e = compact(&src, &["dt=1999-01-01/hour=00".into()])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("dt=1999-01-01/hour=00"), "{e}");
    store.close().await;
}
