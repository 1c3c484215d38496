//! Dynamically typed values for ROW fields (whose types are only known from the request):
//! [`AnyValue`] and [`RowValue`], read out of any supported Arrow array, and a column of a
//! declared type built from them.

use super::convert::{
    date_from_days, datetime_from, datetime_to, days_from_date, fits_precision, sql_name,
    DecimalValue,
};
use super::UdfError;
use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Date64Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, ListArray, StructArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    Null,
    Boolean(bool),
    Int(i64),
    Float(f64),
    Decimal(DecimalValue),
    Utf8(String),
    Binary(Vec<u8>),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    List(Vec<AnyValue>),
    Row(RowValue),
}

impl AnyValue {
    fn kind(&self) -> &'static str {
        match self {
            AnyValue::Null => "null",
            AnyValue::Boolean(_) => "boolean",
            AnyValue::Int(_) => "integer",
            AnyValue::Float(_) => "double",
            AnyValue::Decimal(_) => "decimal",
            AnyValue::Utf8(_) => "varchar",
            AnyValue::Binary(_) => "varbinary",
            AnyValue::Date(_) => "date",
            AnyValue::Timestamp(_) => "timestamp",
            AnyValue::List(_) => "array",
            AnyValue::Row(_) => "row",
        }
    }
}

impl From<&str> for AnyValue {
    fn from(s: &str) -> Self {
        AnyValue::Utf8(s.to_string())
    }
}
impl From<String> for AnyValue {
    fn from(s: String) -> Self {
        AnyValue::Utf8(s)
    }
}
impl From<i64> for AnyValue {
    fn from(v: i64) -> Self {
        AnyValue::Int(v)
    }
}
impl From<f64> for AnyValue {
    fn from(v: f64) -> Self {
        AnyValue::Float(v)
    }
}
impl From<bool> for AnyValue {
    fn from(v: bool) -> Self {
        AnyValue::Boolean(v)
    }
}
impl<T: Into<AnyValue>> From<Option<T>> for AnyValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(AnyValue::Null, Into::into)
    }
}

/// A ROW result: named field values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowValue(pub Vec<(String, AnyValue)>);

impl RowValue {
    pub fn with(mut self, name: &str, value: impl Into<AnyValue>) -> Self {
        self.0.push((name.to_string(), value.into()));
        self
    }
}

fn unsupported(data_type: &DataType) -> UdfError {
    UdfError::Output(format!("{} is not supported", sql_name(data_type)))
}

