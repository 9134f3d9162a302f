//! Reading `query-qmp-schema`'s entries straight from JSON into their
//! parts, without a `serde_json::Value` of the whole schema (on q35, 236 KB
//! and some 30,000 maps: building and dropping those cost three times the
//! transcoding of the reply).

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Name;
use crate::subset::Reader;

/// One entry, as introspection writes it (the union of every meta-type's
/// keys; each meta-type uses some).
#[derive(Debug, Default)]
pub(super) struct Entry {
    pub name: Option<Name>,
    pub meta_type: Option<Meta>,
    pub json_type: Option<Name>,
    pub members: Option<Vec<Part>>,
    pub values: Option<Vec<Name>>,
    pub element_type: Option<Name>,
    pub tag: Option<Name>,
    pub variants: Option<Vec<Part>>,
    pub arg_type: Option<Name>,
    pub ret_type: Option<Name>,
    pub allow_oob: bool,
    pub features: Vec<String>,
}

/// An entry's meta-type.
#[derive(Debug)]
pub(super) enum Meta {
    Command,
    Event,
    Builtin,
    Enum,
    Array,
    Object,
    Alternate,
    /// One this reader does not know.
    Other(String),
}

impl From<&str> for Meta {
    fn from(s: &str) -> Meta {
        match s {
            "command" => Meta::Command,
            "event" => Meta::Event,
            "builtin" => Meta::Builtin,
            "enum" => Meta::Enum,
            "array" => Meta::Array,
            "object" => Meta::Object,
            "alternate" => Meta::Alternate,
            other => Meta::Other(other.to_owned()),
        }
    }
}

/// A member, enum member, alternate branch or variant: `{"name", "type",
/// "default", "features"}` or `{"case", "type"}`.
#[derive(Debug, Default)]
pub(super) struct Part {
    pub name: Option<Name>,
    pub ty: Option<Name>,
    pub case: Option<Name>,
    /// Introspection marks an optional member with `"default": null`.
    pub optional: bool,
    pub features: Vec<String>,
}

/// Reads the list of entries from `de` (the reply's text, or a `Value`).
pub(super) fn entries<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<Entry>, D::Error> {
    de.deserialize_seq(List::<Entry>(std::marker::PhantomData))
}

/// What is read from one JSON object, key by key.
trait FromMap: Sized {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// A JSON list of objects, each read by `T`.
struct List<T>(std::marker::PhantomData<T>);

impl<'de, T: FromMap> Visitor<'de> for List<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(One::<T>(std::marker::PhantomData))? {
            out.push(v);
        }
        Ok(out)
    }
}

impl<'de, T: FromMap> de::DeserializeSeed<'de> for List<T> {
    type Value = Vec<T>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Vec<T>, D::Error> {
        de.deserialize_seq(self)
    }
}

/// One object of a [`List`].
struct One<T>(std::marker::PhantomData<T>);

impl<'de, T: FromMap> de::DeserializeSeed<'de> for One<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<T, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de, T: FromMap> Visitor<'de> for One<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

fn parts<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Vec<Part>, A::Error> {
    map.next_value_seed(List::<Part>(std::marker::PhantomData))
}

/// The keys the entries use, told apart without allocating a string for
/// each (there are some 40,000 on q35).
#[derive(Clone, Copy)]
enum Key {
    Name,
    MetaType,
    JsonType,
    Members,
    Values,
    ElementType,
    Tag,
    Variants,
    ArgType,
    RetType,
    AllowOob,
    Features,
    Type,
    Case,
    Default,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Key, D::Error> {
        de.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key::of(v))
    }
}

impl Key {
    /// The key named `v` (both readers' table).
    fn of(v: &str) -> Key {
        match v {
            "name" => Key::Name,
            "meta-type" => Key::MetaType,
            "json-type" => Key::JsonType,
            "members" => Key::Members,
            "values" => Key::Values,
            "element-type" => Key::ElementType,
            "tag" => Key::Tag,
            "variants" => Key::Variants,
            "arg-type" => Key::ArgType,
            "ret-type" => Key::RetType,
            "allow-oob" => Key::AllowOob,
            "features" => Key::Features,
            "type" => Key::Type,
            "case" => Key::Case,
            "default" => Key::Default,
            _ => Key::Other,
        }
    }
}

