//! QOM helpers: `PATH.PROPERTY` arguments, property kinds, and the values
//! for `qom-set`.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::message::Request;

/// A `PATH.PROPERTY` argument: `/machine/peripheral/vblk0.type`, or a
/// partial path `vblk0.type` that QEMU resolves itself.
///
/// QEMU's tools split at the last dot, and so does [`PropPath::path`] /
/// [`PropPath::property`]; but property names can hold dots themselves
/// (`sse4.2` of x86 CPUs), so [`PropPath::splits`] gives every split at a
/// dot after the last `/`, the last dot first, for [`crate::lookup`] to try.
/// `\.` is a dot that never splits (`device[0].sse4\.2`), `\\` a backslash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropPath {
    /// As written, for messages and output labels.
    pub raw: String,
    /// The object's path at the last split point.
    pub path: String,
    /// The property's name at the last split point.
    pub property: String,
    /// Everything up to the last `/` (unescaped), then the pieces between
    /// the dots after it.
    prefix: String,
    pieces: Vec<String>,
}

impl FromStr for PropPath {
    type Err = Error;

    /// # Errors
    /// [`Error::Item`] when there is no dot after the last `/`, or the path
    /// or property is empty.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Item {
            item: s.to_string(),
            reason: reason.to_string(),
        };
        let mut prefix = String::new();
        let mut pieces = vec![String::new()];
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            let piece = pieces.last_mut().expect("never empty");
            match c {
                '\\' if matches!(chars.peek(), Some('.' | '\\')) => piece.extend(chars.next()),
                '.' => pieces.push(String::new()),
                '/' => {
                    // The pieces so far were path components, dots and all.
                    let done = std::mem::replace(&mut pieces, vec![String::new()]);
                    prefix.push_str(&done.join("."));
                    prefix.push('/');
                }
                c => piece.push(c),
            }
        }
        if pieces.len() < 2 {
            return Err(bad(
                "expected PATH.PROPERTY, e.g. /machine.type or vblk0.type",
            ));
        }
        let last = pieces.len() - 1;
        let path = format!("{prefix}{}", pieces[..last].join("."));
        if path.is_empty() {
            return Err(bad("empty object path before the last '.'"));
        }
        if pieces[last].is_empty() {
            return Err(bad("empty property name after the last '.'"));
        }
        Ok(PropPath {
            raw: s.to_string(),
            path,
            property: pieces[last].clone(),
            prefix,
            pieces,
        })
    }
}

impl fmt::Display for PropPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl PropPath {
    /// A property `property` of the object at `path`, as given (no splitting).
    pub fn new(path: &str, property: &str) -> Self {
        PropPath {
            raw: format!("{path}.{property}"),
            path: path.to_string(),
            property: property.to_string(),
            prefix: String::new(),
            pieces: vec![path.to_string(), property.to_string()],
        }
    }

    /// Every `(object path, property)` this can mean, the split at the last
    /// dot first, then at each earlier dot after the last `/`; splits that
    /// leave the path or the property empty are left out.
    pub fn splits(&self) -> Vec<(String, String)> {
        (1..self.pieces.len())
            .rev()
            .map(|k| {
                (
                    format!("{}{}", self.prefix, self.pieces[..k].join(".")),
                    self.pieces[k..].join("."),
                )
            })
            .filter(|(path, prop)| !path.is_empty() && !prop.is_empty())
            .collect()
    }

