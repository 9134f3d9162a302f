//! The `COMMAND [ITEM...]` grammar and the printing of its reply, shared by
//! qmp-exec and qga-exec: `--args`, items over it, a whole command given as
//! JSON, `--raw`, and plain/`--json`/`--pretty` output.

use std::io::{self, IsTerminal, Read};

use serde_json::{Map, Value};

use super::Failure;
use crate::client::{Client, RawReply};
use crate::items::{Item, build_arguments};
use crate::message::{Reply, Request, parse_request};
use crate::output::Format;
use crate::wire::Stream;

/// The arguments object (`--args` text, `-` for stdin, then the items over
/// it) and the items parsed.
///
/// # Errors
/// A usage failure for bad JSON or a bad item; reading stdin.
pub fn arguments(
    args: Option<&str>,
    items: &[String],
) -> Result<(Map<String, Value>, Vec<Item>), Failure> {
    let base = match args {
        None => Map::new(),
        Some(text) => {
            let text = if text == "-" {
                let mut s = String::new();
                io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|source| Failure::Input {
                        what: "reading --args from stdin".into(),
                        source,
                    })?;
                s
            } else {
                text.to_string()
            };
            match crate::items::json_value(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(Failure::Usage("--args must be a JSON object".into())),
                Err(e) => return Err(Failure::Usage(format!("--args: {e}"))),
            }
        }
    };
    let items = items
        .iter()
        .map(|i| i.parse::<Item>())
        .collect::<Result<Vec<_>, _>>()?;
    let built = build_arguments(base, &items)?;
    Ok((built, items))
}

/// The request `COMMAND [ITEM...]` (with `--args`) describes, or the whole
/// command when COMMAND is JSON (`{"execute": ...}`, as `virsh
/// qemu-monitor-command` takes it); the items it was built from (for
/// hints) and the caller's own id (a whole command may carry one).
///
/// # Errors
/// Usage failures: items or `--args` beside a whole command, an item given
/// first, bad items.
pub fn build(
    command: &str,
    items: &[String],
    args: Option<&str>,
) -> Result<(Request, Vec<Item>, Option<Value>), Failure> {
    if command.trim_start().starts_with('{') {
        if !items.is_empty() || args.is_some() {
            let msg = "a whole command ('{\"execute\": ...}') takes no items or --args: put \
                       the arguments in its \"arguments\"";
            return Err(Failure::Usage(msg.into()));
        }
        let (request, id) = parse_request(command)
            .map_err(|e| Failure::Usage(format!("the command '{command}': {e}")))?;
        return Ok((request, Vec::new(), id));
    }
    if command.contains('=') {
        let msg = format!("'{command}' is an argument, not a command: give the command first");
        return Err(Failure::Usage(msg));
    }
    let (arguments, items) = arguments(args, items)?;
    Ok((Request::new(command, Some(arguments)), items, None))
}

/// Whether output in `format` is printed from the reply's raw text
/// ([`run_compact`]): JSON lines, or plain output to a pipe.
pub fn compact(format: Format) -> bool {
    format == Format::Json || (format == Format::Plain && !io::stdout().is_terminal())
}

/// Runs `request` in band and prints a success's `return` straight from
/// the reply's text, without building a `Value` of it
/// (`query-qmp-schema` is 236 KB); any other reply comes back to be shown.
///
/// # Errors
/// The client's errors; writing.
pub fn run_compact<S: Stream>(
    client: &mut Client<S>,
    request: &Request,
    format: Format,
) -> Result<Option<Reply>, Failure> {
    match client.request_raw(&request.command, request.arguments.as_ref())? {
        RawReply::Return(text) => {
            print_compact_return(text, format)?;
            Ok(None)
        }
        RawReply::Other(reply) => Ok(Some(reply)),
    }
}

/// A `return` given as compact JSON text; plain strings and `{}` keep their
/// plain rendering.
fn print_compact_return(mut text: String, format: Format) -> Result<(), Failure> {
    if format == Format::Plain && (text.starts_with('"') || text == "{}") {
        let value: Value = serde_json::from_str(&text).map_err(|e| crate::Error::Protocol {
            expected: format!("a JSON value ({e})"),
            got: String::new(),
        })?;
        return Ok(super::print(&value, format)?);
    }
    text.push('\n');
    Ok(super::write_stdout(&text, true)?)
}

/// `--raw`: the whole reply message, with the caller's own id, as JSON
/// (compact unless `--pretty`).
///
/// # Errors
/// Writing.
pub fn print_raw(reply: &Reply, id: Option<Value>, format: Format) -> Result<(), Failure> {
    let mut msg = reply.message().clone();
    if let Some(id) = id {
        msg.insert("id".into(), id);
    }
    let format = if format == Format::Plain {
        Format::Json
    } else {
        format
    };
    Ok(super::print(&Value::Object(msg), format)?)
}
