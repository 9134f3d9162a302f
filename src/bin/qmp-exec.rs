//! qmp-exec: run one QMP command (or a batch) and print the result.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::sync::mpsc;

use anyhow::Context;
use clap::Parser;
use qmp::cli::{
    BoxError, ConnectOpts, EventOpts, OutputOpts, RunResult, Status, UsageError, print_event,
};
use qmp::events::Outcome;
use qmp::items::{Item, build_arguments};
use qmp::output::Format;
use qmp::{Pipeline, Reply, Request};
use serde_json::{Map, Value};

const EXAMPLES: &str = "\
Examples:
  qmp-exec -s /run/vm1.qmp query-status
  qmp-exec blockdev-add driver=raw node-name=disk0 file.driver=file file.filename=/tmp/d.img
  qmp-exec blockdev-mirror job-id=job0 device=disk0 target=dst sync=full \\
      -e BLOCK_JOB_READY -m device=job0 --fail-on BLOCK_JOB_ERROR --timeout 60";

/// Run a QMP command and print its return value.
///
/// Arguments are given as items: key=text sends a string, key:=json sends raw
/// JSON, key=@file and key:=@file read the value from a file, and dotted keys
/// nest (file.driver=file). Plain output prints a string result raw, {} as
/// nothing and anything else as JSON; --json prints one compact JSON line.
#[derive(Debug, Parser)]
#[command(name = "qmp-exec", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// The command to run, e.g. query-status
    #[arg(required_unless_present_any = ["hmp", "batch"], conflicts_with_all = ["hmp", "batch"])]
    command: Option<String>,
    /// Arguments: key=text, key:=json, key=@file, key:=@file; a.b=x nests
    #[arg(value_name = "ITEM")]
    items: Vec<Item>,
    /// The whole arguments object as JSON ('-' reads it from stdin); items are added to it
    #[arg(long, value_name = "JSON", conflicts_with_all = ["hmp", "batch"])]
    args: Option<String>,
    /// Run a human-monitor (HMP) command line and print its text output
    #[arg(long, value_name = "COMMAND-LINE", conflicts_with = "batch")]
    hmp: Option<String>,
    /// Read newline-delimited JSON commands from stdin, pipeline them, print one reply per line
    #[arg(long)]
    batch: bool,
    /// With --batch: go on after an error reply or an invalid line
    #[arg(long, requires = "batch")]
    keep_going: bool,
    #[command(flatten)]
    out: OutputOpts,
    /// Print the whole reply message, not just its return value
    #[arg(long, conflicts_with = "batch")]
    raw: bool,
    #[command(flatten)]
    events: EventOpts,
}

fn arguments(args: &Args) -> anyhow::Result<Map<String, Value>> {
    let base = match args.args.as_deref() {
        None => Map::new(),
        Some(text) => {
            let text = if text == "-" {
                let mut s = String::new();
                io::stdin()
                    .read_to_string(&mut s)
                    .context("reading --args from stdin")?;
                s
            } else {
                text.to_string()
            };
            match serde_json::from_str(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(UsageError("--args must be a JSON object".into()).into()),
                Err(e) => return Err(UsageError(format!("--args is not valid JSON: {e}")).into()),
            }
        }
    };
    Ok(build_arguments(base, &args.items)?)
}

fn run(args: Args) -> RunResult {
    if args.events.any() && args.batch {
        let msg = "waiting for events (-e, -m, -n, --fail-on) does not go with --batch";
        return Err(UsageError(msg.into()).into());
    }
    if args.events.any() && args.events.event.is_empty() {
        let msg = "-m/--match, -n/--count and --fail-on need -e/--event NAME";
        return Err(UsageError(msg.into()).into());
    }
    if args.batch {
        return batch(&args);
    }
    let format = args.out.format();
    let (command, arguments) = match &args.hmp {
        Some(line) => {
            let mut a = Map::new();
            a.insert("command-line".into(), Value::String(line.clone()));
            ("human-monitor-command", a)
        }
        // clap requires a command unless --hmp or --batch is given.
        None => {
            let command = args.command.as_deref().unwrap_or_default();
            if command.contains('=') {
                let msg =
                    format!("'{command}' is an argument, not a command: give the command first");
                return Err(UsageError(msg).into());
            }
            (command, arguments(&args)?)
        }
    };
    let mut client = args.conn.connect(false, !args.events.event.is_empty())?;
    let reply = client.request(command, Some(&arguments))?;
    if args.raw {
        // A message is always printed as JSON.
        let format = if format == Format::Plain {
            Format::Json
        } else {
            format
        };
        qmp::cli::print(&Value::Object(reply.message().clone()), format)?;
    }
    let value = reply.into_result().map_err(qmp::Error::Qmp)?;
    if !args.raw {
        qmp::cli::print(&value, format)?;
    }
    if args.events.event.is_empty() {
        return Ok(Status::Ok);
    }
    // Events the command caused may have come before its reply: the client
    // queued them, and the wait looks at them first.
    let timeout = args.conn.timeout.unwrap_or(qmp::cli::DEFAULT_TIMEOUT);
    let wait = args.events.wait(Some(timeout), Some(1));
    let json = format != Format::Plain;
    match wait.run(&mut client, |e| {
        print_event(e, json).map_err(BoxError::from)
    })? {
        Outcome::Failed(e) => {
            qmp::cli::report("qmp-exec", &format!("failure event {}", e.name()));
            Ok(Status::Failed)
        }
        Outcome::Done | Outcome::Deadline => Ok(Status::Ok),
    }
}

