//! qom-get: print QOM properties.

use clap::Parser;
use qmp::cli::{ConnectOpts, RunResult, Status, write_stdout};
use qmp::pyfmt::{py_str, qom_get_text};
use qmp::qom::PropPath;
use serde_json::{Map, Value};

const EXAMPLES: &str = "\
Examples:
  qom-get -s /run/vm1.qmp /machine.type
  qom-get vblk0.drive vblk0.serial            (partial paths, resolved by QEMU)
  qom-get '/machine/unattached/device[0].sse4.2'   (a property name with a dot)
  qom-get --json /objects/io0.poll-max-ns /objects/io0.poll-grow | jq .";

/// Print the value of QOM properties, as QEMU's qom-get does.
///
/// Plain output follows QEMU's qom-get: values as Python prints them, an
/// object as one 'key: value' line per member. With several properties (fetched
/// pipelined over one connection) each line starts with 'PATH.PROPERTY: '.
/// --json is the machine format. Property names may hold dots: the last dot
/// is tried first, then the others after the last '/' ('\.' never splits).
#[derive(Debug, Parser)]
#[command(name = "qom-get", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// Properties to read: the object's path (absolute or partial), a dot, the property
    #[arg(value_name = "PATH.PROPERTY", required = true)]
    properties: Vec<PropPath>,
    /// Print JSON: the value, or with several properties one object mapping each PATH.PROPERTY to its value
    #[arg(short, long)]
    json: bool,
}

fn run(args: Args) -> RunResult {
    let mut client = args.conn.connect(args.properties.len() > 1, false)?;
    let results = qmp::lookup::get_all(&mut client, &args.properties)?;
    let results = match <[_; 1]>::try_from(results) {
        Ok([result]) => {
            let value = result?;
            let text = if args.json {
                format!("{value}\n")
            } else {
                qom_get_text(&value)
            };
            write_stdout(&text, args.json)?;
            return Ok(Status::Ok);
        }
        Err(results) => results,
    };
    let mut status = Status::Ok;
    let mut text = String::new();
    let mut map = Map::new();
    for (prop, result) in args.properties.iter().zip(results) {
        match result {
            Ok(value) if args.json => {
                map.insert(prop.to_string(), value);
            }
            Ok(value) => text.push_str(&format!("{prop}: {}\n", py_str(&value))),
            Err(e) => {
                let e = if matches!(e, qmp::Error::Qmp(_)) {
                    format!("{prop}: {e}")
                } else {
                    e.to_string()
                };
                qmp::cli::report("qom-get", &e);
                status = Status::Failed;
            }
        }
    }
    if args.json {
        text = format!("{}\n", Value::Object(map));
    }
    write_stdout(&text, args.json)?;
    Ok(status)
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qom-get", run)
}
