use super::*;
use proptest::prelude::*;
use serde_json::{json, Value as Json};

fn flat_with(opts: FlattenOptions, input: &str) -> Result<String, FlattenError> {
    let mut f = Flattener::new(opts)?;
    let mut out = Vec::new();
    f.flatten(input.as_bytes(), &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

fn flat(input: &str) -> String {
    flat_with(FlattenOptions::default(), input).unwrap()
}

fn opts(f: impl FnOnce(&mut FlattenOptions)) -> FlattenOptions {
    let mut o = FlattenOptions::default();
    f(&mut o);
    o
}

#[test]
fn defaults_flatten_nested_objects_and_keep_arrays() {
    let input = r#"{"User": {"Name": "Ann", "Address": {"City": "Oslo"}}, "tags": ["a", "b"], "items": [{"Sku": "x", "Price": {"Amount": 1.50}}], "n": null}"#;
    assert_eq!(
        flat(input),
        "{\"user_name\":\"Ann\",\"user_address_city\":\"Oslo\",\"tags\":[\"a\",\"b\"],\"items\":[{\"sku\":\"x\",\"price_amount\":1.50}],\"n\":null}\n"
    );
}

#[test]
fn numbers_and_strings_are_copied_exactly() {
    let input = r#"{"id": 12345678901234567890123, "price": 1.10, "e": -0.5E+10, "s": "caf\u00e9 \"q\" \n", "u": "ünï"}"#;
    assert_eq!(
        flat(input),
        "{\"id\":12345678901234567890123,\"price\":1.10,\"e\":-0.5E+10,\"s\":\"caf\\u00e9 \\\"q\\\" \\n\",\"u\":\"ünï\"}\n"
    );
}

#[test]
fn key_normalisation() {
    let input = r#"{"detail-type": 1, "Émoji🎉Key": 2, "9lives": 3, "": 4, "a.b": {"C D": 5}}"#;
    assert_eq!(
        flat(input),
        "{\"detail_type\":1,\"_moji_key\":2,\"_9lives\":3,\"_\":4,\"a_b_c_d\":5}\n"
    );
    // Off: keys are kept (and still JSON-escaped).
    let raw = flat_with(
        opts(|o| o.normalize_keys = false),
        r#"{"A-b": {"C\"d": 1}}"#,
    )
    .unwrap();
    assert_eq!(raw, "{\"A-b_C\\\"d\":1}\n");
    // A custom separator and digit prefix.
    let custom = flat_with(
        opts(|o| {
            o.separator = "__".into();
            o.digit_prefix = "col_".into();
        }),
        r#"{"1st": {"x": 1}}"#,
    )
    .unwrap();
    assert_eq!(custom, "{\"col_1st__x\":1}\n");
}

#[test]
fn empty_keys_keep_their_separators() {
    // Found by the unflatten property: an empty key at the root must not swallow the
    // separator of the segment below it.
    let raw = flat_with(
        opts(|o| {
            o.normalize_keys = false;
            o.separator = ".".into();
        }),
        r#"{"": {"": null}, "a": [{"": {"b": 1}}]}"#,
    )
    .unwrap();
    assert_eq!(raw, "{\".\":null,\"a\":[{\".b\":1}]}\n");
    assert_eq!(flat(r#"{"": {"": 1}}"#), "{\"___\":1}\n");
}

#[test]
fn long_keys_are_capped_with_a_hash() {
    let long = "k".repeat(300);
    let other = format!("{}x", "k".repeat(299));
    let out = flat(&format!(r#"{{"{long}": 1, "{other}": 2}}"#));
    let v: Json = serde_json::from_str(&out).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "distinct long keys stay distinct: {keys:?}");
    for k in keys {
        assert_eq!(k.len(), 255);
        assert!(k.starts_with(&"k".repeat(246)));
    }
}

#[test]
fn collisions_by_case_resolve_per_policy() {
    let input = r#"{"Name": 1, "name": 2, "NAME": 3}"#;
    assert_eq!(flat(input), "{\"name\":1,\"name_2\":2,\"name_3\":3}\n");
    assert_eq!(
        flat_with(opts(|o| o.collision = Collision::First), input).unwrap(),
        "{\"name\":1}\n"
    );
    assert_eq!(
        flat_with(opts(|o| o.collision = Collision::Last), input).unwrap(),
        "{\"name\":3}\n"
    );
    let last = flat_with(
        opts(|o| o.collision = Collision::Last),
        r#"{"a": 1, "b": 2, "A": 3}"#,
    )
    .unwrap();
    assert_eq!(last, "{\"b\":2,\"a\":3}\n");
    assert_eq!(
        flat_with(opts(|o| o.collision = Collision::Fail), input).unwrap_err(),
        FlattenError::Collision { key: "name".into() }
    );
    // Nesting that fakes a flattened name collides too, and suffixes skip taken names.
    assert_eq!(
        flat(r#"{"a_b": 1, "a": {"b": 2}, "a_b_2": 3}"#),
        "{\"a_b\":1,\"a_b_2\":2,\"a_b_2_2\":3}\n"
    );
    let mut f = Flattener::new(FlattenOptions::default()).unwrap();
    let summary = f.flatten(input.as_bytes(), &mut Vec::new()).unwrap();
    assert_eq!(summary.collisions, 2);
    // Kept arrays are written straight after their key: a left-out or replaced array
    // leaves nothing behind, and objects inside keep their own names.
    let arrays = r#"{"L": [1, {"X": 1, "x": 2}], "b": [ ], "l": [{"y": [3]}], "z": 0}"#;
    assert_eq!(
        flat(arrays),
        "{\"l\":[1,{\"x\":1,\"x_2\":2}],\"l_2\":[{\"y\":[3]}],\"z\":0}\n"
    );
    assert_eq!(
        flat_with(opts(|o| o.collision = Collision::First), arrays).unwrap(),
        "{\"l\":[1,{\"x\":1}],\"z\":0}\n"
    );
    assert_eq!(
        flat_with(opts(|o| o.collision = Collision::Last), arrays).unwrap(),
        "{\"l\":[{\"y\":[3]}],\"z\":0}\n"
    );
    assert_eq!(
        flat_with(
            opts(|o| {
                o.collision = Collision::Last;
                o.keep_empty = true;
            }),
            arrays
        )
        .unwrap(),
        "{\"b\":[],\"l\":[{\"y\":[3]}],\"z\":0}\n"
    );
    assert_eq!(
        flat_with(opts(|o| o.collision = Collision::Fail), arrays).unwrap_err(),
        FlattenError::Collision { key: "x".into() }
    );
    assert_eq!(
        flat_with(
            opts(|o| o.collision = Collision::Fail),
            r#"{"L":[1],"l":[2]}"#
        )
        .unwrap_err(),
        FlattenError::Collision { key: "l".into() }
    );
    // A left-out array is still validated.
    assert!(matches!(
        flat_with(
            opts(|o| o.collision = Collision::First),
            r#"{"L":[1],"l":[2,}]}"#
        ),
        Err(FlattenError::Syntax { offset: 16, .. })
    ));
}

#[test]
fn wide_objects_grow_the_key_index_and_still_detect_collisions() {
    // 200 keys (the index starts at 64 slots) plus case-only duplicates of every tenth.
    let mut members: Vec<String> = (0..200).map(|i| format!("\"k{i}\": {i}")).collect();
    members.extend((0..200).step_by(10).map(|i| format!("\"K{i}\": -{i}")));
    let out = flat(&format!("{{{}}}", members.join(",")));
    let v: Json = serde_json::from_str(&out).unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(o.len(), 220);
    assert_eq!(o["k10"], 10);
    assert_eq!(o["k10_2"], -10);
    assert_eq!(o["k199"], 199);
    // The same flattener, reused for a second object, starts from an empty index.
    let mut f = Flattener::new(FlattenOptions::default()).unwrap();
    let mut first = Vec::new();
    f.flatten(format!("{{{}}}", members.join(",")).as_bytes(), &mut first)
        .unwrap();
    let mut second = Vec::new();
    f.flatten(b"{\"k10\": 1}", &mut second).unwrap();
    assert_eq!(second, b"{\"k10\":1}\n");
}

#[test]
fn array_modes() {
    let input = r#"{"tags": ["a", "b"], "items": [{"Sku": "x"}, {"Sku": "y", "Q": [1, 2]}], "m": [[1, {"A": 2}]]}"#;
    assert_eq!(
        flat_with(opts(|o| o.array_mode = ArrayMode::Index), input).unwrap(),
        "{\"tags_0\":\"a\",\"tags_1\":\"b\",\"items_0_sku\":\"x\",\"items_1_sku\":\"y\",\"items_1_q_0\":1,\"items_1_q_1\":2,\"m_0_0\":1,\"m_0_1_a\":2}\n"
    );
    assert_eq!(
        flat_with(opts(|o| o.array_mode = ArrayMode::Json), input).unwrap(),
        "{\"tags\":\"[\\\"a\\\",\\\"b\\\"]\",\"items\":\"[{\\\"Sku\\\":\\\"x\\\"},{\\\"Sku\\\":\\\"y\\\",\\\"Q\\\":[1,2]}]\",\"m\":\"[[1,{\\\"A\\\":2}]]\"}\n"
    );
    assert_eq!(
        flat(input),
        "{\"tags\":[\"a\",\"b\"],\"items\":[{\"sku\":\"x\"},{\"sku\":\"y\",\"q\":[1,2]}],\"m\":[[1,{\"a\":2}]]}\n"
    );
    let too_many = flat_with(
        opts(|o| {
            o.array_mode = ArrayMode::Index;
            o.max_array_items = 1;
        }),
        input,
    )
    .unwrap_err();
    assert_eq!(
        too_many,
        FlattenError::TooManyItems {
            path: "tags".into(),
            limit: 1
        }
    );
}

#[test]
fn explode_after_a_last_wins_collision_replaces_the_right_member() {
    // The base object is compacted (the replaced `a` removed) before it is copied per
    // element; an element key that collides with a base key must then replace the base
    // member at its compacted position.
    let o = opts(|o| {
        o.array_mode = ArrayMode::Explode;
        o.explode_path = Some("items".into());
        o.collision = Collision::Last;
    });
    let input = r#"{"a": 1, "A": 2, "items_x": 0, "items": [{"x": 5}, {"x": 6}], "z": 3}"#;
    assert_eq!(
        flat_with(o, input).unwrap(),
        "{\"a\":2,\"z\":3,\"items_x\":5}\n{\"a\":2,\"z\":3,\"items_x\":6}\n"
    );
}

#[test]
fn explode_emits_one_line_per_element() {
    let o = opts(|o| {
        o.array_mode = ArrayMode::Explode;
        o.explode_path = Some("items".into());
    });
    let input =
        r#"{"order": 7, "items": [{"Sku": "x", "Qty": 1}, {"Sku": "y"}, "z"], "tags": ["t"]}"#;
    assert_eq!(
        flat_with(o.clone(), input).unwrap(),
        "{\"order\":7,\"tags\":[\"t\"],\"items_sku\":\"x\",\"items_qty\":1}\n{\"order\":7,\"tags\":[\"t\"],\"items_sku\":\"y\"}\n{\"order\":7,\"tags\":[\"t\"],\"items\":\"z\"}\n"
    );
    assert_eq!(
        flat_with(o.clone(), r#"{"order": 8, "items": []}"#).unwrap(),
        "{\"order\":8}\n"
    );
    assert_eq!(
        flat_with(o.clone(), r#"{"order": 9}"#).unwrap(),
        "{\"order\":9}\n"
    );
    let capped = flat_with(
        opts(|x| {
            *x = o.clone();
            x.max_array_items = 2;
        }),
        input,
    )
    .unwrap_err();
    assert_eq!(
        capped,
        FlattenError::TooManyItems {
            path: "items".into(),
            limit: 2
        }
    );
    assert!(
        Flattener::new(opts(|o| o.array_mode = ArrayMode::Explode)).is_err(),
        "explode needs a path"
    );
}

#[test]
fn max_depth_turns_deeper_subtrees_into_json_strings() {
    let o = opts(|o| o.max_depth = 2);
    assert_eq!(
        flat_with(o, r#"{"a": {"b": {"c": {"d": 1}}, "x": 2}}"#).unwrap(),
        "{\"a_b\":\"{\\\"c\\\":{\\\"d\\\":1}}\",\"a_x\":2}\n"
    );
}

#[test]
fn hundred_thousand_levels_fail_cleanly_without_overflowing_the_stack() {
    let deep = format!("{}{}", "{\"a\":".repeat(100_000), "1");
    let deep = format!("{deep}{}", "}".repeat(100_000));
    assert_eq!(
        flat_with(FlattenOptions::default(), &deep).unwrap_err(),
        FlattenError::TooDeep { limit: 512 }
    );
    let arrays = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        flat_with(FlattenOptions::default(), &arrays).unwrap_err(),
        FlattenError::TooDeep { limit: 512 }
    );
}

#[test]
fn nulls_and_empties() {
    let input = r#"{"a": null, "b": {}, "c": [], "d": {"e": null}}"#;
    assert_eq!(flat(input), "{\"a\":null,\"d_e\":null}\n");
    assert_eq!(
        flat_with(opts(|o| o.keep_nulls = false), input).unwrap(),
        "{}\n"
    );
    assert_eq!(
        flat_with(opts(|o| o.keep_empty = true), input).unwrap(),
        "{\"a\":null,\"b\":{},\"c\":[],\"d_e\":null}\n"
    );
}

#[test]
fn include_exclude_json_paths_and_renames() {
    let input = r#"{"user": {"id": 1, "email": "a@b.c", "prefs": {"x": 1}}, "event": "click", "ctx": {"ua": "x"}}"#;
    assert_eq!(
        flat_with(
            opts(|o| o.exclude = vec!["user_email".into(), "ctx".into()]),
            input
        )
        .unwrap(),
        "{\"user_id\":1,\"user_prefs_x\":1,\"event\":\"click\"}\n"
    );
    assert_eq!(
        flat_with(
            opts(|o| o.include = vec!["user_id".into(), "ctx".into()]),
            input
        )
        .unwrap(),
        "{\"user_id\":1,\"ctx_ua\":\"x\"}\n"
    );
    assert_eq!(
        flat_with(opts(|o| o.json_paths = vec!["user_prefs".into()]), input).unwrap(),
        "{\"user_id\":1,\"user_email\":\"a@b.c\",\"user_prefs\":\"{\\\"x\\\":1}\",\"event\":\"click\",\"ctx_ua\":\"x\"}\n"
    );
    assert_eq!(
        flat_with(opts(|o| o.renames = vec![("event".into(), "event_type".into()), ("user_id".into(), "uid".into())]), input).unwrap(),
        "{\"uid\":1,\"user_email\":\"a@b.c\",\"user_prefs_x\":1,\"event_type\":\"click\",\"ctx_ua\":\"x\"}\n"
    );
}

#[test]
fn several_values_in_one_input_become_several_lines() {
    assert_eq!(flat("{\"a\":1}\n{\"a\":2}\n\n"), "{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(flat("{\"a\":1}{\"a\":2}"), "{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(
        flat_with(opts(|o| o.multi_json = false), "{\"a\":1}\n{\"a\":2}").unwrap_err(),
        FlattenError::MultipleValues
    );
    assert_eq!(
        flat_with(opts(|o| o.append_newline = false), "{\"a\":1}").unwrap(),
        "{\"a\":1}"
    );
}

#[test]
fn non_object_top_level_wraps_or_fails() {
    assert_eq!(flat("[1,2]"), "{\"value\":[1,2]}\n");
    assert_eq!(flat("\"x\""), "{\"value\":\"x\"}\n");
    let fail = opts(|o| o.non_object = NonObject::Fail);
    assert_eq!(
        flat_with(fail.clone(), "[1]").unwrap_err(),
        FlattenError::NotAnObject { found: "an array" }
    );
    assert_eq!(
        flat_with(fail, "42").unwrap_err(),
        FlattenError::NotAnObject { found: "a number" }
    );
}

#[test]
fn bad_input_is_reported_with_position() {
    let cases = [
        (
            "{\"a\":",
            "invalid JSON at byte 5: expected a JSON value, found the end of the input",
        ),
        (
            "{\"a\" 1}",
            "invalid JSON at byte 5: expected ':' after an object key, found '1'",
        ),
        (
            "{\"a\":1,}",
            "invalid JSON at byte 7: expected a string, found '}'",
        ),
        (
            "{\"a\":01}",
            "invalid JSON at byte 6: expected ',' or '}', found '1'",
        ),
        (
            "{\"a\":\"\\x\"}",
            "invalid JSON at byte 6: expected a valid escape, found '\\\\'",
        ),
        (
            "{\"a\":\"\t\"}",
            "invalid JSON at byte 6: expected no raw control characters in a string, found '\\t'",
        ),
        (
            "{\"a\":tru}",
            "invalid JSON at byte 5: expected a JSON value, found 't'",
        ),
        (
            "{\"a\":1.}",
            "invalid JSON at byte 7: expected a digit after the decimal point, found '}'",
        ),
        ("   ", "no JSON value in the input"),
    ];
    for (input, message) in cases {
        assert_eq!(
            flat_with(FlattenOptions::default(), input)
                .unwrap_err()
                .to_string(),
            message,
            "{input:?}"
        );
    }
    let mut f = Flattener::new(FlattenOptions::default()).unwrap();
    let mut out = b"kept".to_vec();
    assert_eq!(
        f.flatten(b"{\"a\":\"\xff\"}", &mut out).unwrap_err(),
        FlattenError::NotUtf8 { offset: 6 }
    );
    assert_eq!(out, b"kept", "output is untouched on failure");
}

#[test]
fn watched_fields_and_drop_rules() {
    let mut f = Flattener::new(opts(|o| {
        o.watch = vec!["event_type".into(), "user_id".into(), "missing".into()];
        o.drop_where = vec![("event_type".into(), "heartbeat".into())];
    }))
    .unwrap();
    let mut out = Vec::new();
    let s = f
        .flatten(b"{\"event\":{\"type\":\"cl\\u0069ck\"},\"user\":{\"id\":42}}\n{\"event\":{\"type\":\"heartbeat\"}}\n{\"event\":{\"type\":\"view\"}}", &mut out)
        .unwrap();
    assert_eq!(
        s.watched,
        vec![Some("click".into()), Some("42".into()), None]
    );
    assert_eq!((s.lines, s.dropped), (2, 1));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"event_type\":\"cl\\u0069ck\",\"user_id\":42}\n{\"event_type\":\"view\"}\n"
    );
}

#[test]
fn invalid_options_are_rejected() {
    assert!(Flattener::new(opts(|o| o.separator.clear())).is_err());
    assert!(Flattener::new(opts(|o| o.max_depth = 0)).is_err());
    assert!(Flattener::new(opts(|o| o.max_depth = MAX_DEPTH_LIMIT + 1)).is_err());
}

#[test]
fn choices_parse_by_name_and_errors_list_them() {
    for (name, mode) in [
        ("keep", ArrayMode::Keep),
        ("index", ArrayMode::Index),
        ("json", ArrayMode::Json),
        ("explode", ArrayMode::Explode),
    ] {
        assert_eq!(name.parse(), Ok(mode));
    }
    for (name, policy) in [
        ("suffix", Collision::Suffix),
        ("fail", Collision::Fail),
        ("first", Collision::First),
        ("last", Collision::Last),
    ] {
        assert_eq!(name.parse(), Ok(policy));
    }
    assert_eq!("wrap".parse(), Ok(NonObject::Wrap));
    assert_eq!("fail".parse(), Ok(NonObject::Fail));
    let err = "Keep".parse::<ArrayMode>().unwrap_err();
    assert_eq!(
        err,
        ParseChoiceError {
            option: "array mode",
            input: "Keep".into(),
            choices: "keep | index | json | explode",
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid array mode \"Keep\": expected keep | index | json | explode"
    );
    assert_eq!(Collision::CHOICES, "suffix | fail | first | last");
    assert_eq!(
        " wrap".parse::<NonObject>().unwrap_err().to_string(),
        "invalid non-object policy \" wrap\": expected wrap | fail"
    );
}

// ---- properties ----

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,8}".prop_map(Json::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

fn all_modes() -> Vec<FlattenOptions> {
    vec![
        FlattenOptions::default(),
        opts(|o| o.array_mode = ArrayMode::Index),
        opts(|o| o.array_mode = ArrayMode::Json),
        opts(|o| {
            o.array_mode = ArrayMode::Explode;
            o.explode_path = Some("a".into());
        }),
        opts(|o| {
            o.collision = Collision::Last;
            o.keep_empty = true;
            o.max_depth = 2;
        }),
        opts(|o| {
            o.collision = Collision::First;
            o.normalize_keys = false;
            o.keep_nulls = false;
        }),
    ]
}

/// Undo flattening: split keys on `sep`, nest; objects inside arrays likewise.
fn unflatten(value: &Json, sep: &str) -> Json {
    match value {
        Json::Object(map) => {
            let mut root = serde_json::Map::new();
            for (key, v) in map {
                let parts: Vec<&str> = key.split(sep).collect();
                let mut node = &mut root;
                for part in &parts[..parts.len() - 1] {
                    node = node
                        .entry(part.to_string())
                        .or_insert_with(|| Json::Object(Default::default()))
                        .as_object_mut()
                        .expect("prefix of a flattened key is an object");
                }
                node.insert(parts[parts.len() - 1].to_string(), unflatten(v, sep));
            }
            Json::Object(root)
        }
        Json::Array(items) => Json::Array(items.iter().map(|i| unflatten(i, sep)).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_emits_json_objects(value in arb_json()) {
        let text = value.to_string();
        for o in all_modes() {
            let normalize = o.normalize_keys;
            let mut f = Flattener::new(o).unwrap();
            let mut out = Vec::new();
            if f.flatten(text.as_bytes(), &mut out).is_ok() {
                for line in String::from_utf8(out).unwrap().lines() {
                    let parsed: Json = serde_json::from_str(line).unwrap();
                    let object = parsed.as_object().expect("every line is an object");
                    if normalize {
                        for k in object.keys() {
                            prop_assert!(k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{k}");
                            prop_assert!(!k.as_bytes()[0].is_ascii_digit());
                            prop_assert!(k.len() <= 255);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn string_scan_finds_the_first_special_byte(
        bytes in prop::collection::vec(prop::sample::select(vec![b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xa0, 0xdf, 0xff]), 0..40),
        from in 0usize..48,
    ) {
        // The eight-byte scan against the plain byte-by-byte definition.
        let expected = from.min(bytes.len())
            + bytes[from.min(bytes.len())..]
                .iter()
                .position(|&b| scan::STRING_SPECIAL[b as usize] || b >= 0x80)
                .unwrap_or(bytes.len() - from.min(bytes.len()));
        prop_assert_eq!(scan::plain_run_end(&bytes, from), expected);
    }

    #[test]
    fn digit_scan_finds_the_first_non_digit(
        bytes in prop::collection::vec(prop::sample::select(b"0123456789012345678901234567890123456789/:.e-\x00\x7f\x80\xb9\xba\xff".to_vec()), 0..40),
        from in 0usize..48,
    ) {
        let from_clamped = from.min(bytes.len());
        let expected = from_clamped
            + bytes[from_clamped..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(bytes.len() - from_clamped);
        prop_assert_eq!(scan::digits_end(&bytes, from), expected);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for o in all_modes() {
            let mut f = Flattener::new(o).unwrap();
            let result = f.flatten(&bytes, &mut Vec::new());
            if let Err(e) = std::str::from_utf8(&bytes) {
                prop_assert_eq!(result, Err(FlattenError::NotUtf8 { offset: e.valid_up_to() }));
            }
        }
    }

    #[test]
    fn strings_are_utf8_validated_on_the_way(
        head in "[a-z ]{0,9}",
        bytes in prop::collection::vec(prop::sample::select(vec![b'a', 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0x80, 0x93, 0xf0, 0x9f, 0x98, 0x80, 0xc0, 0xed, 0xa0, 0xf5, 0xff]), 0..24),
        in_key in any::<bool>(),
    ) {
        // Non-ASCII bytes in a key or a value (no separate UTF-8 pass): accepted exactly when
        // the whole input is UTF-8, else reported at the first invalid byte.
        let mut text = head.into_bytes();
        text.extend_from_slice(&bytes);
        let input = if in_key {
            [&b"{\"x\":1,\""[..], &text, b"\":2}"].concat()
        } else {
            [&b"{\"x\":\""[..], &text, b"\"}"].concat()
        };
        let result = Flattener::new(FlattenOptions::default()).unwrap().flatten(&input, &mut Vec::new());
        match std::str::from_utf8(&input) {
            Ok(_) => prop_assert!(result.is_ok(), "{:?}: {:?}", input, result),
            Err(e) => prop_assert_eq!(result, Err(FlattenError::NotUtf8 { offset: e.valid_up_to() })),
        }
    }

    #[test]
    fn unflattening_recovers_the_input(value in prop::collection::btree_map("[a-z]{1,4}", arb_json(), 0..6)) {
        // Normalisation off and a separator no generated key contains (U+0001: `\\PC`
        // excludes control characters), so every flattened name splits back unambiguously.
        let sep = "\u{1}";
        let input = Json::Object(value.into_iter().collect());
        let o = opts(|o| { o.normalize_keys = false; o.separator = sep.into(); o.keep_empty = true; o.max_depth = 64; });
        let text = input.to_string();
        let mut f = Flattener::new(o).unwrap();
        let mut out = Vec::new();
        f.flatten(text.as_bytes(), &mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        let flat: Json = serde_json::from_str(line.trim_end()).unwrap();
        // Compare with the input parsed from the same text: serde_json's default float
        // parsing is not exact, and the flattener copies the digits verbatim.
        let reparsed: Json = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(unflatten(&flat, sep), reparsed);
    }
}
