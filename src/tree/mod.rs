//! Walking the QOM composition tree, pipelined, with streamed output.
//!
//! Output is depth first (an object, its properties, then each child in
//! `qom-list` order), which is also the order requests are sent in: replies
//! come back in request order, so each one can be printed as it arrives and
//! memory stays flat whatever the size of the tree.
//!
//! Two strategies, chosen by the server:
//! - QEMU >= 10.1 has `qom-list-get`, which returns every property with its
//!   value for a list of objects: one command per object with children.
//! - Older servers answer that with `CommandNotFound`; the walk then falls
//!   back to one `qom-list` per object and one `qom-get` per property, all
//!   pipelined: the only wait is for each object's `qom-list` reply, since
//!   what to ask next depends on it.

mod format;

use std::collections::VecDeque;
use std::io;

pub use format::{JsonTree, PlainTree};

use serde_json::{Map, Value};

use crate::client::Pipeline;
use crate::error::QmpError;
use crate::message::{Reply, Request};
use crate::qom::{Kind, PropPath, child_path, list_request};

/// Receives the tree as it is walked.
pub trait TreeSink {
    /// An object starts; its properties follow.
    fn object(&mut self, path: &str) -> io::Result<()>;
    /// A (non-child) property with its value, or the reason it is unreadable.
    fn property(&mut self, name: &str, ty: &str, value: Result<&Value, &str>) -> io::Result<()>;
    /// The object's properties are done; its children (objects) follow.
    /// `truncated`: it has children that the depth limit leaves out.
    fn end_properties(&mut self, truncated: bool) -> io::Result<()>;
    /// The object and all its descendants are done.
    fn end_object(&mut self) -> io::Result<()>;
}

/// What a reply in flight is for (per-property strategy), or an output step
/// that falls between replies.
enum Step {
    List { path: String, depth: usize },
    Get { name: String, ty: String },
    EndProperties { truncated: bool },
    EndObject,
}

struct Frame {
    path: String,
    depth: usize,
    children: VecDeque<String>,
}

/// Objects whose properties arrived (by `qom-list-get`) but which are not
/// printed yet, because an earlier sibling's subtree comes first.
struct Level {
    objects: VecDeque<(String, usize, Vec<Value>)>,
    /// Whether finishing this level finishes an object (false for the start).
    owned: bool,
}

enum Strategy {
    /// Trying `qom-list-get`; on `CommandNotFound`, fall back.
    ListGet {
        levels: Vec<Level>,
        asked: Vec<(String, usize)>,
    },
    /// `qom-list` + `qom-get` per property.
    PerProperty {
        expect: VecDeque<Step>,
        stack: Vec<Frame>,
    },
}

/// A QOM tree walk, to be run by [`crate::Client::pipeline`].
pub struct TreeWalk<S> {
    sink: S,
    start: String,
    max_depth: Option<usize>,
    strategy: Strategy,
    ready: VecDeque<Request>,
    /// Properties that could not be read (the walk went on).
    pub unreadable: usize,
    /// Errors that ended part of the walk: an object that could not be listed.
    pub errors: Vec<(String, QmpError)>,
    /// A write to the sink failed (e.g. stdout closed); the walk stopped.
    pub io_error: Option<io::Error>,
}

impl<S: TreeSink> TreeWalk<S> {
    /// A walk from `start` (an absolute or partial path), at most `max_depth`
    /// levels of children below it. `list_get` tries `qom-list-get` first.
    pub fn new(sink: S, start: &str, max_depth: Option<usize>, list_get: bool) -> Self {
        let mut walk = TreeWalk {
            sink,
            start: start.to_string(),
            max_depth,
            strategy: Strategy::PerProperty {
                expect: VecDeque::new(),
                stack: Vec::new(),
            },
            ready: VecDeque::new(),
            unreadable: 0,
            errors: Vec::new(),
            io_error: None,
        };
        if list_get {
            walk.ask_list_get(vec![(start.to_string(), 0)]);
            walk.strategy = Strategy::ListGet {
                levels: Vec::new(),
                asked: vec![(start.to_string(), 0)],
            };
        } else {
            walk.per_property();
        }
        walk
    }

