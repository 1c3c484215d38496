//! Glue (crawlers and the Data Catalog) as the handler needs it: the [`Glue`] port, and
//! [`GlueSdk`], its adapter over the SDK client.

use crate::routing::{Partition, TableRef};
use aws_sdk_glue::types::{PartitionInput, StorageDescriptor};
use ferrolake_shared::aws::{error_code, is_transient, ProvideErrorMetadata, SdkError};
use std::time::SystemTime;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum GlueError {
    #[error("crawler {crawler} is already running")]
    CrawlerRunning { crawler: String },
    #[error("{what} does not exist")]
    NotFound {
        what: String,
        #[source]
        source: BoxError,
    },
    #[error("Glue {operation} on {what} failed transiently ({code})")]
    Transient {
        operation: &'static str,
        what: String,
        code: String,
        #[source]
        source: BoxError,
    },
    #[error("Glue {operation} on {what} failed ({code})")]
    Failed {
        operation: &'static str,
        what: String,
        code: String,
        #[source]
        source: BoxError,
    },
}

impl GlueError {
    pub fn is_transient(&self) -> bool {
        matches!(self, GlueError::Transient { .. })
    }
}

/// Map an SDK error to a [`GlueError`], keeping it as the cause.
pub fn classify<E, R>(operation: &'static str, what: &str, err: SdkError<E, R>) -> GlueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error_code(&err)
        .unwrap_or("no service error code")
        .to_string();
    let what = what.to_string();
    if code == "CrawlerRunningException" {
        return GlueError::CrawlerRunning { crawler: what };
    }
    if code == "EntityNotFoundException" {
        return GlueError::NotFound {
            what,
            source: Box::new(err),
        };
    }
    if is_transient(&err) {
        GlueError::Transient {
            operation,
            what,
            code,
            source: Box::new(err),
        }
    } else {
        GlueError::Failed {
            operation,
            what,
            code,
            source: Box::new(err),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrawlerState {
    Ready,
    Running,
    Stopping,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlerStatus {
    pub state: CrawlerState,
    pub last_crawl_started: Option<SystemTime>,
}

/// What the fast path needs of a table: its partition keys, and the storage settings new
/// partitions copy (adapter-specific, opaque to the handler).
#[derive(Debug, Clone, Default)]
pub struct TableLayout {
    pub partition_keys: Vec<String>,
    pub storage_template: Option<StorageDescriptor>,
}

/// The Glue operations crawler-trigger uses.
#[allow(async_fn_in_trait)]
pub trait Glue {
    async fn start_crawler(&self, crawler: &str) -> Result<(), GlueError>;
    async fn crawler_status(&self, crawler: &str) -> Result<CrawlerStatus, GlueError>;
    async fn table_layout(&self, table: &TableRef) -> Result<TableLayout, GlueError>;
    /// Create partitions (at most 100); one result per input, in order.
    async fn create_partitions(
        &self,
        table: &TableRef,
        layout: &TableLayout,
        partitions: &[Partition],
    ) -> Result<Vec<PartitionOutcome>, GlueError>;
}

/// What BatchCreatePartition did with one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionOutcome {
    Created,
    /// `AlreadyExistsException`: as good as created.
    AlreadyExisted,
    Failed(String),
}

/// BatchCreatePartition's per-call limit.
pub const MAX_PARTITIONS_PER_CALL: usize = 100;

pub struct GlueSdk {
    glue: aws_sdk_glue::Client,
}

impl GlueSdk {
    pub fn new(glue: aws_sdk_glue::Client) -> Self {
        Self { glue }
    }
}

impl Glue for GlueSdk {
    async fn start_crawler(&self, crawler: &str) -> Result<(), GlueError> {
        self.glue
            .start_crawler()
            .name(crawler)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("StartCrawler", &format!("crawler {crawler}"), e))
    }

    async fn crawler_status(&self, crawler: &str) -> Result<CrawlerStatus, GlueError> {
        let out = self
            .glue
            .get_crawler()
            .name(crawler)
            .send()
            .await
            .map_err(|e| classify("GetCrawler", &format!("crawler {crawler}"), e))?;
        let crawler = out
            .crawler
            .unwrap_or_else(|| aws_sdk_glue::types::Crawler::builder().build());
        use aws_sdk_glue::types::CrawlerState as Glue;
        let state = match crawler.state() {
            Some(Glue::Ready) => CrawlerState::Ready,
            Some(Glue::Running) => CrawlerState::Running,
            Some(Glue::Stopping) => CrawlerState::Stopping,
            _ => CrawlerState::Other,
        };
        let last_crawl_started = crawler
            .last_crawl()
            .and_then(|l| l.start_time())
            .and_then(|t| SystemTime::try_from(*t).ok());
        Ok(CrawlerStatus {
            state,
            last_crawl_started,
        })
    }

    async fn table_layout(&self, table: &TableRef) -> Result<TableLayout, GlueError> {
        let out = self
            .glue
            .get_table()
            .database_name(&table.database)
            .name(&table.table)
            .send()
            .await
            .map_err(|e| classify("GetTable", &format!("table {table}"), e))?;
        let glue_table = out.table;
        Ok(TableLayout {
            partition_keys: glue_table
                .as_ref()
                .map(|t| {
                    t.partition_keys()
                        .iter()
                        .map(|c| c.name().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            storage_template: glue_table.and_then(|t| t.storage_descriptor),
        })
    }

    async fn create_partitions(
        &self,
        table: &TableRef,
        layout: &TableLayout,
        partitions: &[Partition],
    ) -> Result<Vec<PartitionOutcome>, GlueError> {
        let inputs = partitions.iter().map(|p| {
            let mut storage = layout
                .storage_template
                .clone()
                .unwrap_or_else(|| StorageDescriptor::builder().build());
            storage.location = Some(p.location.clone());
            PartitionInput::builder()
                .set_values(Some(p.values.clone()))
                .storage_descriptor(storage)
                .build()
        });
        let out = self
            .glue
            .batch_create_partition()
            .database_name(&table.database)
            .table_name(&table.table)
            .set_partition_input_list(Some(inputs.collect()))
            .send()
            .await
            .map_err(|e| classify("BatchCreatePartition", &format!("table {table}"), e))?;
        let mut results = vec![PartitionOutcome::Created; partitions.len()];
        for error in out.errors() {
            let detail = error.error_detail();
            let code = detail
                .and_then(|d| d.error_code())
                .unwrap_or("UnknownError");
            let message = detail.and_then(|d| d.error_message()).unwrap_or("");
            if let Some(i) = partitions
                .iter()
                .position(|p| p.values.as_slice() == error.partition_values())
            {
                results[i] = if code == "AlreadyExistsException" {
                    PartitionOutcome::AlreadyExisted
                } else {
                    PartitionOutcome::Failed(format!("{code}: {message}"))
                };
            }
        }
        Ok(results)
    }
}