/// `--batch`: stdin lines in, one reply per line out, pipelined.
///
/// Lines come from a reader thread, so that waiting for the next line never
/// holds up the replies: a coprocess that writes a command and waits for its
/// reply before writing the next one works too.
struct Batch<W> {
    lines: mpsc::Receiver<io::Result<String>>,
    line_no: usize,
    /// Line number and the caller's own id of each request in flight.
    pending: VecDeque<(usize, Option<Value>)>,
    out: W,
    keep_going: bool,
    stopped: bool,
    status: Status,
    error: Option<io::Error>,
}

impl<W: Write> Batch<W> {
    fn fail(&mut self, status: Status) {
        if self.status == Status::Ok {
            self.status = status;
        }
        if !self.keep_going {
            self.stopped = true;
        }
    }

    fn parse(line: &str) -> Result<(Request, Option<Value>), String> {
        let msg: Map<String, Value> = match serde_json::from_str(line) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(
                    "expected a JSON object {\"execute\": ..., \"arguments\": {...}}".into(),
                );
            }
            Err(e) => return Err(format!("invalid JSON: {e}")),
        };
        let mut command = None;
        let mut arguments = None;
        let mut id = None;
        for (k, v) in msg {
            match (k.as_str(), v) {
                ("execute", Value::String(s)) => command = Some(s),
                ("arguments", Value::Object(a)) => arguments = Some(a),
                ("id", v) => id = Some(v),
                ("execute", _) => return Err("\"execute\" must be a string".into()),
                ("arguments", _) => return Err("\"arguments\" must be an object".into()),
                (k, _) => return Err(format!("unexpected member \"{k}\"")),
            }
        }
        let command = command.ok_or("missing \"execute\"")?;
        Ok((Request::new(command, arguments), id))
    }
}

impl<W: Write> Pipeline for Batch<W> {
    fn next_request(&mut self, idle: bool) -> Option<Request> {
        while !self.stopped {
            let next = if idle {
                // Nothing in flight: show the replies so far, then wait.
                if let Err(e) = self.out.flush() {
                    self.error = Some(e);
                    self.stopped = true;
                    return None;
                }
                self.lines.recv().ok()
            } else {
                self.lines.try_recv().ok()
            };
            let line = match next? {
                Ok(l) => l,
                Err(e) => {
                    self.error = Some(e);
                    self.stopped = true;
                    return None;
                }
            };
            self.line_no += 1;
            if line.trim().is_empty() {
                continue;
            }
            match Self::parse(&line) {
                Ok((req, id)) => {
                    self.pending.push_back((self.line_no, id));
                    return Some(req);
                }
                Err(why) => {
                    let msg = format!("stdin line {}: {why}; nothing sent for it", self.line_no);
                    qmp::cli::report("qmp-exec", &msg);
                    self.fail(Status::Usage);
                }
            }
        }
        None
    }

    fn on_reply(&mut self, _: usize, reply: Reply) -> bool {
        let (line, id) = self.pending.pop_front().unwrap_or_default();
        if reply.is_error()
            && let Err(e) = reply.clone().into_result()
        {
            qmp::cli::report("qmp-exec", &format!("stdin line {line}: {e}"));
            self.fail(Status::Failed);
        }
        let mut msg = reply.into_message();
        msg.shift_remove("id");
        if let Some(id) = id {
            msg.insert("id".into(), id);
        }
        if let Err(e) = writeln!(self.out, "{}", Value::Object(msg)) {
            self.error.get_or_insert(e);
            self.stopped = true;
        }
        !self.stopped
    }
}

fn batch(args: &Args) -> RunResult {
    let mut client = args.conn.connect(true, false)?;
    let (tx, rx) = mpsc::sync_channel(1024);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut b = Batch {
        lines: rx,
        line_no: 0,
        pending: VecDeque::new(),
        out: BufWriter::new(io::stdout().lock()),
        keep_going: args.keep_going,
        stopped: false,
        status: Status::Ok,
        error: None,
    };
    let result = client.pipeline(&mut b);
    let flushed = b.out.flush();
    if let Some(e) = b.error {
        return Err(e.into());
    }
    result?;
    flushed?;
    Ok(b.status)
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qmp-exec", run)
}
