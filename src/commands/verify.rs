//! `tickbench verify RUN_DIR`: the audit again, later, from a run's results folder: reads back
//! every object (and dead letter) from S3 and checks it against what the run expected
//! (`expected.json`). On the embedded default, the objects are the run folder's `s3/`.

use std::path::Path;

use crate::audit::{self, Audit};
use crate::commands::store::RunStore;
use crate::results::{files, Expectations, RunDir};

/// What verify found, and the text to print.
pub struct Verified {
    pub audit: Audit,
    pub acknowledged: u64,
}

impl Verified {
    pub fn to_text(&self) -> String {
        let a = &self.audit;
        let mut s = format!(
            "{} acknowledged, {} landed, {} lost, {} duplicated; {} objects read back ({} records), {} records in {} dead-letter objects\n",
            self.acknowledged,
            a.landed,
            a.lost,
            a.duplicated,
            a.objects,
            a.records_read,
            a.dead_lettered,
            a.dead_letter_objects
        );
        if a.passed() {
            s.push_str("verify: PASS (every acknowledged tick is in S3 exactly once)\n");
        } else {
            s.push_str("verify: FAIL\n");
            for p in &a.problems {
                s.push_str(&format!("  - {p}\n"));
            }
        }
        s
    }
}

/// Audits a run folder's objects again. `endpoint` overrides the S3 endpoint the run used.
pub async fn verify(dir: &Path, endpoint: Option<&str>) -> anyhow::Result<Verified> {
    let exp: Expectations = RunDir::open(dir).read(files::EXPECTED)?;
    let store = RunStore::open(dir, endpoint).await?;
    let client = &store.client;
    // A run into an Iceberg table is judged by the table's current snapshot.
    let lake = match RunDir::open(dir).scenario() {
        Ok(s) if s.sink.format == crate::model::format::Format::Iceberg => {
            let spec = crate::io::iceberg::TableSpec::of(&s, &exp.bucket, dir);
            Some(crate::io::iceberg::Lake::open(&spec, client.clone()).await?)
        }
        _ => None,
    };
    let audit = audit::run(
        &audit::Location {
            client,
            bucket: &exp.bucket,
            prefix: &exp.prefix,
            topic: &exp.topic,
            progress: true,
            table: lake.as_ref(),
        },
        &exp.expected(),
    )
    .await?;
    store.close().await;
    let produced: u64 = exp.per_symbol.iter().sum();
    Ok(Verified {
        audit,
        acknowledged: produced - exp.failed.len() as u64,
    })
}
