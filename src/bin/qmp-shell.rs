//! qmp-shell: an interactive QMP shell that knows the server's schema.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use qmp::cli::shell::editor::{Show, history_file, interactive, script};
use qmp::cli::shell::{Session, Shared, tracer, wrap};
use qmp::cli::{ConnectOpts, Failure, RunResult};

const EXAMPLES: &str = "\
Examples:
  qmp-shell -s /run/vm1.qmp
  (QEMU) blockdev-add driver=null-co node-name=n0 size=1048576
  (QEMU) device_add driver=virtio-blk-pci drive=n0 id=vd0 num-queues=2
  (QEMU) help blockdev-add                   (or: blockdev-add?)
  (QEMU) transaction(
  TRANS> block-dirty-bitmap-add node=n0 name=b0
  TRANS> )
  qmp-shell -e -s /run/vm1.qmp < steps.qmp   (a script: stop at the first error)
  qmp-shell -H -s /run/vm1.qmp               (HMP: info status, cpu 1, ...)
  qmp-shell --wrap -- qemu-system-x86_64 -M q35 -display none";

/// An interactive QMP shell that knows the server's schema.
///
/// A line is COMMAND ITEM..., with the items of qmp-exec (key=text,
/// key:=json, key=@file, dotted keys nest). key=text is converted by the
/// schema: size=1024 sends a number to an integer argument, serial=1234 a
/// string to a string one, a bool takes true/false/on/off, an enum value is
/// checked. A line starting with '{' is sent as it is. Tab completes
/// commands, keys, values, QOM paths and device drivers; help and COMMAND?
/// describe commands; events arrive above the prompt. When stdin is not a
/// terminal, lines are read without a prompt and each reply is printed as
/// one JSON line.
#[derive(Debug, Parser)]
#[command(name = "qmp-shell", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// HMP mode: lines are human-monitor commands ('cpu N' picks the CPU later lines run on)
    #[arg(short = 'H', long)]
    hmp: bool,
    /// In a script (stdin not a terminal): stop at the first error reply (status 1) or invalid line (status 2)
    #[arg(short, long)]
    exit_on_error: bool,
    /// Print replies as one line of JSON, not indented
    #[arg(long)]
    compact: bool,
    /// Log every message, both ways, to FILE ("-> " sent, "<- " received)
    #[arg(short, long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Start QEMU-COMMAND with its QMP monitor connected to the shell, open the shell, and stop QEMU when the shell ends
    #[arg(long, requires = "qemu", conflicts_with = "socket")]
    wrap: bool,
    /// With --wrap: the QEMU command line (after --)
    #[arg(last = true, value_name = "QEMU-COMMAND")]
    qemu: Vec<String>,
}

fn run(args: Args) -> RunResult {
    let interactive_mode = std::io::stdin().is_terminal();
    let log = match &args.log {
        None => None,
        Some(path) => Some(
            std::fs::File::create(path).map_err(|source| Failure::Input {
                what: format!("creating the log file '{}'", path.display()),
                source,
            })?,
        ),
    };
    // Quiet until the session is open: -v echoes what the lines send.
    let quiet = Arc::new(AtomicBool::new(true));
    let mut options = args.conn.options(false, interactive_mode);
    options.trace = tracer(log, args.conn.verbose, quiet.clone());
    let mut qemu = None;
    let client = if args.wrap {
        let (child, client) = wrap::start(&args.qemu, &options)?;
        qemu = Some(child);
        client
    } else {
        qmp::Client::connect(args.conn.address()?, &options)?
    };
    let result = session(args, client, quiet, interactive_mode);
    if let Some(mut wrapped) = qemu {
        wrapped.stop();
    }
    result
}

fn session(
    args: Args,
    client: qmp::Client,
    quiet: Arc<AtomicBool>,
    interactive_mode: bool,
) -> RunResult {
    let (major, minor, micro) = client.greeting().version;
    let banner = format!(
        "Connected to QEMU {major}.{minor}.{micro} at {} ({}: help lists commands, Tab \
         completes, Ctrl-D leaves)",
        client.address(),
        if args.hmp { "HMP" } else { "QMP" }
    );
    quiet.store(false, Ordering::Relaxed);
    let shared = Arc::new(Shared::new(client, args.hmp, quiet));
    let session = Session::new(shared);
    if interactive_mode {
        let name = if args.hmp {
            "hmp-shell_history"
        } else {
            "qmp-shell_history"
        };
        let show = Show {
            compact: args.compact,
        };
        interactive(session, &banner, history_file(name), show)
    } else {
        script(session, args.exit_on_error)
    }
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qmp-shell", run)
}
