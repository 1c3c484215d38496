//! The UDF framework: typed arguments and results over Arrow arrays, and a registry that
//! checks each request's signature before running anything.
//!
//! A UDF is a plain Rust function of `Option<T>` arguments, registered in one line:
//!
//! ```text
//! fn shout(text: Option<&str>) -> Option<String> { text.map(str::to_uppercase) }
//! registry.scalar1::<Varchar, Varchar, _, _>("shout", shout);
//! ```
//!
//! The type parameters are SQL types ([`types`]); the registry turns the function into
//! one monomorphised loop over the downcast Arrow columns — no per-row dynamic dispatch,
//! no JSON per row. A function returns `Option<T>` or `Result<Option<T>, E>`; an `Err`
//! fails the call with the row number and the error. ("Scalar" means one thing here: a
//! scalar UDF, one result per row, which `scalar1`…`scalar4` register.)
//!
//! Modules, each using only those listed before it:
//!
//! - [`convert`]: the SQL spelling of Arrow types, DATE/TIMESTAMP ↔ Arrow integers, exact
//!   decimals ([`DecimalValue`]).
//! - [`value`]: dynamically typed values for ROW fields ([`AnyValue`], [`RowValue`]) read
//!   from and written to any supported Arrow array.
//! - [`types`]: the SQL types of signatures ([`SqlArg`]/[`SqlRet`] per type).

pub mod convert;
pub mod types;
pub mod value;

use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Arc;

pub use convert::DecimalValue;
pub use types::{
    ArrayOf, Bigint, Boolean, Date, Decimal, Double, Integer, Real, Row, RowRef, Secret, SecretRef,
    Smallint, Timestamp, Tinyint, Varbinary, Varchar,
};
pub use value::{AnyValue, RowValue};

/// Secret strings fetched for one call, by secret name.
pub type Secrets = HashMap<String, Arc<str>>;

type BoxError = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum UdfError {
    #[error("{method} failed on row {row}: {source}")]
    Row {
        method: &'static str,
        row: usize,
        #[source]
        source: BoxError,
    },
    #[error("argument {index} is not a {expected} column")]
    ArgumentArray { index: usize, expected: String },
    #[error("the result does not fit the declared return type: {0}")]
    Output(String),
}

/// An SQL type a UDF argument can have: how to recognise it in the request's Arrow schema
/// and how to read one row.
pub trait SqlArg: 'static {
    /// The downcast column, borrowed from the request's batch.
    type Column<'a>;
    /// What the UDF receives for one non-NULL row.
    type Value<'a>;
    /// Arguments whose values are Secrets Manager secret names (fetched before the loop).
    const SECRET: bool = false;
    fn accepts(data_type: &DataType) -> bool;
    fn sql_name() -> String;
    fn column<'a>(array: &'a ArrayRef, secrets: &'a Secrets) -> Result<Self::Column<'a>, UdfError>;
    fn value<'a>(
        column: &Self::Column<'a>,
        row: usize,
    ) -> Result<Option<Self::Value<'a>>, UdfError>;
}

/// An SQL type a UDF can return: how to build a column typed exactly as `outputSchema`.
pub trait SqlRet: 'static {
    type Value;
    type Builder;
    fn accepts(data_type: &DataType) -> bool;
    fn sql_name() -> String;
    fn builder(field: &Field, rows: usize) -> Result<Self::Builder, UdfError>;
    fn append(builder: &mut Self::Builder, value: Option<Self::Value>) -> Result<(), UdfError>;
    fn finish(builder: Self::Builder, field: &Field) -> Result<ArrayRef, UdfError>;
}

/// What a UDF may return for one row: `Option<T>`, or `Result<Option<T>, E>`.
pub trait UdfOutput<V> {
    fn into_result(self) -> Result<Option<V>, BoxError>;
}

impl<V> UdfOutput<V> for Option<V> {
    #[inline]
    fn into_result(self) -> Result<Option<V>, BoxError> {
        Ok(self)
    }
}

impl<V, E: StdError + Send + Sync + 'static> UdfOutput<V> for Result<Option<V>, E> {
    #[inline]
    fn into_result(self) -> Result<Option<V>, BoxError> {
        self.map_err(|e| Box::new(e) as BoxError)
    }
}

