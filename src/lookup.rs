//! Finding QOM properties on a live server: which split of a
//! `PATH.PROPERTY` argument names a property, what type it has, and which
//! objects an ambiguous partial path could mean.
//!
//! Reading a property costs nothing extra when the split at the last dot is
//! right (QEMU's tools' reading): the `qom-get` is sent at once, and only a
//! "not found" answer makes the lookup list the candidate objects
//! (`qom-list`, pipelined) to try the other dots and to tell "no such
//! object", "no such property" and "ambiguous" apart.

use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, QmpError, Result};
use crate::qom::{Kind, PropPath, child_path, list_request};
use crate::wire::Stream;

/// A property found on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The argument, split where the property is.
    pub prop: PropPath,
    /// Its QOM type as `qom-list` gives it (`uint32`, `str`, `link<bus>`).
    pub ty: String,
}

/// Whether an error reply to `qom-get`/`qom-set`/`qom-list` says the object
/// or the property does not exist (QEMU 7.2 to 10.x: `DeviceNotFound`, or
/// `Property 'T.P' not found`).
pub fn is_not_found(e: &QmpError) -> bool {
    e.class == "DeviceNotFound"
        || (e.desc.starts_with("Property '") && e.desc.ends_with("' not found"))
}

fn is_ambiguous(e: &QmpError) -> bool {
    e.desc.starts_with("Path '") && e.desc.ends_with("' is ambiguous")
}

/// Finds the split of `prop` that names a property of an existing object,
/// with its type: lists every candidate object (pipelined, one round trip)
/// and takes the first split, the last dot first, whose object lists the
/// property.
///
/// # Errors
/// [`Error::NoProperty`] when an object exists but no split names one of
/// its properties; [`Error::Ambiguous`] for an ambiguous partial path; the
/// server's error (e.g. `DeviceNotFound`) when no candidate object exists;
/// connection errors.
pub fn find_property<S: Stream>(client: &mut Client<S>, prop: &PropPath) -> Result<Found> {
    let splits = prop.splits();
    let requests = splits.iter().map(|(path, _)| list_request(path)).collect();
    let replies = client.execute_all(requests)?;
    let mut existing = None;
    let mut first_error = None;
    for ((path, name), reply) in splits.iter().zip(replies) {
        match reply.into_result() {
            Ok(Value::Array(list)) => {
                let ty = list
                    .iter()
                    .find(|p| p["name"] == name.as_str())
                    .and_then(|p| p["type"].as_str());
                if let Some(ty) = ty {
                    return Ok(Found {
                        prop: prop.at(path, name),
                        ty: ty.to_string(),
                    });
                }
                existing.get_or_insert((path.clone(), name.clone()));
            }
            Ok(_) => {}
            Err(e) if is_ambiguous(&e) => {
                let candidates = ambiguous_candidates(client, path)?;
                return Err(Error::Ambiguous {
                    path: path.clone(),
                    candidates,
                });
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (existing, first_error) {
        (Some((object, property)), _) => Err(Error::NoProperty {
            raw: prop.raw.clone(),
            object,
            property,
        }),
        (None, Some(e)) => Err(Error::Qmp(e)),
        (None, None) => Err(Error::Protocol {
            expected: "qom-list replies".into(),
            got: String::new(),
        }),
    }
}

/// Reads every property in `props`, pipelined; each one the split at the
/// last dot says first, and then, only for those QEMU does not find, the
/// split [`find_property`] finds. One result per property, in order.
///
/// # Errors
/// Connection, timeout and protocol errors (a property's own error is its
/// result).
pub fn get_all<S: Stream>(
    client: &mut Client<S>,
    props: &[PropPath],
) -> Result<Vec<Result<Value>>> {
    let requests = props.iter().map(PropPath::get_request).collect();
    let replies = client.execute_all(requests)?;
    let mut results = Vec::with_capacity(props.len());
    for (prop, reply) in props.iter().zip(replies) {
        results.push(match reply.into_result() {
            Ok(v) => Ok(v),
            Err(e) if is_not_found(&e) => match find_property(client, prop) {
                Ok(found) => client.execute_request(&found.prop.get_request()),
                Err(e @ (Error::Qmp(_) | Error::NoProperty { .. } | Error::Ambiguous { .. })) => {
                    Err(e)
                }
                Err(e) => return Err(e),
            },
            Err(e) => Err(Error::Qmp(e)),
        });
    }
    Ok(results)
}

/// How many objects an ambiguity message names at most.
const MAX_CANDIDATES: usize = 8;

/// The objects whose path ends with the partial path `partial`, found by
/// walking the composition tree from `/` (one pipelined `qom-list` per
/// level; only on this error path).
fn ambiguous_candidates<S: Stream>(client: &mut Client<S>, partial: &str) -> Result<Vec<String>> {
    let want: Vec<&str> = partial.split('/').filter(|c| !c.is_empty()).collect();
    let mut found = Vec::new();
    let mut level = vec!["/".to_string()];
    while !level.is_empty() && found.len() <= MAX_CANDIDATES {
        let replies = client.execute_all(level.iter().map(|p| list_request(p)).collect())?;
        let mut next = Vec::new();
        for (path, reply) in level.iter().zip(replies) {
            let Ok(Value::Array(props)) = reply.into_result() else {
                continue;
            };
            for p in &props {
                let (Some(name), Some(ty)) = (p["name"].as_str(), p["type"].as_str()) else {
                    continue;
                };
                if Kind::of(ty) == Kind::Child {
                    next.push(child_path(path, name));
                }
            }
        }
        for path in &next {
            let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            if parts.ends_with(&want) && found.len() <= MAX_CANDIDATES {
                found.push(path.clone());
            }
        }
        level = next;
    }
    if found.len() > MAX_CANDIDATES {
        found.truncate(MAX_CANDIDATES);
        found.push("...".into());
    }
    Ok(found)
}
