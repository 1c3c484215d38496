//! Maps invocations to domain calls. One binary, four triggers, told apart by shape:
//!
//! - Secrets Manager rotation `{"Step", "SecretId", "ClientRequestToken"}` → [`rotation`].
//! - DynamoDB Streams `{"Records": [{"eventSource": "aws:dynamodb", …}]}` → reconcile each
//!   changed target; a deleted `USER#` item disables (or drops, per its old `on_remove`)
//!   the user; a failing target reports its first record in `batchItemFailures`.
//! - EventBridge schedule `{"source": "aws.events", …}` → reconcile every target (drift repair).
//! - Direct `{"target": "…", "mode": "plan"|"apply"}` → the report (statements, counts).
//!
//! [`rotation`]: crate::rotation

use crate::desired::{self, DesiredErrors, SslMode};
use crate::executor::Connector;
use crate::reconcile::{self, Mode, ReconcileError, Report};
use crate::rotation::{RotationError, RotationEvent, Rotator, Targets};
use crate::store::{stream_image_to_json, ConfigSource, StoreError};
use ferrolake_shared::secrets::SecretStore;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("the event is neither a rotation step, a DynamoDB stream batch, a schedule nor {{\"target\": …, \"mode\": …}}: {0}")]
    UnknownEvent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Desired(#[from] DesiredErrors),
    #[error("target {target}: {source}")]
    Reconcile {
        target: String,
        #[source]
        source: ReconcileError,
    },
    #[error(transparent)]
    Rotation(#[from] RotationError),
    #[error("{} of {} targets failed: {}", failed.len(), total, failed.join("; "))]
    Targets { failed: Vec<String>, total: usize },
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(err: HandlerError) -> Self {
        let error_type = match &err {
            HandlerError::UnknownEvent(_) => "UnknownEvent",
            HandlerError::Store(_) => "ConfigUnreadable",
            HandlerError::Desired(_) => "InvalidConfig",
            HandlerError::Reconcile { .. } => "ReconcileFailed",
            HandlerError::Rotation(_) => "RotationFailed",
            HandlerError::Targets { .. } => "TargetsFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: ferrolake_shared::telemetry::error_chain(&err),
        }
    }
}

#[derive(Deserialize)]
struct Direct {
    target: String,
    #[serde(default)]
    mode: Mode,
}

/// The function: where config lives, how to connect, where passwords live.
pub struct RedshiftConfig<S, C, P> {
    pub source: S,
    pub connector: C,
    /// Managed passwords and their rotation (the shared secret seam).
    pub secrets: P,
    /// TLS for single-user rotations of secrets that name no ferrolake target.
    pub default_sslmode: SslMode,
}

impl<S: ConfigSource, C: Connector, P: SecretStore> Targets for RedshiftConfig<S, C, P> {
    async fn desired(&self, target: &str) -> Result<desired::DesiredState, String> {
        let items = self.source.items(target).await.map_err(|e| e.to_string())?;
        desired::from_items(target, &items).map_err(|e| e.to_string())
    }
}

/// Which trigger an event comes from (by shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Rotation,
    Stream,
    Schedule,
    Direct,
    Unknown,
}

pub fn classify(event: &Value) -> Trigger {
    if event.get("Step").is_some() && event.get("SecretId").is_some() {
        Trigger::Rotation
    } else if event.get("Records").is_some_and(Value::is_array) {
        Trigger::Stream
    } else if event.get("source").and_then(Value::as_str) == Some("aws.events") {
        Trigger::Schedule
    } else if event.get("target").is_some() {
        Trigger::Direct
    } else {
        Trigger::Unknown
    }
}

impl<S: ConfigSource, C: Connector, P: SecretStore> RedshiftConfig<S, C, P> {
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        match classify(&event) {
            Trigger::Rotation => self.rotation(event).await,
            Trigger::Stream => Ok(self
                .stream(
                    event["Records"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                )
                .await),
            Trigger::Schedule => self.schedule().await,
            Trigger::Direct => {
                let direct: Direct = serde_json::from_value(event)
                    .map_err(|e| HandlerError::UnknownEvent(format!("direct invocation: {e}")))?;
                let report = self.reconcile(&direct.target, direct.mode, &[]).await?;
                Ok(serde_json::to_value(report).unwrap_or_default())
            }
            Trigger::Unknown => Err(HandlerError::UnknownEvent(
                event
                    .as_object()
                    .map(|o| format!("keys {:?}", o.keys().collect::<Vec<_>>()))
                    .unwrap_or_else(|| "not an object".into()),
            )),
        }
    }

