//! The AWS Glue catalog: a table is a Glue table whose `metadata_location` parameter names its
//! current metadata file, moved by UpdateTable at the VersionId it was read at (Glue refuses a
//! stale one), as Iceberg's Java GlueCatalog and PyIceberg's write it, so Athena, EMR and
//! PyIceberg read what tickbench commits.
//!
//! Written here rather than taken from iceberg-catalog-glue 0.10.1: that crate refuses a table
//! with a `timestamptz` column (it has no Glue type for it), and the tick table's `ts` is one.
//! Java and PyIceberg list it as Glue's `timestamp`; so does this. Only what the sink, the audit
//! and compaction call is built; the rest of the trait answers FeatureUnsupported.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_glue::error::{DisplayErrorContext, SdkError};
use aws_sdk_glue::types::{Column, DatabaseInput, StorageDescriptor, TableInput};
use iceberg::io::{FileIO, FileIOBuilder};
use iceberg::spec::{PrimitiveType, TableMetadata, TableMetadataBuilder, Type};
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, MetadataLocation, Namespace, NamespaceIdent, Result, TableCommit,
    TableCreation, TableIdent,
};

pub struct GlueCatalog {
    glue: aws_sdk_glue::Client,
    file_io: FileIO,
    warehouse: String,
}

impl std::fmt::Debug for GlueCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlueCatalog")
            .field("warehouse", &self.warehouse)
            .finish_non_exhaustive()
    }
}

/// A Glue client from the AWS config chain, at `endpoint` when one is given (a VPC endpoint, or
/// a local Glue such as moto's).
pub async fn client(endpoint: &str) -> aws_sdk_glue::Client {
    let mut cfg = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if !endpoint.is_empty() {
        cfg = cfg.endpoint_url(endpoint);
    }
    aws_sdk_glue::Client::new(&cfg.load().await)
}

fn glue_err<E, R>(what: String, e: SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::new(
        ErrorKind::Unexpected,
        format!("Glue {what}: {}", DisplayErrorContext(&e)),
    )
}

fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::FeatureUnsupported,
        format!("tickbench's Glue catalog does not {what}"),
    )
}

/// Glue databases are one level deep.
fn database(ns: &NamespaceIdent) -> Result<String> {
    match ns.as_ref().as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::new(
            ErrorKind::DataInvalid,
            format!("a Glue database is one name, not {}", ns.join(".")),
        )),
    }
}

/// Glue's name for an Iceberg column type, as Java's IcebergToGlueConverter gives it.
fn glue_type(t: &Type) -> String {
    match t {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => "boolean".into(),
            PrimitiveType::Int => "int".into(),
            PrimitiveType::Long => "bigint".into(),
            PrimitiveType::Float => "float".into(),
            PrimitiveType::Double => "double".into(),
            PrimitiveType::Date => "date".into(),
            PrimitiveType::Timestamp
            | PrimitiveType::Timestamptz
            | PrimitiveType::TimestampNs
            | PrimitiveType::TimestamptzNs => "timestamp".into(),
            PrimitiveType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            PrimitiveType::Binary | PrimitiveType::Fixed(_) => "binary".into(),
            PrimitiveType::String | PrimitiveType::Uuid | PrimitiveType::Time => "string".into(),
        },
        // The tick table is flat; a nested column is listed by Glue as text, readers use the
        // Iceberg schema.
        _ => "string".into(),
    }
}