/// One SQL type in a signature.
#[derive(Clone, Copy)]
pub struct TypeSpec {
    accepts: fn(&DataType) -> bool,
    name: fn() -> String,
    secret: bool,
}

impl TypeSpec {
    fn arg<A: SqlArg>() -> Self {
        Self {
            accepts: A::accepts,
            name: A::sql_name,
            secret: A::SECRET,
        }
    }
    fn ret<R: SqlRet>() -> Self {
        Self {
            accepts: R::accepts,
            name: R::sql_name,
            secret: false,
        }
    }
}

type Run = Box<dyn Fn(&[ArrayRef], &Field, &Secrets) -> Result<ArrayRef, UdfError> + Send + Sync>;

/// A registered UDF: its SQL signature and its vectorised body.
pub struct Udf {
    pub name: &'static str,
    args: Vec<TypeSpec>,
    ret: TypeSpec,
    run: Run,
}

impl std::fmt::Debug for Udf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.signature())
    }
}

impl Udf {
    /// `name(type, ...) -> type`, as an Athena user writes it.
    pub fn signature(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|a| (a.name)()).collect();
        format!(
            "{}({}) -> {}",
            self.name,
            args.join(", "),
            (self.ret.name)()
        )
    }

    fn matches(&self, args: &[&DataType], output: &DataType) -> bool {
        self.args.len() == args.len()
            && self
                .args
                .iter()
                .zip(args)
                .all(|(spec, dt)| (spec.accepts)(dt))
            && (self.ret.accepts)(output)
    }

    /// Positions of arguments that name secrets.
    pub fn secret_args(&self) -> impl Iterator<Item = usize> + '_ {
        self.args
            .iter()
            .enumerate()
            .filter(|(_, a)| a.secret)
            .map(|(i, _)| i)
    }

    /// Run over whole columns; `secrets` holds every secret the secret columns name.
    pub fn run(
        &self,
        columns: &[ArrayRef],
        output: &Field,
        secrets: &Secrets,
    ) -> Result<ArrayRef, UdfError> {
        (self.run)(columns, output, secrets)
    }

    /// [`Udf::run`] over up to `threads` contiguous row ranges at once (Lambda gives up to
    /// 6 vCPUs), concatenated in order; batches under [`MIN_ROWS_PER_THREAD`] rows per
    /// thread run on the caller's thread. A failing row is reported with its row number
    /// in the whole batch; a panic in a worker is re-raised on the caller's thread.
    pub fn run_split(
        &self,
        columns: &[ArrayRef],
        output: &Field,
        secrets: &Secrets,
        threads: usize,
    ) -> Result<ArrayRef, UdfError> {
        let rows = columns.first().map_or(0, |c| c.len());
        let parts = threads.min(rows / MIN_ROWS_PER_THREAD).max(1);
        if parts == 1 {
            return self.run(columns, output, secrets);
        }
        let per_part = rows.div_ceil(parts);
        let results: Vec<Result<ArrayRef, UdfError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..parts)
                .map(|part| {
                    let offset = part * per_part;
                    let len = per_part.min(rows - offset);
                    let slice: Vec<ArrayRef> =
                        columns.iter().map(|c| c.slice(offset, len)).collect();
                    scope.spawn(move || {
                        self.run(&slice, output, secrets)
                            .map_err(|e| e.shifted_by(offset))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let parts = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&dyn arrow_array::Array> = parts.iter().map(|a| a.as_ref()).collect();
        arrow_select::concat::concat(&refs).map_err(|e| UdfError::Output(e.to_string()))
    }
}

/// Below this many rows per thread, splitting a batch costs more than it saves.
pub const MIN_ROWS_PER_THREAD: usize = 4096;

impl UdfError {
    /// The same error for a row range starting at `offset` of the whole batch.
    fn shifted_by(self, offset: usize) -> Self {
        match self {
            UdfError::Row {
                method,
                row,
                source,
            } => UdfError::Row {
                method,
                row: row + offset,
                source,
            },
            other => other,
        }
    }
}

/// Why a request's method and types did not resolve to a UDF.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no UDF named {method:?}; this Lambda has: {}", available.join(", "))]
    UnknownMethod {
        method: String,
        available: Vec<String>,
    },
    #[error("{} expected, got {got}", expected.join(" or "))]
    SignatureMismatch { expected: Vec<String>, got: String },
    #[error("{method}() was called with no arguments; Athena UDFs need at least one (declare one and ignore it)")]
    NoArguments { method: String },
}

#[derive(Default)]
pub struct Registry {
    udfs: Vec<Udf>,
}

macro_rules! scalar_fn {
    ($(#[$doc:meta])* $method:ident; $($A:ident $a:ident $c:ident),+) => {
        $(#[$doc])*
        pub fn $method<$($A: SqlArg,)+ R: SqlRet, O, F>(
            &mut self,
            name: &'static str,
            f: F,
        ) -> &mut Self
        where
            F: for<'a> Fn($(Option<$A::Value<'a>>),+) -> O + Send + Sync + 'static,
            O: UdfOutput<R::Value>,
        {
            let run = move |columns: &[ArrayRef], output: &Field, secrets: &Secrets| {
                let mut next = columns.iter().enumerate();
                $(
                    let $c = match next.next() {
                        Some((_, array)) => $A::column(array, secrets)?,
                        None => return Err(UdfError::ArgumentArray {
                            index: columns.len(),
                            expected: $A::sql_name(),
                        }),
                    };
                )+
                let rows = columns.first().map_or(0, |c| c.len());
                let mut builder = R::builder(output, rows)?;
                for row in 0..rows {
                    $(let $a = $A::value(&$c, row)?;)+
                    let value = f($($a),+)
                        .into_result()
                        .map_err(|source| UdfError::Row { method: name, row, source })?;
                    R::append(&mut builder, value)?;
                }
                R::finish(builder, output)
            };
            self.udfs.push(Udf {
                name,
                args: vec![$(TypeSpec::arg::<$A>()),+],
                ret: TypeSpec::ret::<R>(),
                run: Box::new(run),
            });
            self
        }
    };
}

impl Registry {
    scalar_fn!(
        /// Register a one-argument UDF.
        scalar1; A a ca);
    scalar_fn!(
        /// Register a two-argument UDF.
        scalar2; A a ca, B b cb);
    scalar_fn!(
        /// Register a three-argument UDF.
        scalar3; A a ca, B b cb, C c cc);
    scalar_fn!(
        /// Register a four-argument UDF.
        scalar4; A a ca, B b cb, C c cc, D d cd);

    /// Every registered signature, sorted.
    pub fn signatures(&self) -> Vec<String> {
        let mut all: Vec<String> = self.udfs.iter().map(Udf::signature).collect();
        all.sort();
        all
    }

    /// Find the UDF for `method` (case-insensitive) whose signature accepts the request's
    /// argument types and output type. Overloads are tried in registration order.
    pub fn resolve(
        &self,
        method: &str,
        args: &[&DataType],
        output: &DataType,
    ) -> Result<&Udf, ResolveError> {
        let candidates: Vec<&Udf> = self
            .udfs
            .iter()
            .filter(|u| u.name.eq_ignore_ascii_case(method))
            .collect();
        if candidates.is_empty() {
            let mut available: Vec<String> = self.udfs.iter().map(|u| u.name.into()).collect();
            available.sort();
            available.dedup();
            return Err(ResolveError::UnknownMethod {
                method: method.into(),
                available,
            });
        }
        if args.is_empty() {
            return Err(ResolveError::NoArguments {
                method: method.into(),
            });
        }
        candidates
            .iter()
            .find(|u| u.matches(args, output))
            .copied()
            .ok_or_else(|| ResolveError::SignatureMismatch {
                expected: candidates.iter().map(|u| u.signature()).collect(),
                got: format!(
                    "{}({}) -> {}",
                    candidates[0].name,
                    args.iter()
                        .map(|dt| convert::sql_name(dt))
                        .collect::<Vec<_>>()
                        .join(", "),
                    convert::sql_name(output)
                ),
            })
    }
}

#[cfg(test)]
mod tests;
