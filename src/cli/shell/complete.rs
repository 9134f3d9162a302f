//! Tab completion from the schema and from QEMU: command names, argument
//! keys (nested, after `a.b.`), enum values, `true`/`false`, QOM paths for
//! `path=` of the qom-* commands, property names, device_add's `driver=`,
//! and HMP command names.

use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use super::{Shared, action_type, name_types, words};
use crate::items::{Item, ItemValue, build_arguments};
use crate::schema::{Name, Schema, Type};

/// What completion asks of the session (a fake in unit tests).
pub trait Lookup {
    /// The server's schema.
    fn schema(&self) -> Option<&Schema>;
    /// `-H`.
    fn hmp(&self) -> bool;
    /// Inside `transaction(` ... `)`.
    fn in_transaction(&self) -> bool;
    /// `qom-list PATH` as (name, type) pairs; empty when it fails.
    fn qom_list(&self, path: &str) -> Vec<(String, String)>;
    /// Concrete device types.
    fn drivers(&self) -> Vec<String>;
    /// A device type's properties as (name, type) pairs.
    fn device_properties(&self, driver: &str) -> Vec<(String, String)>;
    /// HMP command names and `info` subcommands.
    fn hmp_names(&self) -> (Vec<String>, Vec<String>);
}

impl Lookup for Shared {
    fn schema(&self) -> Option<&Schema> {
        Shared::schema(self)
    }
    fn hmp(&self) -> bool {
        self.hmp
    }
    fn in_transaction(&self) -> bool {
        self.in_transaction.load(Ordering::Relaxed)
    }
    fn qom_list(&self, path: &str) -> Vec<(String, String)> {
        let args = json!({"path": path});
        let reply = self.quietly(|c| c.execute("qom-list", args.as_object()));
        reply.map(name_types).unwrap_or_default()
    }
    fn drivers(&self) -> Vec<String> {
        Shared::drivers(self).to_vec()
    }
    fn device_properties(&self, driver: &str) -> Vec<(String, String)> {
        let args = json!({"typename": driver});
        let reply = self.quietly(|c| c.execute("device-list-properties", args.as_object()));
        reply.map(name_types).unwrap_or_default()
    }
    fn hmp_names(&self) -> (Vec<String>, Vec<String>) {
        Shared::hmp_names(self).clone()
    }
}

/// Candidates for the word that ends at `pos` in `line`: where it starts,
/// and the words that may replace it, sorted.
pub fn complete(l: &dyn Lookup, line: &str, pos: usize) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let mut words = words::split(before, true).unwrap_or_default();
    let (start, current) = match words.pop() {
        Some(w) if !before.ends_with(char::is_whitespace) => (w.start, w.text),
        Some(w) => {
            words.push(w);
            (pos, String::new())
        }
        None => (pos, String::new()),
    };
    let words: Vec<String> = words.into_iter().map(|w| w.text).collect();
    let mut out = if l.hmp() {
        hmp(l, &words)
    } else {
        qmp(l, &words, &current)
    };
    out.retain(|c| c.starts_with(current.as_str()));
    out.sort();
    out.dedup();
    (start, out)
}

fn hmp(l: &dyn Lookup, words: &[String]) -> Vec<String> {
    let (commands, info) = l.hmp_names();
    match words {
        [] => commands,
        [w] if w == "info" => info,
        _ => Vec::new(),
    }
}

fn qmp(l: &dyn Lookup, words: &[String], current: &str) -> Vec<String> {
    let Some(schema) = l.schema() else {
        return Vec::new();
    };
    // The object the items fill, the key prefix they go under, the command.
    let (ty, prefix, command): (String, Vec<String>, &str) = match words {
        [] if l.in_transaction() => return actions(schema, true),
        [] => {
            let mut c: Vec<String> = schema.commands().map(String::from).collect();
            c.extend(["help", "events", "transaction("].map(String::from));
            return c;
        }
        [w] if w == "help" => {
            return schema
                .commands()
                .chain(schema.events())
                .map(String::from)
                .collect();
        }
        [w] if w == "transaction(" => return actions(schema, false),
        [first, ..] if l.in_transaction() || first == "transaction(" => {
            let action = if first == "transaction(" {
                &words[1]
            } else {
                first
            };
            let Some(ty) = action_type(schema) else {
                return Vec::new();
            };
            let rest = if first == "transaction(" {
                &words[2..]
            } else {
                &words[1..]
            };
            let mut given = given(rest, &["data"]);
            given.insert("type".into(), json!(action));
            return items(
                l,
                schema,
                &ty,
                &["data".to_string()],
                "transaction",
                &given,
                current,
            );
        }
        [command, ..] => match schema.command(command) {
            Some(c) => (c.arg_type.to_string(), Vec::new(), command.as_str()),
            None => return Vec::new(),
        },
    };
    let given = given(&words[1..], &[]);
    items(l, schema, &ty, &prefix, command, &given, current)
}

