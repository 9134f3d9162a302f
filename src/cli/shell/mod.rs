//! qmp-shell's core: a line in, a request out (typed by the server's
//! schema), the reply or a description back. The line editor
//! ([`editor`]) and completion ([`complete`]) sit on top; nothing here
//! prints.

pub mod complete;
pub mod editor;
mod shared;
pub mod words;
pub mod wrap;

pub use shared::{Shared, tracer};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::items::{Item, build_arguments};
use crate::message::{Event, Reply, Request, parse_request};
use crate::schema::typing::{self, set, text_of};
use crate::schema::{Schema, Type, describe};
use words::Word;

/// How a text value can be written instead, in the shell.
const FORMS: &str = "(key:=json sends JSON as written)";

/// What a line gave.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing to show (an empty line, an action added to a transaction).
    Nothing,
    /// Text for the user: help, a description, the HMP CPU switch.
    Text(String),
    /// QEMU's reply to the line's command.
    Reply(Reply),
    /// HMP output (`-H`), a success.
    Hmp(String),
}

/// Why a line gave no reply.
#[derive(Debug)]
pub enum LineError {
    /// The line is not valid (status 2 in a script): the message says why.
    Input(String),
    /// The session cannot go on (QEMU has gone, a protocol error).
    Fatal(Error),
}

fn input(e: impl std::fmt::Display) -> LineError {
    LineError::Input(e.to_string())
}

/// One shell session: the shared parts and the state lines change.
pub struct Session {
    /// What the completer and the event printer share.
    pub shared: Arc<Shared>,
    cpu: Option<u64>,
    actions: Option<Vec<Value>>,
    /// device-list-properties answers, by driver.
    properties: HashMap<String, Vec<(String, String)>>,
}