/// The Glue table for `metadata` at `metadata_location` (replacing `previous`).
fn table_input(
    name: &str,
    metadata: &TableMetadata,
    metadata_location: &str,
    previous: Option<&str>,
    mut parameters: HashMap<String, String>,
) -> Result<TableInput> {
    let columns = metadata
        .current_schema()
        .as_struct()
        .fields()
        .iter()
        .map(|f| {
            Column::builder()
                .name(&f.name)
                .r#type(glue_type(&f.field_type))
                .set_comment(f.doc.clone())
                .build()
                .map_err(|e| Error::new(ErrorKind::DataInvalid, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    parameters.insert("table_type".into(), "ICEBERG".into());
    parameters.insert("metadata_location".into(), metadata_location.into());
    match previous {
        Some(p) => parameters.insert("previous_metadata_location".into(), p.into()),
        None => parameters.remove("previous_metadata_location"),
    };
    TableInput::builder()
        .name(name)
        .table_type("EXTERNAL_TABLE")
        .storage_descriptor(
            StorageDescriptor::builder()
                .location(metadata.location())
                .set_columns(Some(columns))
                .build(),
        )
        .set_parameters(Some(parameters))
        .build()
        .map_err(|e| Error::new(ErrorKind::DataInvalid, e.to_string()))
}

impl GlueCatalog {
    pub async fn new(
        endpoint: &str,
        warehouse: &str,
        storage: Arc<super::storage::S3StorageFactory>,
    ) -> GlueCatalog {
        GlueCatalog {
            glue: self::client(endpoint).await,
            file_io: FileIOBuilder::new(storage).build(),
            warehouse: warehouse.trim_end_matches('/').to_string(),
        }
    }

    /// The table, its metadata file and Glue's version of it.
    async fn load(&self, ident: &TableIdent) -> Result<(Table, Option<String>, Option<String>)> {
        let db = database(ident.namespace())?;
        let got = self
            .glue
            .get_table()
            .database_name(&db)
            .name(ident.name())
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception())
                {
                    Error::new(ErrorKind::TableNotFound, format!("no Glue table {ident}"))
                } else {
                    glue_err(format!("GetTable {ident}"), e)
                }
            })?;
        let t = got
            .table()
            .ok_or_else(|| unsupported("read an empty GetTable"))?;
        let location = t
            .parameters()
            .and_then(|p| p.get("metadata_location"))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::DataInvalid,
                    format!("Glue table {ident} is not an Iceberg table (no metadata_location)"),
                )
            })?
            .clone();
        let metadata = TableMetadata::read_from(&self.file_io, &location).await?;
        let table = Table::builder()
            .file_io(self.file_io.clone())
            .metadata_location(location)
            .metadata(metadata)
            .identifier(ident.clone())
            .runtime(iceberg::Runtime::current())
            .build()?;
        Ok((
            table,
            t.version_id().map(str::to_string),
            t.description().map(str::to_string),
        ))
    }
}

