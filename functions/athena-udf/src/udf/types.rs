//! SQL types for UDF signatures, and how each maps to Arrow (the table in the protocol
//! spec, §5.3): BOOLEAN, TINYINT, SMALLINT, INTEGER, BIGINT, REAL, DOUBLE, DECIMAL(p,s),
//! VARCHAR, VARBINARY, DATE, TIMESTAMP, ARRAY(T), ROW(...), plus [`Secret`] (a VARCHAR
//! argument naming a Secrets Manager secret, fetched before the loop).

use super::convert::{
    date_from_days, datetime_from, days_from_date, fits_precision, sql_name, DecimalValue,
};
use super::value::{self, AnyValue, RowValue};
use super::{Secrets, SqlArg, SqlRet, UdfError};
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Decimal128Builder, PrimitiveBuilder, StringBuilder,
};
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
};
use arrow_array::{
    Array as _, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, ListArray, PrimitiveArray,
    StringArray, StructArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use std::sync::Arc;

pub(crate) fn downcast<'a, T: 'static>(
    array: &'a ArrayRef,
    expected: &str,
) -> Result<&'a T, UdfError> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| UdfError::ArgumentArray {
            index: 0,
            expected: expected.into(),
        })
}

fn output_mismatch(field: &Field, wanted: &str) -> UdfError {
    UdfError::Output(format!(
        "output column {:?} is {}, not {wanted}",
        field.name(),
        sql_name(field.data_type())
    ))
}

/// A type whose Arrow array gives the argument value directly and whose builder takes the
/// result value directly (`append_option`).
macro_rules! direct_type {
    ($(#[$doc:meta])* $marker:ident, $array:ty, $arg:ty, $ret:ty, $builder:ty,
     |$rows:ident| $new_builder:expr, $sql:literal, $pattern:pat) => {
        $(#[$doc])*
        pub struct $marker;

        impl SqlArg for $marker {
            type Column<'a> = &'a $array;
            type Value<'a> = $arg;
            fn accepts(data_type: &DataType) -> bool {
                matches!(data_type, $pattern)
            }
            fn sql_name() -> String {
                $sql.into()
            }
            fn column<'a>(array: &'a ArrayRef, _: &'a Secrets) -> Result<Self::Column<'a>, UdfError> {
                downcast(array, $sql)
            }
            #[inline]
            fn value<'a>(column: &Self::Column<'a>, row: usize) -> Result<Option<Self::Value<'a>>, UdfError> {
                Ok(column.is_valid(row).then(|| column.value(row)))
            }
        }

        impl SqlRet for $marker {
            type Value = $ret;
            type Builder = $builder;
            fn accepts(data_type: &DataType) -> bool {
                matches!(data_type, $pattern)
            }
            fn sql_name() -> String {
                $sql.into()
            }
            fn builder(_: &Field, $rows: usize) -> Result<Self::Builder, UdfError> {
                Ok($new_builder)
            }
            #[inline]
            fn append(builder: &mut Self::Builder, value: Option<$ret>) -> Result<(), UdfError> {
                builder.append_option(value);
                Ok(())
            }
            fn finish(mut builder: Self::Builder, _: &Field) -> Result<ArrayRef, UdfError> {
                Ok(Arc::new(builder.finish()))
            }
        }
    };
}