    /// The sink back (to flush it).
    pub fn into_sink(self) -> S {
        self.sink
    }

    fn per_property(&mut self) {
        let (path, depth) = (self.start.clone(), 0);
        self.ready.push_back(list_request(&path));
        let mut expect = VecDeque::new();
        expect.push_back(Step::List { path, depth });
        self.strategy = Strategy::PerProperty {
            expect,
            stack: Vec::new(),
        };
    }

    fn ask_list_get(&mut self, paths: Vec<(String, usize)>) {
        let list: Vec<Value> = paths.iter().map(|(p, _)| Value::from(p.as_str())).collect();
        let mut args = Map::new();
        args.insert("paths".into(), Value::Array(list));
        self.ready
            .push_back(Request::new("qom-list-get", Some(args)));
    }

    fn walks_into(&self, depth: usize) -> bool {
        self.max_depth.is_none_or(|m| depth < m)
    }

    /// Per-property strategy: handles the reply to a `qom-list`.
    fn listed(
        &mut self,
        path: String,
        depth: usize,
        reply: Result<Value, QmpError>,
    ) -> io::Result<()> {
        let props = match reply {
            Ok(Value::Array(props)) => props,
            Ok(other) => {
                let desc = format!("qom-list returned {other} instead of a list");
                self.errors.push((
                    path.clone(),
                    QmpError {
                        class: String::new(),
                        desc,
                    },
                ));
                Vec::new()
            }
            Err(e) => {
                self.errors.push((path.clone(), e));
                if depth == 0 {
                    return Ok(()); // nothing to show: the start does not exist
                }
                Vec::new()
            }
        };
        self.sink.object(&path)?;
        let walks_into = self.walks_into(depth);
        let Strategy::PerProperty { expect, stack } = &mut self.strategy else {
            return Ok(());
        };
        let mut children = VecDeque::new();
        let mut truncated = false;
        for p in &props {
            let name = p["name"].as_str().unwrap_or_default();
            let ty = p["type"].as_str().unwrap_or_default();
            if Kind::of(ty) == Kind::Child {
                if walks_into {
                    children.push_back(name.to_string());
                } else {
                    truncated = true;
                }
                continue;
            }
            self.ready
                .push_back(PropPath::new(&path, name).get_request());
            expect.push_back(Step::Get {
                name: name.to_string(),
                ty: ty.to_string(),
            });
        }
        expect.push_back(Step::EndProperties { truncated });
        stack.push(Frame {
            path,
            depth,
            children,
        });
        // The next object to list, depth first.
        while let Some(top) = stack.last_mut() {
            if let Some(name) = top.children.pop_front() {
                let (path, depth) = (child_path(&top.path, &name), top.depth + 1);
                self.ready.push_back(list_request(&path));
                expect.push_back(Step::List { path, depth });
                break;
            }
            stack.pop();
            expect.push_back(Step::EndObject);
        }
        Ok(())
    }

    /// Per-property strategy: prints output steps up to the next reply.
    fn flush_steps(&mut self) -> io::Result<()> {
        let Strategy::PerProperty { expect, .. } = &mut self.strategy else {
            return Ok(());
        };
        loop {
            match expect.front() {
                Some(Step::EndProperties { truncated }) => self.sink.end_properties(*truncated)?,
                Some(Step::EndObject) => self.sink.end_object()?,
                _ => return Ok(()),
            }
            expect.pop_front();
        }
    }

