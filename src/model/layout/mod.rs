//! Object keys: Hive-style time partitions and deterministic names, so a retried batch rewrites the
//! same key and a crash duplicates nothing in the final data.

use chrono::{DateTime, Datelike, Timelike, Utc};

use serde::{Deserialize, Serialize};

/// One time partition (a day, hour or minute) of a batch, by event or wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeBucket {
    pub granularity: TimeGranularity,
    /// Whole days, hours or minutes since the Unix epoch.
    pub index: u64,
}

/// How batches split by time, and the time directories of the key layout.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TimeGranularity {
    Day,
    #[default]
    Hour,
    Minute,
}

impl TimeGranularity {
    fn ns(self) -> u64 {
        match self {
            TimeGranularity::Day => 86_400_000_000_000,
            TimeGranularity::Hour => 3_600_000_000_000,
            TimeGranularity::Minute => 60_000_000_000,
        }
    }
}

impl TimeBucket {
    pub fn of_ns(granularity: TimeGranularity, ts_ns: u64) -> TimeBucket {
        TimeBucket {
            granularity,
            index: ts_ns / granularity.ns(),
        }
    }

    /// The hour bucket of `ts_ns` (the default layout).
    pub fn hour_of(ts_ns: u64) -> TimeBucket {
        TimeBucket::of_ns(TimeGranularity::Hour, ts_ns)
    }

    /// `dt=YYYY-MM-DD`, `dt=YYYY-MM-DD/hour=HH` or `dt=YYYY-MM-DD/hour=HH/minute=MM`: Hive-style
    /// partitions that Glue crawlers and Athena partition projection read.
    pub fn path(self) -> String {
        let secs = (self.index * (self.granularity.ns() / 1_000_000_000)) as i64;
        let t: DateTime<Utc> = DateTime::from_timestamp(secs, 0).unwrap_or_default();
        let day = format!("dt={:04}-{:02}-{:02}", t.year(), t.month(), t.day());
        match self.granularity {
            TimeGranularity::Day => day,
            TimeGranularity::Hour => format!("{day}/hour={:02}", t.hour()),
            TimeGranularity::Minute => {
                format!("{day}/hour={:02}/minute={:02}", t.hour(), t.minute())
            }
        }
    }
}

/// Width of the zero-padded first offset: 20 digits hold any i64 offset, so keys sort by offset.
const OFFSET_WIDTH: usize = 20;

