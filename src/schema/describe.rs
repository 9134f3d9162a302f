//! A command's or event's description from the schema: as a JSON tree
//! (`--describe --json`) and as indented text (`help COMMAND`).
//!
//! The tree: every type is an object with `"type"`: a built-in's name
//! (`str`, `int`, `number`, `bool`, `null`, `any`), or `enum` (with
//! `"values"`), `array` (with `"of"`), `alternate` (with `"of"`: the
//! branches), `object` (with `"members"`, each a type plus `"name"` and
//! `"optional"`; a union adds `"tag"` and `"variants"`, the members each
//! tag value adds). An object type met again inside itself is `{"type":
//! "object", "recursive": true}` (QEMU's block options nest).

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{Schema, Type};

/// The description of command `name`: `{"command", "arguments", "returns",
/// "allow-oob"}` (`arguments` is an object type, `returns` a type), or
/// `None` if the server has no such command.
pub fn command(schema: &Schema, name: &str) -> Option<Value> {
    let c = schema.command(name)?;
    let mut out = Map::new();
    out.insert("command".into(), json!(name));
    out.insert(
        "arguments".into(),
        shape(schema, &c.arg_type, &mut Vec::new()),
    );
    out.insert(
        "returns".into(),
        shape(schema, &c.ret_type, &mut Vec::new()),
    );
    out.insert("allow-oob".into(), json!(c.allow_oob));
    if !c.features.is_empty() {
        out.insert("features".into(), json!(c.features));
    }
    Some(Value::Object(out))
}

/// The description of event `name`: `{"event", "data"}`, or `None`.
pub fn event(schema: &Schema, name: &str) -> Option<Value> {
    let data = schema.event(name)?;
    Some(json!({"event": name, "data": shape(schema, data, &mut Vec::new())}))
}

/// The tree of type `ty`; `stack` holds the object types being expanded.
fn shape(schema: &Schema, ty: &str, stack: &mut Vec<String>) -> Value {
    let Some(t) = schema.ty(ty) else {
        return json!({"type": ty});
    };
    match t {
        Type::Builtin(_) => json!({"type": ty}),
        Type::Enum(values) => json!({"type": "enum", "values": values}),
        Type::Array(e) => json!({"type": "array", "of": shape(schema, e, stack)}),
        Type::Alternate(b) => {
            let of: Vec<Value> = b.iter().map(|b| shape(schema, b, stack)).collect();
            json!({"type": "alternate", "of": of})
        }
        Type::Object(o) => {
            if stack.iter().any(|s| s == ty) {
                return json!({"type": "object", "recursive": true});
            }
            stack.push(ty.to_string());
            let mut out = Map::new();
            out.insert("type".into(), json!("object"));
            out.insert("members".into(), members(schema, &o.members, stack));
            if let Some(tag) = &o.tag {
                out.insert("tag".into(), json!(tag));
                let mut variants = Map::new();
                for (case, variant) in &o.variants {
                    let m = match schema.ty(variant) {
                        Some(Type::Object(v)) => members(schema, &v.members, stack),
                        _ => json!([]),
                    };
                    variants.insert(case.to_string(), m);
                }
                out.insert("variants".into(), Value::Object(variants));
            }
            stack.pop();
            Value::Object(out)
        }
    }
}

fn members(schema: &Schema, members: &[super::Member], stack: &mut Vec<String>) -> Value {
    let list = members.iter().map(|m| {
        let mut v = shape(schema, &m.ty, stack);
        if let Value::Object(o) = &mut v {
            // The name first: it reads better in --json.
            let mut named = Map::new();
            named.insert("name".into(), json!(m.name));
            named.insert("optional".into(), json!(m.optional));
            if !m.features.is_empty() {
                named.insert("features".into(), json!(m.features));
            }
            named.append(o);
            return Value::Object(named);
        }
        v
    });
    Value::Array(list.collect())
}

