//! Conversions every layer of the UDF framework shares (a leaf: it uses only the error
//! type): the SQL spelling of Arrow types, DATE and TIMESTAMP to and from Arrow's integers,
//! and exact decimals.

use super::UdfError;
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};

/// The SQL spelling of an Arrow type, as Athena users write signatures.
pub fn sql_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 => "varchar".into(),
        DataType::Binary | DataType::LargeBinary => "varbinary".into(),
        DataType::Date32 => "date".into(),
        DataType::Date64 | DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(child) => format!("array({})", sql_name(child.data_type())),
        DataType::Struct(fields) => format!(
            "row({})",
            fields
                .iter()
                .map(|f| format!("{} {}", f.name(), sql_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other} (not an Athena UDF type)"),
    }
}

/// Days between 0001-01-01 (chrono's day 1) and 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

pub(crate) fn date_from_days(days: i32) -> Result<NaiveDate, UdfError> {
    days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .ok_or_else(|| UdfError::Output(format!("date {days} days from 1970 is out of range")))
}

pub(crate) fn days_from_date(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

pub(crate) fn datetime_from(value: i64, unit: TimeUnit) -> Result<NaiveDateTime, UdfError> {
    let dt = match unit {
        TimeUnit::Second => DateTime::from_timestamp(value, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(value),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(value),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(value)),
    };
    dt.map(|d| d.naive_utc())
        .ok_or_else(|| UdfError::Output(format!("timestamp {value} ({unit:?}) is out of range")))
}

pub(crate) fn datetime_to(value: NaiveDateTime, unit: TimeUnit) -> Result<i64, UdfError> {
    let utc = value.and_utc();
    match unit {
        TimeUnit::Second => Some(utc.timestamp()),
        TimeUnit::Millisecond => Some(utc.timestamp_millis()),
        TimeUnit::Microsecond => Some(utc.timestamp_micros()),
        TimeUnit::Nanosecond => utc.timestamp_nanos_opt(),
    }
    .ok_or_else(|| UdfError::Output(format!("timestamp {value} does not fit {unit:?}")))
}

/// An exact decimal: `unscaled × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalValue {
    pub unscaled: i128,
    pub scale: i8,
}

impl DecimalValue {
    pub fn new(unscaled: i128, scale: i8) -> Self {
        Self { unscaled, scale }
    }

    /// The unscaled value at `scale`, rounding half away from zero (Java's HALF_UP) when
    /// digits are dropped; `None` on overflow.
    pub fn rescale(self, scale: i8) -> Option<i128> {
        let diff = i32::from(scale) - i32::from(self.scale);
        if diff >= 0 {
            10i128
                .checked_pow(diff as u32)
                .and_then(|f| self.unscaled.checked_mul(f))
        } else {
            let f = 10i128.checked_pow((-diff) as u32)?;
            let (q, r) = (self.unscaled / f, self.unscaled % f);
            Some(if r.abs() * 2 >= f {
                q + self.unscaled.signum()
            } else {
                q
            })
        }
    }
}

impl std::fmt::Display for DecimalValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.unscaled.unsigned_abs().to_string();
        let sign = if self.unscaled < 0 { "-" } else { "" };
        if self.scale <= 0 {
            return write!(f, "{sign}{digits}{}", "0".repeat((-self.scale) as usize));
        }
        let scale = self.scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

pub(crate) fn fits_precision(unscaled: i128, precision: u8) -> bool {
    10i128
        .checked_pow(u32::from(precision))
        .is_none_or(|limit| unscaled.unsigned_abs() < limit.unsigned_abs())
}
