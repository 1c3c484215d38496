//! Maps one Athena invocation to domain calls: parse the request, resolve the UDF against
//! the request's types, decode the Arrow batch, fetch the secrets it names, run the UDF
//! over whole columns, encode the result, and refuse a response Lambda would drop.

use crate::ipc::{self, IpcError};
use crate::protocol::{self, PingResponse, Request, RequestError, UdfRequest, UdfResponse};
use crate::udf::{Registry, ResolveError, Secrets, UdfError};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use ferrolake_shared::batch::catch_panic_sync;
use ferrolake_shared::secrets::{SecretCache, SecretError, SecretSource};
use ferrolake_shared::telemetry::Metrics;
use serde_json::value::RawValue;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Lambda's synchronous response limit (bytes).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// How long a secret is reused, as athena-udfs' `CachableSecretsManager` does.
pub const SECRET_TTL: Duration = Duration::from_secs(60);

/// A failed invocation. Athena shows `errorType` and `errorMessage` to the user, so each
/// variant is one errorType and each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AthenaError {
    #[error(transparent)]
    InvalidRequest(#[from] RequestError),
    #[error("outputSchema has {0} fields; a UDF returns exactly one column")]
    OutputFields(usize),
    #[error(transparent)]
    MalformedArrow(#[from] IpcError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Udf(#[from] UdfError),
    #[error("{method} panicked: {message}")]
    Panicked { method: String, message: String },
    #[error("{method} returned {got} rows for {expected} input rows")]
    RowCount {
        method: String,
        expected: usize,
        got: usize,
    },
    #[error("the {method} result does not match outputSchema: {source}")]
    OutputSchema {
        method: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("the {method} response for {rows} rows would be {bytes} bytes, over Lambda's {limit}-byte response limit; Athena cannot split UDF results, so query fewer rows per call (e.g. a LIMIT or a narrower WHERE) or return less data per row")]
    ResponseTooLarge {
        method: String,
        rows: usize,
        bytes: usize,
        limit: usize,
    },
}

impl AthenaError {
    /// The `errorType` Athena prints.
    pub fn error_type(&self) -> &'static str {
        match self {
            AthenaError::InvalidRequest(_) | AthenaError::OutputFields(_) => "InvalidRequest",
            AthenaError::MalformedArrow(_) => "MalformedArrow",
            AthenaError::Resolve(ResolveError::UnknownMethod { .. }) => "UnknownMethod",
            AthenaError::Resolve(ResolveError::SignatureMismatch { .. }) => "SignatureMismatch",
            AthenaError::Resolve(ResolveError::NoArguments { .. }) => "NoArguments",
            AthenaError::Secret(_) => "SecretUnavailable",
            AthenaError::Udf(UdfError::Row { .. }) => "UdfFailed",
            AthenaError::Udf(_)
            | AthenaError::RowCount { .. }
            | AthenaError::OutputSchema { .. } => "InvalidResult",
            AthenaError::Panicked { .. } => "UdfPanicked",
            AthenaError::ResponseTooLarge { .. } => "ResponseTooLarge",
        }
    }
}

impl From<AthenaError> for lambda_runtime::Diagnostic {
    fn from(err: AthenaError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: err.error_type().into(),
            error_message: ferrolake_shared::telemetry::error_chain(&err),
        }
    }
}

/// The athena-udf function: the UDF registry and a secret cache, built once per container.
pub struct AthenaUdf<S> {
    registry: Registry,
    secrets: SecretCache<S>,
    response_limit: usize,
    threads: usize,
}

impl<S: SecretSource> AthenaUdf<S> {
    pub fn new(registry: Registry, secrets: S) -> Self {
        Self {
            registry,
            secrets: SecretCache::new(secrets, SECRET_TTL),
            response_limit: MAX_RESPONSE_BYTES,
            threads: 1,
        }
    }

    /// Split large batches over `threads` threads (see [`crate::udf::Udf::run_split`]).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Refuse responses over `bytes` instead of Lambda's limit. Lambda enforces its limit
    /// whatever this says; a larger value is only useful to measure batches Lambda could
    /// not return (benchmarks).
    pub fn with_response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Answer one raw request document with a raw response document.
    pub async fn handle(
        &self,
        request: &RawValue,
        metrics: &Metrics,
    ) -> Result<Box<RawValue>, AthenaError> {
        let json = match protocol::parse_request(request.get())? {
            Request::Ping(ping) => to_json(&PingResponse::to(&ping)),
            Request::Udf(udf) => {
                let (json, rows) = self.call(&udf).await?;
                metrics.count("Rows", rows as u64);
                tracing::info!(method = %udf.method_name, rows, bytes = json.len(), "udf call answered");
                json
            }
        };
        RawValue::from_string(json).map_err(|e| {
            // Our own serialization is valid JSON; this is unreachable in practice.
            AthenaError::InvalidRequest(RequestError::NotJson(e))
        })
    }

