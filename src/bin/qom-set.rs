//! qom-set: set a QOM property.

use clap::Parser;
use qmp::cli::{ConnectOpts, RunResult, Status};
use qmp::qom::{PropPath, set_value};

const EXAMPLES: &str = "\
Examples:
  qom-set /objects/io0.poll-max-ns 1000        (sent as the JSON number 1000)
  qom-set vnet0.x-foo true                     (a JSON boolean)
  qom-set --string /machine/peripheral/d0.serial 42   (the string \"42\")";

/// Set a QOM property.
///
/// VALUE is sent as JSON when it parses as JSON (true, 42, "text", [1,2]),
/// else as a string; --string always sends a string. Unlike QEMU's qom-set,
/// int and bool properties can be set. Prints nothing on success.
#[derive(Debug, Parser)]
#[command(name = "qom-set", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// The property: the object's path (absolute or partial), a dot, the property
    #[arg(value_name = "PATH.PROPERTY")]
    property: PropPath,
    /// The value: JSON if it parses as JSON, else a string
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    value: String,
    /// Send VALUE as a string even if it parses as JSON
    #[arg(long)]
    string: bool,
}

fn run(args: Args) -> RunResult {
    let mut client = args.conn.connect(false, false)?;
    let value = set_value(&args.value, args.string);
    client.execute_request(&args.property.set_request(value))?;
    Ok(Status::Ok)
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qom-set", run)
}
