//! qmp-exec: run one QMP command (or a batch) and print the result.

use std::io::{self, BufWriter, Write};

use clap::Parser;
use qmp::Request;
use qmp::batch::Batch;
use qmp::cli::describe::Kind;
use qmp::cli::job::JobOpts;
use qmp::cli::{ConnectOpts, EventOpts, Failure, OutputOpts, RunResult, Status};
use qmp::items::Item;
use qmp::output::Format;
use serde_json::Value;

const EXAMPLES: &str = "\
Examples:
  qmp-exec -s /run/vm1.qmp query-status
  qmp-exec blockdev-add driver=raw node-name=disk0 file.driver=file file.filename=/tmp/d.img
  qmp-exec blockdev-mirror job-id=job0 device=disk0 target=dst sync=full \\
      -e BLOCK_JOB_READY -m device=job0 --fail-on BLOCK_JOB_ERROR --timeout 60
  qmp-exec blockdev-backup job-id=b0 device=disk0 target=dst sync=full --job --event-timeout 600
  qmp-exec --describe blockdev-add              (arguments and types, from the server)";

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
    #[arg(required_unless_present_any = ["batch", "list", "describe", "attach"], conflicts_with = "batch")]
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
    /// List the server's commands, one per line (with --json: one JSON list)
    #[arg(long, conflicts_with_all = ["command", "batch", "describe"])]
    list: bool,
    /// Describe COMMAND from the server's schema: its arguments (types, optional, enum values, nested members) and return type
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["command", "batch"])]
    describe: Option<String>,
    #[command(flatten)]
    out: OutputOpts,
    /// Print the whole reply message, not just its return value
    #[arg(long, conflicts_with = "batch")]
    raw: bool,
    #[command(flatten)]
    events: EventOpts,
    #[command(flatten)]
    job: JobOpts,
}

/// Option combinations clap cannot check.
fn check(args: &Args) -> Result<(), Failure> {
    let msg = if args.events.any() && args.batch {
        "waiting for events (-e, -m, -n, --fail-on, --event-timeout) does not go with --batch"
            .to_string()
    } else if args.events.any() && args.events.event.is_empty() && !args.job.on() {
        "-m/--match, -n/--count, --fail-on and --event-timeout need -e/--event NAME".into()
    } else if args.pass_fd.len() > qmp::MAX_FDS {
        format!("at most {} --pass-fd in one command", qmp::MAX_FDS)
    } else if let Some(fd) = args.pass_fd.iter().find(|&&fd| !qmp::fd_is_open(fd)) {
        format!(
            "--pass-fd {fd}: descriptor {fd} is not open (open it in the shell: qmp-exec ... \
             --pass-fd {fd} {fd}<>FILE)"
        )
    } else {
        return Ok(());
    };
    Err(Failure::Usage(msg))
}

/// The request the arguments describe, the items it was built from (for
/// hints), and the caller's own id (a whole command may carry one).
fn build(args: &Args) -> Result<(Request, Vec<Item>, Option<Value>), Failure> {
    // clap requires a command unless --batch is given.
    let command = args.command.as_deref().unwrap_or_default();
    let (request, items, id) = if args.hmp {
        let mut line = command.to_string();
        for word in &args.items {
            line.push(' ');
            line.push_str(word);
        }
        (qmp::hmp::request(&line, args.cpu_index), Vec::new(), None)
    } else {
        qmp::cli::request::build(command, &args.items, args.args.as_deref())?
    };
    let request = if args.oob {
        request.out_of_band()
    } else {
        request
    };
    Ok((request, items, id))
}

/// An error reply, said with what the user can do about it.
fn explain(e: qmp::QmpError, args: &Args, items: &[Item]) -> RunResult {
    let msg = if !args.pass_fd.is_empty() && e.class == "CommandNotFound" {
        format!(
            "{e} (this server takes no file descriptors: qemu-storage-daemon has neither getfd \
             nor add-fd; qemu-system has both)"
        )
    } else if args.hmp && e.class == "CommandNotFound" {
        "this server has no human monitor: HMP needs qemu-system-* (qemu-storage-daemon has \
         none)"
            .into()
    } else if let Some(hint) = qmp::hints::for_items(&e.desc, items) {
        format!("{e} ({hint})")
    } else {
        return Err(qmp::Error::Qmp(e).into());
    };
    qmp::cli::report("qmp-exec", &msg);
    Ok(Status::Failed)
}