    /// The same argument split elsewhere (one of [`PropPath::splits`]).
    pub fn at(&self, path: &str, property: &str) -> Self {
        PropPath {
            path: path.to_string(),
            property: property.to_string(),
            ..self.clone()
        }
    }

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
#[non_exhaustive]
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

/// The value `qom-set` sends for `text` to a property of QOM type `ty`
/// (as `qom-list` gives it):
///
/// | type | VALUE |
/// |---|---|
/// | `string`, `str` | the text as it is |
/// | `int`, `int8`...`int64`, `uint8`...`uint64`, `size` | an integer of that width, decimal or `0x` hex |
/// | `bool` | `true`/`false`, `on`/`off`, `yes`/`no` |
/// | `double`, `number` | a number |
/// | `link<...>` | an object path (the text) |
/// | anything else (QAPI enums such as `OnOffAuto`, structs, lists) | JSON when it parses as JSON, else the text |
///
/// # Errors
/// Why `text` does not fit `ty`, naming the accepted forms.
pub fn typed_value(text: &str, ty: &str) -> Result<Value, String> {
    typed_with(text, ty, "(--json sends VALUE as JSON, --string as text)")
}

/// [`typed_value`], whose errors end with `other_forms`: how else the
/// value can be written in the tool at hand.
pub(crate) fn typed_with(text: &str, ty: &str, other_forms: &str) -> Result<Value, String> {
    if let Some((min, max)) = int_range(ty) {
        return match parse_int(text) {
            Some(v) if (min..=max).contains(&v) => Ok(if v < 0 {
                Value::from(v as i64)
            } else {
                Value::from(v as u64)
            }),
            _ => Err(format!(
                "'{text}' is not a valid {ty}: expected an integer from {min} to {max}, \
                 decimal or 0x hex {other_forms}"
            )),
        };
    }
    match ty {
        "string" | "str" => Ok(Value::String(text.to_string())),
        "bool" => match parse_bool(text) {
            Some(b) => Ok(Value::Bool(b)),
            None => Err(format!(
                "'{text}' is not a valid bool: expected true/false, on/off or yes/no \
                 {other_forms}"
            )),
        },
        "double" | "number" => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Number(_)) => Ok(v),
            _ => Err(format!(
                "'{text}' is not a valid {ty}: expected a number such as 0.5 or 1e3 \
                 {other_forms}"
            )),
        },
        _ if Kind::of(ty) == Kind::Link => Ok(Value::String(text.to_string())),
        _ => Ok(crate::items::json_value(text).unwrap_or_else(|_| Value::String(text.to_string()))),
    }
}

/// The range of an integer QOM type (`int` is 64-bit, `size` is `uint64`).
fn int_range(ty: &str) -> Option<(i128, i128)> {
    let bits = |b: &str| match b {
        "8" => Some(8),
        "16" => Some(16),
        "32" => Some(32),
        "64" => Some(64),
        _ => None,
    };
    let (signed, width) = match ty {
        "int" => (true, 64),
        "size" => (false, 64),
        _ => match (ty.strip_prefix("uint"), ty.strip_prefix("int")) {
            (Some(b), _) => (false, bits(b)?),
            (None, Some(b)) => (true, bits(b)?),
            _ => return None,
        },
    };
    Some(if signed {
        (-(1i128 << (width - 1)), (1i128 << (width - 1)) - 1)
    } else {
        (0, (1i128 << width) - 1)
    })
}

