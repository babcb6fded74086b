//! An Iceberg table in a catalog, over tickbench's S3 client: opened (created on first use) by
//! the sink, committed to with the Kafka offsets each snapshot covers, and read back by the audit.

pub mod glue;
mod pinned;
pub mod rest;
pub mod rewrite;
pub mod storage;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use aws_sdk_s3::Client;
use futures::TryStreamExt;
use iceberg::spec::DataFile;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_sql::SqlCatalogBuilder;

use crate::config::CatalogKind;
use crate::model::layout::TimeGranularity;
use crate::model::table;

/// Where the table is and how it is partitioned: validated from the scenario.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub catalog: CatalogKind,
    pub uri: String,
    pub warehouse: String,
    pub namespace: String,
    pub table: String,
    pub topic: String,
    pub granularity: TimeGranularity,
    pub by_symbol: bool,
    pub commit_every: crate::config::CommitEvery,
    /// rest: the scenario's further catalog properties (never secrets).
    pub properties: BTreeMap<String, String>,
}

impl TableSpec {
    /// The scenario's table: its `[sink.iceberg]`, with the defaults filled in (the SQL catalog's
    /// database in `catalog_dir`, the warehouse under `s3.prefix` in `bucket`).
    pub fn of(
        s: &crate::config::Scenario,
        bucket: &str,
        catalog_dir: &std::path::Path,
    ) -> TableSpec {
        let i = s.sink.iceberg.clone().unwrap_or_default();
        let prefix = s.s3.prefix.trim_matches('/');
        let warehouse = i.warehouse.clone().unwrap_or_else(|| {
            if i.catalog == CatalogKind::Rest {
                // The catalog's own: it chooses where its tables go.
                String::new()
            } else if prefix.is_empty() {
                format!("s3://{bucket}/warehouse")
            } else {
                format!("s3://{bucket}/{prefix}/warehouse")
            }
        });
        let uri = i.uri.clone().unwrap_or_else(|| match i.catalog {
            CatalogKind::Sql => {
                format!(
                    "sqlite:{}?mode=rwc",
                    catalog_dir.join("catalog.db").display()
                )
            }
            _ => String::new(),
        });
        TableSpec {
            catalog: i.catalog,
            uri,
            warehouse: warehouse.trim_end_matches('/').to_string(),
            namespace: i.namespace.clone(),
            table: i.table_name(&s.kafka.topic),
            topic: s.kafka.topic.clone(),
            granularity: s.sink.time_partition,
            by_symbol: s.sink.group_by == crate::config::GroupBy::Symbol,
            commit_every: i.commit_every,
            properties: i.properties.clone(),
        }
    }
}

/// The name tickbench's catalogs go by (the SQL catalog's `catalog_name` column).
pub const CATALOG_NAME: &str = "tickbench";