/// The value at `row` of `array`.
pub fn value_at(array: &ArrayRef, row: usize) -> Result<AnyValue, UdfError> {
    if array.is_null(row) {
        return Ok(AnyValue::Null);
    }
    Ok(match array.data_type() {
        DataType::Boolean => AnyValue::Boolean(array.as_boolean().value(row)),
        DataType::Int8 => AnyValue::Int(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => AnyValue::Int(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => AnyValue::Int(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => AnyValue::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => AnyValue::Float(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => AnyValue::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            let decimals: &Decimal128Array = array.as_primitive();
            AnyValue::Decimal(DecimalValue::new(decimals.value(row), *scale))
        }
        DataType::Utf8 => AnyValue::Utf8(array.as_string::<i32>().value(row).to_string()),
        DataType::Binary => AnyValue::Binary(array.as_binary::<i32>().value(row).to_vec()),
        DataType::Date32 => AnyValue::Date(date_from_days(
            array.as_primitive::<Date32Type>().value(row),
        )?),
        DataType::Date64 => AnyValue::Timestamp(datetime_from(
            array.as_primitive::<Date64Type>().value(row),
            TimeUnit::Millisecond,
        )?),
        DataType::Timestamp(unit, _) => {
            let value = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            AnyValue::Timestamp(datetime_from(value, *unit)?)
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            AnyValue::List(
                (0..items.len())
                    .map(|i| value_at(&items, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        DataType::Struct(_) => AnyValue::Row(row_at(array.as_struct(), row)?),
        other => return Err(unsupported(other)),
    })
}

/// Every field of one row of a struct column, in declaration order.
pub fn row_at(array: &StructArray, row: usize) -> Result<RowValue, UdfError> {
    let mut value = RowValue::default();
    for (field, column) in array.fields().iter().zip(array.columns()) {
        value.0.push((field.name().clone(), value_at(column, row)?));
    }
    Ok(value)
}

/// Build a column typed exactly as `field` from `values`.
pub fn build_array(values: Vec<AnyValue>, field: &Field) -> Result<ArrayRef, UdfError> {
    let mismatch = |value: &AnyValue| {
        UdfError::Output(format!(
            "a {} value cannot be written to {:?} ({})",
            value.kind(),
            field.name(),
            sql_name(field.data_type())
        ))
    };
    macro_rules! ints {
        ($array:ty, $native:ty) => {{
            let typed: Result<$array, UdfError> = values
                .iter()
                .map(|v| match v {
                    AnyValue::Null => Ok(None),
                    AnyValue::Int(i) => <$native>::try_from(*i).map(Some).map_err(|_| {
                        UdfError::Output(format!(
                            "{i} does not fit {}",
                            sql_name(field.data_type())
                        ))
                    }),
                    other => Err(mismatch(other)),
                })
                .collect();
            Arc::new(typed?) as ArrayRef
        }};
    }
    macro_rules! floats {
        ($array:ty, $native:ty) => {{
            let typed: Result<$array, UdfError> = values
                .iter()
                .map(|v| match v {
                    AnyValue::Null => Ok(None),
                    AnyValue::Float(f) => Ok(Some(*f as $native)),
                    AnyValue::Int(i) => Ok(Some(*i as $native)),
                    other => Err(mismatch(other)),
                })
                .collect();
            Arc::new(typed?) as ArrayRef
        }};
    }
    let array: ArrayRef = match field.data_type() {
        DataType::Boolean => {
            let typed: Result<BooleanArray, UdfError> = values
                .iter()
                .map(|v| match v {
                    AnyValue::Null => Ok(None),
                    AnyValue::Boolean(b) => Ok(Some(*b)),
                    other => Err(mismatch(other)),
                })
                .collect();
            Arc::new(typed?)
        }
        DataType::Int8 => ints!(Int8Array, i8),
        DataType::Int16 => ints!(Int16Array, i16),
        DataType::Int32 => ints!(Int32Array, i32),
        DataType::Int64 => ints!(Int64Array, i64),
        DataType::Float32 => floats!(Float32Array, f32),
        DataType::Float64 => floats!(Float64Array, f64),
        DataType::Decimal128(precision, scale) => {
            let typed: Result<Decimal128Array, UdfError> = values
                .iter()
                .map(|v| {
                    let decimal = match v {
                        AnyValue::Null => return Ok(None),
                        AnyValue::Decimal(d) => *d,
                        AnyValue::Int(i) => DecimalValue::new((*i).into(), 0),
                        other => return Err(mismatch(other)),
                    };
                    decimal
                        .rescale(*scale)
                        .filter(|&u| fits_precision(u, *precision))
                        .map(Some)
                        .ok_or_else(|| {
                            UdfError::Output(format!(
                                "{decimal} does not fit decimal({precision},{scale})"
                            ))
                        })
                })
                .collect();
            Arc::new(
                typed?
                    .with_precision_and_scale(*precision, *scale)
                    .map_err(|e| UdfError::Output(e.to_string()))?,
            )
        }
        DataType::Utf8 => {
            let mut builder = StringBuilder::with_capacity(values.len(), values.len() * 16);
            for v in &values {
                match v {
                    AnyValue::Null => builder.append_null(),
                    AnyValue::Utf8(s) => builder.append_value(s),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(builder.finish())
        }
        DataType::Binary => {
            let mut builder = BinaryBuilder::with_capacity(values.len(), values.len() * 16);
            for v in &values {
                match v {
                    AnyValue::Null => builder.append_null(),
                    AnyValue::Binary(b) => builder.append_value(b),
                    AnyValue::Utf8(s) => builder.append_value(s.as_bytes()),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(builder.finish())
        }
        DataType::Date32 => {
            let typed: Result<Date32Array, UdfError> = values
                .iter()
                .map(|v| match v {
                    AnyValue::Null => Ok(None),
                    AnyValue::Date(d) => Ok(Some(days_from_date(*d))),
                    other => Err(mismatch(other)),
                })
                .collect();
            Arc::new(typed?)
        }
        DataType::Date64 | DataType::Timestamp(_, _) => {
            let unit = match field.data_type() {
                DataType::Timestamp(unit, _) => *unit,
                _ => TimeUnit::Millisecond,
            };
            let raw: Vec<Option<i64>> = values
                .iter()
                .map(|v| match v {
                    AnyValue::Null => Ok(None),
                    AnyValue::Timestamp(t) => datetime_to(*t, unit).map(Some),
                    other => Err(mismatch(other)),
                })
                .collect::<Result<_, _>>()?;
            match field.data_type() {
                DataType::Date64 => Arc::new(Date64Array::from(raw)),
                DataType::Timestamp(unit, tz) => {
                    let array: ArrayRef = match unit {
                        TimeUnit::Second => {
                            Arc::new(TimestampSecondArray::from(raw).with_timezone_opt(tz.clone()))
                        }
                        TimeUnit::Millisecond => Arc::new(
                            TimestampMillisecondArray::from(raw).with_timezone_opt(tz.clone()),
                        ),
                        TimeUnit::Microsecond => Arc::new(
                            TimestampMicrosecondArray::from(raw).with_timezone_opt(tz.clone()),
                        ),
                        TimeUnit::Nanosecond => Arc::new(
                            TimestampNanosecondArray::from(raw).with_timezone_opt(tz.clone()),
                        ),
                    };
                    array
                }
                _ => unreachable!("matched Date64 | Timestamp above"),
            }
        }
        DataType::List(child) => {
            let mut offsets = Vec::with_capacity(values.len() + 1);
            offsets.push(0i32);
            let mut valid = Vec::with_capacity(values.len());
            let mut items = Vec::new();
            for v in values {
                match v {
                    AnyValue::Null => valid.push(false),
                    AnyValue::List(list) => {
                        valid.push(true);
                        items.extend(list);
                    }
                    other => return Err(mismatch(&other)),
                }
                let len = i32::try_from(items.len())
                    .map_err(|_| UdfError::Output("array result has too many elements".into()))?;
                offsets.push(len);
            }
            let child_values = build_array(items, child)?;
            let nulls = NullBuffer::from(valid);
            Arc::new(
                ListArray::try_new(
                    child.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    child_values,
                    (nulls.null_count() > 0).then_some(nulls),
                )
                .map_err(|e| UdfError::Output(e.to_string()))?,
            )
        }
        DataType::Struct(fields) => {
            let mut columns: Vec<Vec<AnyValue>> =
                vec![Vec::with_capacity(values.len()); fields.len()];
            let mut valid = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    AnyValue::Null => {
                        valid.push(false);
                        columns.iter_mut().for_each(|c| c.push(AnyValue::Null));
                    }
                    AnyValue::Row(mut row) => {
                        valid.push(true);
                        for (field, column) in fields.iter().zip(columns.iter_mut()) {
                            let at = row
                                .0
                                .iter()
                                .position(|(name, _)| name.eq_ignore_ascii_case(field.name()))
                                .ok_or_else(|| {
                                    UdfError::Output(format!(
                                        "ROW field {:?} is not produced; the UDF gives {}",
                                        field.name(),
                                        row.0
                                            .iter()
                                            .map(|(n, _)| n.as_str())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ))
                                })?;
                            column.push(std::mem::replace(&mut row.0[at].1, AnyValue::Null));
                        }
                    }
                    other => return Err(mismatch(&other)),
                }
            }
            let arrays = fields
                .iter()
                .zip(columns)
                .map(|(f, c)| build_array(c, f))
                .collect::<Result<Vec<_>, _>>()?;
            let nulls = NullBuffer::from(valid);
            Arc::new(
                StructArray::try_new(
                    fields.clone(),
                    arrays,
                    (nulls.null_count() > 0).then_some(nulls),
                )
                .map_err(|e| UdfError::Output(e.to_string()))?,
            )
        }
        other => return Err(unsupported(other)),
    };
    Ok(array)
}
