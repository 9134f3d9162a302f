//! qmp-events: print the events of a QMP monitor as they arrive.

use clap::Parser;
use qmp::cli::describe::Kind;
use qmp::cli::{ConnectOpts, EventOpts, RunResult};

const EXAMPLES: &str = "\
Examples:
  qmp-events -s /run/vm1.qmp                          (print every event)
  qmp-events -e 'BLOCK_JOB_*' --json | jq -c .data
  qmp-events -e BLOCK_JOB_COMPLETED -m device=job0 -n 1 --timeout 60 \\
      --fail-on BLOCK_JOB_ERROR,device=job0";

/// Print the events of a QMP monitor as they arrive.
///
/// One line per event: 'SECONDS.MICROSECONDS NAME DATA', or with --json the
/// whole event as one JSON object per line. Output is flushed per event.
/// Filters: -e NAME (globs), -m PATH=VALUE, PATH or !PATH on the event's
/// data. With -n N it ends after N matching events (status 0, or 4 if the
/// event timeout passes first); without, it listens until the event timeout
/// (--event-timeout, else --timeout, else no limit: status 0), until QEMU
/// quits (SHUTDOWN, then the connection closes: status 0) or the connection
/// is lost (status 3). --fail-on ends it with status 1. QEMU serves one
/// client per monitor: give QEMU a second monitor for a long-running
/// listener.
#[derive(Debug, Parser)]
#[command(name = "qmp-events", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    #[command(flatten)]
    events: EventOpts,
    /// Print each event as one JSON object per line
    #[arg(short, long)]
    json: bool,
    /// List the server's events, one per line (with --json: one JSON list)
    #[arg(long, conflicts_with_all = ["describe", "event"])]
    list: bool,
    /// Describe EVENT from the server's schema: the members of its data (types, optional, enum values)
    #[arg(long, value_name = "EVENT", conflicts_with = "event")]
    describe: Option<String>,
}

fn run(args: Args) -> RunResult {
    if args.list {
        return qmp::cli::describe::list(&args.conn, Kind::Event, args.json);
    }
    if let Some(name) = &args.describe {
        return qmp::cli::describe::describe(
            "qmp-events",
            &args.conn,
            Kind::Event,
            name,
            args.json,
        );
    }
    let mut client = args.conn.connect(false, true)?;
    let wait = args.events.wait(args.conn.timeout, None);
    qmp::cli::await_events("qmp-events", &mut client, &wait, args.json)
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qmp-events", run)
}