impl Session {
    /// A session over `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Session {
            shared,
            cpu: None,
            actions: None,
            properties: HashMap::new(),
        }
    }

    /// Inside `transaction(` ... `)`.
    pub fn in_transaction(&self) -> bool {
        self.actions.is_some()
    }

    /// The prompt for the next line.
    pub fn prompt(&self) -> &'static str {
        match (self.shared.hmp, self.in_transaction()) {
            (true, _) => "(HMP) ",
            (false, true) => "TRANS> ",
            (false, false) => "(QEMU) ",
        }
    }

    /// Runs one line.
    ///
    /// # Errors
    /// [`LineError::Input`] for a line that is not valid (nothing was
    /// sent), [`LineError::Fatal`] when the session cannot go on.
    pub fn line(&mut self, line: &str) -> Result<Outcome, LineError> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(Outcome::Nothing);
        }
        if self.shared.hmp {
            return self.hmp(line);
        }
        if line.starts_with('{') {
            let (request, _id) = parse_request(line).map_err(input)?;
            return self.send(&request);
        }
        let words = words::split(line, false).map_err(input)?;
        let first = words[0].text.as_str();
        if self.actions.is_some() || first == "transaction(" {
            return self.transaction(&words);
        }
        match first {
            "help" | "?" => return self.help(words.get(1).map(|w| w.text.as_str())),
            "events" => {
                let schema = self.schema()?;
                return Ok(Outcome::Text(columns(
                    "Events (help EVENT describes one):",
                    schema.events(),
                )));
            }
            _ => {}
        }
        if let Some(name) = first.strip_suffix('?').filter(|n| !n.is_empty()) {
            return self.help(Some(name));
        }
        if first.contains('=') {
            return Err(input(format!(
                "'{first}' is an argument, not a command: give the command first"
            )));
        }
        let request = self.request(first, &words[1..])?;
        self.send(&request)
    }

    /// The events that came with the last reply (to print before it).
    pub fn queued_events(&self) -> Vec<Event> {
        self.shared.client().take_events().collect()
    }

    fn schema(&self) -> Result<&Schema, LineError> {
        self.shared
            .schema()
            .ok_or_else(|| input("the server's schema (query-qmp-schema) could not be read"))
    }

    fn send(&self, request: &Request) -> Result<Outcome, LineError> {
        let reply = self
            .shared
            .client()
            .send(request)
            .map_err(LineError::Fatal)?;
        Ok(Outcome::Reply(reply))
    }

    fn help(&self, topic: Option<&str>) -> Result<Outcome, LineError> {
        let schema = self.schema()?;
        let Some(topic) = topic else {
            let head = "Commands (help COMMAND or COMMAND? describes one; events lists the \
                        events; transaction( ACTION ITEM... ) groups actions):";
            return Ok(Outcome::Text(columns(head, schema.commands())));
        };
        describe::command(schema, topic)
            .or_else(|| describe::event(schema, topic))
            .map(|d| Outcome::Text(describe::text(&d)))
            .ok_or_else(|| {
                input(format!(
                    "this server has no command or event '{topic}' (help lists the commands, \
                     events the events)"
                ))
            })
    }

    /// The request for `command ITEM...`, typed by the schema.
    fn request(&mut self, command: &str, words: &[Word]) -> Result<Request, LineError> {
        let items = parse_items(words, &[])?;
        let mut args = build_arguments(Map::new(), &items).map_err(input)?;
        let typed = !items.is_empty();
        if let Some(c) = typed
            .then(|| self.shared.schema())
            .flatten()
            .and_then(|s| s.command(command))
        {
            let arg_type = c.arg_type.clone();
            self.type_items(command, &arg_type, &mut args, &items)?;
        }
        Ok(Request::new(command, Some(args)))
    }

    /// Types `items` in `args` by object type `ty`; what the schema leaves
    /// untyped, QEMU may type (device properties, QOM properties).
    fn type_items(
        &mut self,
        command: &str,
        ty: &str,
        args: &mut Map<String, Value>,
        items: &[Item],
    ) -> Result<(), LineError> {
        let Some(schema) = self.shared.schema() else {
            return Ok(());
        };
        let untyped: Vec<Item> = typing::type_arguments(schema, ty, args, items)
            .map_err(input)?
            .into_iter()
            .cloned()
            .collect();
        for item in &untyped {
            let Some(text) = text_of(item) else { continue };
            let Some(qom_type) = self.qemu_type(command, item, args) else {
                continue;
            };
            let value = crate::qom::typed_with(text, &qom_type, FORMS)
                .map_err(|reason| input(format!("'{}': {reason}", item.raw)))?;
            set(args, &item.path, value);
        }
        Ok(())
    }

    /// The QOM type QEMU gives an item the schema calls `any`: a property
    /// of device_add's driver, or qom-set's value.
    fn qemu_type(
        &mut self,
        command: &str,
        item: &Item,
        args: &Map<String, Value>,
    ) -> Option<String> {
        let arg = |k: &str| args.get(k).and_then(Value::as_str).map(String::from);
        let props = match (command, item.path.as_slice()) {
            ("device_add", [_]) => {
                let driver = arg("driver")?;
                if !self.properties.contains_key(&driver) {
                    let a = json!({"typename": driver});
                    let reply = self
                        .shared
                        .quietly(|c| c.execute("device-list-properties", a.as_object()));
                    self.properties
                        .insert(driver.clone(), name_types(reply.ok()?));
                }
                self.properties.get(&driver)?.clone()
            }
            ("qom-set", [v]) if v == "value" => {
                let a = json!({"path": arg("path")?});
                let reply = self
                    .shared
                    .quietly(|c| c.execute("qom-list", a.as_object()));
                name_types(reply.ok()?)
            }
            _ => return None,
        };
        let name = match command {
            "qom-set" => arg("property")?,
            _ => item.path[0].clone(),
        };
        props.into_iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }

    /// `transaction(`, an action line, or `)`.
    fn transaction(&mut self, words: &[Word]) -> Result<Outcome, LineError> {
        let mut words = words;
        if words[0].text == "transaction(" {
            if self.actions.is_some() {
                return Err(input("a transaction is already open: end it with ')'"));
            }
            self.actions = Some(Vec::new());
            self.shared.in_transaction.store(true, Ordering::Relaxed);
            words = &words[1..];
        }
        let close = words.last().is_some_and(|w| w.text == ")");
        if close {
            words = &words[..words.len() - 1];
        }
        if let Some(first) = words.first() {
            let action = self.action(&first.text, &words[1..])?;
            self.actions.get_or_insert_with(Vec::new).push(action);
        }
        if !close {
            return Ok(Outcome::Nothing);
        }
        let actions = self.actions.take().unwrap_or_default();
        self.shared.in_transaction.store(false, Ordering::Relaxed);
        let mut args = Map::new();
        args.insert("actions".into(), Value::Array(actions));
        self.send(&Request::new("transaction", Some(args)))
    }

    /// One action: `{"type": NAME, "data": {ITEMS}}`, typed as the
    /// transaction's action union says.
    fn action(&mut self, name: &str, words: &[Word]) -> Result<Value, LineError> {
        let items = parse_items(words, &["data"])?;
        let mut base = Map::new();
        base.insert("type".into(), json!(name));
        let mut action = build_arguments(base, &items).map_err(input)?;
        if let Some(ty) = self.shared.schema().and_then(action_type) {
            let known = self.shared.schema().and_then(|s| s.tag(&ty));
            if let Some((_, cases)) = known
                && !cases.contains(&name)
            {
                return Err(input(format!(
                    "'{name}' is not a transaction action; actions: {}",
                    cases.join(", ")
                )));
            }
            self.type_items("transaction", &ty, &mut action, &items)?;
        }
        Ok(Value::Object(action))
    }

    /// An HMP line: `cpu N` switches the CPU later lines run on (as
    /// QEMU's qmp-shell does); anything else goes to human-monitor-command.
    fn hmp(&mut self, line: &str) -> Result<Outcome, LineError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["cpu", n] = words.as_slice() {
            let n = n
                .parse::<u64>()
                .map_err(|_| input(format!("'cpu {n}': the CPU is a number (cpu 0)")))?;
            self.cpu = Some(n);
            return Ok(Outcome::Text(format!("later commands run on CPU {n}\n")));
        }
        let reply = match self.send(&crate::hmp::request(line, self.cpu))? {
            Outcome::Reply(r) => r,
            other => return Ok(other),
        };
        if reply.is_error() {
            return Ok(Outcome::Reply(reply));
        }
        let text = reply.message()["return"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(Outcome::Hmp(text))
    }
}

