//! qga-exec: run one guest-agent command and print the result.

use clap::Parser;
use qmp::cli::request::{build, compact, print_raw, run_compact};
use qmp::cli::{ConnectOpts, GuestAgent, OutputOpts, RunResult, Status};
use qmp::output::Format;

const EXAMPLES: &str = "\
Examples:
  qga-exec -s /run/vm1.qga guest-ping
  qga-exec guest-get-osinfo --pretty
  qga-exec guest-file-open path=/etc/hostname      (then guest-file-read handle:=N)
  qga-exec guest-exec path=/bin/sh arg:='[\"-c\",\"uptime\"]' capture-output:=true
  qga-exec --list                                  (the agent's commands, enabled or not)";

/// Run a guest-agent (qemu-ga) command and print its return value.
///
/// The grammar and output of qmp-exec: key=text sends a string, key:=json
/// raw JSON, key=@file and key:=@file a file's contents, dotted keys nest;
/// a whole command may be given as JSON. The session opens with the agent's
/// resync (0xFF and guest-sync-delimited), not QMP's greeting. Commands that
/// send no reply when they succeed (guest-shutdown, guest-suspend-*: "no-reply" in --list) succeed when the
/// agent reports no error within 1 s or closes the connection.
#[derive(Debug, Parser)]
#[command(name = "qga-exec", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts<GuestAgent>,
    /// The command to run, e.g. guest-ping, or a whole command as JSON ('{"execute": ...}')
    #[arg(required_unless_present = "list")]
    command: Option<String>,
    /// Arguments: key=text, key:=json, key=@file, key:=@file; a.b=x nests
    #[arg(value_name = "ITEM")]
    items: Vec<String>,
    /// The whole arguments object as JSON ('-' reads it from stdin); items are added to it and override its keys
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// List the agent's commands (guest-info), one per line: NAME enabled|disabled, plus no-reply for those that send no reply on success (with --json: one JSON list)
    #[arg(long, conflicts_with_all = ["command", "args"])]
    list: bool,
    #[command(flatten)]
    out: OutputOpts,
    /// Print the whole reply message, not just its return value
    #[arg(long)]
    raw: bool,
}

fn run(args: Args) -> RunResult {
    let format = args.out.format();
    if args.list {
        return qmp::cli::agent::list(&args.conn, format != Format::Plain);
    }
    // clap requires a command unless --list is given.
    let command = args.command.as_deref().unwrap_or_default();
    let (request, _, id) = build(command, &args.items, args.args.as_deref())?;
    let mut client = args.conn.connect()?;
    // Whether the command replies on success, from the agent itself.
    let replies = client.replies_on_success(&request.command)?;
    let reply = if !replies {
        let silence = qmp::agent::SILENCE;
        match client.request_unanswered(&request.command, request.arguments.as_ref(), silence)? {
            Some(reply) => reply,
            None => return Ok(Status::Ok),
        }
    } else if compact(format) && !args.raw {
        match run_compact(&mut client, &request, format)? {
            Some(reply) => reply,
            None => return Ok(Status::Ok),
        }
    } else {
        client.request(&request.command, request.arguments.as_ref())?
    };
    if args.raw {
        print_raw(&reply, id, format)?;
    }
    let value = reply.into_result().map_err(qmp::Error::Qmp)?;
    if !args.raw {
        qmp::cli::print(&value, format)?;
    }
    Ok(Status::Ok)
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qga-exec", run)
}