macro_rules! primitive_type {
    ($(#[$doc:meta])* $marker:ident, $arrow:ty, $native:ty, $sql:literal, $pattern:pat) => {
        direct_type!($(#[$doc])* $marker, PrimitiveArray<$arrow>, $native, $native,
            PrimitiveBuilder<$arrow>, |rows| PrimitiveBuilder::with_capacity(rows), $sql, $pattern);
    };
}

primitive_type!(
    /// TINYINT ↔ Arrow Int8 ↔ `i8`.
    Tinyint, Int8Type, i8, "tinyint", DataType::Int8);
primitive_type!(
    /// SMALLINT ↔ Arrow Int16 ↔ `i16`.
    Smallint, Int16Type, i16, "smallint", DataType::Int16);
primitive_type!(
    /// INTEGER ↔ Arrow Int32 ↔ `i32`.
    Integer, Int32Type, i32, "integer", DataType::Int32);
primitive_type!(
    /// BIGINT ↔ Arrow Int64 ↔ `i64`.
    Bigint, Int64Type, i64, "bigint", DataType::Int64);
primitive_type!(
    /// REAL ↔ Arrow Float32 ↔ `f32`.
    Real, Float32Type, f32, "real", DataType::Float32);
primitive_type!(
    /// DOUBLE ↔ Arrow Float64 ↔ `f64`.
    Double, Float64Type, f64, "double", DataType::Float64);
direct_type!(
    /// BOOLEAN ↔ Arrow Bool ↔ `bool`.
    Boolean, BooleanArray, bool, bool, BooleanBuilder,
    |rows| BooleanBuilder::with_capacity(rows), "boolean", DataType::Boolean);
direct_type!(
    /// VARCHAR ↔ Arrow Utf8 ↔ `&str` in, `String` out.
    Varchar, StringArray, &'a str, String, StringBuilder,
    |rows| StringBuilder::with_capacity(rows, rows * 32), "varchar", DataType::Utf8);
direct_type!(
    /// VARBINARY ↔ Arrow Binary ↔ `&[u8]` in, `Vec<u8>` out.
    Varbinary, BinaryArray, &'a [u8], Vec<u8>, BinaryBuilder,
    |rows| BinaryBuilder::with_capacity(rows, rows * 32), "varbinary", DataType::Binary);

/// DATE ↔ Arrow Date32 (days since 1970-01-01) ↔ `chrono::NaiveDate`.
pub struct Date;

impl SqlArg for Date {
    type Column<'a> = &'a PrimitiveArray<Date32Type>;
    type Value<'a> = NaiveDate;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::Date32)
    }
    fn sql_name() -> String {
        "date".into()
    }
    fn column<'a>(array: &'a ArrayRef, _: &'a Secrets) -> Result<Self::Column<'a>, UdfError> {
        downcast(array, "date")
    }
    fn value<'a>(
        column: &Self::Column<'a>,
        row: usize,
    ) -> Result<Option<Self::Value<'a>>, UdfError> {
        column
            .is_valid(row)
            .then(|| date_from_days(column.value(row)))
            .transpose()
    }
}

impl SqlRet for Date {
    type Value = NaiveDate;
    type Builder = PrimitiveBuilder<Date32Type>;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::Date32)
    }
    fn sql_name() -> String {
        "date".into()
    }
    fn builder(_: &Field, rows: usize) -> Result<Self::Builder, UdfError> {
        Ok(PrimitiveBuilder::with_capacity(rows))
    }
    fn append(builder: &mut Self::Builder, value: Option<NaiveDate>) -> Result<(), UdfError> {
        builder.append_option(value.map(days_from_date));
        Ok(())
    }
    fn finish(mut builder: Self::Builder, _: &Field) -> Result<ArrayRef, UdfError> {
        Ok(Arc::new(builder.finish()))
    }
}

/// The i64 values of a Date64 or Timestamp column, and their unit.
pub struct TimestampColumn<'a> {
    values: &'a ScalarBuffer<i64>,
    nulls: Option<&'a NullBuffer>,
    unit: TimeUnit,
}

fn timestamp_unit(data_type: &DataType) -> Option<TimeUnit> {
    match data_type {
        DataType::Date64 => Some(TimeUnit::Millisecond),
        DataType::Timestamp(unit, _) => Some(*unit),
        _ => None,
    }
}

/// TIMESTAMP ↔ Arrow Date64 (milliseconds; what the Java SDK maps TIMESTAMP to) or
/// Timestamp(unit) ↔ `chrono::NaiveDateTime` (UTC wall clock).
pub struct Timestamp;

