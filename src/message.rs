//! The messages of the protocol: greeting, request, reply, event.

use serde_json::{Map, Value};

use crate::error::{Error, QmpError, snippet};

/// Renders a message for an error message: compact, short, escaped.
fn message_snippet(m: &Map<String, Value>) -> String {
    snippet(Value::Object(m.clone()).to_string().as_bytes(), 80)
}

/// The server's greeting: `{"QMP": {"version": ..., "capabilities": [...]}}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Greeting {
    /// `(major, minor, micro)` of QEMU, zeros if the server did not say.
    pub version: (u64, u64, u64),
    /// The distribution's package string, e.g. `Debian 1:10.0.2+ds-2`.
    pub package: String,
    /// Capabilities offered; today only `oob` exists.
    pub capabilities: Vec<String>,
    /// The whole greeting as received.
    pub raw: Map<String, Value>,
}

impl Greeting {
    /// Reads a greeting out of a message.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the message has no `QMP` object.
    pub fn from_message(msg: Map<String, Value>) -> Result<Self, Error> {
        let Some(Value::Object(qmp)) = msg.get("QMP") else {
            return Err(Error::Protocol {
                expected: "the greeting {\"QMP\": ...}".into(),
                got: message_snippet(&msg),
            });
        };
        let v = &qmp.get("version").cloned().unwrap_or(Value::Null);
        let num = |k: &str| v["qemu"][k].as_u64().unwrap_or(0);
        let capabilities = match qmp.get("capabilities") {
            Some(Value::Array(caps)) => caps
                .iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Greeting {
            version: (num("major"), num("minor"), num("micro")),
            package: v["package"].as_str().unwrap_or("").to_string(),
            capabilities,
            raw: msg,
        })
    }
}

/// A command to send: its name and arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The command name, e.g. `query-status`.
    pub command: String,
    /// The arguments object; `None` (or empty) sends none.
    pub arguments: Option<Map<String, Value>>,
    /// Send it out of band (`exec-oob`, QMP spec 2.3.1): QEMU runs it at
    /// once, ahead of in-band commands still queued. Needs the `oob`
    /// capability, which the client negotiates when [`crate::Options::oob`]
    /// asks for it.
    pub oob: bool,
}

impl Request {
    /// A request for `command` with `arguments`.
    pub fn new(command: impl Into<String>, arguments: Option<Map<String, Value>>) -> Self {
        Request {
            command: command.into(),
            arguments,
            oob: false,
        }
    }

    /// The same request, to be sent out of band (`exec-oob`).
    pub fn out_of_band(mut self) -> Self {
        self.oob = true;
        self
    }
}

/// Reads a whole request written as JSON, `{"execute": NAME, "arguments":
/// {...}, "id": ANY}` or `{"exec-oob": NAME, ...}` (a `--batch` line, or
/// `qmp-exec '{...}'`): the request and the caller's id, which the client
/// does not send (it matches replies by order, and tags an out-of-band
/// request with an id of its own) but the caller may put back on the reply.
///
/// # Errors
/// A message naming what is wrong: not JSON, not an object, a member of
/// the wrong type or unknown, `execute` missing, an integer beyond 64 bits.
pub fn parse_request(text: &str) -> Result<(Request, Option<Value>), String> {
    let msg = match crate::items::json_value(text)? {
        Value::Object(m) => m,
        _ => return Err("expected a JSON object {\"execute\": ..., \"arguments\": {...}}".into()),
    };
    let mut command = None;
    let mut arguments = None;
    let mut id = None;
    let mut oob = false;
    for (k, v) in msg {
        match (k.as_str(), v) {
            ("execute" | "exec-oob", _) if command.is_some() => {
                return Err("\"execute\" and \"exec-oob\" do not go together".into());
            }
            ("execute", Value::String(s)) => command = Some(s),
            ("exec-oob", Value::String(s)) => {
                command = Some(s);
                oob = true;
            }
            ("exec-oob", _) => return Err("\"exec-oob\" must be a string".into()),
            ("arguments", Value::Object(a)) => arguments = Some(a),
            ("id", v) => id = Some(v),
            ("execute", _) => return Err("\"execute\" must be a string".into()),
            ("arguments", _) => return Err("\"arguments\" must be an object".into()),
            (k, _) => return Err(format!("unexpected member \"{k}\"")),
        }
    }
    let command = command.ok_or("missing \"execute\" (or \"exec-oob\")")?;
    let request = Request::new(command, arguments);
    Ok((if oob { request.out_of_band() } else { request }, id))
}

