//! Object keys: Hive-style time partitions and deterministic names, so a retried batch rewrites the
//! same key and a crash duplicates nothing in the final data.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// One hour of event time, the time partition of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HourBucket(pub u64);

impl HourBucket {
    pub fn of_ns(ts_ns: u64) -> HourBucket {
        HourBucket(ts_ns / 3_600_000_000_000)
    }

    /// `dt=YYYY-MM-DD/hour=HH`
    pub fn path(self) -> String {
        let secs = (self.0 * 3600) as i64;
        let t: DateTime<Utc> = DateTime::from_timestamp(secs, 0).unwrap_or_default();
        format!(
            "dt={:04}-{:02}-{:02}/hour={:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour()
        )
    }
}

/// Width of the zero-padded first offset: 20 digits hold any i64 offset, so keys sort by offset.
const OFFSET_WIDTH: usize = 20;

/// `<prefix>/<topic>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first offset>.<ext>`
pub fn object_key(
    prefix: &str,
    topic: &str,
    hour: HourBucket,
    partition: i32,
    first_offset: i64,
    ext: &str,
) -> String {
    let mut key = String::with_capacity(prefix.len() + 2 * topic.len() + 64);
    if !prefix.is_empty() {
        key.push_str(prefix.trim_end_matches('/'));
        key.push('/');
    }
    key.push_str(&format!(
        "{topic}/{}/{topic}+{partition}+{first_offset:0width$}.{ext}",
        hour.path(),
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
    let name = key.rsplit('/').next()?;
    let stem = name.split_once('.').map(|(s, _)| s).unwrap_or(name);
    let mut it = stem.rsplitn(3, '+');
    let offset = it.next()?.parse().ok()?;
    let partition = it.next()?.parse().ok()?;
    let topic = it.next()?.to_string();
    Some((topic, partition, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_has_hive_partitions_and_padded_offset() {
        // 2026-11-22T03:44:50Z
        let ts = 1_795_319_090_000_000_000u64;
        let key = object_key("land/x", "ticks", HourBucket::of_ns(ts), 7, 1234, "jsonl");
        assert_eq!(
            key,
            "land/x/ticks/dt=2026-11-22/hour=03/ticks+7+00000000000000001234.jsonl"
        );
        assert_eq!(parse_object_name(&key), Some(("ticks".into(), 7, 1234)));
        assert_eq!(
            object_key("", "t.a-b", HourBucket::of_ns(0), 0, 0, "jsonl"),
            "t.a-b/dt=1970-01-01/hour=00/t.a-b+0+00000000000000000000.jsonl"
        );
        assert_eq!(topic_prefix("p/", "ticks"), "p/ticks/");
    }

    #[test]
    fn hour_boundaries() {
        let h = 3_600_000_000_000u64;
        assert_eq!(HourBucket::of_ns(h - 1), HourBucket(0));
        assert_eq!(HourBucket::of_ns(h), HourBucket(1));
        assert_eq!(HourBucket::of_ns(h * 24).path(), "dt=1970-01-02/hour=00");
    }
}