fn actions(schema: &Schema, close: bool) -> Vec<String> {
    let mut out: Vec<String> = action_type(schema)
        .and_then(|t| {
            schema
                .tag(&t)
                .map(|(_, c)| c.iter().map(|c| c.to_string()).collect())
        })
        .unwrap_or_default();
    if close {
        out.push(")".into());
    }
    out
}

/// The arguments the other words give (what selects union variants);
/// items that do not parse, and files, are left out.
fn given(words: &[String], prefix: &[&str]) -> Map<String, Value> {
    let items: Vec<Item> = words
        .iter()
        .filter_map(|w| w.parse::<Item>().ok())
        .filter(|i| matches!(i.value, ItemValue::Given(_)))
        .map(|mut i| {
            let mut path: Vec<String> = prefix.iter().map(|p| p.to_string()).collect();
            path.append(&mut i.path);
            i.path = path;
            i
        })
        .collect();
    // Keys given twice are an error for the request, not for completion.
    let mut args = Map::new();
    for item in &items {
        if let Ok(a) = build_arguments(args.clone(), std::slice::from_ref(item)) {
            args = a;
        }
    }
    args
}

fn items(
    l: &dyn Lookup,
    schema: &Schema,
    ty: &str,
    prefix: &[String],
    command: &str,
    given: &Map<String, Value>,
    current: &str,
) -> Vec<String> {
    if let Some(at) = current.find('=') {
        if current[..at].ends_with(':') {
            return Vec::new(); // key:=json: no help for JSON
        }
        let key = &current[..at];
        let mut path = prefix.to_vec();
        path.extend(key.split('.').map(String::from));
        let values = values(l, schema, ty, &path, command, given, &current[at + 1..]);
        return values.into_iter().map(|v| format!("{key}={v}")).collect();
    }
    let (parent, head) = match current.rfind('.') {
        Some(dot) => (&current[..dot], &current[..=dot]),
        None => ("", ""),
    };
    let mut path = prefix.to_vec();
    path.extend(
        parent
            .split('.')
            .filter(|p| !p.is_empty())
            .map(String::from),
    );
    let parent_ty = if path.is_empty() {
        Some(ty)
    } else {
        schema.member_type(ty, &path, Some(given))
    };
    let at = path
        .iter()
        .try_fold(given, |g, k| g.get(k).and_then(Value::as_object));
    let mut out = Vec::new();
    for m in parent_ty.map(|t| schema.members(t, at)).unwrap_or_default() {
        if at.is_some_and(|a| a.get(m.name.as_str()).is_some_and(|v| !v.is_object())) {
            continue; // given already
        }
        let object = schema.as_object(&m.ty).is_some();
        let scalar = !matches!(schema.ty(&m.ty), Some(Type::Object(_)));
        if object {
            out.push(format!("{head}{}.", m.name));
        }
        if scalar {
            out.push(format!("{head}{}=", m.name));
        }
    }
    if command == "device_add"
        && path.is_empty()
        && let Some(driver) = given.get("driver").and_then(Value::as_str)
    {
        for (name, _) in l.device_properties(driver) {
            if !given.contains_key(&name) {
                out.push(format!("{name}="));
            }
        }
    }
    out
}

/// The values for the key at `path`; `value` is what is typed so far.
fn values(
    l: &dyn Lookup,
    schema: &Schema,
    ty: &str,
    path: &[String],
    command: &str,
    given: &Map<String, Value>,
    value: &str,
) -> Vec<String> {
    let key = path.last().map(String::as_str).unwrap_or_default();
    let is_qom = command.starts_with("qom-");
    if is_qom && key == "path" && path.len() == 1 {
        return qom_paths(l, value);
    }
    if is_qom && key == "property" && path.len() == 1 {
        let Some(p) = given.get("path").and_then(Value::as_str) else {
            return Vec::new();
        };
        return l.qom_list(p).into_iter().map(|(n, _)| n).collect();
    }
    if command == "device_add" && key == "driver" && path.len() == 1 {
        return l.drivers();
    }
    match schema.member_type(ty, path, Some(given)) {
        Some(t) => scalar_values(schema, t),
        None => Vec::new(),
    }
}

fn scalar_values(schema: &Schema, ty: &str) -> Vec<String> {
    match schema.ty(ty) {
        Some(Type::Enum(v)) => v.iter().map(Name::to_string).collect(),
        Some(Type::Builtin(j)) if j == "boolean" => vec!["true".into(), "false".into()],
        Some(Type::Alternate(b)) => b.iter().flat_map(|b| scalar_values(schema, b)).collect(),
        _ => Vec::new(),
    }
}

/// QOM paths: the children and links of the directory typed so far (type
/// `/` to go into one).
fn qom_paths(l: &dyn Lookup, value: &str) -> Vec<String> {
    let Some(slash) = value.rfind('/') else {
        return vec!["/".into()];
    };
    let dir = &value[..=slash];
    let list = if dir == "/" {
        "/"
    } else {
        &dir[..dir.len() - 1]
    };
    l.qom_list(list)
        .into_iter()
        .filter(|(_, t)| t.starts_with("child<") || t.starts_with("link<"))
        .map(|(n, _)| format!("{dir}{n}"))
        .collect()
}

#[cfg(test)]
mod tests;
