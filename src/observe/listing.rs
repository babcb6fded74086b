//! How the watched prefix is listed, and how often. Where every key so far begins with time
//! directories (`YYYY/MM/DD/HH`, `dt=…/hour=…`), a listing starts after the directories older
//! than the newest two (ListObjectsV2 `StartAfter`), so a prefix holding weeks of earlier objects
//! costs a page or two a poll, not all of them; every `FULL_EVERY`-th listing is a full one, for
//! objects a sink writes late into older directories (their durable times are then bound by the
//! full listings' cadence, which is measured like the rest). The interval follows the objects'
//! rate: a twentieth of the mean gap between listings that found something, between
//! `observe.poll_interval` and `observe.poll_interval_max`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::Client;

use super::layout::time_dir;

/// Every this many listings, a full one.
pub const FULL_EVERY: u32 = 20;

/// What the listings so far taught about the keys.
#[derive(Debug)]
pub struct Lister {
    prefix: String,
    /// Time directories that received a new object, with the listing that found the last one;
    /// while every key had one.
    active: BTreeMap<String, u32>,
    /// The greatest key known before any new object was seen.
    newest_known: Option<String>,
    /// False once a key did not begin with time directories.
    sortable: bool,
    listings: u32,
    min: Duration,
    max: Duration,
    /// Mean gap between listings that found new objects, ns (exponentially weighted).
    gap_ns: Option<f64>,
    last_found_ns: Option<u64>,
}

impl Lister {
    pub fn new(prefix: &str, min: Duration, max: Duration) -> Lister {
        Lister {
            prefix: prefix.to_string(),
            active: BTreeMap::new(),
            newest_known: None,
            sortable: true,
            listings: 0,
            min,
            max: max.max(min),
            gap_ns: None,
            last_found_ns: None,
        }
    }

    /// A key that was there before the watch began.
    pub fn known(&mut self, key: &str) {
        if time_dir(&self.prefix, key).is_none() {
            self.sortable = false;
        }
        if self.newest_known.as_deref() < Some(key) {
            self.newest_known = Some(key.to_string());
        }
    }

    /// A key seen for the first time.
    pub fn learn(&mut self, key: &str) {
        match time_dir(&self.prefix, key) {
            Some(d) => {
                self.active.insert(d.to_string(), self.listings);
            }
            None => self.sortable = false,
        }
    }

    /// Where an incremental listing would start now: after everything but the time directories
    /// that received objects in the last `FULL_EVERY` listings (a sink still finishing the last
    /// hour while it starts the next is covered), or, before any, after the last key there was.
    pub fn window(&self) -> Option<String> {
        if !self.sortable {
            return None;
        }
        let recent = self.listings.saturating_sub(FULL_EVERY);
        self.active
            .iter()
            .find(|(_, at)| **at >= recent)
            .map(|(d, _)| d.clone())
            .or_else(|| self.newest_known.clone())
    }

    /// Where the next listing starts: None for a full one.
    pub fn next_start_after(&mut self) -> Option<String> {
        self.listings += 1;
        if self.listings.is_multiple_of(FULL_EVERY) {
            return None;
        }
        self.window()
    }

    /// A listing at `mono_ns` (monotonic) found `new` objects: the interval until the next one.
    pub fn found(&mut self, new: usize, mono_ns: u64) -> Duration {
        if new > 0 {
            if let Some(last) = self.last_found_ns {
                let gap = mono_ns.saturating_sub(last) as f64;
                self.gap_ns = Some(self.gap_ns.map_or(gap, |g| 0.7 * g + 0.3 * gap));
            }
            self.last_found_ns = Some(mono_ns);
        }
        let want = self
            .gap_ns
            .map_or(self.min, |g| Duration::from_nanos((g / 20.0) as u64));
        want.clamp(self.min, self.max)
    }
}

/// Every key under the prefix (after `start_after`) with its size, and the LIST requests it took.
pub async fn list(
    client: &Client,
    bucket: &str,
    prefix: &str,
    start_after: Option<&str>,
) -> anyhow::Result<(Vec<(String, i64)>, u64)> {
    let mut out = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_start_after(start_after.map(String::from))
        .into_paginator()
        .send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += 1;
        let page = page.with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
        for o in page.contents() {
            if let Some(k) = o.key() {
                out.push((k.to_string(), o.size().unwrap_or(0)));
            }
        }
    }
    Ok((out, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_after_what_is_not_being_written() {
        let ms = Duration::from_millis;
        let mut l = Lister::new("fh/", ms(250), ms(2000));
        assert_eq!(l.next_start_after(), None, "nothing known: from the start");
        // Earlier objects: after the last of them.
        l.known("fh/2026/11/01/16/a");
        l.known("fh/2026/11/01/17/b");
        assert_eq!(l.next_start_after().as_deref(), Some("fh/2026/11/01/17/b"));
        // New objects in two hours: from the older of them, on.
        l.learn("fh/2026/12/01/17/c");
        l.learn("fh/2026/12/01/18/d");
        assert_eq!(l.next_start_after().as_deref(), Some("fh/2026/12/01/17"));
        // An hour that got nothing for FULL_EVERY listings drops out of the window...
        for _ in 0..FULL_EVERY {
            l.learn("fh/2026/12/01/18/e");
            l.next_start_after();
        }
        assert_eq!(l.window().as_deref(), Some("fh/2026/12/01/18"));
        // ...and every FULL_EVERY-th listing is a full one.
        let fulls = (0..40).filter(|_| l.next_start_after().is_none()).count();
        assert_eq!(fulls, 2);
        // One key without time directories: full listings from then on.
        l.learn("fh/manifest.json");
        assert_eq!(l.next_start_after(), None);
    }

    #[test]
    fn the_interval_follows_the_objects_rate_within_bounds() {
        let ms = Duration::from_millis;
        let mut l = Lister::new("p/", ms(250), ms(2000));
        assert_eq!(l.found(0, 0), ms(250));
        // An object a minute: polls back off to the maximum.
        for i in 1..10u64 {
            l.found(1, i * 60_000_000_000);
        }
        assert_eq!(l.found(0, 600_000_000_000), ms(2000));
        // Objects every 100 ms: back to the minimum.
        let mut l = Lister::new("p/", ms(250), ms(2000));
        for i in 1..10u64 {
            l.found(3, i * 100_000_000);
        }
        assert_eq!(l.found(0, 1_000_000_000), ms(250));
        // 20 s apart: a twentieth, 1 s.
        let mut l = Lister::new("p/", ms(250), ms(2000));
        for i in 1..10u64 {
            l.found(1, i * 20_000_000_000);
        }
        assert_eq!(l.found(0, 200_000_000_000), ms(1000));
    }
}
