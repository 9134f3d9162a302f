use serde_json::{Map, Value, json};

use super::typing::{Typed, convert, type_arguments};
use super::*;
use crate::items::{Item, build_arguments};

/// A small schema in introspection's own form: a union with a tag, an
/// alternate of an object and a string, enums, lists, a recursive type.
fn schema() -> Schema {
    Schema::from_value(&schema_value()).unwrap()
}

fn schema_value() -> Value {
    json!([
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
        {"name": "int", "meta-type": "builtin", "json-type": "int"},
        {"name": "bool", "meta-type": "builtin", "json-type": "boolean"},
        {"name": "number", "meta-type": "builtin", "json-type": "number"},
        {"name": "null", "meta-type": "builtin", "json-type": "null"},
        {"name": "any", "meta-type": "builtin", "json-type": "value"},
        {"name": "0", "meta-type": "object", "members": []},
        {"name": "blockdev-add", "meta-type": "command", "arg-type": "1", "ret-type": "0"},
        {"name": "1", "meta-type": "object", "tag": "driver",
         "members": [{"name": "driver", "type": "2"},
                     {"name": "node-name", "type": "str", "default": null}],
         "variants": [{"case": "file", "type": "3"}, {"case": "raw", "type": "4"}]},
        {"name": "2", "meta-type": "enum", "values": ["file", "raw"],
         "members": [{"name": "file"}, {"name": "raw"}]},
        {"name": "3", "meta-type": "object",
         "members": [{"name": "filename", "type": "str"},
                     {"name": "aio-max-batch", "type": "int", "default": null}]},
        {"name": "4", "meta-type": "object",
         "members": [{"name": "file", "type": "5"},
                     {"name": "size", "type": "int", "default": null}]},
        {"name": "5", "meta-type": "alternate", "members": [{"type": "1"}, {"type": "str"}]},
        {"name": "6", "meta-type": "alternate",
         "members": [{"type": "int"}, {"type": "bool"}, {"type": "[int]"}]},
        {"name": "[int]", "meta-type": "array", "element-type": "int"},
        {"name": "7", "meta-type": "alternate", "members": [{"type": "str"}, {"type": "null"}]},
        {"name": "SHUTDOWN", "meta-type": "event", "arg-type": "8"},
        {"name": "8", "meta-type": "object", "members": [{"name": "guest", "type": "bool"}]},
        {"name": "x", "meta-type": "command", "arg-type": "9", "ret-type": "[int]",
         "allow-oob": true},
        {"name": "9", "meta-type": "object",
         "members": [{"name": "n", "type": "number"}, {"name": "v", "type": "any"},
                     {"name": "alt", "type": "6"}, {"name": "son", "type": "7"}]}
    ])
}

/// The schema as the reader of the common case reads `text` (as the
/// return value of a reply); `None` where it gives up.
fn by_subset(text: &str) -> Option<Result<Schema>> {
    use crate::wire::ReturnSeed;
    let mut r = crate::subset::Reader::new(text);
    let built = parse::SchemaReturn.read_subset(&mut r)?;
    if !r.at_end() {
        return None;
    }
    Some(match built {
        Ok(b) => b.and_then(Builder::finish),
        Err(_) => unreachable!("the subset reader takes lists only"),
    })
}

