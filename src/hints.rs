//! Hints for values QEMU rejected for their type: the user wrote
//! `size=1024` (a string) where QEMU wants a number, and the error line
//! should say how to write it (`size:=1024`).

use serde_json::Value;

use crate::items::Item;

/// What QEMU wanted instead of the value it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wanted {
    /// An integer or a number.
    Number,
    /// A boolean.
    Boolean,
    /// A string.
    String,
}

/// The key and what QEMU wanted, when an error description says a value
/// had the wrong type. The wordings of QEMU 7.2 to 10.x:
/// `Invalid parameter type for 'KEY', expected: TYPE` (the QAPI input
/// visitor) and `Parameter 'KEY' expects TYPE` (device properties, which
/// `device_add` stopped converting from strings in 9.2).
pub fn wants_other_type(desc: &str) -> Option<(&str, Wanted)> {
    let (key, ty) = if let Some(rest) = desc.strip_prefix("Invalid parameter type for '") {
        rest.split_once("', expected: ")?
    } else {
        desc.strip_prefix("Parameter '")?.split_once("' expects ")?
    };
    let ty = ty.trim_end_matches('.');
    let wanted = if ty.contains("bool") {
        Wanted::Boolean
    } else if ty.contains("int") || ty.contains("number") || ty.contains("size") {
        Wanted::Number
    } else if ty.contains("string") {
        Wanted::String
    } else {
        return None;
    };
    Some((key, wanted))
}

/// The hint for an error description, when it names the key of one of
/// `items` and says that item's value has the wrong kind:
/// `write size:=1024 to send a number`.
pub fn for_items(desc: &str, items: &[Item]) -> Option<String> {
    let (key, wanted) = wants_other_type(desc)?;
    let item = items.iter().rev().find(|i| i.path.join(".") == key)?;
    let written = &item.key;
    let crate::items::ItemValue::Given(value) = &item.value else {
        return None; // from a file: no form to suggest
    };
    match (wanted, value) {
        (Wanted::Number, Value::String(text)) => {
            let n = if serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_number()) {
                text.as_str()
            } else {
                "1024"
            };
            Some(format!("write {written}:={n} to send a number"))
        }
        (Wanted::Boolean, Value::String(text)) => {
            let b = match text.to_ascii_lowercase().as_str() {
                "false" | "off" | "no" | "0" => "false",
                _ => "true",
            };
            Some(format!("write {written}:={b} to send a boolean"))
        }
        (Wanted::String, v) if !v.is_string() => {
            Some(format!("write {written}={v} to send a string"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wordings() {
        let cases: &[(&str, Option<(&str, Wanted)>)] = &[
            (
                "Invalid parameter type for 'size', expected: integer",
                Some(("size", Wanted::Number)),
            ),
            (
                "Invalid parameter type for 'file.size', expected: integer",
                Some(("file.size", Wanted::Number)),
            ),
            (
                "Invalid parameter type for 'read-only', expected: boolean",
                Some(("read-only", Wanted::Boolean)),
            ),
            (
                "Invalid parameter type for 'node-name', expected: string",
                Some(("node-name", Wanted::String)),
            ),
            (
                "Invalid parameter type for 'x', expected: number",
                Some(("x", Wanted::Number)),
            ),
            (
                "Parameter 'max-bytes' expects uint64",
                Some(("max-bytes", Wanted::Number)),
            ),
            (
                "Parameter 'x' expects a size value",
                Some(("x", Wanted::Number)),
            ),
            ("Parameter 'on' expects bool", Some(("on", Wanted::Boolean))),
            ("Parameter 'driver' is missing", None),
            ("Parameter 'x' expects 'on' or 'off'", None),
            ("Device 'x' not found", None),
            ("Invalid parameter type for 'x', expected: object", None),
        ];
        for (desc, want) in cases {
            assert_eq!(wants_other_type(desc), *want, "{desc}");
        }
    }

    #[test]
    fn item_hints() {
        let items: Vec<Item> = [
            "size=1024",
            "ro=yes",
            "name:=12",
            "file.size=big",
            r"a\.b=1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let cases: &[(&str, Option<&str>)] = &[
            (
                "Invalid parameter type for 'size', expected: integer",
                Some("write size:=1024 to send a number"),
            ),
            (
                "Parameter 'ro' expects bool",
                Some("write ro:=true to send a boolean"),
            ),
            (
                "Invalid parameter type for 'name', expected: string",
                Some("write name=12 to send a string"),
            ),
            (
                "Invalid parameter type for 'file.size', expected: integer",
                Some("write file.size:=1024 to send a number"),
            ),
            // Already of the kind QEMU wants, or not an item: no hint.
            ("Invalid parameter type for 'name', expected: integer", None),
            ("Invalid parameter type for 'size', expected: string", None),
            (
                "Invalid parameter type for 'other', expected: integer",
                None,
            ),
        ];
        for (desc, want) in cases {
            assert_eq!(for_items(desc, &items).as_deref(), *want, "{desc}");
        }
    }
}
