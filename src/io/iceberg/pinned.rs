//! A catalog that shows a transaction the table as it was when the sink checked its offsets.
//!
//! iceberg-rust's `Transaction::commit` loads the table again before it applies its actions, and
//! applies them to whatever it finds. The sink must commit only onto the snapshot whose offsets it
//! checked (another sink may have committed the same Kafka partition meanwhile). Pinned hands the
//! transaction that snapshot once; the catalog's own compare-and-set (its requirement that `main`
//! is still that snapshot) then either lands the commit on it or refuses it, and a second load
//! (a retry onto a newer table) is refused here, so the sink checks again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit, TableCreation,
    TableIdent,
};

#[derive(Debug)]
pub struct Pinned<'a> {
    pub inner: &'a dyn Catalog,
    pub table: Table,
    pub loaded: AtomicBool,
}

/// What a pinned catalog answers when the transaction wants a newer table.
pub const MOVED: &str = "the table moved on since its offsets were checked";

#[async_trait::async_trait]
impl Catalog for Pinned<'_> {
    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        if table == self.table.identifier() && !self.loaded.swap(true, Ordering::SeqCst) {
            return Ok(self.table.clone());
        }
        Err(Error::new(ErrorKind::CatalogCommitConflicts, MOVED).with_retryable(false))
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        self.inner.update_table(commit).await
    }

    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        self.inner.create_table(namespace, creation).await
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.drop_table(table).await
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.purge_table(table).await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.inner.table_exists(table).await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.inner.rename_table(src, dest).await
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
}