/// A bool written true/false, on/off or yes/no (any case), as QEMU's
/// command line takes them.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// An integer written in decimal or `0x` hex, with an optional sign.
pub(crate) fn parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => (16, hex),
        None => (10, digits),
    };
    // from_str_radix would take a second sign; 40 digits overflow i128.
    if digits.is_empty() || digits.len() > 38 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -v } else { v })
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
            ("/.type", "/", "type"),
            ("device[0].sse4.2", "device[0].sse4", "2"),
            ("device[0].sse4\\.2", "device[0]", "sse4.2"),
            ("a\\\\.b", "a\\", "b"),
            ("a\\x.b", "a\\x", "b"),
        ];
        for (input, path, prop) in ok {
            let p: PropPath = input.parse().unwrap();
            assert_eq!((p.path.as_str(), p.property.as_str()), (path, prop));
            assert_eq!(p.to_string(), input);
            assert_eq!(p.splits()[0], (path.to_string(), prop.to_string()));
        }
        let splits = |s: &str| s.parse::<PropPath>().unwrap().splits();
        let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            splits("/machine/unattached/device[0].sse4.2"),
            owned(&[
                ("/machine/unattached/device[0].sse4", "2"),
                ("/machine/unattached/device[0]", "sse4.2"),
            ])
        );
        assert_eq!(
            splits("/machine/q35/pcie.0.realized"),
            owned(&[
                ("/machine/q35/pcie.0", "realized"),
                ("/machine/q35/pcie", "0.realized"),
            ])
        );
        // Only dots after the last '/' split; escaped ones never do.
        assert_eq!(splits("/a.b/c.d"), owned(&[("/a.b/c", "d")]));
        assert_eq!(
            splits("x.y\\.z.w"),
            owned(&[("x.y.z", "w"), ("x", "y.z.w")])
        );
        assert_eq!(splits("vblk0.a.b.c").len(), 3);
        assert_eq!(splits("/.a.b"), owned(&[("/.a", "b"), ("/", "a.b")]));
        for (input, want) in [
            ("", "expected PATH.PROPERTY"),
            ("/machine", "expected PATH.PROPERTY"),
            (".type", "empty object path"),
            ("/machine.", "empty property name"),
            ("/a.b/c", "expected PATH.PROPERTY"),
            ("a\\.b", "expected PATH.PROPERTY"),
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
    fn typed_values() {
        let ok: &[(&str, &str, Value)] = &[
            ("123", "str", json!("123")),
            ("123", "string", json!("123")),
            (" \"quoted\" ", "str", json!(" \"quoted\" ")),
            ("", "str", json!("")),
            ("1000", "int", json!(1000)),
            ("-1", "int", json!(-1)),
            ("0x10", "uint32", json!(16)),
            ("0XfF", "uint8", json!(255)),
            ("+7", "int8", json!(7)),
            ("-128", "int8", json!(-128)),
            ("127", "int8", json!(127)),
            ("65535", "uint16", json!(65535)),
            ("18446744073709551615", "uint64", json!(u64::MAX)),
            ("18446744073709551615", "size", json!(u64::MAX)),
            ("-9223372036854775808", "int64", json!(i64::MIN)),
            ("9223372036854775807", "int", json!(i64::MAX)),
            ("true", "bool", json!(true)),
            ("On", "bool", json!(true)),
            ("yes", "bool", json!(true)),
            ("off", "bool", json!(false)),
            ("NO", "bool", json!(false)),
            ("0.5", "double", json!(0.5)),
            ("1e3", "number", json!(1000.0)),
            ("/objects/io0", "link<iothread>", json!("/objects/io0")),
            ("42", "link<x>", json!("42")),
            ("on", "OnOffAuto", json!("on")),
            ("\"auto\"", "OnOffAuto", json!("auto")),
            ("{\"a\":[1]}", "ThrottleLimits", json!({"a": [1]})),
            ("42", "any", json!(42)),
            ("12k", "any", json!("12k")),
        ];
        for (text, ty, want) in ok {
            assert_eq!(typed_value(text, ty).as_ref(), Ok(want), "{text:?} as {ty}");
        }
        let bad: &[(&str, &str, &str)] = &[
            (
                "x",
                "int",
                "'x' is not a valid int: expected an integer from -9223372036854775808 to 9223372036854775807",
            ),
            ("256", "uint8", "from 0 to 255"),
            ("-1", "uint32", "from 0 to 4294967295"),
            ("-129", "int8", "from -128 to 127"),
            (
                "18446744073709551616",
                "uint64",
                "from 0 to 18446744073709551615",
            ),
            ("9223372036854775808", "int", "to 9223372036854775807"),
            ("1.5", "int", "decimal or 0x hex"),
            ("0x", "int", "expected an integer"),
            ("0x-1", "int", "expected an integer"),
            ("--1", "int", "expected an integer"),
            ("", "size", "expected an integer"),
            ("1k", "size", "expected an integer"),
            ("１", "int", "expected an integer"),
            ("maybe", "bool", "expected true/false, on/off or yes/no"),
            ("", "bool", "expected true/false"),
            ("x", "double", "expected a number"),
            ("\"1\"", "double", "expected a number"),
        ];
        for (text, ty, want) in bad {
            let err = typed_value(text, ty).unwrap_err();
            assert!(err.contains(want), "{text:?} as {ty}: {err}");
            assert!(
                err.ends_with("(--json sends VALUE as JSON, --string as text)"),
                "{err}"
            );
        }
        // A 40-digit number is no integer of any width, not a panic.
        assert!(typed_value(&"9".repeat(40), "int").is_err());
    }
}