impl SqlArg for Timestamp {
    type Column<'a> = TimestampColumn<'a>;
    type Value<'a> = NaiveDateTime;
    fn accepts(data_type: &DataType) -> bool {
        timestamp_unit(data_type).is_some()
    }
    fn sql_name() -> String {
        "timestamp".into()
    }
    fn column<'a>(array: &'a ArrayRef, _: &'a Secrets) -> Result<Self::Column<'a>, UdfError> {
        let unit = timestamp_unit(array.data_type()).ok_or_else(|| UdfError::ArgumentArray {
            index: 0,
            expected: "timestamp".into(),
        })?;
        // Date64 and every Timestamp unit share the i64 layout; take the values directly.
        let values = match array.data_type() {
            DataType::Date64 => downcast::<arrow_array::Date64Array>(array, "timestamp")?.values(),
            DataType::Timestamp(TimeUnit::Second, _) => {
                downcast::<arrow_array::TimestampSecondArray>(array, "timestamp")?.values()
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                downcast::<arrow_array::TimestampMillisecondArray>(array, "timestamp")?.values()
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                downcast::<arrow_array::TimestampMicrosecondArray>(array, "timestamp")?.values()
            }
            _ => downcast::<arrow_array::TimestampNanosecondArray>(array, "timestamp")?.values(),
        };
        Ok(TimestampColumn {
            values,
            nulls: array.nulls(),
            unit,
        })
    }
    fn value<'a>(
        column: &Self::Column<'a>,
        row: usize,
    ) -> Result<Option<Self::Value<'a>>, UdfError> {
        if column.nulls.is_some_and(|n| n.is_null(row)) {
            return Ok(None);
        }
        datetime_from(column.values[row], column.unit).map(Some)
    }
}

impl SqlRet for Timestamp {
    type Value = NaiveDateTime;
    type Builder = Vec<Option<NaiveDateTime>>;
    fn accepts(data_type: &DataType) -> bool {
        timestamp_unit(data_type).is_some()
    }
    fn sql_name() -> String {
        "timestamp".into()
    }
    fn builder(_: &Field, rows: usize) -> Result<Self::Builder, UdfError> {
        Ok(Vec::with_capacity(rows))
    }
    fn append(builder: &mut Self::Builder, value: Option<NaiveDateTime>) -> Result<(), UdfError> {
        builder.push(value);
        Ok(())
    }
    fn finish(builder: Self::Builder, field: &Field) -> Result<ArrayRef, UdfError> {
        value::build_array(
            builder
                .into_iter()
                .map(|v| v.map_or(AnyValue::Null, AnyValue::Timestamp))
                .collect(),
            field,
        )
    }
}

/// DECIMAL(p,s) ↔ Arrow Decimal128(p,s) ↔ [`DecimalValue`]; results are rescaled to the
/// declared scale (HALF_UP, as the Java SDK does) and must fit the declared precision.
pub struct Decimal;

impl SqlArg for Decimal {
    type Column<'a> = &'a Decimal128Array;
    type Value<'a> = DecimalValue;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::Decimal128(_, _))
    }
    fn sql_name() -> String {
        "decimal(p,s)".into()
    }
    fn column<'a>(array: &'a ArrayRef, _: &'a Secrets) -> Result<Self::Column<'a>, UdfError> {
        downcast(array, "decimal")
    }
    fn value<'a>(
        column: &Self::Column<'a>,
        row: usize,
    ) -> Result<Option<Self::Value<'a>>, UdfError> {
        Ok(column
            .is_valid(row)
            .then(|| DecimalValue::new(column.value(row), column.scale())))
    }
}

pub struct DecimalBuilder {
    builder: Decimal128Builder,
    precision: u8,
    scale: i8,
}

