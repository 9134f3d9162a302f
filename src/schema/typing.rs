//! `key=text` items typed by the schema: `size=1024` sends a number to an
//! integer member, `serial=1234` a string to a string member.
//!
//! Only items written `key=text` are converted; `key:=json` is sent as
//! written, so JSON stays the way to say exactly what goes on the wire.

use serde_json::{Map, Value};

use super::{Schema, Type};
use crate::error::Error;
use crate::items::{Item, ItemValue};

/// How a text value must be written instead, in this tool.
const FORMS: &str = "(key:=json sends JSON as written)";

/// What the schema makes of one text value.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    /// The value to send.
    Value(Value),
    /// The schema says `any` (or does not know the key): the caller may ask
    /// QEMU (`device-list-properties`, `qom-list`), or send the text.
    Untyped,
}

/// Converts `text` for a member of type `ty`.
///
/// | type | text |
/// |---|---|
/// | `str` | as it is |
/// | `int` | decimal or `0x` hex, from -2^63 to 2^64-1 |
/// | `number` | a JSON number |
/// | `bool` | `true`/`false`, `on`/`off`, `yes`/`no` |
/// | enum | one of its values, exactly |
/// | alternate | the first of its non-string scalar branches that takes the text, else its string branch |
/// | `any` | [`Typed::Untyped`] |
///
/// # Errors
/// Why the text does not fit, naming the accepted values or forms.
pub fn convert(schema: &Schema, ty: &str, text: &str) -> Result<Typed, String> {
    match schema.ty(ty) {
        None => Ok(Typed::Untyped),
        Some(Type::Builtin(json)) => builtin(json, text),
        Some(Type::Enum(values)) => {
            if values.iter().any(|v| v == text) {
                Ok(Typed::Value(Value::String(text.to_string())))
            } else {
                Err(format!("'{text}' is not one of: {}", values.join(", ")))
            }
        }
        Some(Type::Array(_)) => Err(format!(
            "this takes a list: write it as JSON, key:='[...]' {FORMS}"
        )),
        Some(Type::Object(_)) => Err("this takes an object: give its members as nested keys \
                                        (key.member=...) or write it as JSON, key:='{...}'"
            .into()),
        Some(Type::Alternate(branches)) => alternate(schema, branches, text),
    }
}

fn builtin(json: &str, text: &str) -> Result<Typed, String> {
    let value = match json {
        "string" => Value::String(text.to_string()),
        "value" => return Ok(Typed::Untyped),
        "int" => match crate::qom::parse_int(text) {
            Some(v) if v < 0 && v >= i64::MIN as i128 => Value::from(v as i64),
            Some(v) if (0..=u64::MAX as i128).contains(&v) => Value::from(v as u64),
            _ => {
                return Err(format!(
                    "'{text}' is not an integer (decimal or 0x hex, 64 bits) {FORMS}"
                ));
            }
        },
        "number" => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Number(_)) => v,
            _ => {
                return Err(format!(
                    "'{text}' is not a number (such as 0.5 or 1e3) {FORMS}"
                ));
            }
        },
        "boolean" => match crate::qom::parse_bool(text) {
            Some(b) => Value::Bool(b),
            None => {
                return Err(format!(
                    "'{text}' is not a bool: true/false, on/off or yes/no"
                ));
            }
        },
        "null" if text == "null" => Value::Null,
        "null" => return Err(format!("this takes only null: write key:=null {FORMS}")),
        _ => return Ok(Typed::Untyped),
    };
    Ok(Typed::Value(value))
}

/// An alternate takes text through a scalar branch: numbers, bools and enum
/// values first (they are the narrower reading), then a string branch.
fn alternate(schema: &Schema, branches: &[super::Name], text: &str) -> Result<Typed, String> {
    let scalar = |b: &&super::Name| match schema.ty(b) {
        Some(Type::Builtin(j)) => matches!(j.as_str(), "int" | "number" | "boolean"),
        Some(Type::Enum(_)) => true,
        _ => false,
    };
    for branch in branches.iter().filter(scalar) {
        if let Ok(typed) = convert(schema, branch, text) {
            return Ok(typed);
        }
    }
    let string = |b: &super::Name| matches!(schema.ty(b), Some(Type::Builtin(j)) if j == "string");
    if branches.iter().any(string) {
        return Ok(Typed::Value(Value::String(text.to_string())));
    }
    if text == "null" && branches.iter().any(|b| b == "null") {
        return Ok(Typed::Value(Value::Null));
    }
    let names: Vec<String> = branches.iter().map(|b| describe_short(schema, b)).collect();
    Err(format!("'{text}' fits none of: {}", names.join(", ")))
}

/// A type in a few words (for error messages).
pub(crate) fn describe_short(schema: &Schema, ty: &str) -> String {
    match schema.ty(ty) {
        Some(Type::Builtin(_)) | None => ty.to_string(),
        Some(Type::Enum(v)) => format!("enum ({})", v.join(", ")),
        Some(Type::Array(e)) => format!("list of {}", describe_short(schema, e)),
        Some(Type::Object(_)) => "object".into(),
        Some(Type::Alternate(b)) => b
            .iter()
            .map(|b| describe_short(schema, b))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// The text of an item written `key=text` (not `key:=json`, not a file).
pub fn text_of(item: &Item) -> Option<&str> {
    match &item.value {
        ItemValue::Given(Value::String(s)) if !item.json => Some(s),
        _ => None,
    }
}

/// Types the `key=text` items of `items` in `args` (the arguments object
/// [`crate::items::build_arguments`] made of them) by the members of object
/// type `arg_type`. Returns the items the schema leaves untyped (`any`, or
/// a key it does not know), for the caller to type from QEMU or leave as
/// text.
///
/// # Errors
/// [`Error::Item`] quoting the item whose text does not fit its member.
pub fn type_arguments<'i>(
    schema: &Schema,
    arg_type: &str,
    args: &mut Map<String, Value>,
    items: &'i [Item],
) -> Result<Vec<&'i Item>, Error> {
    let mut untyped = Vec::new();
    let mut typed = Vec::new();
    for item in items {
        let Some(text) = text_of(item) else { continue };
        let Some(ty) = schema.member_type(arg_type, &item.path, Some(args)) else {
            untyped.push(item);
            continue;
        };
        match convert(schema, ty, text) {
            Ok(Typed::Value(v)) => typed.push((&item.path, v)),
            Ok(Typed::Untyped) => untyped.push(item),
            Err(reason) => {
                return Err(Error::Item {
                    item: item.raw.clone(),
                    reason,
                });
            }
        }
    }
    for (path, value) in typed {
        set(args, path, value);
    }
    Ok(untyped)
}

/// Replaces the value at `path` in `args` (where build_arguments put it).
pub fn set(args: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((leaf, parents)) = path.split_last() else {
        return;
    };
    let mut obj = args;
    for key in parents {
        match obj.get_mut(key) {
            Some(Value::Object(o)) => obj = o,
            _ => return,
        }
    }
    obj.insert(leaf.clone(), value);
}
