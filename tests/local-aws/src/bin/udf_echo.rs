//! `ferrolake-udf-echo`: the athena-udf Lambda (the same handler, protocol and IPC code, the
//! same library) with the type-matrix `echo(x) -> x` overloads of
//! `athena_udf::fixtures::register_echo` added — BOOLEAN, TINYINT … DOUBLE, DECIMAL,
//! VARCHAR, VARBINARY, DATE, TIMESTAMP, ARRAY(INTEGER), ARRAY(VARCHAR) and any ROW. No
//! library UDF takes those types, so this is how the Java conformance harness
//! (`tests/java/`) sends every type the Java SDK carries through ferrolake and back. Test
//! only: it is not in template.yaml.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut registry = athena_udf::library::registry();
    athena_udf::fixtures::register_echo(&mut registry);
    let config = athena_udf::config::Config::from_env()?;
    athena_udf::handler::serve("athena-udf-echo", registry, config).await
}