impl SqlRet for Decimal {
    type Value = DecimalValue;
    type Builder = DecimalBuilder;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::Decimal128(_, _))
    }
    fn sql_name() -> String {
        "decimal(p,s)".into()
    }
    fn builder(field: &Field, rows: usize) -> Result<Self::Builder, UdfError> {
        let DataType::Decimal128(precision, scale) = *field.data_type() else {
            return Err(output_mismatch(field, "decimal"));
        };
        let builder = Decimal128Builder::with_capacity(rows)
            .with_precision_and_scale(precision, scale)
            .map_err(|e| UdfError::Output(e.to_string()))?;
        Ok(DecimalBuilder {
            builder,
            precision,
            scale,
        })
    }
    fn append(b: &mut Self::Builder, value: Option<DecimalValue>) -> Result<(), UdfError> {
        match value {
            None => b.builder.append_null(),
            Some(v) => {
                let unscaled = v
                    .rescale(b.scale)
                    .filter(|&u| fits_precision(u, b.precision))
                    .ok_or_else(|| {
                        UdfError::Output(format!(
                            "{v} does not fit decimal({},{})",
                            b.precision, b.scale
                        ))
                    })?;
                b.builder.append_value(unscaled);
            }
        }
        Ok(())
    }
    fn finish(mut b: Self::Builder, _: &Field) -> Result<ArrayRef, UdfError> {
        Ok(Arc::new(b.builder.finish()))
    }
}

/// ARRAY(T) ↔ Arrow List (named `ArrayOf` so it does not shadow arrow's `Array` trait) ↔ `Vec<Option<T>>` (NULL elements stay `None`).
pub struct ArrayOf<T>(std::marker::PhantomData<T>);

pub struct ListColumn<'a, T: SqlArg> {
    list: &'a ListArray,
    child: T::Column<'a>,
}

impl<T: SqlArg> SqlArg for ArrayOf<T> {
    type Column<'a> = ListColumn<'a, T>;
    type Value<'a> = Vec<Option<T::Value<'a>>>;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::List(child) if T::accepts(child.data_type()))
    }
    fn sql_name() -> String {
        format!("array({})", T::sql_name())
    }
    fn column<'a>(array: &'a ArrayRef, secrets: &'a Secrets) -> Result<Self::Column<'a>, UdfError> {
        let list: &ListArray = downcast(array, &Self::sql_name())?;
        Ok(ListColumn {
            list,
            child: T::column(list.values(), secrets)?,
        })
    }
    fn value<'a>(
        column: &Self::Column<'a>,
        row: usize,
    ) -> Result<Option<Self::Value<'a>>, UdfError> {
        if column.list.is_null(row) {
            return Ok(None);
        }
        let offsets = column.list.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        (start..end)
            .map(|i| T::value(&column.child, i))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

pub struct ListBuilder<T: SqlRet> {
    child: T::Builder,
    child_field: FieldRef,
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl<T: SqlRet> SqlRet for ArrayOf<T> {
    type Value = Vec<Option<T::Value>>;
    type Builder = ListBuilder<T>;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::List(child) if T::accepts(child.data_type()))
    }
    fn sql_name() -> String {
        format!("array({})", T::sql_name())
    }
    fn builder(field: &Field, rows: usize) -> Result<Self::Builder, UdfError> {
        let DataType::List(child_field) = field.data_type() else {
            return Err(output_mismatch(field, "array"));
        };
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Ok(ListBuilder {
            child: T::builder(child_field, rows)?,
            child_field: child_field.clone(),
            offsets,
            valid: Vec::with_capacity(rows),
        })
    }
    fn append(b: &mut Self::Builder, value: Option<Self::Value>) -> Result<(), UdfError> {
        let mut last = b.offsets.last().copied().unwrap_or(0);
        b.valid.push(value.is_some());
        for item in value.into_iter().flatten() {
            T::append(&mut b.child, item)?;
            last = last
                .checked_add(1)
                .ok_or_else(|| UdfError::Output("array result has too many elements".into()))?;
        }
        b.offsets.push(last);
        Ok(())
    }
    fn finish(b: Self::Builder, _: &Field) -> Result<ArrayRef, UdfError> {
        let values = T::finish(b.child, &b.child_field)?;
        let nulls = NullBuffer::from(b.valid);
        let list = ListArray::try_new(
            b.child_field,
            OffsetBuffer::new(ScalarBuffer::from(b.offsets)),
            values,
            (nulls.null_count() > 0).then_some(nulls),
        )
        .map_err(|e| UdfError::Output(e.to_string()))?;
        Ok(Arc::new(list))
    }
}