/// A value made safe for one segment of a key (a Hive partition value): bytes other than
/// A-Z a-z 0-9 . _ - become `%XX`, as Hive escapes partition values, so a symbol can never add a
/// directory (`/`), climb one (`..`) or hide a control character.
pub fn escape_segment(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric()
            || b == b'_'
            || b == b'-'
            || (b == b'.' && v != "." && v != "..")
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `<prefix>/<topic>/<time partition>[/symbol=<SYM>]/<topic>+<partition>+<first offset>.<ext>`
#[allow(clippy::too_many_arguments)]
pub fn object_key(
    prefix: &str,
    topic: &str,
    time: TimeBucket,
    symbol: Option<&str>,
    partition: i32,
    first_offset: i64,
    ext: &str,
) -> String {
    let mut key = String::with_capacity(prefix.len() + 2 * topic.len() + 64);
    if !prefix.is_empty() {
        key.push_str(prefix.trim_end_matches('/'));
        key.push('/');
    }
    let group = symbol
        .map(|s| format!("symbol={}/", escape_segment(s)))
        .unwrap_or_default();
    key.push_str(&format!(
        "{topic}/{}/{group}{topic}+{partition}+{first_offset:0width$}.{ext}",
        time.path(),
        width = OFFSET_WIDTH
    ));
    key
}

/// The listing prefix that holds every object of a topic.
pub fn topic_prefix(prefix: &str, topic: &str) -> String {
    if prefix.is_empty() {
        format!("{topic}/")
    } else {
        format!("{}/{topic}/", prefix.trim_end_matches('/'))
    }
}

/// Parses `<topic>+<partition>+<first offset>.<ext>` at the end of a key.
pub fn parse_object_name(key: &str) -> Option<(String, i32, i64)> {
    // Topic names may hold dots, so the extension is cut from the offset, not from the name.
    let name = key.rsplit('/').next()?;
    let mut it = name.rsplitn(3, '+');
    let offset_ext = it.next()?;
    // An Iceberg data file names its writer after the offset: `<offset>-<writer>-<n>.<ext>`.
    let offset_part = offset_ext.split_once('.')?.0;
    let offset = offset_part.split('-').next()?.parse().ok()?;
    let partition = it.next()?.parse().ok()?;
    let topic = it.next()?.to_string();
    Some((topic, partition, offset))
}

/// The key prefix under which dead letters go, beside the topics: `<prefix>/_dead_letter`.
pub fn dead_letter_root(prefix: &str) -> String {
    let p = prefix.trim_end_matches('/');
    if p.is_empty() {
        "_dead_letter".into()
    } else {
        format!("{p}/_dead_letter")
    }
}

/// Where the dead letters of a topic go: `<prefix>/_dead_letter/<topic>/`.
pub fn dead_letter_prefix(prefix: &str, topic: &str) -> String {
    format!("{}/{topic}/", dead_letter_root(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_has_hive_partitions_and_padded_offset() {
        // 2026-11-22T03:44:50Z
        let ts = 1_795_319_090_000_000_000u64;
        let key = object_key(
            "land/x",
            "ticks",
            TimeBucket::hour_of(ts),
            None,
            7,
            1234,
            "jsonl",
        );
        assert_eq!(
            key,
            "land/x/ticks/dt=2026-11-22/hour=03/ticks+7+00000000000000001234.jsonl"
        );
        assert_eq!(parse_object_name(&key), Some(("ticks".into(), 7, 1234)));
        let dotted = object_key(
            "",
            "t.a-b",
            TimeBucket::hour_of(0),
            None,
            3,
            9,
            "snappy.parquet",
        );
        assert_eq!(
            dotted,
            "t.a-b/dt=1970-01-01/hour=00/t.a-b+3+00000000000000000009.snappy.parquet"
        );
        assert_eq!(parse_object_name(&dotted), Some(("t.a-b".into(), 3, 9)));
        assert_eq!(topic_prefix("p/", "ticks"), "p/ticks/");
    }

    #[test]
    fn symbols_get_a_directory_each_and_cannot_escape_it() {
        let k = object_key(
            "p",
            "t",
            TimeBucket::hour_of(0),
            Some("BRK.B"),
            1,
            2,
            "jsonl",
        );
        assert_eq!(
            k,
            "p/t/dt=1970-01-01/hour=00/symbol=BRK.B/t+1+00000000000000000002.jsonl"
        );
        assert_eq!(parse_object_name(&k), Some(("t".into(), 1, 2)));
        assert_eq!(escape_segment("../x/y"), "..%2Fx%2Fy");
        assert_eq!(escape_segment(".."), "%2E%2E");
        assert_eq!(escape_segment("A\nB%"), "A%0AB%25");
        let k = object_key(
            "p",
            "t",
            TimeBucket::hour_of(0),
            Some("../../etc"),
            1,
            2,
            "jsonl",
        );
        assert_eq!(k.matches('/').count(), 5, "{k}");
    }

    #[test]
    fn time_partition_boundaries() {
        let h = 3_600_000_000_000u64;
        assert_eq!(TimeBucket::hour_of(h - 1).index, 0);
        assert_eq!(TimeBucket::hour_of(h).index, 1);
        assert_eq!(TimeBucket::hour_of(h * 24).path(), "dt=1970-01-02/hour=00");
        // 2026-11-22T03:44:50Z
        let ts = 1_795_319_090_000_000_000u64;
        let g = |g| TimeBucket::of_ns(g, ts).path();
        assert_eq!(g(TimeGranularity::Day), "dt=2026-11-22");
        assert_eq!(
            g(TimeGranularity::Minute),
            "dt=2026-11-22/hour=03/minute=44"
        );
        let m = 60_000_000_000u64;
        assert_ne!(
            TimeBucket::of_ns(TimeGranularity::Minute, ts / m * m - 1),
            TimeBucket::of_ns(TimeGranularity::Minute, ts / m * m)
        );
    }
}
