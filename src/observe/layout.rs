//! The time layout of another sink's keys, inferred from their names: which path segments hold
//! a date and hour (`dt=2026-12-01/hour=18`, Firehose's `2026/12/01/18`, Kafka Connect's
//! `year=2026/month=12/day=01/hour=18`), so the summary can say how the objects are partitioned
//! for Athena or Glue.

use std::collections::BTreeMap;

/// The layout most keys share, as a pattern ("dt=YYYY-MM-DD/hour=HH"); "none" when the names
/// carry no time, "mixed: a | b" when they disagree.
pub fn infer<'k>(keys: impl IntoIterator<Item = &'k str>) -> String {
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for k in keys {
        *seen.entry(of_key(k)).or_default() += 1;
    }
    match seen.len() {
        0 => "none".into(),
        1 => seen.into_keys().next().unwrap(),
        _ => {
            let mut v: Vec<_> = seen.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let names: Vec<String> = v.into_iter().map(|(l, _)| l).collect();
            format!("mixed: {}", names.join(" | "))
        }
    }
}

/// One key's time segments as a pattern.
fn of_key(key: &str) -> String {
    // The units a bare two-digit segment stands for, in order, after a year or a date.
    const AFTER_YEAR: [&str; 4] = ["MM", "DD", "HH", "mm"];
    let mut out: Vec<String> = Vec::new();
    let mut next: Option<usize> = None;
    let dir = key.rsplit_once('/').map_or("", |(d, _)| d);
    for seg in dir.split('/') {
        let (name, value) = match seg.split_once('=') {
            Some((n, v)) => (Some(n), v),
            None => (None, seg),
        };
        let shape = shape(value);
        let token = match (shape.as_str(), name) {
            ("9999-99-99", _) => {
                next = Some(2);
                "YYYY-MM-DD".to_string()
            }
            ("9999-99-99-99", _) => {
                next = Some(3);
                "YYYY-MM-DD-HH".to_string()
            }
            ("9999", _) if value.starts_with("19") || value.starts_with("20") => {
                next = Some(0);
                "YYYY".to_string()
            }
            ("99", Some(n)) => match n {
                "month" => "MM".into(),
                "day" => "DD".into(),
                "hour" | "hr" | "h" => "HH".into(),
                "minute" | "min" => "mm".into(),
                _ => continue,
            },
            ("99", None) => match next {
                Some(i) if i < AFTER_YEAR.len() => {
                    next = Some(i + 1);
                    AFTER_YEAR[i].to_string()
                }
                _ => continue,
            },
            _ => {
                next = None;
                continue;
            }
        };
        out.push(match name {
            Some(n) => format!("{n}={token}"),
            None => token,
        });
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join("/")
    }
}

/// The part of `key` after `prefix` made of time segments only (`2026/12/01/18`,
/// `dt=2026-12-01/hour=18`), when the key begins with at least one: such keys sort by time,
/// directory by directory, so a listing can start after the older ones.
pub fn time_dir<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    let rest = key.strip_prefix(prefix)?;
    let mut end = None;
    let mut at = 0;
    // Only directories: the last segment is the object's name.
    let dirs = rest.rsplit_once('/').map_or("", |(d, _)| d);
    for seg in dirs.split('/') {
        let value = seg.split_once('=').map_or(seg, |(_, v)| v);
        if !matches!(
            shape(value).as_str(),
            "9999" | "99" | "9999-99-99" | "9999-99-99-99"
        ) {
            break;
        }
        at += seg.len() + 1;
        end = Some(at - 1);
    }
    end.map(|e| &key[..prefix.len() + e])
}

/// Digits as 9, everything else as itself.
fn shape(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layouts_sinks_write() {
        for (key, want) in [
            (
                "tickbench/ticks/dt=2026-12-01/hour=18/ticks+0+0000000000.jsonl",
                "dt=YYYY-MM-DD/hour=HH",
            ),
            (
                "fh/2026/12/01/18/ticks-1-2026-12-01-18-00-00-abc",
                "YYYY/MM/DD/HH",
            ),
            (
                "topics/ticks/year=2026/month=12/day=01/hour=18/ticks+1+42.avro",
                "year=YYYY/month=MM/day=DD/hour=HH",
            ),
            (
                "vector/date=2026-12-01/1764612000-abc.log.gz",
                "date=YYYY-MM-DD",
            ),
            ("naive/ticks/0/42.json", "none"),
            ("top.json", "none"),
        ] {
            assert_eq!(of_key(key), want, "{key}");
        }
    }

    #[test]
    fn time_directories_right_after_the_prefix() {
        assert_eq!(
            time_dir("fh/", "fh/2026/12/01/18/ticks-1-abc"),
            Some("fh/2026/12/01/18")
        );
        assert_eq!(
            time_dir("t/obs/", "t/obs/dt=2026-12-01/hour=18/obs+0+0.jsonl"),
            Some("t/obs/dt=2026-12-01/hour=18")
        );
        // A partition directory first: keys of partition 1 sort after partition 0's newest hour.
        assert_eq!(time_dir("p/", "p/partition=0/2026/12/01/x"), None);
        assert_eq!(time_dir("p/", "p/ticks+0+42.json"), None);
        // Not zero-padded: does not sort.
        assert_eq!(time_dir("p/", "p/hour=9/x"), None);
    }

    #[test]
    fn the_most_common_layout_first_when_they_disagree() {
        assert_eq!(infer([]), "none");
        assert_eq!(
            infer(["a/2026/12/01/18/x", "a/2026/12/01/19/y"]),
            "YYYY/MM/DD/HH"
        );
        assert_eq!(
            infer(["a/2026/12/01/18/x", "a/2026/12/01/19/y", "b/z"]),
            "mixed: YYYY/MM/DD/HH | none"
        );
    }
}
