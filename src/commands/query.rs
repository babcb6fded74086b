//! `tickbench query LOCATION "SQL"`: local SQL over landed objects, on Apache DataFusion. The
//! objects are one table, `ticks`, with the tick's columns and the Hive partition columns of the
//! layout (`dt`, `hour`, `minute` as strings), as Athena sees them. Objects grouped by symbol
//! (`symbol=<ticker>/`) hold their `symbol` column too: that column is the symbol, and the key
//! segment is not declared again (it would be a second `symbol`). LOCATION is a run's results
//! folder, a folder of objects, or `s3://bucket/prefix/topic/`.

use crate::results::{files, RunDir};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::ObjectStore;

use crate::model::format::{encoding_of_key, Compression, Encoding, Format};

/// Ready-made queries (`--preset`).
pub const PRESETS: [(&str, &str, &str); 6] = [
    (
        "ohlc",
        "open, high, low, close and volume per symbol per minute",
        "SELECT symbol, date_trunc('minute', to_timestamp_nanos(ts_ns)) AS minute, \
         first_value(price ORDER BY ts_ns, seq) AS open, max(price) AS high, min(price) AS low, \
         last_value(price ORDER BY ts_ns, seq) AS close, sum(size) AS volume, count(*) AS ticks \
         FROM ticks GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "vwap",
        "volume-weighted average price per symbol",
        "SELECT symbol, sum(price * size) / sum(size) AS vwap, \
         sum(size) AS volume, count(*) AS ticks FROM ticks GROUP BY symbol ORDER BY symbol",
    ),
    (
        "moving-average",
        "each tick's price beside the mean of its symbol's last 20 prices",
        "SELECT symbol, ts_ns, seq, price, avg(price) OVER (PARTITION BY symbol ORDER BY ts_ns, seq \
         ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) AS ma20 FROM ticks ORDER BY symbol, ts_ns, seq",
    ),
    (
        "top-movers",
        "the ten symbols whose price moved most, first tick to last, in percent",
        "SELECT symbol, first, last, (last / first - 1) * 100 AS change_pct FROM ( \
         SELECT symbol, first_value(price ORDER BY ts_ns, seq) AS first, \
         last_value(price ORDER BY ts_ns, seq) AS last FROM ticks GROUP BY symbol) \
         ORDER BY abs(last / first - 1) DESC, symbol LIMIT 10",
    ),
    (
        "market",
        "an equal-weighted index of the symbols' prices against their first, per second (100 at each symbol's first tick)",
        "SELECT second, exp(avg(ln(price / first))) * 100 AS index, count(*) AS ticks FROM ( \
         SELECT CAST(ts_ns / 1000000000 AS BIGINT) AS second, price, \
         first_value(price) OVER (PARTITION BY symbol ORDER BY ts_ns, seq) AS first FROM ticks) \
         GROUP BY second ORDER BY second",
    ),
    (
        "volume-by-hour",
        "ticks and traded volume per time partition hour",
        "SELECT dt, hour, count(*) AS ticks, sum(size) AS volume FROM ticks GROUP BY dt, hour ORDER BY dt, hour",
    ),
];

/// The SQL of a preset, or an error listing them.
pub fn preset(name: &str) -> anyhow::Result<&'static str> {
    PRESETS
        .iter()
        .find(|p| p.0 == name)
        .map(|p| p.2)
        .ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            anyhow::anyhow!("--preset {name:?}: one of {}", names.join(", "))
        })
}

/// How results are printed (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Csv,
    Json,
}

/// Where the objects are.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectsAt {
    /// A folder holding the topic's time partitions.
    Folder(PathBuf),
    /// `s3://bucket/prefix/topic/`, with an S3-compatible endpoint if not AWS, and the region
    /// and profile of the AWS config chain to use (as the scenario's `[s3]` names them).
    S3 {
        bucket: String,
        path: String,
        endpoint: Option<String>,
        region: Option<String>,
        profile: Option<String>,
    },
}