    async fn rotation(&self, event: Value) -> Result<Value, HandlerError> {
        let rotation: RotationEvent = serde_json::from_value(event)
            .map_err(|e| HandlerError::UnknownEvent(format!("rotation event: {e}")))?;
        let rotator = Rotator {
            secrets: &self.secrets,
            connector: &self.connector,
            targets: self,
            default_sslmode: self.default_sslmode,
        };
        let outcome = rotator.run(&rotation).await?;
        tracing::info!(secret = %rotation.secret_id, step = %rotation.step, outcome, "rotation step done");
        Ok(json!({"step": rotation.step, "outcome": outcome}))
    }

    /// Reconcile one target; `removed` are items deleted from the table (stream REMOVE of
    /// `USER#…`), turned into `ensure: absent` so their users are disabled, not forgotten.
    pub async fn reconcile(
        &self,
        target: &str,
        mode: Mode,
        removed: &[Value],
    ) -> Result<Report, HandlerError> {
        let mut items = self.source.items(target).await?;
        for old in removed {
            let id = old.get("id").and_then(Value::as_str).unwrap_or_default();
            if id.starts_with("USER#")
                && !items
                    .iter()
                    .any(|i| i.get("id").and_then(Value::as_str) == Some(id))
            {
                let on_remove = old
                    .get("on_remove")
                    .cloned()
                    .unwrap_or_else(|| json!("disable"));
                items.push(
                    json!({"target": target, "id": id, "ensure": "absent", "on_remove": on_remove}),
                );
            }
        }
        let config = desired::from_items(target, &items)?;
        let report = reconcile::reconcile(&self.connector, &self.secrets, &config, mode)
            .await
            .map_err(|source| HandlerError::Reconcile {
                target: target.into(),
                source,
            })?;
        tracing::info!(target_name = target, mode = ?mode, statements = report.statement_count, "reconciled");
        Ok(report)
    }

    async fn schedule(&self) -> Result<Value, HandlerError> {
        let targets = self.source.targets().await?;
        let mut reports = Vec::new();
        let mut failed = Vec::new();
        for target in &targets {
            match self.reconcile(target, Mode::Apply, &[]).await {
                Ok(r) => reports.push(json!({"target": target, "statements": r.statement_count})),
                Err(e) => {
                    tracing::error!(target_name = %target, error = %ferrolake_shared::telemetry::error_chain(&e), "drift repair failed");
                    failed.push(format!("{target}: {e}"));
                }
            }
        }
        if failed.is_empty() {
            Ok(json!({"targets": reports}))
        } else {
            Err(HandlerError::Targets {
                failed,
                total: targets.len(),
            })
        }
    }

    /// One reconcile per changed target; a failed target reports its first record so the
    /// stream retries from there (earlier targets' records are done).
    async fn stream(&self, records: &[Value]) -> Value {
        let mut targets: BTreeMap<String, (String, Vec<Value>)> = BTreeMap::new();
        let mut failures = Vec::new();
        for record in records {
            let sequence = record["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let Some(target) = record["dynamodb"]["Keys"]["target"]["S"].as_str() else {
                tracing::error!(sequence = %sequence, "stream record without a target key; skipped (not a config table record)");
                continue;
            };
            let entry = targets
                .entry(target.to_string())
                .or_insert_with(|| (sequence.clone(), Vec::new()));
            if record["eventName"] == "REMOVE" {
                entry
                    .1
                    .push(stream_image_to_json(&record["dynamodb"]["OldImage"]));
            }
        }
        for (target, (first_sequence, removed)) in targets {
            if let Err(e) = self.reconcile(&target, Mode::Apply, &removed).await {
                tracing::error!(target_name = %target, error = %ferrolake_shared::telemetry::error_chain(&e), "reconcile failed; the stream will retry from its first record");
                failures.push(json!({"itemIdentifier": first_sequence}));
            }
        }
        json!({"batchItemFailures": failures})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_event_is_recognised() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/redshift-config");
        let expected = [
            ("direct-plan.json", Trigger::Direct),
            ("direct-apply.json", Trigger::Direct),
            ("schedule.json", Trigger::Schedule),
            ("stream-modify-and-remove.json", Trigger::Stream),
            ("rotation-create-secret.json", Trigger::Rotation),
            ("rotation-set-secret.json", Trigger::Rotation),
            ("rotation-test-secret.json", Trigger::Rotation),
            ("rotation-finish-secret.json", Trigger::Rotation),
        ];
        for (file, trigger) in expected {
            let text =
                std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let event: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(classify(&event), trigger, "{file}");
        }
        assert_eq!(classify(&serde_json::json!({"hello": 1})), Trigger::Unknown);
    }
}
