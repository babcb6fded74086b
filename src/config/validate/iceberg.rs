//! `[sink.iceberg]`: the table, its catalog and how often it is committed.

use std::time::Duration;

use super::{check, Violation};

fn is_http(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://")
}

/// `sink.format = "iceberg"` and its `[sink.iceberg]`.
pub(super) fn check_iceberg(sink: &crate::config::Sink) -> Result<(), Violation> {
    use crate::config::{CatalogKind, CommitEvery, TimeSource};
    use crate::model::format::Format;
    use crate::model::layout::TimeGranularity;
    let iceberg = sink.format == Format::Iceberg;
    check(
        iceberg || sink.iceberg.is_none(),
        "sink.iceberg",
        "a table",
        "only with sink.format = \"iceberg\"",
    )?;
    if !iceberg {
        return Ok(());
    }
    check(
        sink.time_partition != TimeGranularity::Minute,
        "sink.time_partition",
        "\"minute\"",
        "for iceberg: \"day\" or \"hour\" (Iceberg's day and hour transforms of ts)",
    )?;
    check(
        sink.time_source == TimeSource::Event,
        "sink.time_source",
        "\"wall\"",
        "for iceberg: \"event\" (the table is partitioned by a transform of the tick's own ts)",
    )?;
    let i = sink.iceberg.clone().unwrap_or_default();
    match (i.catalog, &i.uri) {
        (CatalogKind::Sql, Some(uri)) => check(
            uri.starts_with("sqlite:"),
            "sink.iceberg.uri",
            format!("{uri:?}"),
            "for the sql catalog: a SQLite database URL such as \"sqlite:/data/catalog.db\"",
        )?,
        (CatalogKind::Glue, Some(uri)) => check(
            is_http(uri),
            "sink.iceberg.uri",
            format!("{uri:?}"),
            "for the glue catalog: Glue's endpoint URL (a VPC endpoint, or a local Glue such as moto's); leave it out for AWS's own",
        )?,
        (CatalogKind::Rest, uri) => check(
            uri.as_deref().is_some_and(is_http),
            "sink.iceberg.uri",
            uri.as_deref().map_or("nothing".into(), |u| format!("{u:?}")),
            "for the rest catalog: the catalog's base URL, such as \"https://catalog.example.com/api/catalog\" (the part before /v1/)",
        )?,
        _ => {}
    }
    if let Some(w) = &i.warehouse {
        check(
            (w.starts_with("s3://") && w.len() > 5)
                || (i.catalog == CatalogKind::Rest && !w.is_empty()),
            "sink.iceberg.warehouse",
            format!("{w:?}"),
            if i.catalog == CatalogKind::Rest {
                "the name of one of the catalog's warehouses, or its s3://bucket/prefix"
            } else {
                "an s3://bucket/prefix location in s3.bucket"
            },
        )?;
    }
    check(
        i.properties.is_empty() || i.catalog == CatalogKind::Rest,
        "sink.iceberg.properties",
        "a table",
        "only with catalog = \"rest\"",
    )?;
    for key in i.properties.keys() {
        let k = key.to_ascii_lowercase();
        check(
            !(k == "token"
                || k == "credential"
                || k.contains("secret")
                || k.contains("password")
                || k == "header.authorization"),
            "sink.iceberg.properties",
            format!("{key:?}"),
            &format!(
                "catalog properties that are not secrets: a bearer token comes from {} and an OAuth2 client credential from {}, never from the scenario",
                crate::config::TOKEN_ENV,
                crate::config::CREDENTIAL_ENV
            ),
        )?;
    }
    for (field, name) in [
        ("sink.iceberg.namespace", Some(&i.namespace)),
        ("sink.iceberg.table", i.table.as_ref()),
    ] {
        if let Some(n) = name {
            check(
                !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                field,
                format!("{n:?}"),
                "letters, digits and _ (names Athena and Glue accept)",
            )?;
        }
    }
    match i.commit_every {
        CommitEvery::Batches(n) => check(
            n >= 1,
            "sink.iceberg.commit_every",
            n,
            "a number of batches from 1, or an interval such as \"10s\"",
        ),
        CommitEvery::Interval(d) => check(
            d >= Duration::from_millis(100),
            "sink.iceberg.commit_every",
            humantime::format_duration(d),
            "an interval of at least 100ms, or a number of batches from 1",
        ),
    }
}
