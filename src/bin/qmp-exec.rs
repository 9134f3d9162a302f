//! qmp-exec: run one QMP command (or a batch) and print the result.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::sync::mpsc;

use clap::Parser;
use qmp::cli::{ConnectOpts, EventOpts, Failure, OutputOpts, RunResult, Status, UsageError};
use qmp::items::{Item, build_arguments};
use qmp::output::Format;
use qmp::{Event, Pipeline, Reply, Request, has_no_side_effects, parse_request};
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
/// nest (file.driver=file); items override --args. When QEMU rejects an
/// item for its type, the error says how to write it (size:=1024). Plain output prints a string result raw, {} as
/// nothing and anything else as JSON; --json prints one compact JSON line.
#[derive(Debug, Parser)]
#[command(name = "qmp-exec", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// The command to run, e.g. query-status, or a whole command as JSON ('{"execute": ...}'); with --hmp: the first word of the HMP command line
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    command: Option<String>,
    /// Arguments: key=text, key:=json, key=@file, key:=@file; a.b=x nests (with --hmp: the rest of the command line)
    #[arg(value_name = "ITEM")]
    items: Vec<String>,
    /// The whole arguments object as JSON ('-' reads it from stdin); items are added to it and override its keys
    #[arg(long, value_name = "JSON", conflicts_with_all = ["hmp", "batch"])]
    args: Option<String>,
    /// Run the words as a human-monitor (HMP) command line (qmp-exec --hmp info status) and print its text; HMP errors fail
    #[arg(long, conflicts_with = "batch")]
    hmp: bool,
    /// Send the command out of band (exec-oob), ahead of in-band commands QEMU is still running (migrate-pause, migrate-recover)
    #[arg(long, conflicts_with_all = ["batch", "hmp"])]
    oob: bool,
    /// Pass inherited file descriptor N with the command (SCM_RIGHTS; repeatable), for getfd and add-fd: --pass-fd 3 3<>disk.img
    #[arg(long, value_name = "N", conflicts_with = "batch")]
    pass_fd: Vec<i32>,
    /// With --hmp: run the command on this CPU (as HMP's 'cpu N')
    #[arg(long, value_name = "N", requires = "hmp")]
    cpu_index: Option<u64>,
    /// Read newline-delimited JSON commands from stdin and print one reply per line; commands with side effects wait for every earlier reply
    #[arg(long)]
    batch: bool,
    /// With --batch: go on after an error reply or an invalid line (everything pipelined)
    #[arg(long, requires = "batch")]
    keep_going: bool,
    /// With --batch: print the events that arrive as JSON lines too, in order of arrival among the replies
    #[arg(long, requires = "batch")]
    with_events: bool,
    #[command(flatten)]
    out: OutputOpts,
    /// Print the whole reply message, not just its return value
    #[arg(long, conflicts_with = "batch")]
    raw: bool,
    #[command(flatten)]
    events: EventOpts,
}

/// The arguments object (`--args`, then the items over it) and the items.
fn arguments(args: &Args) -> Result<(Map<String, Value>, Vec<Item>), Failure> {
    let base = match args.args.as_deref() {
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
            match qmp::items::json_value(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(UsageError("--args must be a JSON object".into()).into()),
                Err(e) => return Err(UsageError(format!("--args: {e}")).into()),
            }
        }
    };
    let items = args
        .items
        .iter()
        .map(|i| i.parse::<Item>())
        .collect::<Result<Vec<_>, _>>()?;
    let built = build_arguments(base, &items)?;
    Ok((built, items))
}