    /// Run a UDF request; the response JSON and the row count.
    pub async fn call(&self, request: &UdfRequest) -> Result<(String, usize), AthenaError> {
        let method = request.method_name.as_str();
        let input_schema =
            ipc::decode_schema("inputRecords.schema", &request.input_records.schema)?;
        let output_schema = ipc::decode_schema("outputSchema", request.output_schema.base64())?;
        let [output_field] = output_schema.fields().as_ref() else {
            return Err(AthenaError::OutputFields(output_schema.fields().len()));
        };
        let arg_types: Vec<_> = input_schema
            .fields()
            .iter()
            .map(|f| f.data_type())
            .collect();
        let udf = self
            .registry
            .resolve(method, &arg_types, output_field.data_type())?;
        let batch = ipc::decode_batch(
            "inputRecords.records",
            &request.input_records.records,
            Arc::new(input_schema.clone()),
        )?;
        let rows = batch.num_rows();
        let secrets = self
            .fetch_secrets(udf.secret_args(), batch.columns())
            .await?;
        let result = catch_panic_sync(|| {
            udf.run_split(batch.columns(), output_field, &secrets, self.threads)
        })
        .map_err(|message| AthenaError::Panicked {
            method: method.to_string(),
            message,
        })??;
        if result.len() != rows {
            return Err(AthenaError::RowCount {
                method: method.into(),
                expected: rows,
                got: result.len(),
            });
        }
        let records = if rows == 0 {
            String::new()
        } else {
            let out = RecordBatch::try_new(Arc::new(output_schema.clone()), vec![result]).map_err(
                |source| AthenaError::OutputSchema {
                    method: method.into(),
                    source,
                },
            )?;
            let bytes = ipc::encode_batch(&out)?;
            // Base64 and JSON framing; fail before building a string Lambda would refuse.
            let estimate = bytes.len().div_ceil(3) * 4;
            if estimate > self.response_limit {
                return Err(AthenaError::ResponseTooLarge {
                    method: method.into(),
                    rows,
                    bytes: estimate + request.output_schema.base64().len(),
                    limit: self.response_limit,
                });
            }
            ipc::to_base64(&bytes)
        };
        // The response schema is the request's outputSchema, verbatim: exactly what Athena declared.
        let json = to_json(&UdfResponse::new(
            method,
            request.output_schema.base64(),
            &records,
        ));
        if json.len() > self.response_limit {
            return Err(AthenaError::ResponseTooLarge {
                method: method.into(),
                rows,
                bytes: json.len(),
                limit: self.response_limit,
            });
        }
        Ok((json, rows))
    }

    /// Fetch every secret named in the secret columns, for rows whose other arguments are
    /// all non-NULL (as athena-udfs checks the value before looking the secret up).
    async fn fetch_secrets(
        &self,
        secret_args: impl Iterator<Item = usize>,
        columns: &[ArrayRef],
    ) -> Result<Secrets, AthenaError> {
        let mut names = BTreeSet::new();
        for index in secret_args {
            let Some(column) = columns.get(index) else {
                continue;
            };
            let Some(text) = column.as_any().downcast_ref::<StringArray>() else {
                continue;
            };
            for row in 0..text.len() {
                let others_present = columns
                    .iter()
                    .enumerate()
                    .all(|(i, c)| i == index || c.is_valid(row));
                if text.is_valid(row) && others_present {
                    names.insert(text.value(row));
                }
            }
        }
        let mut secrets = Secrets::new();
        for name in names {
            let value = self.secrets.get(name).await?;
            secrets.insert(name.to_string(), value);
        }
        Ok(secrets)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our response types are plain structs of strings and numbers.
    serde_json::to_string(value).unwrap_or_else(|e| unreachable!("response serialization: {e}"))
}

/// The Lambda process around a registry: telemetry and the Secrets Manager client (built
/// once), then the runtime loop. `main` serves the library's registry with the settings it
/// read; test binaries serve it with extra UDFs through the same path.
pub async fn serve(
    function_name: &'static str,
    registry: crate::udf::Registry,
    config: crate::config::Config,
) -> Result<(), lambda_runtime::Error> {
    ferrolake_shared::telemetry::init(function_name);
    let sdk = ferrolake_shared::aws::load_config().await?;
    let secrets = ferrolake_shared::secrets::SecretsManager::lazy(&sdk);
    let function = AthenaUdf::new(registry, secrets).with_threads(config.threads);
    let function = &function;
    ferrolake_shared::telemetry::run_runtime_fallible(
        function_name,
        |event: lambda_runtime::LambdaEvent<Box<serde_json::value::RawValue>>, metrics| async move {
            function.handle(&event.payload, &metrics).await
        },
    )
    .await
}

#[cfg(test)]
mod tests;