fn run(args: Args) -> RunResult {
    check(&args)?;
    let json = args.out.format() != Format::Plain;
    if args.list {
        return qmp::cli::describe::list(&args.conn, Kind::Command, json);
    }
    if let Some(name) = &args.describe {
        return qmp::cli::describe::describe("qmp-exec", &args.conn, Kind::Command, name, json);
    }
    if args.batch {
        return batch(&args);
    }
    let format = args.out.format();
    if args.command.is_none() {
        // --attach ID alone: follow a job started elsewhere.
        let job = args.job.target(None)?;
        return follow_job(&args, &mut args.conn.connect(false, true)?, job, format);
    }
    let (request, items, id) = build(&args)?;
    let job = args.job.target(Some(&request))?;
    let mut client = args
        .conn
        .connect(request.oob, !args.events.event.is_empty() || job.is_some())?;
    // Compact output of a plain in-band command: printed from the reply's
    // raw text, without building a Value of it (query-qmp-schema is 236 KB).
    let compact = qmp::cli::request::compact(format);
    let reply = if compact && !args.raw && !args.hmp && !request.oob && args.pass_fd.is_empty() {
        qmp::cli::request::run_compact(&mut client, &request, format)?
    } else {
        Some(client.send_with_fds(&request, &args.pass_fd)?)
    };
    if let Some(reply) = reply
        && let Some(status) = show(reply, &args, &items, id, format)?
    {
        return Ok(status);
    }
    if job.is_some() {
        return follow_job(&args, &mut client, job, format);
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

/// `--job`, `--attach`: follows the job to its end ([`qmp::cli::job`]),
/// within --event-timeout (default --timeout).
fn follow_job(
    args: &Args,
    client: &mut qmp::Client,
    job: Option<qmp::job::Target>,
    format: Format,
) -> RunResult {
    let Some(job) = job else {
        return Ok(Status::Ok);
    };
    let timeout = args.events.event_timeout.or(args.conn.timeout);
    let timeout = Some(timeout.unwrap_or(qmp::cli::DEFAULT_TIMEOUT))
        .filter(|t| *t != std::time::Duration::MAX);
    let progress = !args.job.no_progress;
    qmp::cli::job::follow("qmp-exec", client, job, timeout, format, progress)
}

/// Prints a reply (or says what its error means); `Some(status)` ends the
/// run there.
fn show(
    reply: qmp::Reply,
    args: &Args,
    items: &[Item],
    id: Option<Value>,
    format: Format,
) -> Result<Option<Status>, Failure> {
    if args.raw {
        qmp::cli::request::print_raw(&reply, id, format)?;
    }
    let value = match reply.into_result() {
        Ok(v) => v,
        Err(e) => return explain(e, args, items).map(Some),
    };
    if args.hmp
        && let Some(text) = value.as_str()
    {
        if let Some(error) = qmp::hmp::error_in(text) {
            qmp::cli::report("qmp-exec", &format!("HMP: {error}"));
            return Ok(Some(Status::Failed));
        }
        if text.is_empty() && format == Format::Plain {
            return Ok(None);
        }
    }
    if !args.raw {
        qmp::cli::print(&value, format)?;
    }
    Ok(None)
}

/// `--batch`: stdin lines in, one reply per line out ([`qmp::batch`]).
fn batch(args: &Args) -> RunResult {
    // Reading starts while the connection is made, so that the first
    // queries can go out together.
    let lines = qmp::batch::read_lines(|| io::stdin().lock());
    let mut client = args.conn.connect(true, args.with_events)?;
    let out = BufWriter::new(io::stdout().lock());
    let report = |msg: &str| qmp::cli::report("qmp-exec", msg);
    let mut b = Batch::new(lines, out, report, args.keep_going, args.with_events);
    let result = client.pipeline(&mut b);
    let flushed = b.out().flush();
    if let Some(e) = b.error.take() {
        return Err(e.into());
    }
    result?;
    flushed?;
    Ok(match b.failure {
        None => Status::Ok,
        Some(qmp::batch::Failure::InvalidLine) => Status::Usage,
        Some(_) => Status::Failed,
    })
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qmp-exec", run)
}