fn run(args: Args) -> RunResult {
    if args.events.any() && args.batch {
        let msg = "waiting for events (-e, -m, -n, --fail-on) does not go with --batch";
        return Err(UsageError(msg.into()).into());
    }
    if args.events.any() && args.events.event.is_empty() {
        let msg = "-m/--match, -n/--count, --fail-on and --event-timeout need -e/--event NAME";
        return Err(UsageError(msg.into()).into());
    }
    if args.batch {
        return batch(&args);
    }
    let format = args.out.format();
    // clap requires a command unless --batch is given.
    let command = args.command.as_deref().unwrap_or_default();
    let mut items = Vec::new();
    let mut id = None;
    let request = if args.hmp {
        let mut line = command.to_string();
        for word in &args.items {
            line.push(' ');
            line.push_str(word);
        }
        qmp::hmp::request(&line, args.cpu_index)
    } else if command.trim_start().starts_with('{') {
        // A whole message, as virsh qemu-monitor-command takes it.
        if !args.items.is_empty() || args.args.is_some() {
            let msg = "a whole command ('{\"execute\": ...}') takes no items or --args: put \
                       the arguments in its \"arguments\"";
            return Err(UsageError(msg.into()).into());
        }
        let (request, given) = parse_request(command)
            .map_err(|e| UsageError(format!("the command '{command}': {e}")))?;
        id = given;
        request
    } else {
        if command.contains('=') {
            let msg = format!("'{command}' is an argument, not a command: give the command first");
            return Err(UsageError(msg).into());
        }
        let (arguments, given) = arguments(&args)?;
        items = given;
        Request::new(command, Some(arguments))
    };
    let request = if args.oob {
        request.out_of_band()
    } else {
        request
    };
    if args.pass_fd.len() > qmp::MAX_FDS {
        let msg = format!("at most {} --pass-fd in one command", qmp::MAX_FDS);
        return Err(UsageError(msg).into());
    }
    if let Some(fd) = args.pass_fd.iter().find(|&&fd| !qmp::fd_is_open(fd)) {
        let msg = format!(
            "--pass-fd {fd}: descriptor {fd} is not open (open it in the shell: \
             qmp-exec ... --pass-fd {fd} {fd}<>FILE)"
        );
        return Err(UsageError(msg).into());
    }
    let mut client = args
        .conn
        .connect(request.oob, !args.events.event.is_empty())?;
    let reply = client.send_with_fds(&request, &args.pass_fd)?;
    if args.raw {
        // A message is always printed as JSON, with the caller's own id.
        let format = if format == Format::Plain {
            Format::Json
        } else {
            format
        };
        let mut msg = reply.message().clone();
        if let Some(id) = &id {
            msg.insert("id".into(), id.clone());
        }
        qmp::cli::print(&Value::Object(msg), format)?;
    }
    let value = match reply.into_result() {
        Err(e) if !args.pass_fd.is_empty() && e.class == "CommandNotFound" => {
            let msg = format!(
                "{e} (this server takes no file descriptors: qemu-storage-daemon has neither \
                 getfd nor add-fd; qemu-system has both)"
            );
            qmp::cli::report("qmp-exec", &msg);
            return Ok(Status::Failed);
        }
        Err(e) if args.hmp && e.class == "CommandNotFound" => {
            let msg = "this server has no human monitor: HMP needs qemu-system-* \
                       (qemu-storage-daemon has none)";
            qmp::cli::report("qmp-exec", msg);
            return Ok(Status::Failed);
        }
        Err(e) => match qmp::hints::for_items(&e.desc, &items) {
            Some(hint) => {
                qmp::cli::report("qmp-exec", &format!("{e} ({hint})"));
                return Ok(Status::Failed);
            }
            None => return Err(qmp::Error::Qmp(e).into()),
        },
        Ok(v) => v,
    };
    if args.hmp
        && let Some(text) = value.as_str()
    {
        if let Some(error) = qmp::hmp::error_in(text) {
            qmp::cli::report("qmp-exec", &format!("HMP: {error}"));
            return Ok(Status::Failed);
        }
        if text.is_empty() && format == Format::Plain {
            return Ok(Status::Ok);
        }
    }
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
    qmp::cli::await_events("qmp-exec", &mut client, &wait, format != Format::Plain)
}