impl FromMap for Entry {
    fn from_map<'de, A: MapAccess<'de>>(mut m: A) -> Result<Self, A::Error> {
        let mut e = Entry::default();
        while let Some(key) = m.next_key::<Key>()? {
            match key {
                Key::Name => e.name = Some(m.next_value()?),
                Key::MetaType => e.meta_type = Some(Meta::from(m.next_value::<String>()?.as_str())),
                Key::JsonType => e.json_type = Some(m.next_value()?),
                Key::Members => e.members = Some(parts(&mut m)?),
                Key::Values => e.values = Some(m.next_value()?),
                Key::ElementType => e.element_type = Some(m.next_value()?),
                Key::Tag => e.tag = Some(m.next_value()?),
                Key::Variants => e.variants = Some(parts(&mut m)?),
                Key::ArgType => e.arg_type = Some(m.next_value()?),
                Key::RetType => e.ret_type = Some(m.next_value()?),
                Key::AllowOob => e.allow_oob = m.next_value()?,
                Key::Features => e.features = m.next_value()?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(e)
    }
}

impl FromMap for Part {
    fn from_map<'de, A: MapAccess<'de>>(mut m: A) -> Result<Self, A::Error> {
        let mut p = Part::default();
        while let Some(key) = m.next_key::<Key>()? {
            match key {
                Key::Name => p.name = Some(m.next_value()?),
                Key::Type => p.ty = Some(m.next_value()?),
                Key::Case => p.case = Some(m.next_value()?),
                Key::Default => {
                    p.optional = true;
                    m.next_value::<IgnoredAny>()?;
                }
                Key::Features => p.features = m.next_value()?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(p)
    }
}

/// What `query-qmp-schema`'s `return` made: the schema taken in entry by
/// entry as the reply is parsed (or the first entry it could not take), or
/// anything but a list (a reply that is not the schema's) as a `Value`.
pub(super) type Built = Result<crate::Result<super::Builder>, serde_json::Value>;

/// `query-qmp-schema`'s `return` read into a schema as the reply is parsed.
pub(super) struct SchemaReturn;

impl crate::wire::ReturnSeed for SchemaReturn {
    type Out = Built;
    fn read<'de, A: MapAccess<'de>>(&self, map: &mut A) -> Result<Self::Out, A::Error> {
        map.next_value_seed(EntriesOrValue)
    }

    fn reads_subset(&self) -> bool {
        true
    }

    /// The entries read as the serde visitors above read them, from the
    /// common case of the text (QEMU's: no escapes, no numbers), at a
    /// third of the cost; anything else is left to them.
    fn read_subset(&self, r: &mut Reader<'_>) -> Option<Built> {
        let mut built = super::Builder::default();
        let mut failed = None;
        r.list(|r| {
            if failed.is_some() {
                // After an entry it could not take, the rest is read (the
                // message must end), not taken in.
                return r.skip().map(drop);
            }
            if let Err(e) = built.add(entry(r)?) {
                failed = Some(e);
            }
            Some(())
        })?;
        Some(Ok(match failed {
            Some(e) => Err(e),
            None => Ok(built),
        }))
    }
}

/// One entry, from the reader of the common case (the keys as
/// [`Entry`]'s serde reader takes them).
fn entry(r: &mut Reader<'_>) -> Option<Entry> {
    let mut e = Entry::default();
    r.object(|r, key| {
        let name = |r: &mut Reader<'_>| r.str().map(|s| Some(Name::from(s)));
        match Key::of(key) {
            Key::Name => e.name = name(r)?,
            Key::MetaType => e.meta_type = Some(Meta::from(r.str()?)),
            Key::JsonType => e.json_type = name(r)?,
            Key::Members => e.members = Some(parts_of(r)?),
            // Since QEMU 6.2 an enum's members come first and carry the
            // same names: the values are then only checked.
            Key::Values if e.members.is_some() => {
                r.list(|r| r.str().map(drop))?;
                e.values = Some(Vec::new());
            }
            Key::Values => e.values = Some(r.strings()?),
            Key::ElementType => e.element_type = name(r)?,
            Key::Tag => e.tag = name(r)?,
            Key::Variants => e.variants = Some(parts_of(r)?),
            Key::ArgType => e.arg_type = name(r)?,
            Key::RetType => e.ret_type = name(r)?,
            Key::AllowOob => e.allow_oob = r.bool()?,
            Key::Features => e.features = r.strings()?,
            _ => {
                r.skip()?;
            }
        }
        Some(())
    })?;
    Some(e)
}

/// A list of members, enum members, branches or variants, from the reader
/// of the common case (the keys as [`Part`]'s serde reader takes them).
fn parts_of(r: &mut Reader<'_>) -> Option<Vec<Part>> {
    let mut out = Vec::new();
    r.list(|r| {
        let mut p = Part::default();
        r.object(|r, key| {
            match Key::of(key) {
                Key::Name => p.name = Some(Name::from(r.str()?)),
                Key::Type => p.ty = Some(Name::from(r.str()?)),
                Key::Case => p.case = Some(Name::from(r.str()?)),
                Key::Default => {
                    p.optional = true;
                    r.skip()?;
                }
                Key::Features => p.features = r.strings()?,
                _ => {
                    r.skip()?;
                }
            }
            Some(())
        })?;
        out.push(p);
        Some(())
    })?;
    Some(out)
}

struct EntriesOrValue;

impl<'de> de::DeserializeSeed<'de> for EntriesOrValue {
    type Value = Built;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntriesOrValue {
    type Value = Built;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut built = super::Builder::default();
        while let Some(e) = seq.next_element_seed(One::<Entry>(std::marker::PhantomData))? {
            if let Err(e) = built.add(e) {
                // The rest of the reply is read (the message must end), not
                // taken in.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Ok(Err(e)));
            }
        }
        Ok(Ok(Ok(built)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        use serde::Deserialize as _;
        let de = de::value::MapAccessDeserializer::new(map);
        serde_json::Value::deserialize(de).map(Err)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Err(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Err(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Err(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Err(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Err(v.into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(serde_json::Value::Null))
    }
}
