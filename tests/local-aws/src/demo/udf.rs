//! Athena's side of `USING EXTERNAL FUNCTION`: UDF requests over columns of the flattened
//! rows in S3, sent to the athena-udf function, answers decoded and checked.

use super::provision::BoxError;
use super::runtime::{LocalLambda, Outcome};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field};
use athena_udf::fixtures::{decode_response, ping_request, udf_request, Framing};
use hmac::{Hmac, Mac};
use serde_json::Value;
use std::sync::Arc;

/// One UDF applied to one column of the sample rows.
#[derive(Debug, Clone)]
pub struct UdfCall {
    /// As a query would write it, e.g. `mask_email(host_email)`.
    pub expression: String,
    pub inputs: Vec<Option<String>>,
    pub outputs: Vec<Option<String>>,
}

#[derive(Debug, Default)]
pub struct UdfReport {
    pub ping: String,
    pub calls: Vec<UdfCall>,
    /// Round trips and recomputations that did not hold.
    pub failures: Vec<String>,
}

fn column(rows: &[Value], name: &str) -> Vec<Option<String>> {
    rows.iter()
        .map(|r| r.get(name).and_then(Value::as_str).map(String::from))
        .collect()
}

fn strings(values: &[Option<String>]) -> ArrayRef {
    Arc::new(StringArray::from(
        values.iter().map(|v| v.as_deref()).collect::<Vec<_>>(),
    ))
}

/// Render an output cell: strings as is, a ROW as `k=v` pairs.
fn cells(array: &dyn Array) -> Vec<Option<String>> {
    if let Some(s) = array.as_any().downcast_ref::<StringArray>() {
        return (0..s.len())
            .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
            .collect();
    }
    if let Some(row) = array.as_any().downcast_ref::<StructArray>() {
        return (0..row.len())
            .map(|i| {
                (!row.is_null(i)).then(|| {
                    row.fields()
                        .iter()
                        .zip(row.columns())
                        .map(|(f, c)| {
                            let v = cells(c.as_ref())[i]
                                .clone()
                                .unwrap_or_else(|| "NULL".into());
                            format!("{}={v}", f.name())
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
            })
            .collect();
    }
    vec![Some(format!("{:?}", array.data_type())); array.len()]
}

struct Caller<'a> {
    lambda: &'a LocalLambda,
}

impl Caller<'_> {
    async fn call(
        &self,
        method: &str,
        args: &[&[Option<String>]],
        output: DataType,
    ) -> Result<Vec<Option<String>>, BoxError> {
        let columns: Vec<(String, ArrayRef, bool)> = args
            .iter()
            .enumerate()
            .map(|(i, values)| (i.to_string(), strings(values), true))
            .collect();
        let input = RecordBatch::try_from_iter_with_nullable(columns)?;
        let request = udf_request(
            method,
            &input,
            Field::new("out", output, true),
            Framing::Continuation,
        )?;
        match self.lambda.invoke(request.into_bytes()).await? {
            Outcome::Response(body) => {
                let batch = decode_response(std::str::from_utf8(&body)?)?;
                Ok(cells(batch.column(0).as_ref()))
            }
            Outcome::FunctionError(e) => Err(format!("{method}: {}", e["errorMessage"]).into()),
        }
    }
}

/// Ping, then the library's UDFs over `rows` (flattened show records). `pii_secret` and
/// `aes_secret` are secret names in Secrets Manager; `pii_key` is the HMAC key's value, to
/// recompute `hash_pii` independently.
pub async fn run(
    lambda: &LocalLambda,
    rows: &[Value],
    pii_secret: &str,
    pii_key: &str,
    aes_secret: &str,
) -> Result<UdfReport, BoxError> {
    let mut report = UdfReport::default();
    match lambda
        .invoke(ping_request("ferrolake_demo", "demo-query").into_bytes())
        .await?
    {
        Outcome::Response(body) => report.ping = String::from_utf8_lossy(&body).to_string(),
        Outcome::FunctionError(e) => return Err(format!("ping: {e}").into()),
    }
    let caller = Caller { lambda };
    let emails = column(rows, "host_email");
    let titles = column(rows, "title");
    let pii: Vec<Option<String>> = vec![Some(pii_secret.to_string()); rows.len()];
    let aes: Vec<Option<String>> = vec![Some(aes_secret.to_string()); rows.len()];
    let utf8 = || DataType::Utf8;

    let masked = caller.call("mask_email", &[&emails], utf8()).await?;
    report.calls.push(UdfCall {
        expression: "mask_email(host_email)".into(),
        inputs: emails.clone(),
        outputs: masked,
    });

    let hashed = caller.call("hash_pii", &[&emails, &pii], utf8()).await?;
    for (email, hash) in emails.iter().zip(&hashed) {
        if let (Some(email), Some(hash)) = (email, hash) {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(pii_key.as_bytes())
                .map_err(|_| "HMAC key length")?;
            mac.update(email.as_bytes());
            let expected: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if &expected != hash {
                report.failures.push(format!(
                    "hash_pii({email}) = {hash}, HMAC-SHA256 gives {expected}"
                ));
            }
        }
    }
    report.calls.push(UdfCall {
        expression: format!("hash_pii(host_email, '{pii_secret}')"),
        inputs: emails.clone(),
        outputs: hashed,
    });

    let compressed = caller.call("compress", &[&titles], utf8()).await?;
    let restored = caller.call("decompress", &[&compressed], utf8()).await?;
    if restored != titles {
        report
            .failures
            .push("decompress(compress(title)) != title".into());
    }
    report.calls.push(UdfCall {
        expression: "compress(title)".into(),
        inputs: titles.clone(),
        outputs: compressed,
    });

    let sealed = caller.call("encrypt", &[&emails, &aes], utf8()).await?;
    let opened = caller.call("decrypt", &[&sealed, &aes], utf8()).await?;
    if opened != emails {
        report
            .failures
            .push("decrypt(encrypt(host_email)) != host_email".into());
    }
    report.calls.push(UdfCall {
        expression: format!("encrypt(host_email, '{aes_secret}')"),
        inputs: emails.clone(),
        outputs: sealed,
    });

    let descriptions = column(rows, "description");
    let languages = caller
        .call("detect_language", &[&descriptions], utf8())
        .await?;
    report.calls.push(UdfCall {
        expression: "detect_language(description)".into(),
        inputs: descriptions,
        outputs: languages,
    });

    let agents = column(rows, "last_client_user_agent");
    let parsed = caller
        .call(
            "parse_user_agent",
            &[&agents],
            athena_udf::library::text::user_agent_type(),
        )
        .await?;
    report.calls.push(UdfCall {
        expression: "parse_user_agent(last_client_user_agent)".into(),
        inputs: agents,
        outputs: parsed,
    });

    let ips = column(rows, "last_client_ip");
    let anonymized = caller.call("anonymize_ip", &[&ips], utf8()).await?;
    report.calls.push(UdfCall {
        expression: "anonymize_ip(last_client_ip)".into(),
        inputs: ips,
        outputs: anonymized,
    });

    for call in &report.calls {
        if call.outputs.len() != call.inputs.len() {
            report.failures.push(format!(
                "{}: {} rows in, {} out",
                call.expression,
                call.inputs.len(),
                call.outputs.len()
            ));
        }
        if call
            .inputs
            .iter()
            .zip(&call.outputs)
            .any(|(i, o)| i.is_some() && o.is_none())
        {
            report
                .failures
                .push(format!("{}: NULL for a non-NULL input", call.expression));
        }
    }
    Ok(report)
}
