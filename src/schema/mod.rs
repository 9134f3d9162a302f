//! The server's own description of itself: `query-qmp-schema`, resolved.
//!
//! QEMU's introspection (QMP spec, docs/devel/qapi-code-gen.rst,
//! "Client JSON Protocol introspection") lists every command, event and
//! type the server knows. Types are mostly named by numbers that stand for
//! anonymous types (the names are masked so clients cannot depend on them);
//! only the built-in types keep names (`str`, `int`, `number`, `bool`,
//! `null`, `any`). Nothing is compiled in: a [`Schema`] is fetched from the
//! server in front of the tool, so it is right for any QEMU version.
//!
//! - [`Schema::member_type`] finds the type of a dotted argument key (the
//!   item grammar's `a.b.c`), following union variants by the discriminator
//!   value already given and the object branch of alternates;
//! - [`typing`] converts `key=text` items by those types;
//! - [`describe`] renders a command's or event's arguments (`help`).

pub mod describe;
mod name;
mod parse;
pub mod typing;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::wire::Stream;
pub use name::Name;
use parse::Meta;

/// One resolved `query-qmp-schema`: commands, events and the types they use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    types: HashMap<Name, Type>,
    commands: BTreeMap<Name, Command>,
    events: BTreeMap<Name, Name>,
}

/// A command: its argument and return types, and whether it may run out of
/// band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The name of its arguments' object type.
    pub arg_type: Name,
    /// The name of its return type.
    pub ret_type: Name,
    /// Whether it can be sent with `exec-oob`.
    pub allow_oob: bool,
    /// Its features (`deprecated`, `unstable`, ...).
    pub features: Vec<String>,
}

/// A type of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Type {
    /// A built-in type, by its JSON type: `string`, `int`, `number`,
    /// `boolean`, `null`, or `value` (any JSON value).
    Builtin(Name),
    /// An enumeration: the values it takes.
    Enum(Vec<Name>),
    /// A list of the element type.
    Array(Name),
    /// An object: members, and for a union the tag member and its variants.
    Object(Object),
    /// One of several types, told apart by their JSON type.
    Alternate(Vec<Name>),
}

/// An object type (a struct, or a union's base with its variants).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Object {
    /// Its members (for a union, the common ones; the tag is among them).
    pub members: Vec<Member>,
    /// The union's discriminator member, if it is a union.
    pub tag: Option<Name>,
    /// For each value of the tag, the object type whose members are added.
    pub variants: Vec<(Name, Name)>,
}

/// A member of an object type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name.
    pub name: Name,
    /// Its type's name.
    pub ty: Name,
    /// Whether it may be left out.
    pub optional: bool,
    /// Its features (`deprecated`, `unstable`, ...).
    pub features: Vec<String>,
}

fn bad(what: impl Into<String>) -> Error {
    Error::Protocol {
        expected: "a query-qmp-schema entry".into(),
        got: what.into(),
    }
}

fn need<T>(value: Option<T>, what: &str, name: &str) -> Result<T> {
    value.ok_or_else(|| bad(format!("'{name}' without {what}")))
}

fn members(parts: Vec<parse::Part>, name: &str) -> Result<Vec<Member>> {
    parts
        .into_iter()
        .map(|p| {
            Ok(Member {
                name: need(p.name, "a member's name", name)?,
                ty: need(p.ty, "a member's type", name)?,
                optional: p.optional,
                features: p.features,
            })
        })
        .collect()
}

impl Schema {
    /// Asks the server for its schema (`query-qmp-schema`) and resolves it.
    ///
    /// # Errors
    /// The client's errors, or [`Error::Protocol`] for a schema that does
    /// not hold together (an entry of no known form, a type named but not
    /// defined).
    pub fn fetch<S: Stream>(client: &mut Client<S>) -> Result<Schema> {
        // The reply read into the schema as it is parsed, entry by entry:
        // no Value of the whole schema is built, no text of it, and no list
        // of its entries either.
        let reply = client.request_seeded("query-qmp-schema", None, &parse::SchemaReturn, |r| {
            Ok(match r {
                Ok(_) => Value::Array(Vec::new()),
                Err(v) => v,
            })
        })?;
        match reply {
            Ok(Ok(built)) => built.and_then(Builder::finish),
            Ok(Err(other)) => Err(bad(format!("a return value that is not a list: {other}"))),
            Err(reply) => Err(reply
                .into_result()
                .err()
                .map(Error::Qmp)
                .unwrap_or_else(|| bad("a reply without a return value"))),
        }
    }

