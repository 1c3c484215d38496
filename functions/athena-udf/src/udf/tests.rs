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

fn numbered(rows: usize) -> Vec<ArrayRef> {
    vec![Arc::new(StringArray::from_iter(
        (0..rows).map(|i| (i % 7 != 0).then(|| format!("row {i}"))),
    ))]
}

#[test]
fn a_split_run_answers_exactly_what_one_thread_answers() {
    let r = registry();
    let udf = r
        .resolve("shout", &[&DataType::Utf8], &DataType::Utf8)
        .unwrap();
    let field = Field::new("o", DataType::Utf8, true);
    let columns = numbered(3 * MIN_ROWS_PER_THREAD + 5);
    let one = udf.run(&columns, &field, &Secrets::new()).unwrap();
    for threads in [2, 3, 4] {
        let split = udf
            .run_split(&columns, &field, &Secrets::new(), threads)
            .unwrap();
        assert_eq!(split.to_data(), one.to_data(), "{threads} threads");
    }
}

#[test]
fn a_split_run_names_the_failing_row_of_the_whole_batch() {
    let mut r = Registry::default();
    r.scalar1::<Varchar, Varchar, _, _>("picky", |v: Option<&str>| {
        if v == Some("row 9000") {
            Err(std::fmt::Error)
        } else {
            Ok(v.map(String::from))
        }
    });
    let udf = r
        .resolve("picky", &[&DataType::Utf8], &DataType::Utf8)
        .unwrap();
    let err = udf
        .run_split(
            &numbered(10_000),
            &Field::new("o", DataType::Utf8, true),
            &Secrets::new(),
            2,
        )
        .unwrap_err();
    assert!(
        err.to_string().starts_with("picky failed on row 9000:"),
        "{err}"
    );
}

#[test]
fn a_panic_in_a_worker_reaches_the_caller() {
    let mut r = Registry::default();
    r.scalar1::<Varchar, Varchar, _, _>("boom", |v: Option<&str>| {
        assert_ne!(v, Some("row 9001"), "boom on row 9001");
        v.map(String::from)
    });
    let udf = r
        .resolve("boom", &[&DataType::Utf8], &DataType::Utf8)
        .unwrap();
    let columns = numbered(10_000);
    let caught = ferrolake_shared::batch::catch_panic_sync(|| {
        udf.run_split(
            &columns,
            &Field::new("o", DataType::Utf8, true),
            &Secrets::new(),
            2,
        )
    })
    .unwrap_err();
    assert!(caught.contains("boom on row 9001"), "{caught}");
}
