//! qom-list: list the properties of a QOM object.

use clap::Parser;
use qmp::cli::{ConnectOpts, OutputOpts, RunResult, Status, write_stdout};
use qmp::output::Format;
use qmp::qom::{list_entry, list_request};

const EXAMPLES: &str = "\
Examples:
  qom-list /machine
  qom-list -l /machine/peripheral/vblk0
  qom-list --json /objects | jq -r '.[] | select(.type | startswith(\"child<\")) | .name'";

/// List the properties of a QOM object, as QEMU's qom-list does.
///
/// Plain output follows QEMU's qom-list: 'name/' for a child<...> (an object
/// below this one), '@name/' for a link<...>, the bare name otherwise, in the
/// order QEMU returns them. --json prints the array QEMU returned.
#[derive(Debug, Parser)]
#[command(name = "qom-list", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// The object's path, absolute or partial
    #[arg(value_name = "PATH", default_value = "/")]
    path: String,
    /// Add each property's type, after a tab
    #[arg(short, long)]
    long: bool,
    #[command(flatten)]
    out: OutputOpts,
}

fn run(args: Args) -> RunResult {
    let mut client = args.conn.connect(false, false)?;
    let list = client.execute_request(&list_request(&args.path))?;
    if args.out.format() != Format::Plain {
        qmp::cli::print(&list, args.out.format())?;
        return Ok(Status::Ok);
    }
    let mut text = String::new();
    for p in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        let (name, ty) = (
            p["name"].as_str().unwrap_or_default(),
            p["type"].as_str().unwrap_or_default(),
        );
        text.push_str(&list_entry(name, ty));
        if args.long {
            text.push('\t');
            text.push_str(ty);
        }
        text.push('\n');
    }
    write_stdout(&text, false)?;
    Ok(Status::Ok)
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qom-list", run)
}
