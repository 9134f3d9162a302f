//! `--list` and `--describe NAME` of qmp-exec (commands) and qmp-events
//! (events): the server's own schema, printed.

use serde_json::Value;

use super::{ConnectOpts, Failure, RunResult, Status, report};
use crate::schema::{Schema, describe};

/// What `--list`/`--describe` are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Commands (qmp-exec).
    Command,
    /// Events (qmp-events).
    Event,
}

/// `--list`: the names, one per line, or a JSON list with `json`.
/// Commands come from `query-commands` (a few hundred bytes: quick enough
/// for shell completion); events from the schema.
///
/// # Errors
/// Connecting, the server's answers, writing.
pub fn list(conn: &ConnectOpts, kind: Kind, json: bool) -> RunResult {
    let mut client = conn.connect(false, false)?;
    let mut names: Vec<String> = match kind {
        Kind::Command => {
            let reply = client.execute("query-commands", None)?;
            reply
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        }
        Kind::Event => Schema::fetch(&mut client)?
            .events()
            .map(String::from)
            .collect(),
    };
    names.sort();
    let text = if json {
        format!("{}\n", Value::from(names))
    } else {
        names.iter().map(|n| format!("{n}\n")).collect()
    };
    super::write_stdout(&text, json)?;
    Ok(Status::Ok)
}

/// `--describe NAME`: the command's arguments and return type, or the
/// event's data, from the schema ([`describe::text`]; [`describe::command`]
/// as JSON with `json`).
///
/// # Errors
/// Connecting, the server's answers, writing.
pub fn describe(tool: &str, conn: &ConnectOpts, kind: Kind, name: &str, json: bool) -> RunResult {
    let mut client = conn.connect(false, false)?;
    let schema = Schema::fetch(&mut client)?;
    let found = match kind {
        Kind::Command => describe::command(&schema, name),
        Kind::Event => describe::event(&schema, name),
    };
    // The schema is some 10,000 allocations: left to the exit of this
    // one-shot process rather than freed one by one.
    std::mem::forget(schema);
    let Some(description) = found else {
        let (what, list) = match kind {
            Kind::Command => ("command", "qmp-exec --list"),
            Kind::Event => ("event", "qmp-events --list"),
        };
        report(
            tool,
            &format!("this server has no {what} '{name}' ({list} names those it has)"),
        );
        return Ok(Status::Failed);
    };
    let text = if json {
        format!("{description}\n")
    } else {
        describe::text(&description)
    };
    super::write_stdout(&text, json).map_err(Failure::Output)?;
    Ok(Status::Ok)
}
