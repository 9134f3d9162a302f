//! qom-tree: print the QOM composition tree.

use std::io::{self, BufWriter, IsTerminal, Write};

use clap::Parser;
use qmp::cli::{ConnectOpts, RunResult, Status};
use qmp::tree::{JsonTree, PlainTree, TreeSink, TreeWalk};

const EXAMPLES: &str = "\
Examples:
  qom-tree -s /run/vm1.qmp
  qom-tree /machine/peripheral
  qom-tree --json /objects | jq '.children[].path'";

/// Print the QOM composition tree below PATH, as QEMU's qom-tree does.
///
/// Plain output follows QEMU's qom-tree: each object's path, one
/// '  name: value (type)' line per non-child property (values as Python
/// prints them; an unreadable one as <EXCEPTION: reason>), a blank line, then
/// each child object, depth first. --json prints the tree as one nested JSON
/// document. The status is 0 when the walk completes, even if some
/// properties cannot be read (they are counted on stderr; --strict makes
/// them fail), and 1 when PATH cannot be listed or an object vanishes
/// during the walk. Requests are pipelined, and on QEMU >= 10.1 qom-list-get fetches
/// whole objects at once; output is streamed as the walk proceeds.
#[derive(Debug, Parser)]
#[command(name = "qom-tree", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// Where to start: an object's path, absolute or partial
    #[arg(value_name = "PATH", default_value = "/")]
    path: String,
    /// Walk at most N levels of children below PATH (0: PATH alone); with --json, objects cut off say "truncated": true
    #[arg(long, value_name = "N")]
    depth: Option<usize>,
    /// Print the tree as one JSON document: {"path", "properties": [{"name", "type", "value" or "error"}], "children": [...]}
    #[arg(short, long)]
    json: bool,
    /// Do not try qom-list-get (QEMU >= 10.1); use qom-list and qom-get per property
    #[arg(long)]
    no_list_get: bool,
    /// Exit with status 1 when some properties cannot be read, too
    #[arg(long)]
    strict: bool,
}

fn walk<S: TreeSink>(args: &Args, sink: S) -> Result<(TreeWalk<S>, Status), qmp::cli::Failure> {
    let mut client = args.conn.connect(true, false)?;
    let mut walk = TreeWalk::new(sink, &args.path, args.depth, !args.no_list_get);
    client.pipeline(&mut walk)?;
    if let Some(e) = walk.io_error.take() {
        return Err(e.into());
    }
    for (path, e) in &walk.errors {
        qmp::cli::report("qom-tree", &format!("{path}: {e}"));
    }
    if walk.unreadable > 0 {
        let n = walk.unreadable;
        let noun = if n == 1 { "property" } else { "properties" };
        qmp::cli::report(
            "qom-tree",
            &format!("{n} {noun} could not be read (shown as <EXCEPTION: ...>)"),
        );
    }
    // As QEMU's tool: unreadable properties are part of a complete walk
    // (q35 always has some: legacy-*, crash-information).
    let ok = walk.errors.is_empty() && (walk.unreadable == 0 || !args.strict);
    Ok((walk, if ok { Status::Ok } else { Status::Failed }))
}

fn run(args: Args) -> RunResult {
    let stdout = io::stdout();
    let terminal = stdout.is_terminal();
    let out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let (mut out, status) = if args.json {
        let (w, s) = walk(&args, JsonTree::new(out, terminal))?;
        (w.into_sink().into_inner(), s)
    } else {
        let (w, s) = walk(&args, PlainTree::new(out, terminal))?;
        (w.into_sink().into_inner(), s)
    };
    out.flush()?;
    Ok(status)
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qom-tree", run)
}