    /// `qom-list-get` strategy: prints what is known, asks for what is next.
    fn drive_levels(&mut self) -> io::Result<()> {
        loop {
            let walks = |d: usize| self.max_depth.is_none_or(|m| d < m);
            let Strategy::ListGet { levels, asked } = &mut self.strategy else {
                return Ok(());
            };
            let Some(level) = levels.last_mut() else {
                return Ok(());
            };
            let Some((path, depth, props)) = level.objects.pop_front() else {
                let owned = level.owned;
                levels.pop();
                if owned {
                    self.sink.end_object()?;
                }
                continue;
            };
            self.sink.object(&path)?;
            let mut children = Vec::new();
            let mut truncated = false;
            for p in &props {
                let name = p["name"].as_str().unwrap_or_default();
                let ty = p["type"].as_str().unwrap_or_default();
                if Kind::of(ty) == Kind::Child {
                    if walks(depth) {
                        children.push((child_path(&path, name), depth + 1));
                    } else {
                        truncated = true;
                    }
                    continue;
                }
                // As QEMU's own tool: a missing or null value is unreadable.
                let value = p
                    .get("value")
                    .filter(|v| !v.is_null())
                    .ok_or("property could not be read");
                if value.is_err() {
                    self.unreadable += 1;
                }
                self.sink.property(name, ty, value)?;
            }
            self.sink.end_properties(truncated)?;
            if children.is_empty() {
                self.sink.end_object()?;
                continue;
            }
            *asked = children.clone();
            self.ask_list_get(children);
            return Ok(());
        }
    }

    fn on_list_get(&mut self, reply: Reply) -> io::Result<()> {
        let Strategy::ListGet { levels, asked } = &mut self.strategy else {
            return Ok(());
        };
        let first = levels.is_empty();
        let asked = std::mem::take(asked);
        match reply.into_result() {
            Err(e) if first && e.class == "CommandNotFound" => {
                self.per_property();
                return Ok(());
            }
            Err(e) => {
                // Objects vanished between two commands, or the start is bad.
                for (path, _) in &asked {
                    self.errors.push((path.clone(), e.clone()));
                }
                if !first {
                    levels.push(Level {
                        objects: VecDeque::new(),
                        owned: true,
                    });
                }
            }
            Ok(v) => {
                let results = v.as_array().cloned().unwrap_or_default();
                let mut objects = VecDeque::new();
                for ((path, depth), r) in asked.into_iter().zip(results) {
                    let props = r["properties"].as_array().cloned().unwrap_or_default();
                    objects.push_back((path, depth, props));
                }
                levels.push(Level {
                    objects,
                    owned: !first,
                });
            }
        }
        self.drive_levels()
    }

    fn handle(&mut self, reply: Reply) -> io::Result<()> {
        let step = match &mut self.strategy {
            Strategy::ListGet { .. } => return self.on_list_get(reply),
            Strategy::PerProperty { expect, .. } => expect.pop_front(),
        };
        match step {
            Some(Step::List { path, depth }) => self.listed(path, depth, reply.into_result())?,
            Some(Step::Get { name, ty }) => match reply.into_result() {
                Ok(v) => self.sink.property(&name, &ty, Ok(&v))?,
                Err(e) => {
                    self.unreadable += 1;
                    self.sink.property(&name, &ty, Err(&e.desc))?;
                }
            },
            _ => {}
        }
        self.flush_steps()
    }
}

impl<S: TreeSink> Pipeline for TreeWalk<S> {
    fn next_request(&mut self, _: bool) -> Option<Request> {
        self.ready.pop_front()
    }