impl ObjectsAt {
    /// Reads LOCATION: a run folder (its embedded `s3/` copy, or the bucket it landed in), an
    /// `s3://` URL, or a folder of objects.
    /// `settings`: the `[s3]` of a scenario, for an s3:// URL (a run folder has its own).
    pub fn parse(
        s: &str,
        endpoint: Option<&str>,
        settings: Option<&crate::config::S3>,
    ) -> anyhow::Result<ObjectsAt> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
            anyhow::ensure!(!bucket.is_empty(), "{s}: no bucket in the URL");
            return Ok(ObjectsAt::S3 {
                bucket: bucket.into(),
                path: path.trim_end_matches('/').into(),
                endpoint: endpoint
                    .map(String::from)
                    .or_else(|| settings.and_then(|s| s.endpoint.clone())),
                region: settings.and_then(|s| s.region.clone()),
                profile: settings.and_then(|s| s.profile.clone()),
            });
        }
        let p = Path::new(s);
        anyhow::ensure!(
            p.is_dir(),
            "{s}: not a folder, a run's results folder or an s3:// URL"
        );
        let run = RunDir::open(p);
        if run.has(files::MANIFEST) {
            let m = run.manifest()?;
            let sc = run.scenario()?;
            let path = crate::model::layout::topic_prefix(&sc.s3.prefix, &sc.kafka.topic);
            if m.s3_embedded && endpoint.is_none() {
                return Ok(ObjectsAt::Folder(
                    run.embedded_s3().join(&m.s3_bucket).join(path),
                ));
            }
            return Ok(ObjectsAt::S3 {
                bucket: m.s3_bucket,
                path: path.trim_end_matches('/').into(),
                endpoint: endpoint.map(String::from).or(m.s3_endpoint),
                region: sc.s3.region.clone(),
                profile: sc.s3.profile.clone(),
            });
        }
        Ok(ObjectsAt::Folder(p.to_path_buf()))
    }
}

/// The objects' encoding and the partition columns above them, from the first object found.
async fn detect(
    store: &dyn ObjectStore,
    prefix: &object_store::path::Path,
) -> anyhow::Result<(Encoding, Vec<String>)> {
    let mut list = store.list(Some(prefix));
    while let Some(meta) = list.try_next().await.context("listing the objects")? {
        let key = meta.location.as_ref();
        if let Some(enc) = encoding_of_key(key) {
            let rel = key
                .strip_prefix(prefix.as_ref())
                .unwrap_or(key)
                .trim_start_matches('/');
            // Partition columns are read from the leading `key=value` segments; a later segment
            // that is not one (`symbol=`, whose value the data column has) ends them, and the
            // listing takes the segments after the last declared one as part of the file's path.
            let cols = rel
                .split('/')
                .filter_map(|seg| seg.split_once('=').map(|(k, _)| k.to_string()))
                .take_while(|k| k != "symbol")
                .collect();
            return Ok((enc, cols));
        }
    }
    bail!("no objects tickbench writes under {prefix}")
}

/// The data files an Iceberg run's table lists in its current snapshot, as URLs in `loc`'s
/// store (a refused or killed sink's file, in no snapshot, is not read); None for a run of the
/// other formats, or a location that is not a run's folder.
pub async fn table_files(
    source: &str,
    loc: &ObjectsAt,
    endpoint: Option<&str>,
) -> anyhow::Result<Option<Vec<String>>> {
    let dir = Path::new(source);
    let run = RunDir::open(dir);
    if !dir.is_dir() || !run.has(files::MANIFEST) {
        return Ok(None);
    }
    let s = run.scenario()?;
    if s.sink.format != Format::Iceberg {
        return Ok(None);
    }
    let bucket = run.manifest()?.s3_bucket;
    let store = super::store::RunStore::open(dir, endpoint).await?;
    let spec = crate::io::iceberg::TableSpec::of(&s, &bucket, dir);
    let listed = match crate::io::iceberg::Lake::open(&spec, store.client.clone()).await {
        Ok(lake) => lake.files().await,
        Err(e) => Err(e),
    };
    store.close().await;
    let files = listed?;
    if let Some((key, _, _)) = files.iter().find(|(k, _, _)| k.contains("//")) {
        anyhow::bail!(
            "the table's data file {key} has an empty path segment (a catalog warehouse ending \
             in '/'), which DataFusion's object store cannot address; S3, Athena and PyIceberg \
             read it"
        );
    }
    let keys = files.into_iter().map(|(key, _, _)| key);
    Ok(Some(match loc {
        ObjectsAt::Folder(_) => {
            let root = std::fs::canonicalize(run.embedded_s3().join(&bucket))?;
            keys.map(|k| format!("file://{}/{k}", root.display()))
                .collect()
        }
        ObjectsAt::S3 { bucket, .. } => keys.map(|k| format!("s3://{bucket}/{k}")).collect(),
    }))
}

