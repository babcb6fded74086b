//! `tickbench query`'s presets over a seeded run's objects equal the same figures computed
//! directly from the ticks read back, over a folder and over the S3 API (object_store).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use tickbench::commands::query::{preset, query, render, ObjectsAt, Output};
use tickbench::commands::store::RunStore;
use tickbench::config;
use tickbench::model::tick::Tick;

fn rows(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Vec<serde_json::Value> {
    render(batches, Output::Json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_equal_the_figures_computed_from_the_ticks() {
    common::use_embedded_s3_keys();
    let text = "name = \"query\"\nseed = 11\nduration = \"3s\"\n[symbols]\ncount = 30\n[rate]\nticks_per_second = 3000\n[kafka]\npartitions = 3\n[sink]\nmax_age = \"1s\"\n";
    let s = config::parse(Path::new("query.toml"), text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_in(tmp.path(), &s).await.unwrap();
    assert!(out.summary.passed);
    let store = RunStore::open(&out.dir, None).await.unwrap();
    let objects = common::read_back(&store.client, "tickbench", "tickbench/ticks/").await;
    let total = common::assert_each_tick_once(&objects);
    let mut by_symbol: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    let mut by_hour: BTreeMap<(String, String), (u64, i64)> = BTreeMap::new();
    for o in &objects {
        let dir: Vec<&str> = o.key.split('/').collect();
        let dt = dir[2].trim_start_matches("dt=").to_string();
        let hour = dir[3].trim_start_matches("hour=").to_string();
        for t in &o.ticks {
            let h = by_hour.entry((dt.clone(), hour.clone())).or_default();
            h.0 += 1;
            h.1 += t.size as i64;
            by_symbol
                .entry(t.symbol.clone())
                .or_default()
                .push(t.clone());
        }
    }
    for v in by_symbol.values_mut() {
        v.sort_by_key(|t| (t.ts_ns, t.seq));
    }

    // Over the run folder (its objects as files) ...
    let folder = ObjectsAt::parse(out.dir.to_str().unwrap(), None, None).unwrap();
    assert!(matches!(folder, ObjectsAt::Folder(_)), "{folder:?}");
    let vwap = rows(&query(&folder, preset("vwap").unwrap()).await.unwrap());
    assert_eq!(vwap.len(), by_symbol.len());
    for (r, (sym, ticks)) in vwap.iter().zip(&by_symbol) {
        assert_eq!(r["symbol"], sym.as_str());
        let vol: f64 = ticks.iter().map(|t| t.size as f64).sum();
        let want = ticks.iter().map(|t| t.price * t.size as f64).sum::<f64>() / vol;
        assert!(close(f(&r["vwap"]), want), "{sym}: {} vs {want}", r["vwap"]);
        assert_eq!(r["ticks"], ticks.len());
    }

    let ohlc = rows(&query(&folder, preset("ohlc").unwrap()).await.unwrap());
    let mut want = Vec::new();
    for (sym, ticks) in &by_symbol {
        let mut minutes: BTreeMap<u64, Vec<&Tick>> = BTreeMap::new();
        for t in ticks {
            minutes.entry(t.ts_ns / 60_000_000_000).or_default().push(t);
        }
        for m in minutes.values() {
            let hi = m.iter().map(|t| t.price).fold(f64::MIN, f64::max);
            let lo = m.iter().map(|t| t.price).fold(f64::MAX, f64::min);
            let vol: i64 = m.iter().map(|t| t.size as i64).sum();
            want.push((sym.clone(), m[0].price, hi, lo, m[m.len() - 1].price, vol));
        }
    }
    assert_eq!(ohlc.len(), want.len());
    for (r, w) in ohlc.iter().zip(&want) {
        assert_eq!(r["symbol"], w.0.as_str());
        for (col, v) in [("open", w.1), ("high", w.2), ("low", w.3), ("close", w.4)] {
            assert!(close(f(&r[col]), v), "{} {col}: {} vs {v}", w.0, r[col]);
        }
        assert_eq!(r["volume"], w.5);
    }

    let movers = rows(&query(&folder, preset("top-movers").unwrap()).await.unwrap());
    let mut changes: Vec<(f64, &String)> = by_symbol
        .iter()
        .map(|(s, t)| ((t[t.len() - 1].price / t[0].price - 1.0).abs(), s))
        .collect();
    changes.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(b.1)));
    let top: Vec<&str> = movers
        .iter()
        .map(|r| r["symbol"].as_str().unwrap())
        .collect();
    let want_top: Vec<&str> = changes.iter().take(10).map(|c| c.1.as_str()).collect();
    assert_eq!(top, want_top);

    // ... and over the S3 API, with the partition columns.
    let s3 = ObjectsAt::S3 {
        bucket: "tickbench".into(),
        path: "tickbench/ticks".into(),
        endpoint: Some(store.server.as_ref().unwrap().endpoint()),
        region: None,
        profile: None,
    };
    let hours = rows(&query(&s3, preset("volume-by-hour").unwrap()).await.unwrap());
    let got: BTreeMap<(String, String), (u64, i64)> = hours
        .iter()
        .map(|r| {
            (
                (
                    r["dt"].as_str().unwrap().into(),
                    r["hour"].as_str().unwrap().into(),
                ),
                (r["ticks"].as_u64().unwrap(), r["volume"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, by_hour);
    assert_eq!(got.values().map(|v| v.0).sum::<u64>(), total);

    let ma = rows(&query(&s3, preset("moving-average").unwrap()).await.unwrap());
    assert_eq!(ma.len() as u64, total);
    let (sym, ticks) = by_symbol.iter().next().unwrap();
    for (i, r) in ma.iter().take(ticks.len()).enumerate() {
        assert_eq!(r["symbol"], sym.as_str());
        let w = &ticks[i.saturating_sub(19)..=i];
        let mean = w.iter().map(|t| t.price).sum::<f64>() / w.len() as f64;
        assert!(close(f(&r["ma20"]), mean), "{sym} row {i}");
    }
    // A table, CSV, and a clear error for bad SQL.
    let table = render(
        &query(&folder, "SELECT count(*) AS n FROM ticks")
            .await
            .unwrap(),
        Output::Table,
    )
    .unwrap();
    assert!(table.contains(&format!("| {total}")), "{table}");
    let e = query(&folder, "SELECT nope FROM ticks").await.unwrap_err();
    assert!(format!("{e:#}").contains("nope"), "{e:#}");
    store.close().await;
}

/// Objects grouped by symbol sit under `symbol=<ticker>/` and hold a `symbol` column: a query
/// grouping by symbol sees one `symbol` (the data's), in JSON lines and in CSV (read by position).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_grouped_by_symbol_is_queried_by_symbol() {
    common::use_embedded_s3_keys();
    for format in ["jsonl", "csv"] {
        let text = format!(
            "name = \"bysym\"\nseed = 12\nduration = \"2s\"\n[symbols]\ncount = 8\n[rate]\nticks_per_second = 2000\n[kafka]\npartitions = 2\n[sink]\nmax_age = \"1s\"\ngroup_by = \"symbol\"\nformat = \"{format}\"\n"
        );
        let s = config::parse(Path::new("bysym.toml"), &text).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = common::run_in(tmp.path(), &s).await.unwrap();
        assert!(out.summary.passed, "{:?}", out.summary.problems);
        let store = RunStore::open(&out.dir, None).await.unwrap();
        let objects = common::read_back(&store.client, "tickbench", "tickbench/ticks/").await;
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for o in &objects {
            let segment = o.key.split('/').find(|s| s.starts_with("symbol=")).unwrap();
            for t in &o.ticks {
                assert_eq!(segment, format!("symbol={}", t.symbol), "{}", o.key);
                *want.entry(t.symbol.clone()).or_default() += 1;
            }
        }
        assert_eq!(want.len(), 8);
        let folder = ObjectsAt::parse(out.dir.to_str().unwrap(), None, None).unwrap();
        let got = rows(
            &query(
                &folder,
                "SELECT symbol, count(*) AS n FROM ticks GROUP BY symbol ORDER BY symbol",
            )
            .await
            .unwrap(),
        );
        let got: BTreeMap<String, u64> = got
            .iter()
            .map(|r| {
                (
                    r["symbol"].as_str().unwrap().to_string(),
                    r["n"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want, "{format}");
        // The time partitions are still columns.
        let hours = rows(
            &query(&folder, "SELECT count(DISTINCT hour) AS h FROM ticks")
                .await
                .unwrap(),
        );
        assert!(hours[0]["h"].as_u64().unwrap() >= 1, "{format}");
    }
}

/// A market-wide crash shows in what was landed: every symbol in `top-movers` fell with its beta,
/// and the `market` preset's index (plotted by `--plot`) steps down at the crash's second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_shows_in_top_movers_and_in_the_market_plot() {
    common::use_embedded_s3_keys();
    let text = "name = \"crash\"\nseed = 13\nduration = \"4s\"\n[symbols]\ncount = 20\nbeta_min = 0.5\nbeta_max = 1.0\nvolatility_min = 0.1\nvolatility_max = 0.2\ncrashes = [{ at = \"2s\", move = -0.2 }]\n[rate]\nticks_per_second = 2000\n[kafka]\npartitions = 2\n[sink]\nmax_age = \"1s\"\n";
    let s = config::parse(Path::new("crash.toml"), text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_in(tmp.path(), &s).await.unwrap();
    assert!(out.summary.passed, "{:?}", out.summary.problems);
    let folder = ObjectsAt::parse(out.dir.to_str().unwrap(), None, None).unwrap();
    let movers = rows(&query(&folder, preset("top-movers").unwrap()).await.unwrap());
    assert_eq!(movers.len(), 10);
    for m in &movers {
        // beta 0.5 to 1 of a -0.2 log move: -9.5 % to -18.1 %; their own noise is ~0.01 %.
        let change = f(&m["change_pct"]);
        assert!((-18.3..=-9.3).contains(&change), "{m}");
    }
    let market = rows(&query(&folder, preset("market").unwrap()).await.unwrap());
    let index: Vec<f64> = market.iter().map(|r| f(&r["index"])).collect();
    assert!(index.len() >= 4, "{market:?}");
    // 100 before the crash, about exp(-0.2 * 0.75) = 86 after it: one step, in one second.
    assert!((index[0] - 100.0).abs() < 0.5, "{index:?}");
    let last = *index.last().unwrap();
    assert!((80.0..=92.0).contains(&last), "{index:?}");
    // Seconds are the clock's, the crash 2 s after the load's start: at most the one second that
    // straddles it is between the levels.
    assert!(
        index.iter().filter(|i| (87.0..99.0).contains(*i)).count() <= 1,
        "{index:?}"
    );

    let svg = tmp.path().join("market.svg");
    let plotted = common::execute(&[
        "query",
        out.dir.to_str().unwrap(),
        "--preset",
        "market",
        "--plot",
        svg.to_str().unwrap(),
    ])
    .await;
    assert_eq!(plotted.code, 0, "{}", plotted.error);
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(">index<"), "{svg}");
}