    fn on_reply(&mut self, _: usize, reply: Reply) -> bool {
        if let Err(e) = self.handle(reply) {
            self.io_error = Some(e);
            self.ready.clear();
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Records what the walk hands its sink.
    #[derive(Default)]
    struct Record(Vec<String>);

    impl TreeSink for Record {
        fn object(&mut self, path: &str) -> io::Result<()> {
            self.0.push(format!("object {path}"));
            Ok(())
        }
        fn property(
            &mut self,
            name: &str,
            ty: &str,
            value: Result<&Value, &str>,
        ) -> io::Result<()> {
            self.0.push(match value {
                Ok(v) => format!("{name} ({ty}) = {v}"),
                Err(e) => format!("{name} ({ty}) ! {e}"),
            });
            Ok(())
        }
        fn end_properties(&mut self, truncated: bool) -> io::Result<()> {
            self.0.push(format!(
                "end properties{}",
                if truncated { ", truncated" } else { "" }
            ));
            Ok(())
        }
        fn end_object(&mut self) -> io::Result<()> {
            self.0.push("end object".into());
            Ok(())
        }
    }

    fn ok(v: Value) -> Reply {
        Reply::from_message(json!({ "return": v }).as_object().unwrap().clone())
    }

    fn err(desc: &str) -> Reply {
        Reply::from_message(
            json!({"error": {"class": "GenericError", "desc": desc}})
                .as_object()
                .unwrap()
                .clone(),
        )
    }

    /// Drives `walk` as a pipeline would: every request it has, then the
    /// answer `answer` gives for it, in order.
    fn drive(walk: &mut TreeWalk<Record>, answer: impl Fn(&Request) -> Reply) -> Vec<String> {
        let mut asked = Vec::new();
        let mut queue = VecDeque::new();
        loop {
            while let Some(r) = walk.next_request(queue.is_empty()) {
                asked.push(format!(
                    "{} {}",
                    r.command,
                    Value::Object(r.arguments.clone().unwrap_or_default())
                ));
                queue.push_back(r);
            }
            let Some(r) = queue.pop_front() else { break };
            assert!(walk.on_reply(0, answer(&r)));
        }
        asked
    }

    fn server(r: &Request) -> Reply {
        let args = r.arguments.clone().unwrap_or_default();
        let path = args
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match (r.command.as_str(), path.as_str(), args.get("property")) {
            ("qom-list-get", _, _) => Reply::from_message(
                json!({"error": {"class": "CommandNotFound", "desc": "no"}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ("qom-list", "/", _) => ok(json!([{"name": "type", "type": "string"},
                {"name": "c", "type": "child<x>"}, {"name": "l", "type": "link<y>"}])),
            ("qom-list", "/c", _) => ok(json!([{"name": "bad", "type": "str"}])),
            ("qom-get", "/", Some(p)) if p == "type" => ok(json!("container")),
            ("qom-get", "/", Some(p)) if p == "l" => ok(json!("/c")),
            ("qom-get", "/c", _) => err("not readable"),
            _ => err("unexpected"),
        }
    }

    #[test]
    fn per_property_walk_in_depth_first_order() {
        let mut walk = TreeWalk::new(Record::default(), "/", None, true);
        let asked = drive(&mut walk, server);
        assert_eq!(
            asked,
            [
                "qom-list-get {\"paths\":[\"/\"]}",
                "qom-list {\"path\":\"/\"}",
                "qom-get {\"path\":\"/\",\"property\":\"type\"}",
                "qom-get {\"path\":\"/\",\"property\":\"l\"}",
                "qom-list {\"path\":\"/c\"}",
                "qom-get {\"path\":\"/c\",\"property\":\"bad\"}",
            ]
        );
        assert_eq!(walk.unreadable, 1);
        assert!(walk.errors.is_empty());
        assert_eq!(
            walk.into_sink().0,
            [
                "object /",
                "type (string) = \"container\"",
                "l (link<y>) = \"/c\"",
                "end properties",
                "object /c",
                "bad (str) ! not readable",
                "end properties",
                "end object",
                "end object",
            ]
        );
    }

    #[test]
    fn depth_cuts_are_marked_and_missing_starts_are_errors() {
        let mut walk = TreeWalk::new(Record::default(), "/", Some(0), false);
        drive(&mut walk, server);
        let record = walk.into_sink().0;
        assert_eq!(record[3], "end properties, truncated", "{record:?}");
        assert_eq!(record.len(), 5, "no child object: {record:?}");
        let mut walk = TreeWalk::new(Record::default(), "/nope", None, false);
        drive(&mut walk, server);
        assert_eq!(walk.errors.len(), 1);
        assert!(
            walk.into_sink().0.is_empty(),
            "nothing shown for a missing start"
        );
    }
}