#[test]
fn the_subset_reader_reads_what_serde_reads() {
    // QEMU's spacing, and none.
    let spaced = schema_value()
        .to_string()
        .replace(",", ", ")
        .replace(":", ": ");
    for text in [schema_value().to_string(), spaced.clone()] {
        let got = by_subset(&text).expect("taken").unwrap();
        assert_eq!(got, Schema::from_json(&text).unwrap());
        assert_eq!(got, schema());
    }
    // Every byte of it dropped, or changed to a few others: what the
    // reader takes, serde_json takes the same way (or refuses too).
    let bytes = spaced.as_bytes();
    let mut taken = 0;
    for at in 0..bytes.len() {
        for with in [
            None,
            Some(b'"'),
            Some(b'\\'),
            Some(b'1'),
            Some(b'}'),
            Some(b' '),
        ] {
            let mut v = bytes.to_vec();
            match with {
                None => drop(v.remove(at)),
                Some(b) => v[at] = b,
            }
            let Ok(text) = String::from_utf8(v) else {
                continue;
            };
            let Some(got) = by_subset(&text) else {
                continue;
            };
            taken += 1;
            match (got, Schema::from_json(&text)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("subset {a:?}, serde {b:?}: {text}"),
            }
        }
    }
    assert!(taken > bytes.len(), "only {taken} variants taken");
    // Escapes and numbers are left to serde_json.
    assert!(
        by_subset(r#"[{"name": "a\u0062", "meta-type": "builtin", "json-type": "int"}]"#).is_none()
    );
    assert!(
        by_subset(r#"[{"name": "a", "x": 1.5, "meta-type": "builtin", "json-type": "int"}]"#)
            .is_none()
    );
}

fn p(s: &str) -> Vec<String> {
    s.split('.').map(String::from).collect()
}

#[test]
fn resolves_commands_events_and_members() {
    let s = schema();
    assert_eq!(s.commands().collect::<Vec<_>>(), ["blockdev-add", "x"]);
    assert_eq!(s.events().collect::<Vec<_>>(), ["SHUTDOWN"]);
    assert!(s.command("x").unwrap().allow_oob);
    let given: Map<String, Value> = json!({"driver": "raw"}).as_object().unwrap().clone();
    let names = |m: Vec<&Member>| m.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(s.members("1", None)), ["driver", "node-name"]);
    assert_eq!(
        names(s.members("1", Some(&given))),
        ["driver", "node-name", "file", "size"]
    );
    // The variant the tag selects; the alternate's object branch below it.
    let given = json!({"driver": "raw", "file": {"driver": "file"}});
    let given = given.as_object().unwrap();
    assert_eq!(s.member_type("1", &p("size"), Some(given)), Some("int"));
    assert_eq!(
        s.member_type("1", &p("file.filename"), Some(given)),
        Some("str")
    );
    assert_eq!(
        s.member_type("1", &p("file.aio-max-batch"), Some(given)),
        Some("int")
    );
    assert_eq!(s.member_type("1", &p("nope"), Some(given)), None);
    // No tag value given: a key the variants agree on still has a type.
    assert_eq!(s.member_type("1", &p("filename"), None), Some("str"));
    assert_eq!(s.tag("5"), Some(("driver", vec!["file", "raw"])));
}

#[test]
fn refuses_a_schema_that_does_not_hold_together() {
    for bad in [
        json!({}),
        json!([{"name": "c", "meta-type": "command", "arg-type": "nope", "ret-type": "nope"}]),
        json!([{"name": "c", "meta-type": "frob"}]),
        json!([{"meta-type": "enum", "values": []}]),
        json!([{"name": "o", "meta-type": "object", "members": [{"name": "a"}]}]),
    ] {
        assert!(Schema::from_value(&bad).is_err(), "{bad}");
    }
}

#[test]
fn converts_text_by_type() {
    let s = schema();
    let ok: &[(&str, &str, Value)] = &[
        ("str", "1234", json!("1234")),
        ("int", "1024", json!(1024)),
        ("int", "-5", json!(-5)),
        ("int", "0x10", json!(16)),
        ("int", "18446744073709551615", json!(u64::MAX)),
        ("number", "0.5", json!(0.5)),
        ("bool", "on", json!(true)),
        ("bool", "No", json!(false)),
        ("2", "raw", json!("raw")),
        ("6", "7", json!(7)),
        ("6", "off", json!(false)),
        ("7", "null", json!("null")),
        ("5", "node0", json!("node0")),
        ("null", "null", json!(null)),
    ];
    for (ty, text, want) in ok {
        assert_eq!(
            convert(&s, ty, text),
            Ok(Typed::Value(want.clone())),
            "{ty} {text}"
        );
    }
    assert_eq!(convert(&s, "any", "x"), Ok(Typed::Untyped));
    let bad: &[(&str, &str, &str)] = &[
        ("int", "1k", "not an integer"),
        ("int", "18446744073709551616", "not an integer"),
        ("number", "x", "not a number"),
        ("bool", "2", "true/false, on/off"),
        ("2", "qcow2", "not one of: file, raw"),
        ("[int]", "1", "key:='[...]'"),
        ("3", "x", "nested keys"),
        ("6", "x", "fits none of: int, bool, list of int"),
    ];
    for (ty, text, want) in bad {
        let e = convert(&s, ty, text).unwrap_err();
        assert!(e.contains(want), "{ty} {text}: {e}");
    }
}

#[test]
fn types_text_items_and_leaves_json_items_alone() {
    let s = schema();
    let items: Vec<Item> = [
        "driver=raw",
        "size=1024",
        "node-name=1234",
        "file.driver=file",
        "file.filename=/d",
        "file.aio-max-batch:=\"8\"",
        "extra=1",
    ]
    .iter()
    .map(|i| i.parse().unwrap())
    .collect();
    let mut args = build_arguments(Map::new(), &items).unwrap();
    let untyped = type_arguments(&s, "1", &mut args, &items).unwrap();
    assert_eq!(
        Value::Object(args),
        json!({"driver": "raw", "size": 1024, "node-name": "1234",
               "file": {"driver": "file", "filename": "/d", "aio-max-batch": "8"},
               "extra": "1"})
    );
    assert_eq!(
        untyped.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
        ["extra"]
    );
    let items: Vec<Item> = vec!["driver=qcow2".parse().unwrap()];
    let mut args = build_arguments(Map::new(), &items).unwrap();
    let e = type_arguments(&s, "1", &mut args, &items)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'driver=qcow2'") && e.contains("file, raw"),
        "{e}"
    );
}

#[test]
fn describes_commands_and_events() {
    let s = schema();
    let d = describe::command(&s, "blockdev-add").unwrap();
    assert_eq!(d["arguments"]["tag"], "driver");
    assert_eq!(d["arguments"]["members"][1]["name"], "node-name");
    assert_eq!(d["arguments"]["members"][1]["optional"], true);
    // raw's file is an alternate whose object branch is blockdev-add's own
    // arguments again: recursive, not expanded forever.
    let file = &d["arguments"]["variants"]["raw"][0];
    assert_eq!(file["of"][0], json!({"type": "object", "recursive": true}));
    let text = describe::text(&d);
    for line in [
        "blockdev-add\n  arguments:\n    driver: enum (file, raw)\n",
        "    node-name: str (optional)\n",
        "    when driver=file:\n      filename: str\n",
        "      file: object (as above) or str\n",
        "  returns: nothing ({})\n",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    let x = describe::text(&describe::command(&s, "x").unwrap());
    assert!(x.contains("    alt: int or bool or list of int\n"), "{x}");
    assert!(
        x.contains("  returns: list of int\n  can run out of band"),
        "{x}"
    );
    let e = describe::text(&describe::event(&s, "SHUTDOWN").unwrap());
    assert_eq!(e, "SHUTDOWN\n  data:\n    guest: bool\n");
    assert!(describe::command(&s, "nope").is_none());
}