/// An open table.
pub struct Lake {
    /// Not in Debug: a REST catalog's client holds its bearer token.
    catalog: Arc<dyn Catalog>,
    spec: TableSpec,
    kind: CatalogKind,
    uri: String,
    ident: TableIdent,
    topic: String,
    /// The bucket of the table's location, and the key of its folder in it.
    pub bucket: String,
    pub key: String,
    pub spec_id: i32,
    /// The table's last sequence number when this handle opened it: a data file with a higher
    /// one was committed since (by this sink, or by a rewrite of its files such as compaction).
    pub opened_at_sequence: i64,
    /// The requests the table's own files have cost so far, through this handle.
    pub io: Arc<storage::TableIo>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("spec", &self.spec)
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What one commit did.
#[derive(Debug, Default)]
pub struct Committed {
    /// The snapshot made; None when every partition was refused.
    pub snapshot: Option<i64>,
    /// Partitions not committed because the table's offsets for them were not what this sink
    /// expected (another sink committed them), with the table's offsets now.
    pub refused: BTreeMap<i32, Option<i64>>,
    /// Commits the catalog refused as conflicting (another writer came first) and were redone.
    pub conflicts: u32,
}

impl Lake {
    /// Opens the table, creating its namespace and the table itself if they do not exist.
    pub async fn open(spec: &TableSpec, client: Client) -> anyhow::Result<Lake> {
        let io = Arc::new(storage::TableIo::default());
        let factory = Arc::new(storage::S3StorageFactory {
            client,
            io: io.clone(),
        });
        let catalog: Arc<dyn Catalog> = match spec.catalog {
            CatalogKind::Sql => Arc::new(
                SqlCatalogBuilder::default()
                    .with_storage_factory(factory)
                    .load(
                        CATALOG_NAME,
                        HashMap::from([
                            ("uri".to_string(), spec.uri.clone()),
                            ("warehouse".to_string(), spec.warehouse.clone()),
                            ("sql_bind_style".to_string(), "QMark".to_string()),
                        ]),
                    )
                    .await
                    .with_context(|| format!("opening the Iceberg SQL catalog at {}", spec.uri))?,
            ),
            CatalogKind::Glue => {
                Arc::new(glue::GlueCatalog::new(&spec.uri, &spec.warehouse, factory).await)
            }
            CatalogKind::Rest => Arc::new(rest::catalog(spec, factory).await?),
        };
        let ns = NamespaceIdent::new(spec.namespace.clone());
        let ident = TableIdent::new(ns.clone(), spec.table.clone());
        let what = format!("Iceberg table {}.{}", spec.namespace, spec.table);
        if !catalog.namespace_exists(&ns).await? {
            // Another sink may create it at the same moment.
            if let Err(e) = catalog.create_namespace(&ns, HashMap::new()).await {
                if !catalog.namespace_exists(&ns).await? {
                    return Err(e)
                        .with_context(|| format!("creating namespace {}", spec.namespace));
                }
            }
        }
        let t = match catalog.load_table(&ident).await {
            Ok(t) => t,
            Err(_) => {
                let creation = TableCreation::builder()
                    .name(spec.table.clone())
                    .schema(table::schema())
                    .partition_spec(table::partition_spec(spec.granularity, spec.by_symbol))
                    .properties(HashMap::from([(
                        "write.parquet.compression-codec".to_string(),
                        "snappy".to_string(),
                    )]))
                    .build();
                match catalog.create_table(&ns, creation).await {
                    Ok(t) => t,
                    Err(e) => catalog
                        .load_table(&ident)
                        .await
                        .map_err(|_| e)
                        .with_context(|| format!("creating {what}"))?,
                }
            }
        };
        let location = t.metadata().location().to_string();
        let (bucket, key) = storage::split(&location)
            .with_context(|| format!("{what}: its location {location}"))?;
        Ok(Lake {
            bucket: bucket.to_string(),
            key: key.trim_end_matches('/').to_string(),
            spec_id: t.metadata().default_partition_spec_id(),
            opened_at_sequence: t.metadata().last_sequence_number(),
            catalog,
            spec: spec.clone(),
            kind: spec.catalog,
            uri: spec.uri.clone(),
            io,
            ident,
            topic: spec.topic.clone(),
        })
    }

    pub fn name(&self) -> String {
        format!("{}.{}", self.ident.namespace().join("."), self.ident.name())
    }

    /// Per Kafka partition, the next offset the table covers.
    pub async fn floors(&self) -> anyhow::Result<BTreeMap<i32, i64>> {
        let t = self.catalog.load_table(&self.ident).await?;
        Ok(table::floors(t.metadata(), &self.topic))
    }