/// Runs `sql` over the objects at `loc` (the table is `ticks`).
pub async fn query(loc: &ObjectsAt, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    query_in(loc, None, sql).await
}

/// [`query`] over every object under `loc`, or only `files` (an Iceberg table's current
/// snapshot, from [`table_files`]).
pub async fn query_in(
    loc: &ObjectsAt,
    files: Option<&[String]>,
    sql: &str,
) -> anyhow::Result<Vec<RecordBatch>> {
    let ctx = SessionContext::new();
    let (store, url, prefix): (Arc<dyn ObjectStore>, String, object_store::path::Path) = match loc {
        ObjectsAt::Folder(dir) => {
            // A table's files are named whole; the topic's folder need not exist.
            let abs = match files {
                Some(_) => PathBuf::from("/"),
                None => std::fs::canonicalize(dir)
                    .with_context(|| format!("{}: no such folder", dir.display()))?,
            };
            let store = Arc::new(object_store::local::LocalFileSystem::new());
            let prefix = object_store::path::Path::from_filesystem_path(&abs)?;
            (store, format!("file://{}/", abs.display()), prefix)
        }
        ObjectsAt::S3 {
            bucket,
            path,
            endpoint,
            region,
            profile,
        } => {
            // Credentials and region from the whole AWS config chain (profiles and SSO too, which
            // object_store's own environment reading lacks), as `tickbench run` finds them.
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(p) = profile {
                loader = loader.profile_name(p);
            }
            if let Some(r) = region {
                loader = loader.region(aws_config::Region::new(r.clone()));
            }
            let sdk = loader.load().await;
            let mut b = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(
                    sdk.region()
                        .map_or("us-east-1".to_string(), |r| r.to_string()),
                );
            if let Some(provider) = sdk.credentials_provider() {
                use aws_credential_types::provider::ProvideCredentials;
                let c = provider
                    .provide_credentials()
                    .await
                    .context("no AWS credentials from the AWS config chain")?;
                b = b
                    .with_access_key_id(c.access_key_id())
                    .with_secret_access_key(c.secret_access_key());
                if let Some(t) = c.session_token() {
                    b = b.with_token(t);
                }
            }
            if let Some(e) = endpoint {
                b = b
                    .with_endpoint(e)
                    .with_allow_http(true)
                    .with_virtual_hosted_style_request(false);
            }
            let store: Arc<dyn ObjectStore> = Arc::new(b.build().context("the S3 client")?);
            ctx.register_object_store(&url::Url::parse(&format!("s3://{bucket}"))?, store.clone());
            (
                store,
                format!("s3://{bucket}/{path}/"),
                object_store::path::Path::from(path.as_str()),
            )
        }
    };
    if let Some(files) = files {
        anyhow::ensure!(
            !files.is_empty(),
            "the table's current snapshot lists no data files"
        );
        let urls = files
            .iter()
            .map(ListingTableUrl::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(crate::model::format::parquet::iceberg_schema());
        ctx.register_table("table_files", Arc::new(ListingTable::try_new(config)?))?;
        // The presets group by the plain layout's dt and hour folders; a table's are its ts.
        ctx.sql(
            "CREATE VIEW ticks AS SELECT *, to_char(ts, '%Y-%m-%d') AS dt, \
             to_char(ts, '%H') AS hour FROM table_files",
        )
        .await?;
        let df = ctx.sql(sql).await.context("the SQL")?;
        drop(store);
        return Ok(df.collect().await?);
    }
    let (enc, cols) = detect(store.as_ref(), &prefix).await?;
    let compression = match enc.compression {
        Compression::Gzip => FileCompressionType::GZIP,
        Compression::Zstd => FileCompressionType::ZSTD,
        _ => FileCompressionType::UNCOMPRESSED,
    };
    let format: Arc<dyn FileFormat> = match enc.format {
        Format::Jsonl => Arc::new(JsonFormat::default().with_file_compression_type(compression)),
        Format::Csv => Arc::new(
            CsvFormat::default()
                .with_has_header(true)
                .with_file_compression_type(compression),
        ),
        Format::Parquet | Format::Iceberg => Arc::new(ParquetFormat::default()),
    };
    let options = ListingOptions::new(format)
        .with_file_extension(format!(".{}", enc.extension()))
        .with_table_partition_cols(cols.into_iter().map(|c| (c, DataType::Utf8)).collect());
    let table_url = ListingTableUrl::parse(&url)?;
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(crate::model::format::parquet::schema());
    ctx.register_table("ticks", Arc::new(ListingTable::try_new(config)?))?;
    let df = ctx.sql(sql).await.context("the SQL")?;
    Ok(df.collect().await?)
}

/// Plots results as an SVG line chart: the first column along x, each other numeric column a
/// series (for example `--preset market`, the index per second).
pub fn plot(batches: &[RecordBatch], title: &str) -> anyhow::Result<String> {
    use datafusion::arrow::array::{Array, Float64Array};
    use datafusion::arrow::compute::cast;
    let Some(first) = batches.first() else {
        bail!("the query returned no rows to plot");
    };
    let schema = first.schema();
    anyhow::ensure!(
        schema.fields().len() >= 2,
        "a plot needs two columns or more: x first, then the series"
    );
    let column = |batch: &RecordBatch, k: usize| -> anyhow::Result<Vec<Option<f64>>> {
        let c = cast(batch.column(k), &DataType::Float64)
            .with_context(|| format!("column {} is not a number", schema.field(k).name()))?;
        let c = c
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("cast to f64");
        Ok((0..c.len())
            .map(|i| c.is_valid(i).then(|| c.value(i)))
            .collect())
    };
    let mut series = Vec::new();
    for k in 1..schema.fields().len() {
        let mut points = Vec::new();
        for b in batches {
            let (x, y) = (column(b, 0)?, column(b, k)?);
            points.extend(x.into_iter().zip(y).filter_map(|(x, y)| Some((x?, y?))));
        }
        series.push(crate::report::svg::Series {
            name: schema.field(k).name().clone(),
            points,
        });
    }
    Ok(crate::report::svg::render(&crate::report::svg::Chart {
        title: title.to_string(),
        x_label: schema.field(0).name().clone(),
        y_label: String::new(),
        x: crate::report::svg::XAxis::Linear,
        y_log: false,
        series,
    }))
}

/// Renders results as a table, CSV or JSON lines.
pub fn render(batches: &[RecordBatch], out: Output) -> anyhow::Result<String> {
    Ok(match out {
        Output::Table => {
            datafusion::arrow::util::pretty::pretty_format_batches(batches)?.to_string() + "\n"
        }
        Output::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::csv::Writer::new(&mut buf);
                for b in batches {
                    w.write(b)?;
                }
            }
            String::from_utf8(buf)?
        }
        Output::Json => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
                for b in batches {
                    w.write(b)?;
                }
                w.finish()?;
            }
            String::from_utf8(buf)?
        }
    })
}