/// ROW(...) ↔ Arrow Struct. Arguments arrive as a [`RowRef`]; results are a [`RowValue`]
/// whose fields are matched to the declared ROW fields by name (case-insensitive).
pub struct Row;

/// One row of a ROW argument.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    array: &'a StructArray,
    row: usize,
}

impl<'a> RowRef<'a> {
    /// The field's value as a [`AnyValue`] (NULL when absent).
    pub fn get(&self, name: &str) -> Result<AnyValue, UdfError> {
        match self.array.column_by_name(name) {
            Some(column) => value::value_at(column, self.row),
            None => Ok(AnyValue::Null),
        }
    }

    /// Every field, in declaration order.
    pub fn to_value(&self) -> Result<RowValue, UdfError> {
        value::row_at(self.array, self.row)
    }
}

impl SqlArg for Row {
    type Column<'a> = &'a StructArray;
    type Value<'a> = RowRef<'a>;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::Struct(_))
    }
    fn sql_name() -> String {
        "row(...)".into()
    }
    fn column<'a>(array: &'a ArrayRef, _: &'a Secrets) -> Result<Self::Column<'a>, UdfError> {
        downcast(array, "row")
    }
    fn value<'a>(
        column: &Self::Column<'a>,
        row: usize,
    ) -> Result<Option<Self::Value<'a>>, UdfError> {
        Ok(column
            .is_valid(row)
            .then_some(RowRef { array: column, row }))
    }
}

impl SqlRet for Row {
    type Value = RowValue;
    type Builder = Vec<AnyValue>;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::Struct(_))
    }
    fn sql_name() -> String {
        "row(...)".into()
    }
    fn builder(_: &Field, rows: usize) -> Result<Self::Builder, UdfError> {
        Ok(Vec::with_capacity(rows))
    }
    fn append(builder: &mut Self::Builder, value: Option<RowValue>) -> Result<(), UdfError> {
        builder.push(value.map_or(AnyValue::Null, AnyValue::Row));
        Ok(())
    }
    fn finish(builder: Self::Builder, field: &Field) -> Result<ArrayRef, UdfError> {
        value::build_array(builder, field)
    }
}

/// A VARCHAR argument naming a Secrets Manager secret; the UDF receives the name and the
/// secret string. Secrets are fetched (cached) before the loop for every row whose other
/// arguments are not NULL.
pub struct Secret;

/// A secret: its name and its `SecretString`. Never log `value`.
#[derive(Clone, Copy)]
pub struct SecretRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl std::fmt::Debug for SecretRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRef")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl SqlArg for Secret {
    type Column<'a> = (&'a StringArray, &'a Secrets);
    type Value<'a> = SecretRef<'a>;
    const SECRET: bool = true;
    fn accepts(data_type: &DataType) -> bool {
        matches!(data_type, DataType::Utf8)
    }
    fn sql_name() -> String {
        "varchar".into()
    }
    fn column<'a>(array: &'a ArrayRef, secrets: &'a Secrets) -> Result<Self::Column<'a>, UdfError> {
        Ok((downcast(array, "varchar")?, secrets))
    }
    fn value<'a>(
        column: &Self::Column<'a>,
        row: usize,
    ) -> Result<Option<Self::Value<'a>>, UdfError> {
        let (names, secrets) = column;
        if names.is_null(row) {
            return Ok(None);
        }
        let name = names.value(row);
        // Absent only for rows whose other arguments are NULL (not fetched).
        Ok(secrets.get(name).map(|value| SecretRef { name, value }))
    }
}