/// Whether `command` only reads: the queries (`query-*`, `x-query-*`) and
/// the QOM and device introspection commands (`qom-get`, `qom-list`,
/// `qom-list-get`, `qom-list-types`, `qom-list-properties`,
/// `device-list-properties`). A batch that stops at the first error may send
/// these ahead of the replies to earlier commands; anything else (HMP
/// included: `human-monitor-command` can do anything) waits for them.
pub fn has_no_side_effects(command: &str) -> bool {
    command.starts_with("query-")
        || command.starts_with("x-query-")
        || matches!(
            command,
            "qom-get"
                | "qom-list"
                | "qom-list-get"
                | "qom-list-types"
                | "qom-list-properties"
                | "device-list-properties"
        )
}

/// A reply: `{"return": ...}` or `{"error": {"class", "desc"}}`, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    message: Map<String, Value>,
}

impl Reply {
    /// The whole message as received.
    pub fn message(&self) -> &Map<String, Value> {
        &self.message
    }

    /// The whole message as received.
    pub fn into_message(self) -> Map<String, Value> {
        self.message
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        !self.message.contains_key("return")
    }

    /// The `return` value, or the error.
    ///
    /// # Errors
    /// The server's error (class and desc) for an error reply.
    pub fn into_result(mut self) -> Result<Value, QmpError> {
        if let Some(v) = self.message.remove("return") {
            return Ok(v);
        }
        let err = self.message.get("error");
        let field = |k: &str| {
            err.and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        Err(QmpError {
            class: field("class").to_string(),
            desc: field("desc").to_string(),
        })
    }

    pub(crate) fn snippet(&self) -> String {
        message_snippet(&self.message)
    }

    pub(crate) fn from_message(message: Map<String, Value>) -> Self {
        Reply { message }
    }
}

/// An asynchronous event: `{"event": NAME, "data": {...}, "timestamp": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    message: Map<String, Value>,
}

impl Event {
    /// The event's name, e.g. `BLOCK_JOB_COMPLETED`.
    pub fn name(&self) -> &str {
        self.message
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The event's `data` member (`null` when absent).
    pub fn data(&self) -> &Value {
        self.message.get("data").unwrap_or(&Value::Null)
    }

    /// `(seconds, microseconds)` of the server's timestamp, if present.
    pub fn timestamp(&self) -> Option<(u64, u64)> {
        let t = self.message.get("timestamp")?;
        Some((
            t.get("seconds")?.as_u64()?,
            t.get("microseconds")?.as_u64()?,
        ))
    }

    /// The whole message as received.
    pub fn message(&self) -> &Map<String, Value> {
        &self.message
    }

    /// The whole message as received.
    pub fn into_message(self) -> Map<String, Value> {
        self.message
    }
}

/// A message received in command mode.
pub(crate) enum Incoming {
    Event(Event),
    Reply(Reply),
}

impl Incoming {
    /// Tells events from replies; anything else is a protocol error.
    pub(crate) fn classify(message: Map<String, Value>) -> Result<Self, Error> {
        if matches!(message.get("event"), Some(Value::String(_))) {
            return Ok(Incoming::Event(Event { message }));
        }
        if message.contains_key("return") || matches!(message.get("error"), Some(Value::Object(_)))
        {
            return Ok(Incoming::Reply(Reply { message }));
        }
        Err(Error::Protocol {
            expected: "a reply or an event".into(),
            got: message_snippet(&message),
        })
    }
}
