use super::*;
use arrow_array::{Int32Array, StringArray};
use arrow_schema::Fields;

fn shout(text: Option<&str>) -> Option<String> {
    text.map(str::to_uppercase)
}

fn registry() -> Registry {
    let mut r = Registry::default();
    r.scalar1::<Varchar, Varchar, _, _>("shout", shout)
        .scalar2::<Integer, Integer, Integer, _, _>("plus", |a: Option<i32>, b: Option<i32>| {
            Some(a? + b?)
        })
        .scalar1::<Bigint, Varchar, _, _>("shout", |n: Option<i64>| n.map(|n| n.to_string()));
    r
}

#[test]
fn resolves_by_name_case_insensitively_and_by_types() {
    let r = registry();
    let udf = r
        .resolve("SHOUT", &[&DataType::Utf8], &DataType::Utf8)
        .unwrap();
    assert_eq!(udf.signature(), "shout(varchar) -> varchar");
    let udf = r
        .resolve("shout", &[&DataType::Int64], &DataType::Utf8)
        .unwrap();
    assert_eq!(udf.signature(), "shout(bigint) -> varchar");
    let columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec![Some("a"), None]))];
    let out = r
        .resolve("shout", &[&DataType::Utf8], &DataType::Utf8)
        .unwrap()
        .run(
            &columns,
            &Field::new("o", DataType::Utf8, true),
            &Secrets::new(),
        )
        .unwrap();
    let out = out.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(out.iter().collect::<Vec<_>>(), vec![Some("A"), None]);
}

#[test]
fn resolve_errors_say_what_exists_and_what_was_asked() {
    let r = registry();
    let err = r
        .resolve("nope", &[&DataType::Utf8], &DataType::Utf8)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no UDF named \"nope\"; this Lambda has: plus, shout"
    );
    let err = r
        .resolve(
            "plus",
            &[&DataType::Int64, &DataType::Int32],
            &DataType::Int32,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plus(integer, integer) -> integer expected, got plus(bigint, integer) -> integer"
    );
    let err = r
        .resolve("shout", &[&DataType::Float64], &DataType::Utf8)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "shout(varchar) -> varchar or shout(bigint) -> varchar expected, got shout(double) -> varchar"
    );
    let err = r.resolve("plus", &[], &DataType::Int32).unwrap_err();
    assert!(matches!(err, ResolveError::NoArguments { .. }), "{err}");
    let row = DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int32, true)]));
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let err = r
        .resolve("plus", &[&row, &list], &DataType::Int32)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plus(integer, integer) -> integer expected, got plus(row(a integer), array(varchar)) -> integer"
    );
}

#[test]
fn a_failing_row_names_the_method_and_row() {
    let mut r = Registry::default();
    r.scalar1::<Integer, Integer, _, _>("checked", |v: Option<i32>| {
        v.map(|v| u8::try_from(v).map(i32::from)).transpose()
    });
    let columns: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(vec![1, 2, 300]))];
    let err = r
        .resolve("checked", &[&DataType::Int32], &DataType::Int32)
        .unwrap()
        .run(
            &columns,
            &Field::new("o", DataType::Int32, true),
            &Secrets::new(),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "checked failed on row 2: out of range integral type conversion attempted"
    );
}

#[test]
fn decimals_rescale_half_up_and_print_exactly() {
    let cases = [
        (DecimalValue::new(12345, 2), 1, Some(1235)),
        (DecimalValue::new(-12345, 2), 1, Some(-1235)),
        (DecimalValue::new(12344, 2), 1, Some(1234)),
        (DecimalValue::new(5, 0), 3, Some(5000)),
        (DecimalValue::new(i128::MAX, 0), 1, None),
    ];
    for (value, scale, expected) in cases {
        assert_eq!(value.rescale(scale), expected, "{value:?} -> {scale}");
    }
    assert_eq!(DecimalValue::new(-5, 3).to_string(), "-0.005");
    assert_eq!(DecimalValue::new(123456, 2).to_string(), "1234.56");
    assert_eq!(DecimalValue::new(7, -2).to_string(), "700");
}
