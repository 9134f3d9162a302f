//! qom-set: set a QOM property.

use clap::Parser;
use qmp::cli::{ConnectOpts, RunResult, Status, UsageError};
use qmp::qom::{PropPath, typed_value};
use serde_json::Value;

const EXAMPLES: &str = "\
Examples:
  qom-set /machine.append 'console=ttyS0'         (a string property: the text)
  qom-set /objects/io0.poll-max-ns 0x1000         (an int property: the number 4096)
  qom-set vnet0.x-foo on                          (a bool property: true)
  qom-set --json /objects/tg0.limits '{\"bps-total\": 1000}'";

/// Set a QOM property, converting VALUE to the property's type.
///
/// qom-set asks the object for its properties first (qom-list, on the same
/// connection) and sends VALUE as the property's type needs: string and str
/// properties get the text as it is (as QEMU's qom-set sends it), integers
/// (int, uintN, intN, size) are parsed exactly, decimal or 0x hex, bool
/// takes true/false, on/off or yes/no, link<...> a path, and any other type
/// (QAPI enums, structs, lists) gets VALUE as JSON when it parses, else as
/// text. A VALUE that does not fit the type is a usage error, and nothing
/// is set. --json and --string send VALUE as JSON or as text whatever the
/// type. Property names may hold dots (sse4.2); see the man page. Prints
/// nothing on success.
#[derive(Debug, Parser)]
#[command(name = "qom-set", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// The property: the object's path (absolute or partial), a dot, the property
    #[arg(value_name = "PATH.PROPERTY")]
    property: PropPath,
    /// The value, converted to the property's type
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    value: String,
    /// Send VALUE as JSON, whatever the property's type
    #[arg(long, conflicts_with = "string")]
    json: bool,
    /// Send VALUE as a string, whatever the property's type
    #[arg(long)]
    string: bool,
}

fn run(args: Args) -> RunResult {
    let forced = if args.json {
        let v = qmp::items::json_value(&args.value)
            .map_err(|e| UsageError(format!("VALUE for --json: {e}")))?;
        Some(v)
    } else if args.string {
        Some(Value::String(args.value.clone()))
    } else {
        None
    };
    let mut client = args.conn.connect(false, false)?;
    let (prop, ty, value) = match forced {
        // No type needed: set where the last dot says (QEMU's tools' way,
        // one command), and look further only if QEMU finds nothing there.
        Some(value) => match client.execute_request(&args.property.set_request(value.clone())) {
            Err(qmp::Error::Qmp(e)) if qmp::lookup::is_not_found(&e) => {
                let found = qmp::lookup::find_property(&mut client, &args.property)?;
                (found.prop, found.ty, value)
            }
            done => return set_result(done.map(|_| ()), &args.property, None),
        },
        None => {
            let found = qmp::lookup::find_property(&mut client, &args.property)?;
            let value = typed_value(&args.value, &found.ty)
                .map_err(|why| UsageError(format!("{}: {why}; nothing was set", found.prop)))?;
            (found.prop, found.ty, value)
        }
    };
    let done = client.execute_request(&prop.set_request(value)).map(|_| ());
    set_result(done, &prop, Some(&ty))
}

/// The status of the set; a value QEMU refused for its type gets a hint.
fn set_result(done: qmp::Result<()>, prop: &PropPath, ty: Option<&str>) -> RunResult {
    match done {
        Ok(()) => Ok(Status::Ok),
        Err(qmp::Error::Qmp(e)) if qmp::hints::wants_other_type(&e.desc).is_some() => {
            let ty = ty
                .map(|t| format!("the property is {t}; "))
                .unwrap_or_default();
            let msg = format!("{prop}: {e} ({ty}--json sends VALUE as JSON, --string as text)");
            qmp::cli::report("qom-set", &msg);
            Ok(Status::Failed)
        }
        Err(e) => Err(e.into()),
    }
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qom-set", run)
}
