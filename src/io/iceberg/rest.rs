//! `sink.iceberg.catalog = "rest"`: an Iceberg REST catalog (Polaris, Lakekeeper, Nessie, Unity,
//! rustberg, S3 Tables' endpoint...) through the official client, iceberg-catalog-rest. The catalog
//! writes the table's metadata files itself; tickbench writes the data files and manifests over
//! its own S3 client.
//!
//! The one commit that client cannot send for us is compaction's `replace` snapshot: iceberg-rust
//! 0.10 builds a `TableCommit` only from its own transactions. [`commit`] sends that one as the
//! REST spec's `CommitTableRequest`, with the same configuration, prefix and authentication.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Context};
use iceberg::io::StorageFactory;
use iceberg::{CatalogBuilder, TableIdent, TableRequirement, TableUpdate};
use iceberg_catalog_rest::{CommitTableRequest, RestCatalog, RestCatalogBuilder};
use serde::Deserialize;

use super::TableSpec;
use crate::config::{CREDENTIAL_ENV, TOKEN_ENV};

/// The client's properties: the catalog's URL and warehouse, the scenario's further properties,
/// and the secrets from the environment (never from the scenario, so never in results).
pub fn properties(spec: &TableSpec) -> HashMap<String, String> {
    let mut p: HashMap<String, String> = spec.properties.clone().into_iter().collect();
    p.insert("uri".into(), spec.uri.trim_end_matches('/').to_string());
    if !spec.warehouse.is_empty() {
        p.insert("warehouse".into(), spec.warehouse.clone());
    }
    for (var, key) in [(TOKEN_ENV, "token"), (CREDENTIAL_ENV, "credential")] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            p.insert(key.into(), v);
        }
    }
    p
}

/// The catalog at `spec.uri`, its files over tickbench's storage.
pub async fn catalog(
    spec: &TableSpec,
    factory: Arc<dyn StorageFactory>,
) -> anyhow::Result<RestCatalog> {
    RestCatalogBuilder::default()
        .with_storage_factory(factory)
        .load(super::CATALOG_NAME, properties(spec))
        .await
        .with_context(|| format!("opening the Iceberg REST catalog at {}", spec.uri))
}

/// What `GET /v1/config` answers: properties under and over the client's own.
#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    defaults: HashMap<String, String>,
    #[serde(default)]
    overrides: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

/// Sends one `CommitTableRequest` for `ident`: true when the catalog took it, false when one of
/// `requirements` no longer held (409: another writer committed first).
pub async fn commit(
    props: &HashMap<String, String>,
    ident: &TableIdent,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
) -> anyhow::Result<bool> {
    let http = reqwest::Client::new();
    let uri = props["uri"].clone();
    let token = match (props.get("token"), props.get("credential")) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(c)) => Some(oauth_token(&http, &uri, props, c).await?),
        (None, None) => None,
    };
    let with_auth = |r: reqwest::RequestBuilder| {
        let r = props
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("header.").map(|k| (k, v)))
            .fold(r, |r, (k, v)| r.header(k, v));
        match &token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    };
    let mut config = with_auth(http.get(format!("{uri}/v1/config")));
    if let Some(w) = props.get("warehouse") {
        config = config.query(&[("warehouse", w)]);
    }
    let config: Config = answer(config.send().await, "GET /v1/config")
        .await?
        .json()
        .await
        .context("reading the catalog's /v1/config")?;
    let mut merged = config.defaults;
    merged.extend(props.clone());
    merged.extend(config.overrides);
    let base = merged.get("uri").unwrap_or(&uri).trim_end_matches('/');
    let mut url = format!("{base}/v1");
    if let Some(prefix) = merged.get("prefix").filter(|p| !p.is_empty()) {
        url = format!("{url}/{prefix}");
    }
    let url = format!(
        "{url}/namespaces/{}/tables/{}",
        ident.namespace().to_url_string(),
        ident.name()
    );
    let body = CommitTableRequest {
        identifier: Some(ident.clone()),
        requirements,
        updates,
    };
    let sent = with_auth(http.post(&url).json(&body)).send().await;
    if let Ok(r) = &sent {
        if r.status() == reqwest::StatusCode::CONFLICT {
            return Ok(false);
        }
    }
    answer(sent, "POST (commit)").await?;
    Ok(true)
}

/// OAuth2 client credentials exchanged for a token, as the REST client does.
async fn oauth_token(
    http: &reqwest::Client,
    uri: &str,
    props: &HashMap<String, String>,
    credential: &str,
) -> anyhow::Result<String> {
    let endpoint = props
        .get("oauth2-server-uri")
        .cloned()
        .unwrap_or_else(|| format!("{uri}/v1/oauth/tokens"));
    let (id, secret) = match credential.split_once(':') {
        Some((id, secret)) => (Some(id), secret),
        None => (None, credential),
    };
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_secret", secret),
        (
            "scope",
            props.get("scope").map(String::as_str).unwrap_or("catalog"),
        ),
    ];
    if let Some(id) = id {
        form.push(("client_id", id));
    }
    for k in ["audience", "resource"] {
        if let Some(v) = props.get(k) {
            form.push((k, v));
        }
    }
    let t: Token = answer(
        http.post(&endpoint).form(&form).send().await,
        "the OAuth2 token request",
    )
    .await?
    .json()
    .await
    .context("reading the catalog's OAuth2 token")?;
    Ok(t.access_token)
}

/// A response that must be a success: otherwise an error with its status and body (which names
/// no secret: the request's headers are not in it).
async fn answer(
    sent: reqwest::Result<reqwest::Response>,
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    let r = sent.with_context(|| format!("the REST catalog: {what}"))?;
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    bail!("the REST catalog refused {what}: {status}: {body}")
}
