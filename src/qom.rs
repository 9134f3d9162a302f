//! QOM helpers: `PATH.PROPERTY` arguments, property kinds, and the values
//! for `qom-set`.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::message::Request;

/// A `PATH.PROPERTY` argument, split at the last dot (as QEMU's tools do):
/// `/machine/peripheral/vblk0.type`, or a partial path `vblk0.type` that
/// QEMU resolves itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropPath {
    /// The object's path.
    pub path: String,
    /// The property's name.
    pub property: String,
}

impl FromStr for PropPath {
    type Err = Error;

    /// # Errors
    /// [`Error::Item`] when there is no dot, or the path or property is empty.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Item {
            item: s.to_string(),
            reason: reason.to_string(),
        };
        let (path, property) = s
            .rsplit_once('.')
            .ok_or_else(|| bad("expected PATH.PROPERTY, e.g. /machine.type or vblk0.type"))?;
        if path.is_empty() {
            return Err(bad("empty object path before the last '.'"));
        }
        if property.is_empty() {
            return Err(bad("empty property name after the last '.'"));
        }
        Ok(PropPath {
            path: path.to_string(),
            property: property.to_string(),
        })
    }
}

impl fmt::Display for PropPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.path, self.property)
    }
}

impl PropPath {
    /// The `qom-get` request for this property.
    pub fn get_request(&self) -> Request {
        Request::new("qom-get", Some(path_args(&self.path, Some(&self.property))))
    }

    /// The `qom-set` request setting this property to `value`.
    pub fn set_request(&self, value: Value) -> Request {
        let mut args = path_args(&self.path, Some(&self.property));
        args.insert("value".into(), value);
        Request::new("qom-set", Some(args))
    }
}

/// `{"path": path}` plus `"property"` when given.
pub(crate) fn path_args(path: &str, property: Option<&str>) -> Map<String, Value> {
    let mut args = Map::new();
    args.insert("path".into(), Value::String(path.to_string()));
    if let Some(p) = property {
        args.insert("property".into(), Value::String(p.to_string()));
    }
    args
}

/// The `qom-list` request for `path`.
pub fn list_request(path: &str) -> Request {
    Request::new("qom-list", Some(path_args(path, None)))
}

/// What a property's type says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `child<T>`: an object in the composition tree.
    Child,
    /// `link<T>`: a reference to an object elsewhere.
    Link,
    /// Anything else: a value.
    Value,
}

impl Kind {
    /// Classifies a property by its `type` string from `qom-list`.
    pub fn of(ty: &str) -> Kind {
        if ty.starts_with("child<") {
            Kind::Child
        } else if ty.starts_with("link<") {
            Kind::Link
        } else {
            Kind::Value
        }
    }
}

/// The path of child `name` of the object at `path`.
pub fn child_path(path: &str, name: &str) -> String {
    let base = if path == "/" { "" } else { path };
    format!("{base}/{name}")
}

/// A `qom-set` value from the command line: JSON when it parses as JSON
/// (`true`, `42`, `"text"`, `[1,2]`), else the string itself.
pub fn set_value(text: &str, force_string: bool) -> Value {
    if force_string {
        return Value::String(text.to_string());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// One line of QEMU's `qom-list` output: `name/` for children, `@name/` for
/// links, the bare name otherwise.
pub fn list_entry(name: &str, ty: &str) -> String {
    match Kind::of(ty) {
        Kind::Child => format!("{name}/"),
        Kind::Link => format!("@{name}/"),
        Kind::Value => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prop_paths() {
        let ok = [
            ("/machine.type", "/machine", "type"),
            ("vblk0.type", "vblk0", "type"),
            (
                "/machine/peripheral/vblk0.drive",
                "/machine/peripheral/vblk0",
                "drive",
            ),
            ("/a.b/c.d", "/a.b/c", "d"),
            ("/objects/io0.poll-max-ns", "/objects/io0", "poll-max-ns"),
            ("/ü.ß", "/ü", "ß"),
        ];
        for (input, path, prop) in ok {
            let p: PropPath = input.parse().unwrap();
            assert_eq!((p.path.as_str(), p.property.as_str()), (path, prop));
            assert_eq!(p.to_string(), input);
        }
        for (input, want) in [
            ("", "expected PATH.PROPERTY"),
            ("/machine", "expected PATH.PROPERTY"),
            (".type", "empty object path"),
            ("/machine.", "empty property name"),
        ] {
            let err = input.parse::<PropPath>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn kinds_entries_and_paths() {
        assert_eq!(list_entry("vblk0", "child<virtio-blk-pci>"), "vblk0/");
        assert_eq!(list_entry("drive", "link<block-backend>"), "@drive/");
        assert_eq!(list_entry("type", "string"), "type");
        assert_eq!(list_entry("childish", "str"), "childish");
        assert_eq!(child_path("/", "machine"), "/machine");
        assert_eq!(child_path("/machine", "q35"), "/machine/q35");
        assert_eq!(child_path("vblk0", "x"), "vblk0/x");
    }

    #[test]
    fn set_values() {
        let cases = [
            ("true", false, json!(true)),
            ("42", false, json!(42)),
            ("-1", false, json!(-1)),
            ("18446744073709551615", false, json!(u64::MAX)),
            ("\"text\"", false, json!("text")),
            ("[1,2]", false, json!([1, 2])),
            ("{\"a\":null}", false, json!({"a": null})),
            ("on", false, json!("on")),
            ("", false, json!("")),
            ("12k", false, json!("12k")),
            ("42", true, json!("42")),
            ("true", true, json!("true")),
        ];
        for (text, force, want) in cases {
            assert_eq!(set_value(text, force), want, "{text:?} {force}");
        }
    }
}
