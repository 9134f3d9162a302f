//! qga-run: run a program in the guest through its agent, as `docker exec`
//! runs one in a container.

use std::io::Read;
use std::process::ExitCode;

use clap::Parser;
use qmp::agent::Exec;
use qmp::cli::agent::OWN_FAILURE;
use qmp::cli::{ConnectOpts, Failure, GuestAgent};

const EXAMPLES: &str = "\
Examples:
  qga-run -s /run/vm1.qga -- uname -a
  qga-run -- sh -c 'df -h /; exit 3'; echo $?          (prints 3)
  tar c conf | qga-run --stdin -- tar x -C /etc/app
  qga-run --env LANG=C --timeout 600 -- apt-get -y upgrade";

/// Run a program in the guest (guest-exec) and exit with its status.
///
/// Its stdout and stderr are written to ours once it has ended (the agent
/// hands them over at the end, base64-encoded, at most 16 MiB each: more is
/// reported as truncated). Exits with the program's status (128+N when
/// signal N killed it); qga-run's own failures are 124 (--timeout passed,
/// the program goes on in the guest), 125 (usage, connection, the agent)
/// and 126 (the agent could not start it), each with a 'qga-run:' line on stderr.
#[derive(Debug, Parser)]
#[command(name = "qga-run", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts<GuestAgent>,
    /// Send our standard input to the program (read to its end before the program starts)
    #[arg(long)]
    stdin: bool,
    /// Add NAME=VALUE to the program's environment (repeatable)
    #[arg(short, long, value_name = "NAME=VALUE", value_parser = env_pair)]
    env: Vec<String>,
    /// The program: a path in the guest, or a name the agent looks up in its PATH
    program: String,
    /// Its arguments
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

/// `--env NAME=VALUE`: NAME non-empty and without '='.
fn env_pair(s: &str) -> Result<String, String> {
    match s.split_once('=') {
        Some((name, _)) if !name.is_empty() => Ok(s.to_string()),
        _ => Err(format!("'{s}' is not NAME=VALUE (e.g. --env LANG=C)")),
    }
}

fn run(args: Args) -> Result<u8, Failure> {
    let input = if args.stdin {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(|source| Failure::Input {
                what: "reading stdin for --stdin".into(),
                source,
            })?;
        Some(data)
    } else {
        None
    };
    let exec = Exec {
        path: args.program,
        args: args.args,
        env: args.env,
        input,
    };
    qmp::cli::agent::run(&args.conn, &exec)
}

fn main() -> ExitCode {
    qmp::cli::main_with("qga-run", run, ExitCode::from, |_| {
        ExitCode::from(OWN_FAILURE)
    })
}
