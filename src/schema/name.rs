//! Names of the schema (commands, types, members, enum values): some
//! 8,500 on q35, nearly all short, so kept inline up to 22 bytes instead
//! of each in an allocation of its own (what a `String` costs: a malloc,
//! a free, and the pages they touch).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The longest name kept inline.
const INLINE: usize = 22;

/// A name: a `str` kept inline when short.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Name {
    /// The name's bytes (UTF-8): what it is compared and hashed by,
    /// without the check of each `as_str`.
    fn bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only whole `str`s are kept: never empty of its text.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or("")
            }
            Repr::Heap(s) => s,
        }
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Name(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            Name(Repr::Heap(s.into()))
        }
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        if s.len() <= INLINE {
            Name::from(s.as_str())
        } else {
            Name(Repr::Heap(s.into_boxed_str()))
        }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Hash for Name {
    /// As `str` hashes (its bytes, then 0xFF), so that a table keyed by
    /// names is looked up by `&str` (the test below checks it).
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write(self.bytes());
        h.write_u8(0xff);
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    /// As `str` orders: by bytes.
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.bytes().cmp(other.bytes())
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.bytes() == other.as_bytes()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.bytes()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.bytes()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Name, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Name, E> {
                Ok(Name::from(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Name, E> {
                Ok(Name::from(v))
            }
        }
        de.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_names_read_back() {
        for s in [
            "",
            "a",
            "str",
            "0123456789012345678901",
            "01234567890123456789012",
            "é🦀 and more text than fits inline",
        ] {
            let n = Name::from(s);
            assert_eq!(n.as_str(), s);
            assert_eq!(Name::from(s.to_string()), n);
            assert_eq!(format!("{n}"), s);
        }
        let names: Vec<Name> = ["a", "a-b", "b", "0123456789012345678901234", "z"]
            .into_iter()
            .map(Name::from)
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        let want: Vec<&str> = vec!["0123456789012345678901234", "a", "a-b", "b", "z"];
        assert_eq!(sorted.iter().map(Name::as_str).collect::<Vec<_>>(), want);
        assert!(matches!(
            Name::from("0123456789012345678901").0,
            Repr::Inline { .. }
        ));
    }

    #[test]
    fn a_table_of_names_is_looked_up_by_str() {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let long = "a name longer than twenty-two bytes";
        for s in ["", "str", "0", "x-blockdev-change", long] {
            assert_eq!(state.hash_one(Name::from(s)), state.hash_one(s), "{s}");
        }
        let mut table = std::collections::HashMap::new();
        table.insert(Name::from("str"), 1);
        table.insert(Name::from(long), 2);
        assert_eq!(table.get("str"), Some(&1));
        assert_eq!(table.get(long), Some(&2));
        assert_eq!(table.get("st"), None);
    }
}
