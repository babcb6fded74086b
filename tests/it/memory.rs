//! The sink's memory is bounded by its configuration, not by the number of partitions or the
//! length of the topic: 64 partitions with large parts stay within the bound the summary states.

use crate::common;

use std::path::Path;

use tickbench::config;
use tickbench::io::embedded::{EmbeddedKafka, EmbeddedS3};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_partitions_stay_within_the_configured_bound() {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    let kafka = EmbeddedKafka::start(1, "wide", 64).unwrap();
    let text = format!(
        r#"
name = "memory"
seed = 3
duration = "4s"
[symbols]
count = 2000
[rate]
ticks_per_second = 20000
[kafka]
brokers = "{brokers}"
topic = "wide"
# The scenario's topic, which the test watches on its own mock cluster.
topic_per_run = false
partitions = 64
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_records = 100000000
max_bytes = "1 GiB"
part_size = "16 MiB"
max_age = "60s"
upload_concurrency = 4
[s3]
endpoint = "{endpoint}"
bucket = "memory"
create_bucket = true
"#,
        brokers = kafka.bootstrap_servers(),
        endpoint = s3.endpoint()
    );
    let s = config::parse(Path::new("memory.toml"), &text).unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    let sum = &out.summary;
    assert!(sum.passed, "{:?}", sum.problems);
    assert_eq!(sum.counts.landed, 80_000);
    let r = &sum.resources;
    assert_eq!(
        r.sink_peak_open_batches, 64,
        "every partition had a batch open"
    );
    // Nothing closed before the end, so the sink held every batch at once, each once: its peak
    // is exactly the bytes it then landed (a batch held twice, say in the batcher and again in
    // the upload queue, would double it).
    assert_eq!(r.sink_peak_buffered_bytes, sum.objects.bytes);
    // The bound the README gives, by hand: each of the 64 open batches holds less than the
    // multipart threshold (the 16 MiB part) + a part, and queues at most two parts; 4 requests in
    // flight + 1, each at most a part + the threshold; dead letters at most their 16 MiB cap.
    const MIB: u64 = 1 << 20;
    assert_eq!(
        r.sink_memory_bound_bytes,
        64 * (16 * MIB + 16 * MIB + 2 * 16 * MIB) + (4 + 1) * (16 * MIB + 16 * MIB) + 16 * MIB
    );
    assert!(r.sink_peak_buffered_bytes <= r.sink_memory_bound_bytes);
    assert!(r
        .peak_rss_bytes
        .is_some_and(|b| b > r.sink_peak_buffered_bytes));
    assert!(r.cpu_process_s.is_some_and(|c| c > 0.0));
    assert!(r.cpu_producer_threads_s.is_some_and(|c| c > 0.0));
    assert_eq!(sum.objects.count, 64);
    assert_eq!(sum.objects.close_reasons.get("drain"), Some(&64));
}