#[async_trait::async_trait]
impl Catalog for GlueCatalog {
    async fn list_namespaces(&self, _: Option<&NamespaceIdent>) -> Result<Vec<NamespaceIdent>> {
        Err(unsupported("list databases"))
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        let db = database(namespace)?;
        let input = DatabaseInput::builder()
            .name(&db)
            .set_parameters(Some(properties.clone()))
            .build()
            .map_err(|e| Error::new(ErrorKind::DataInvalid, e.to_string()))?;
        self.glue
            .create_database()
            .database_input(input)
            .send()
            .await
            .map_err(|e| glue_err(format!("CreateDatabase {db}"), e))?;
        Ok(Namespace::with_properties(namespace.clone(), properties))
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        if self.namespace_exists(namespace).await? {
            Ok(Namespace::new(namespace.clone()))
        } else {
            Err(Error::new(
                ErrorKind::NamespaceNotFound,
                format!("no Glue database {}", namespace.join(".")),
            ))
        }
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        let db = database(namespace)?;
        match self.glue.get_database().name(&db).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(glue_err(format!("GetDatabase {db}"), e)),
        }
    }

    async fn update_namespace(&self, _: &NamespaceIdent, _: HashMap<String, String>) -> Result<()> {
        Err(unsupported("update databases"))
    }

    async fn drop_namespace(&self, _: &NamespaceIdent) -> Result<()> {
        Err(unsupported("drop databases"))
    }

    async fn list_tables(&self, _: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        Err(unsupported("list tables"))
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        let db = database(namespace)?;
        let ident = TableIdent::new(namespace.clone(), creation.name.clone());
        let location = creation
            .location
            .clone()
            .unwrap_or_else(|| format!("{}/{db}/{}", self.warehouse, creation.name));
        let metadata = TableMetadataBuilder::from_table_creation(TableCreation {
            location: Some(location.clone()),
            ..creation
        })?
        .build()?
        .metadata;
        let at = MetadataLocation::new_with_metadata(location, &metadata);
        metadata.write_to(&self.file_io, &at).await?;
        let at = at.to_string();
        let input = table_input(ident.name(), &metadata, &at, None, HashMap::new())?;
        self.glue
            .create_table()
            .database_name(&db)
            .table_input(input)
            .send()
            .await
            .map_err(|e| glue_err(format!("CreateTable {ident}"), e))?;
        Table::builder()
            .file_io(self.file_io.clone())
            .metadata_location(at)
            .metadata(metadata)
            .identifier(ident)
            .runtime(iceberg::Runtime::current())
            .build()
    }

    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        Ok(self.load(table).await?.0)
    }

    async fn drop_table(&self, _: &TableIdent) -> Result<()> {
        Err(unsupported("drop tables"))
    }

    async fn purge_table(&self, _: &TableIdent) -> Result<()> {
        Err(unsupported("purge tables"))
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        match self.load(table).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::TableNotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn rename_table(&self, _: &TableIdent, _: &TableIdent) -> Result<()> {
        Err(unsupported("rename tables"))
    }

    async fn register_table(&self, _: &TableIdent, _: String) -> Result<Table> {
        Err(unsupported("register tables"))
    }

    async fn update_table(&self, mut commit: TableCommit) -> Result<Table> {
        let ident = commit.identifier().clone();
        let (current, version, _) = self.load(&ident).await?;
        let from = current.metadata_location_result()?.to_string();
        // Checked here against what Glue has now, as the crate's catalogs do; Glue's VersionId
        // then refuses the update if another writer moved the table in between.
        let requirements = commit.take_requirements();
        for r in &requirements {
            r.check(Some(current.metadata()))?;
        }
        let mut b = current.metadata().clone().into_builder(Some(from.clone()));
        for u in commit.take_updates() {
            b = u.apply(b)?;
        }
        let next = b.build()?.metadata;
        let at: MetadataLocation = from.parse()?;
        let at = at.with_next_version().with_new_metadata(&next);
        next.write_to(&self.file_io, &at).await?;
        let at = at.to_string();
        if !swap(&self.glue, &ident, &from, &at, version, Some(&next)).await? {
            return Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!("Glue table {ident} changed while committing to it"),
            )
            .with_retryable(true));
        }
        Table::builder()
            .file_io(self.file_io.clone())
            .metadata_location(at)
            .metadata(next)
            .identifier(ident)
            .runtime(iceberg::Runtime::current())
            .build()
    }
}

/// Moves the Glue table's `metadata_location` from `from` to `to`, at Glue's `version` of it
/// (read again when None). False when the table no longer points at `from`, or Glue refused the
/// version (ConcurrentModificationException): another writer came first. With `metadata`, the
/// columns are listed from it; without, Glue's definition is kept as it is.
pub async fn swap(
    glue: &aws_sdk_glue::Client,
    ident: &TableIdent,
    from: &str,
    to: &str,
    version: Option<String>,
    metadata: Option<&TableMetadata>,
) -> Result<bool> {
    let db = database(ident.namespace())?;
    let got = glue
        .get_table()
        .database_name(&db)
        .name(ident.name())
        .send()
        .await
        .map_err(|e| glue_err(format!("GetTable {ident}"), e))?;
    let t = got
        .table()
        .ok_or_else(|| unsupported("read an empty GetTable"))?;
    let params = t.parameters().cloned().unwrap_or_default();
    if params.get("metadata_location").map(String::as_str) != Some(from) {
        return Ok(false);
    }
    let version = version.or_else(|| t.version_id().map(str::to_string));
    let input = match metadata {
        Some(m) => table_input(ident.name(), m, to, Some(from), params)?,
        None => {
            let mut params = params;
            params.insert("metadata_location".into(), to.into());
            params.insert("previous_metadata_location".into(), from.into());
            TableInput::builder()
                .name(ident.name())
                .set_table_type(t.table_type().map(str::to_string))
                .set_storage_descriptor(t.storage_descriptor().cloned())
                .set_parameters(Some(params))
                .build()
                .map_err(|e| Error::new(ErrorKind::DataInvalid, e.to_string()))?
        }
    };
    match glue
        .update_table()
        .database_name(&db)
        .table_input(input)
        .set_version_id(version)
        .skip_archive(true)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_concurrent_modification_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(glue_err(format!("UpdateTable {ident}"), e)),
    }
}
