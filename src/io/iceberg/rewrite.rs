//! Rewriting a table's data files: a `replace` snapshot that swaps many small files for fewer
//! large ones (the same rows), and expiring the snapshots before it.
//!
//! iceberg-rust 0.10 has no rewrite action (its snapshot producer only appends), and a
//! `TableCommit` can only be built by its own transactions. So the snapshot is made here with the
//! crate's public parts (manifest and manifest-list writers, the metadata builder) and committed
//! the way its SQL catalog commits: the new metadata file is written, then the catalog's pointer is
//! moved from the metadata this was built on to the new one in one conditional step (the SQL
//! catalog's UPDATE ... WHERE metadata_location = the old one; Glue's UpdateTable at the VersionId
//! read; a REST catalog is sent the change on the condition that main has not moved), which
//! refuses if a sink committed meanwhile (then the snapshot is built again on the newer table).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use anyhow::{bail, Context};
use iceberg::spec::{
    DataFile, FormatVersion, ManifestListWriter, ManifestWriterBuilder, Operation, Snapshot,
    SnapshotReference, SnapshotRetention, SnapshotSummaryCollector, Summary, MAIN_BRANCH,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{MetadataLocation, TableRequirement, TableUpdate};

use super::Lake;
use crate::config::CatalogKind;
use crate::model::table;

/// A data file in the table's current snapshot, with what its manifest entry must keep.
#[derive(Debug, Clone)]
pub struct Live {
    pub file: DataFile,
    pub snapshot_id: i64,
    pub sequence_number: i64,
    pub file_sequence_number: Option<i64>,
}

/// The current snapshot's live data files, and the table they were read from.
pub async fn live(t: &Table) -> anyhow::Result<Vec<Live>> {
    let Some(snap) = t.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = t.manifest_list_reader(snap).load().await?;
    let mut out = Vec::new();
    for m in list.entries() {
        let manifest = m.load_manifest(t.file_io()).await?;
        for e in manifest.entries() {
            if !e.is_alive() {
                continue;
            }
            out.push(Live {
                file: e.data_file.clone(),
                snapshot_id: e.snapshot_id.unwrap_or(m.added_snapshot_id),
                sequence_number: e.sequence_number.unwrap_or(m.sequence_number),
                file_sequence_number: e.file_sequence_number,
            });
        }
    }
    Ok(out)
}

/// What a replace committed.
#[derive(Debug)]
pub struct Replaced {
    pub snapshot: i64,
    /// Commits refused because a sink committed first, and built again.
    pub conflicts: u32,
}

impl Lake {
    /// Loads the table as the catalog has it now.
    pub async fn table(&self) -> anyhow::Result<Table> {
        self.catalog
            .load_table(&self.ident)
            .await
            .with_context(|| format!("loading {}", self.name()))
    }

    /// Commits a `replace` snapshot: `removed` (paths of live data files) leave the table, `added`
    /// join it, every other live file stays. The snapshot records the Kafka offsets the table
    /// covers (unchanged: the rows are the same), so that expiring the snapshots before it keeps
    /// them. Fails if a removed file is no longer live.
    pub async fn replace(
        &self,
        removed: &HashSet<String>,
        added: Vec<DataFile>,
    ) -> anyhow::Result<Replaced> {
        let mut conflicts = 0;
        loop {
            let t = self.table().await?;
            let snapshot = self.write_replace(&t, removed, &added).await?;
            let id = snapshot.snapshot_id();
            if self.swap(&t, snapshot).await? {
                return Ok(Replaced {
                    snapshot: id,
                    conflicts,
                });
            }
            conflicts += 1;
            if conflicts >= 100 {
                bail!(
                    "{}: the table moved on 100 times while compacting it",
                    self.name()
                );
            }
        }
    }

    /// Writes the manifest and manifest list of a replace snapshot on `t`, and returns the
    /// snapshot (not yet committed).
    async fn write_replace(
        &self,
        t: &Table,
        removed: &HashSet<String>,
        added: &[DataFile],
    ) -> anyhow::Result<Snapshot> {
        let md = t.metadata();
        anyhow::ensure!(
            md.format_version() == FormatVersion::V2,
            "{}: compaction writes format version 2 tables only",
            self.name()
        );
        let live = live(t).await?;
        let gone: Vec<&Live> = live
            .iter()
            .filter(|l| removed.contains(l.file.file_path()))
            .collect();
        if gone.len() != removed.len() {
            bail!(
                "{}: {} of the files to replace are no longer in the current snapshot",
                self.name(),
                removed.len() - gone.len()
            );
        }
        let snapshot_id = loop {
            let id = (rand::random::<u64>() >> 1) as i64;
            if md.snapshot_by_id(id).is_none() {
                break id;
            }
        };
        let seq = md.next_sequence_number();
        let commit = format!("{:032x}", rand::random::<u128>());
        let location = md.location().trim_end_matches('/');
        let spec = md.default_partition_spec().as_ref().clone();
        let schema = md.current_schema().clone();

        // One manifest holds the whole snapshot: the new files, the replaced ones as deleted, and
        // every other live file as existing (keeping the snapshot and sequence numbers it was
        // added with), which also folds the sinks' one-manifest-per-commit into one.
        let manifest_path = format!("{location}/metadata/{commit}-m0.avro");
        let mut w = ManifestWriterBuilder::new(
            t.file_io().new_output(&manifest_path)?,
            Some(snapshot_id),
            schema.clone(),
            spec.clone(),
        )
        .build_v2_data();
        let mut summary = SnapshotSummaryCollector::default();
        for f in added {
            w.add_file(f.clone(), seq)?;
            summary.add_file(f, schema.clone(), std::sync::Arc::new(spec.clone()));
        }
        for l in &live {
            if removed.contains(l.file.file_path()) {
                w.add_delete_file(l.file.clone(), l.sequence_number, l.file_sequence_number)?;
                summary.remove_file(&l.file, schema.clone(), std::sync::Arc::new(spec.clone()));
            } else {
                w.add_existing_file(
                    l.file.clone(),
                    l.snapshot_id,
                    l.sequence_number,
                    l.file_sequence_number,
                )?;
            }
        }
        let manifest = w.write_manifest_file().await?;

        let list_path = format!("{location}/metadata/snap-{snapshot_id}-0-{commit}.avro");
        let mut list = ManifestListWriter::v2(
            t.file_io().new_output(&list_path)?.writer().await?,
            snapshot_id,
            md.current_snapshot_id(),
            seq,
        );
        list.add_manifests(std::iter::once(manifest))?;
        list.close().await?;

        let kept = live
            .iter()
            .filter(|l| !removed.contains(l.file.file_path()))
            .map(|l| &l.file)
            .chain(added.iter());
        let (mut files, mut records, mut bytes) = (0u64, 0u64, 0u64);
        for f in kept {
            files += 1;
            records += f.record_count();
            bytes += f.file_size_in_bytes();
        }
        let mut props = summary.build();
        props.insert("total-data-files".into(), files.to_string());
        props.insert("total-records".into(), records.to_string());
        props.insert("total-files-size".into(), bytes.to_string());
        for k in [
            "total-delete-files",
            "total-position-deletes",
            "total-equality-deletes",
        ] {
            props.insert(k.into(), "0".into());
        }
        props.insert(
            table::offsets_property(&self.topic),
            table::format_offsets(&table::floors(md, &self.topic)),
        );
        props.insert("tickbench.writer".into(), "compact".into());
        Ok(Snapshot::builder()
            .with_manifest_list(list_path)
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(md.current_snapshot_id())
            .with_sequence_number(seq)
            .with_summary(Summary {
                operation: Operation::Replace,
                additional_properties: props,
            })
            .with_schema_id(md.current_schema_id())
            .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
            .build())
    }

    /// Makes `snapshot` the table's current one, if the table is still `t`: writes the next
    /// metadata file and moves the catalog's pointer to it only if it still points at `t`'s.
    /// False when it no longer does (a sink committed since `t` was loaded).
    async fn swap(&self, t: &Table, snapshot: Snapshot) -> anyhow::Result<bool> {
        let id = snapshot.snapshot_id();
        let updates = vec![
            TableUpdate::AddSnapshot { snapshot },
            TableUpdate::SetSnapshotRef {
                ref_name: MAIN_BRANCH.to_string(),
                reference: SnapshotReference::new(id, SnapshotRetention::branch(None, None, None)),
            },
        ];
        if self.kind == CatalogKind::Rest {
            // The catalog writes the metadata file itself: it is sent the change, on the
            // condition that main is still where `t` had it.
            let requirements = vec![
                TableRequirement::UuidMatch {
                    uuid: t.metadata().uuid(),
                },
                TableRequirement::RefSnapshotIdMatch {
                    r#ref: MAIN_BRANCH.to_string(),
                    snapshot_id: t.metadata().current_snapshot_id(),
                },
            ];
            let props = super::rest::properties(&self.spec);
            return super::rest::commit(&props, &self.ident, requirements, updates).await;
        }
        let current = t.metadata_location_result()?.to_string();
        let mut b = t.metadata().clone().into_builder(Some(current.clone()));
        for u in updates {
            b = u.apply(b)?;
        }
        let next = b.build()?.metadata;
        let at = MetadataLocation::from_str(&current)?
            .with_next_version()
            .with_new_metadata(&next);
        next.write_to(t.file_io(), &at).await?;
        let at = at.to_string();
        if self.kind == CatalogKind::Sql {
            sql_swap(&self.uri, &self.ident, &current, &at).await
        } else {
            let glue = super::glue::client(&self.uri).await;
            Ok(super::glue::swap(&glue, &self.ident, &current, &at, None, None).await?)
        }
    }

    /// Expires every snapshot before `keep` (an id in the table's main history), and returns
    /// them. `keep` itself and every snapshot after it stay.
    pub async fn expire_before(&self, keep: i64) -> anyhow::Result<Vec<Snapshot>> {
        let t = self.table().await?;
        let md = t.metadata();
        let mut older = Vec::new();
        let mut at = md.snapshot_by_id(keep).and_then(|s| s.parent_snapshot_id());
        while let Some(s) = at.and_then(|id| md.snapshot_by_id(id)) {
            older.push(s.as_ref().clone());
            at = s.parent_snapshot_id();
        }
        if older.is_empty() {
            return Ok(older);
        }
        let tx = Transaction::new(&t);
        let tx = tx
            .expire_snapshots()
            .expire_snapshot_ids(older.iter().map(Snapshot::snapshot_id))
            // By id only: nothing is old enough to go by age.
            .expire_older_than_ms(0)
            .retain_last(1)
            .apply(tx)?;
        tx.commit(self.catalog.as_ref())
            .await
            .with_context(|| format!("expiring snapshots of {}", self.name()))?;
        Ok(older)
    }

    /// The files the `expired` snapshots referenced that no snapshot of the table references now:
    /// their manifest lists, manifests, and data files that no snapshot holds alive, as paths.
    pub async fn unreferenced(&self, expired: &[Snapshot]) -> anyhow::Result<Vec<String>> {
        let t = self.table().await?;
        let mut kept_files = HashSet::new();
        let mut kept_manifests = HashSet::new();
        for s in t.metadata().snapshots() {
            let list = t.manifest_list_reader(s).load().await?;
            for m in list.entries() {
                if kept_manifests.insert(m.manifest_path.clone()) {
                    for e in m.load_manifest(t.file_io()).await?.entries() {
                        // A deleted entry is a tombstone: its file may go.
                        if e.is_alive() {
                            kept_files.insert(e.data_file.file_path().to_string());
                        }
                    }
                }
            }
        }
        let mut out = BTreeSet::new();
        for s in expired {
            out.insert(s.manifest_list().to_string());
            let list = t
                .manifest_list_reader(&std::sync::Arc::new(s.clone()))
                .load()
                .await?;
            for m in list.entries() {
                if kept_manifests.contains(&m.manifest_path) {
                    continue;
                }
                out.insert(m.manifest_path.clone());
                for e in m.load_manifest(t.file_io()).await?.entries() {
                    if !kept_files.contains(e.data_file.file_path()) {
                        out.insert(e.data_file.file_path().to_string());
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// The SQL catalog's commit (the JDBC catalog's table, which PyIceberg's SQL catalog shares):
/// the pointer moves only if it is still where the new metadata was built from.
async fn sql_swap(
    uri: &str,
    ident: &iceberg::TableIdent,
    from: &str,
    to: &str,
) -> anyhow::Result<bool> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(uri)
        .await
        .with_context(|| format!("opening the Iceberg SQL catalog at {uri}"))?;
    let done = sqlx::query(
        "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
         WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
           AND metadata_location = ?",
    )
    .bind(to)
    .bind(from)
    .bind(super::CATALOG_NAME)
    .bind(ident.namespace().join("."))
    .bind(ident.name())
    .bind(from)
    .execute(&mut conn)
    .await
    .with_context(|| format!("committing to the Iceberg SQL catalog at {uri}"))?;
    conn.close().await.ok();
    Ok(done.rows_affected() == 1)
}

/// Groups live files by their partition (the table's partition tuple), for the rewrite.
pub fn by_partition(live: &[Live]) -> HashMap<iceberg::spec::Struct, Vec<&Live>> {
    let mut out: HashMap<_, Vec<&Live>> = HashMap::new();
    for l in live {
        out.entry(l.file.partition().clone()).or_default().push(l);
    }
    out
}