/// The items of `words`, with `prefix` put before every key (an action's
/// `data`).
fn parse_items(words: &[Word], prefix: &[&str]) -> Result<Vec<Item>, LineError> {
    words
        .iter()
        .map(|w| {
            let mut item: Item = w.text.parse().map_err(input)?;
            if !prefix.is_empty() {
                let mut path: Vec<String> = prefix.iter().map(|p| p.to_string()).collect();
                path.append(&mut item.path);
                item.path = path;
            }
            Ok(item)
        })
        .collect()
}

/// The element type of the transaction's `actions` list.
pub fn action_type(schema: &Schema) -> Option<String> {
    let arg_type = &schema.command("transaction")?.arg_type;
    let list = schema.member_type(arg_type, &["actions".to_string()], None)?;
    match schema.ty(list)? {
        Type::Array(e) => Some(e.to_string()),
        _ => None,
    }
}

/// `[{"name": ..., "type": ...}]` (qom-list, device-list-properties) as
/// pairs.
fn name_types(list: Value) -> Vec<(String, String)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_string(),
                p["type"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// `head`, then `names` in lines of at most 78 columns.
fn columns<'a>(head: &str, names: impl Iterator<Item = &'a str>) -> String {
    let mut out = format!("{head}\n");
    let mut line = String::new();
    for name in names {
        if !line.is_empty() && line.len() + 1 + name.len() > 78 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(name);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