/// A description ([`command`] or [`event`]) as indented text: one line per
/// member, `name: type`, `(optional)` where it may be left out, enum
/// values listed, nested members indented below their key, a union's
/// variant members under `when TAG=VALUE:`.
pub fn text(description: &Value) -> String {
    let mut out = String::new();
    if let Some(name) = description["command"].as_str() {
        let _ = writeln!(out, "{name}");
        let args = &description["arguments"];
        if args["members"].as_array().is_none_or(Vec::is_empty) && args.get("tag").is_none() {
            out.push_str("  arguments: none\n");
        } else {
            out.push_str("  arguments:\n");
            object_lines(&mut out, args, 1);
        }
        let returns = &description["returns"];
        if returns["type"] == "object" && returns["members"].as_array().is_some_and(Vec::is_empty) {
            out.push_str("  returns: nothing ({})\n");
        } else {
            let _ = writeln!(out, "  returns: {}", summary(returns));
            nested(&mut out, returns, 1);
        }
        if description["allow-oob"] == true {
            out.push_str("  can run out of band (exec-oob)\n");
        }
        if let Some(f) = description["features"].as_array() {
            let f: Vec<&str> = f.iter().filter_map(Value::as_str).collect();
            let _ = writeln!(out, "  features: {}", f.join(", "));
        }
    } else if let Some(name) = description["event"].as_str() {
        let _ = writeln!(out, "{name}");
        let data = &description["data"];
        if data["members"].as_array().is_none_or(Vec::is_empty) {
            out.push_str("  data: none\n");
        } else {
            out.push_str("  data:\n");
            object_lines(&mut out, data, 1);
        }
    }
    out
}

/// A type in a line: `str`, `enum (a, b)`, `list of ...`, `object`, `str
/// or object`.
fn summary(ty: &Value) -> String {
    match ty["type"].as_str().unwrap_or("?") {
        "enum" => {
            let values: Vec<&str> = ty["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!("enum ({})", values.join(", "))
        }
        "array" => format!("list of {}", summary(&ty["of"])),
        "alternate" => ty["of"]
            .as_array()
            .map(|b| b.iter().map(summary).collect::<Vec<_>>().join(" or "))
            .unwrap_or_default(),
        "object" if ty["recursive"] == true => "object (as above)".into(),
        "object" if ty.get("tag").is_some() => {
            format!("object (by {})", ty["tag"].as_str().unwrap_or("?"))
        }
        other => other.to_string(),
    }
}

/// The members of whatever objects `ty` holds (itself, its list's elements,
/// its alternate's object branch), indented under its line.
fn nested(out: &mut String, ty: &Value, depth: usize) {
    match ty["type"].as_str() {
        Some("object") if ty["recursive"] != true => object_lines(out, ty, depth),
        Some("array") => nested(out, &ty["of"], depth),
        Some("alternate") => {
            for b in ty["of"].as_array().into_iter().flatten() {
                nested(out, b, depth);
            }
        }
        _ => {}
    }
}

fn object_lines(out: &mut String, object: &Value, depth: usize) {
    for m in object["members"].as_array().into_iter().flatten() {
        member_line(out, m, depth + 1);
    }
    let tag = object["tag"].as_str().unwrap_or("?");
    for (case, members) in object["variants"].as_object().into_iter().flatten() {
        let Some(members) = members.as_array().filter(|m| !m.is_empty()) else {
            continue;
        };
        let _ = writeln!(
            out,
            "{:width$}when {tag}={case}:",
            "",
            width = 2 * (depth + 1)
        );
        for m in members {
            member_line(out, m, depth + 2);
        }
    }
}

fn member_line(out: &mut String, m: &Value, depth: usize) {
    let name = m["name"].as_str().unwrap_or("?");
    let optional = if m["optional"] == true {
        " (optional)"
    } else {
        ""
    };
    let deprecated = m["features"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == "deprecated"));
    let deprecated = if deprecated { " (deprecated)" } else { "" };
    let _ = writeln!(
        out,
        "{:width$}{name}: {}{optional}{deprecated}",
        "",
        summary(m),
        width = 2 * depth
    );
    nested(out, m, depth);
}