    /// Resolves the return value of `query-qmp-schema`, given as JSON text.
    ///
    /// # Errors
    /// As [`Schema::from_value`], and invalid JSON.
    pub fn from_json(text: &str) -> Result<Schema> {
        let mut de = serde_json::Deserializer::from_str(text);
        let entries = parse::entries(&mut de).map_err(|e| bad(e.to_string()))?;
        Schema::build(entries)
    }

    /// Resolves the return value of `query-qmp-schema`.
    ///
    /// # Errors
    /// [`Error::Protocol`] for an entry of no known form, or a type that is
    /// named (by a command, event, member, variant, array or alternate) but
    /// not defined.
    pub fn from_value(value: &Value) -> Result<Schema> {
        Schema::build(parse::entries(value).map_err(|e| bad(e.to_string()))?)
    }

    fn build(entries: Vec<parse::Entry>) -> Result<Schema> {
        let mut b = Builder::default();
        for e in entries {
            b.add(e)?;
        }
        b.finish()
    }

    /// The command names, sorted.
    pub fn commands(&self) -> impl Iterator<Item = &str> {
        self.commands.keys().map(Name::as_str)
    }

    /// The event names, sorted.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.events.keys().map(Name::as_str)
    }

    /// A command by name.
    pub fn command(&self, name: &str) -> Option<&Command> {
        self.commands.get(name)
    }

    /// An event's data type by the event's name.
    pub fn event(&self, name: &str) -> Option<&str> {
        self.events.get(name).map(Name::as_str)
    }

    /// A type by name ([`Schema::from_value`] checked that every type named
    /// in the schema is there).
    pub fn ty(&self, name: &str) -> Option<&Type> {
        self.types.get(name)
    }

    /// The object type an alternate would take a nested key in (`file.driver`
    /// in a `BlockdevRef`, an alternate of an object and a string); for an
    /// object type, itself.
    pub fn as_object(&self, name: &str) -> Option<&Object> {
        match self.ty(name)? {
            Type::Object(o) => Some(o),
            Type::Alternate(branches) => branches.iter().find_map(|b| match self.ty(b) {
                Some(Type::Object(o)) => Some(o),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The members of object type `name` that apply given the object's
    /// value so far (`given`): the common ones, then those of the variant
    /// the tag's value selects. With no tag value given, only the common
    /// ones.
    pub fn members(&self, name: &str, given: Option<&Map<String, Value>>) -> Vec<&Member> {
        let Some(object) = self.as_object(name) else {
            return Vec::new();
        };
        let mut members: Vec<&Member> = object.members.iter().collect();
        let case = object
            .tag
            .as_ref()
            .and_then(|tag| given?.get(tag.as_str())?.as_str());
        if let Some(case) = case
            && let Some((_, variant)) = object.variants.iter().find(|(c, _)| c == case)
        {
            members.extend(self.members(variant, given));
        }
        members
    }

    /// The type of the member at `path` (a dotted key, split) under object
    /// type `name`, given the arguments so far (`given`, the whole object at
    /// `name`'s level): union variants are those the tag values in `given`
    /// select. When no tag value is given and the variants name the key
    /// with one type, that type. `None` for a key the schema does not have.
    pub fn member_type<'a>(
        &'a self,
        name: &'a str,
        path: &[String],
        given: Option<&Map<String, Value>>,
    ) -> Option<&'a str> {
        let (first, rest) = path.split_first()?;
        let ty = match self.members(name, given).iter().find(|m| &m.name == first) {
            Some(m) => m.ty.as_str(),
            None => self.in_any_variant(name, first)?,
        };
        if rest.is_empty() {
            return Some(ty);
        }
        self.member_type(ty, rest, given.and_then(|g| g.get(first)?.as_object()))
    }

    /// The type of `key` in the variants of union `name` when they agree on
    /// it (for a key typed before the tag's value is known).
    fn in_any_variant(&self, name: &str, key: &str) -> Option<&str> {
        let object = self.as_object(name)?;
        let mut found: Option<&str> = None;
        for (_, variant) in &object.variants {
            if let Some(m) = self.members(variant, None).iter().find(|m| m.name == key) {
                match found {
                    Some(t) if t != m.ty => return None,
                    _ => found = Some(&m.ty),
                }
            }
        }
        found
    }

    /// The values of the tag of union `name` (for completion), with the
    /// tag's name.
    pub fn tag(&self, name: &str) -> Option<(&str, Vec<&str>)> {
        let object = self.as_object(name)?;
        let tag = object.tag.as_deref()?;
        Some((
            tag,
            object.variants.iter().map(|(c, _)| c.as_str()).collect(),
        ))
    }
}

/// A schema taken in entry by entry (as the reply is parsed), checked at
/// the end.
#[derive(Default)]
struct Builder(Schema);

impl Builder {
    /// Takes in one entry of `query-qmp-schema`.
    fn add(&mut self, e: parse::Entry) -> Result<()> {
        let schema = &mut self.0;
        let name = need(e.name, "a name", "an entry")?;
        let meta = need(e.meta_type, "a meta-type", &name)?;
        let ty = match meta {
            Meta::Command => {
                let command = Command {
                    arg_type: need(e.arg_type, "an arg-type", &name)?,
                    ret_type: need(e.ret_type, "a ret-type", &name)?,
                    allow_oob: e.allow_oob,
                    features: e.features,
                };
                schema.commands.insert(name, command);
                return Ok(());
            }
            Meta::Event => {
                let data = need(e.arg_type, "an arg-type", &name)?;
                schema.events.insert(name, data);
                return Ok(());
            }
            Meta::Builtin => Type::Builtin(need(e.json_type, "a json-type", &name)?),
            // Since QEMU 6.2 members carry the values (with features);
            // "values" stays for older clients.
            Meta::Enum => Type::Enum(match (e.members, e.values) {
                (Some(m), _) => m.into_iter().filter_map(|p| p.name).collect(),
                (None, Some(v)) => v,
                (None, None) => return Err(bad(format!("enum '{name}' without values"))),
            }),
            Meta::Array => Type::Array(need(e.element_type, "an element-type", &name)?),
            Meta::Object => {
                let Some(m) = e.members else {
                    return Err(bad(format!("object '{name}' without members")));
                };
                let mut variants = Vec::new();
                for v in e.variants.unwrap_or_default() {
                    variants.push((
                        need(v.case, "a variant's case", &name)?,
                        need(v.ty, "a variant's type", &name)?,
                    ));
                }
                Type::Object(Object {
                    members: members(m, &name)?,
                    tag: e.tag,
                    variants,
                })
            }
            Meta::Alternate => Type::Alternate(
                e.members
                    .ok_or_else(|| bad(format!("alternate '{name}' without members")))?
                    .into_iter()
                    .filter_map(|p| p.ty)
                    .collect(),
            ),
            Meta::Other(other) => return Err(bad(format!("meta-type '{other}' of '{name}'"))),
        };
        schema.types.insert(name, ty);
        Ok(())
    }

    /// The schema, once every type named anywhere is defined.
    fn finish(self) -> Result<Schema> {
        let schema = self.0;
        let defined = |name: &Name| -> Result<()> {
            if schema.types.contains_key(name) {
                Ok(())
            } else {
                Err(bad(format!("type '{name}' is used but not defined")))
            }
        };
        for c in schema.commands.values() {
            defined(&c.arg_type)?;
            defined(&c.ret_type)?;
        }
        for data in schema.events.values() {
            defined(data)?;
        }
        for t in schema.types.values() {
            match t {
                Type::Builtin(_) | Type::Enum(_) => {}
                Type::Array(e) => defined(e)?,
                Type::Alternate(a) => a.iter().try_for_each(defined)?,
                Type::Object(o) => {
                    o.members.iter().try_for_each(|m| defined(&m.ty))?;
                    o.variants.iter().try_for_each(|(_, t)| defined(t))?;
                }
            }
        }
        Ok(schema)
    }
}

#[cfg(test)]
mod tests;