/// `--batch`: stdin lines in, one reply per line out, pipelined.
///
/// Lines come from a reader thread, so that waiting for the next line never
/// holds up the replies: a coprocess that writes a command and waits for its
/// reply before writing the next one works too.
///
/// Without `--keep-going` it stops like `set -e`: a command with side effects
/// is sent only once every earlier reply is in (and was a success, or the
/// batch has stopped); commands without side effects
/// ([`has_no_side_effects`]) are sent ahead. After a failure nothing more
/// is sent or printed.
struct Batch<W> {
    lines: mpsc::Receiver<io::Result<String>>,
    line_no: usize,
    /// Line number and the caller's own id of each request in flight.
    pending: VecDeque<(usize, Option<Value>)>,
    /// A command with side effects, waiting for the replies before it.
    held: Option<(Request, usize, Option<Value>)>,
    out: W,
    keep_going: bool,
    with_events: bool,
    stopped: bool,
    /// The line of the first failure (without --keep-going): nothing after
    /// it is printed.
    cutoff: Option<usize>,
    /// Whether the reply of the cutoff line (or a later one) came.
    past_cutoff: bool,
    status: Status,
    error: Option<io::Error>,
}

impl<W: Write> Batch<W> {
    fn fail(&mut self, status: Status, line: usize) {
        if self.status == Status::Ok {
            self.status = status;
        }
        if !self.keep_going {
            self.stopped = true;
            self.cutoff = Some(self.cutoff.map_or(line, |c| c.min(line)));
        }
    }

    fn send(&mut self, req: Request, line: usize, id: Option<Value>) -> Option<Request> {
        self.pending.push_back((line, id));
        Some(req)
    }

    fn write_line(&mut self, msg: Map<String, Value>) {
        if let Err(e) = writeln!(self.out, "{}", Value::Object(msg)) {
            self.error.get_or_insert(e);
            self.stopped = true;
        }
    }
}

impl<W: Write> Pipeline for Batch<W> {
    fn next_request(&mut self, idle: bool) -> Option<Request> {
        if self.held.is_some() {
            // Sent once every earlier reply is in; a failure drops it.
            if self.stopped {
                self.held = None;
            }
            if !idle {
                return None;
            }
            let (req, line, id) = self.held.take()?;
            return self.send(req, line, id);
        }
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
            match parse_request(&line) {
                Ok((req, id)) if idle || self.keep_going || has_no_side_effects(&req.command) => {
                    return self.send(req, self.line_no, id);
                }
                Ok((req, id)) => {
                    self.held = Some((req, self.line_no, id));
                    return None;
                }
                Err(why) => {
                    let msg = format!("stdin line {}: {why}; nothing sent for it", self.line_no);
                    qmp::cli::report("qmp-exec", &msg);
                    self.fail(Status::Usage, self.line_no);
                }
            }
        }
        None
    }

    fn on_reply(&mut self, _: usize, reply: Reply) -> bool {
        let (line, id) = self.pending.pop_front().unwrap_or_default();
        if let Some(cutoff) = self.cutoff {
            self.past_cutoff |= line >= cutoff;
            if line > cutoff {
                // Sent ahead (no side effects) before the failure; the batch
                // ended there.
                return false;
            }
        }
        if reply.is_error()
            && let Err(e) = reply.clone().into_result()
        {
            qmp::cli::report("qmp-exec", &format!("stdin line {line}: {e}"));
            self.fail(Status::Failed, line);
            self.past_cutoff = true;
        }
        let mut msg = reply.into_message();
        msg.shift_remove("id");
        if let Some(id) = id {
            msg.insert("id".into(), id);
        }
        self.write_line(msg);
        !self.stopped
    }

    fn on_event(&mut self, event: Event) -> Option<Event> {
        if self.with_events && !self.past_cutoff {
            self.write_line(event.into_message());
        }
        None
    }
}

fn batch(args: &Args) -> RunResult {
    // Reading starts while the connection is made, so that the first
    // queries can go out together.
    let (tx, rx) = mpsc::sync_channel(1024);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut client = args.conn.connect(true, args.with_events)?;
    let mut b = Batch {
        lines: rx,
        line_no: 0,
        pending: VecDeque::new(),
        held: None,
        out: BufWriter::new(io::stdout().lock()),
        keep_going: args.keep_going,
        with_events: args.with_events,
        stopped: false,
        cutoff: None,
        past_cutoff: false,
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
