//! `[sink.iceberg]`: with `sink.format = "iceberg"`, the Iceberg table the sink's Parquet data
//! files are committed to, the catalog that holds it, and how often a snapshot is committed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The table and its catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Iceberg {
    /// "sql" (default): the Iceberg SQL catalog (the tables PyIceberg's SqlCatalog and Java's
    /// JdbcCatalog use) on the database at `uri`; "rest": an Iceberg REST catalog at `uri`
    /// (Polaris, Lakekeeper, Nessie, Unity, rustberg...); "glue": AWS Glue, from the AWS config
    /// chain.
    #[serde(default)]
    pub catalog: CatalogKind,
    /// sql: a database URL such as "sqlite:/data/catalog.db" (default: `catalog.db` in the run's
    /// folder, or in `--results-dir` for `tickbench sink`); glue: Glue's endpoint URL, only for a
    /// VPC endpoint or a local Glue (default: AWS's own, for the chain's region); rest: the
    /// catalog's base URL, the part before `/v1/` (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Where new tables go: "s3://bucket/prefix" (default: `s3://<s3.bucket>/<s3.prefix>/warehouse`).
    /// rest: the `warehouse` the catalog is asked for, a URL or the name of one of its warehouses
    /// (default: none, the catalog's own); the catalog chooses the table's location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// The table's namespace (a Glue database).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The table's name (default: `kafka.topic`, with characters other than letters, digits and
    /// `_` as `_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// When a snapshot is committed: a number of closed batches (1, the default: every batch as
    /// soon as it is durable), or an interval such as "10s" (everything durable by then, in one
    /// snapshot). Fewer commits mean fewer snapshots and manifests, and later visibility.
    #[serde(default)]
    pub commit_every: CommitEvery,
    /// rest: further catalog properties, as PyIceberg and Java's RESTCatalog name them (`scope`,
    /// `oauth2-server-uri`, `audience`, `resource`, `prefix`, `header.<name>`...). Never a secret:
    /// a bearer token comes from TICKBENCH_ICEBERG_TOKEN and an OAuth2 client credential
    /// (`client_id:client_secret`) from TICKBENCH_ICEBERG_CREDENTIAL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// The environment variable a REST catalog's bearer token is read from.
pub const TOKEN_ENV: &str = "TICKBENCH_ICEBERG_TOKEN";
/// The environment variable a REST catalog's OAuth2 client credential is read from.
pub const CREDENTIAL_ENV: &str = "TICKBENCH_ICEBERG_CREDENTIAL";

fn default_namespace() -> String {
    "tickbench".into()
}

impl Default for Iceberg {
    fn default() -> Iceberg {
        Iceberg {
            catalog: CatalogKind::default(),
            uri: None,
            warehouse: None,
            namespace: default_namespace(),
            table: None,
            commit_every: CommitEvery::default(),
            properties: BTreeMap::new(),
        }
    }
}

impl Iceberg {
    /// The table's name for `topic` when none is given.
    pub fn table_name(&self, topic: &str) -> String {
        self.table.clone().unwrap_or_else(|| {
            topic
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        })
    }
}

/// Which catalog holds the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogKind {
    #[default]
    Sql,
    Rest,
    Glue,
}

impl CatalogKind {
    pub const NAMES: &'static str = "\"sql\", \"rest\", \"glue\"";

    pub fn name(self) -> &'static str {
        match self {
            CatalogKind::Sql => "sql",
            CatalogKind::Rest => "rest",
            CatalogKind::Glue => "glue",
        }
    }
}

/// How often the sink commits a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitEvery {
    /// Once this many closed batches are durable (and every earlier one of their partitions).
    Batches(u32),
    /// Once this long has passed since the last commit.
    Interval(Duration),
}

impl Default for CommitEvery {
    fn default() -> CommitEvery {
        CommitEvery::Batches(1)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CommitEveryText {
    Batches(u32),
    Interval(#[serde(with = "humantime_serde")] Duration),
}

impl Serialize for CommitEvery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            CommitEvery::Batches(n) => CommitEveryText::Batches(n),
            CommitEvery::Interval(d) => CommitEveryText::Interval(d),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for CommitEvery {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CommitEvery, D::Error> {
        CommitEveryText::deserialize(d)
            .map(|t| match t {
                CommitEveryText::Batches(n) => CommitEvery::Batches(n),
                CommitEveryText::Interval(d) => CommitEvery::Interval(d),
            })
            .map_err(|_| {
                serde::de::Error::custom(
                    "expected a number of batches (such as 4) or an interval (such as \"10s\")",
                )
            })
    }
}