    /// Appends `files` in one snapshot that records `floors` (per partition, the next offset the
    /// table covers once it holds them). A partition whose offsets in the table are no longer
    /// `expected` (None: never committed) is left out and reported refused: another sink
    /// committed it since this one last did, so this sink may no longer own it.
    pub async fn commit(
        &self,
        files: Vec<(i32, DataFile)>,
        floors: &BTreeMap<i32, i64>,
        expected: &BTreeMap<i32, Option<i64>>,
        writer: &str,
    ) -> anyhow::Result<Committed> {
        let mut out = Committed::default();
        loop {
            let t = self
                .catalog
                .load_table(&self.ident)
                .await
                .with_context(|| format!("loading {}", self.name()))?;
            let now = table::floors(t.metadata(), &self.topic);
            for (p, e) in expected {
                if now.get(p) != e.as_ref() {
                    out.refused.insert(*p, now.get(p).copied());
                }
            }
            let keep: Vec<DataFile> = files
                .iter()
                .filter(|(p, _)| !out.refused.contains_key(p))
                .map(|(_, f)| f.clone())
                .collect();
            let covered: BTreeMap<i32, i64> = floors
                .iter()
                .filter(|(p, _)| !out.refused.contains_key(p))
                .map(|(p, o)| (*p, *o))
                .collect();
            if covered.is_empty() {
                return Ok(out);
            }
            let props = HashMap::from([
                (
                    table::offsets_property(&self.topic),
                    table::format_offsets(&covered),
                ),
                ("tickbench.writer".to_string(), writer.to_string()),
            ]);
            let tx = Transaction::new(&t);
            let tx = tx
                .fast_append()
                // Names are unique per writer: no need to read every manifest to look for them.
                .with_check_duplicate(false)
                .add_data_files(keep)
                .set_snapshot_properties(props)
                .apply(tx)?;
            let pinned = pinned::Pinned {
                inner: self.catalog.as_ref(),
                table: t,
                loaded: AtomicBool::new(false),
            };
            match tx.commit(&pinned).await {
                Ok(t) => {
                    out.snapshot = t.metadata().current_snapshot_id();
                    return Ok(out);
                }
                Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts && out.conflicts < 1000 => {
                    out.conflicts += 1;
                }
                Err(e) => return Err(e).with_context(|| format!("committing to {}", self.name())),
            }
        }
    }

    /// The data files of the table's current snapshot: key (in [`Lake::bucket`]), bytes, records.
    pub async fn files(&self) -> anyhow::Result<Vec<(String, u64, u64)>> {
        let t = self.catalog.load_table(&self.ident).await?;
        let tasks: Vec<_> = t
            .scan()
            .select_all()
            .build()?
            .plan_files()
            .await?
            .try_collect()
            .await?;
        tasks
            .into_iter()
            .map(|f| {
                let (_, key) = storage::split(&f.data_file_path)?;
                Ok((
                    key.to_string(),
                    f.file_size_in_bytes,
                    f.record_count.unwrap_or(0),
                ))
            })
            .collect()
    }

    /// The data files of the table's current snapshot: key (in [`Lake::bucket`]), bytes, and the
    /// data sequence number each was committed with (a rewrite gives its files a new one).
    pub async fn live_files(&self) -> anyhow::Result<Vec<(String, u64, i64)>> {
        let t = self.table().await?;
        rewrite::live(&t)
            .await?
            .into_iter()
            .map(|l| {
                let (_, key) = storage::split(l.file.file_path())?;
                Ok((
                    key.to_string(),
                    l.file.file_size_in_bytes(),
                    l.sequence_number,
                ))
            })
            .collect()
    }

    /// The table's location and its current metadata file.
    pub async fn locations(&self) -> anyhow::Result<(String, Option<String>)> {
        let t = self.catalog.load_table(&self.ident).await?;
        Ok((
            t.metadata().location().to_string(),
            t.metadata_location().map(str::to_string),
        ))
    }

    /// The table's snapshots, oldest first: (id, committed ms since the epoch, operation).
    pub async fn snapshots(&self) -> anyhow::Result<Vec<(i64, i64, String)>> {
        let t = self.catalog.load_table(&self.ident).await?;
        let mut s: Vec<_> = t
            .metadata()
            .snapshots()
            .map(|s| {
                (
                    s.snapshot_id(),
                    s.timestamp_ms(),
                    s.summary().operation.as_str().to_string(),
                )
            })
            .collect();
        s.sort_by_key(|x| x.1);
        Ok(s)
    }
}
