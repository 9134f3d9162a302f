//! How a binary ends: the exit-status table, the typed failure of a run
//! whose status is chosen in one place ([`Failure::status`]), and `main`.

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::error::Error;

/// Exit statuses, the same for every binary (see the EXIT STATUS section of
/// the man pages; change them only together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// The server answered with an error.
    Failed = 1,
    /// Usage error: bad options, arguments or input.
    Usage = 2,
    /// Cannot connect (also: the monitor is busy with another client),
    /// connection lost, or the peer does not speak QMP.
    Connection = 3,
    /// A timeout passed.
    Timeout = 4,
    /// A local failure: writing the output (other than to a closed pipe).
    Local = 5,
}

/// The exit-status table: status and meaning, as the man pages print it.
pub const EXIT_STATUSES: &[(Status, &str)] = &[
    (Status::Ok, "success"),
    (Status::Failed, "the server answered with an error"),
    (
        Status::Usage,
        "usage error: bad options, arguments or input",
    ),
    (
        Status::Connection,
        "cannot connect (also: monitor busy), connection lost, or protocol error",
    ),
    (
        Status::Timeout,
        "a timeout passed (connect, reply, awaited events)",
    ),
    (
        Status::Local,
        "writing the output failed (not a closed pipe)",
    ),
];

impl Status {
    /// The status for a library error.
    pub fn of(err: &Error) -> Status {
        match err {
            Error::Address { .. }
            | Error::Item { .. }
            | Error::NoOob { .. }
            | Error::NoFdPassing { .. } => Status::Usage,
            Error::Connect { .. } | Error::Closed { .. } | Error::Io { .. } => Status::Connection,
            Error::Protocol { .. }
            | Error::Busy { .. }
            | Error::NotQmp { .. }
            | Error::NotAgent { .. } => Status::Connection,
            Error::Timeout { .. } | Error::NoAgent { .. } => Status::Timeout,
            Error::Qmp(_) | Error::NoProperty { .. } | Error::Ambiguous { .. } => Status::Failed,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> Self {
        ExitCode::from(s as u8)
    }
}

/// An error in what the user asked for (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for UsageError {}

/// Why a binary's run failed. Every failure has a kind, and its exit status
/// comes from [`Failure::status`] alone: nothing falls back to a default.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// The library's error: connecting, the protocol, the server's answer.
    Qmp(Error),
    /// Bad options, arguments or input.
    Usage(String),
    /// Reading local input (stdin, a file) failed.
    Input {
        /// What was being read.
        what: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Writing the output failed; a closed pipe ends the tool quietly.
    Output(io::Error),
}

impl Failure {
    /// The exit status, or `None` for a closed stdout (exit quietly, 0).
    pub fn status(&self) -> Option<Status> {
        match self {
            Failure::Qmp(e) => Some(Status::of(e)),
            Failure::Usage(_) | Failure::Input { .. } => Some(Status::Usage),
            Failure::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => None,
            Failure::Output(_) => Some(Status::Local),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Qmp(e) => f.write_str(&one_line(e)),
            Failure::Usage(msg) => f.write_str(msg),
            Failure::Input { what, source } => write!(f, "{what}: {source}"),
            Failure::Output(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Qmp(e)
    }
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e.0)
    }
}

/// `?` on an I/O error in a binary is writing its output (reads of input
/// are [`Failure::Input`], built where they happen).
impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

/// Prints `tool: message` as one line on stderr, made safe for a terminal
/// (server-sent descriptions end up in messages).
pub fn report(tool: &str, message: &str) {
    let line = format!("{tool}: {}\n", message.replace('\n', " "));
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let text = if err.is_terminal() {
        crate::output::terminal_safe(&line, false)
    } else {
        line.into()
    };
    let _ = err.write_all(text.as_bytes());
}

/// What a binary's `run` returns.
pub type RunResult = Result<Status, Failure>;

/// The whole error chain on one line: `outer: inner: innermost`.
pub fn one_line(err: &(dyn StdError + 'static)) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let next = e.to_string();
        if !s.ends_with(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        cur = e.source();
    }
    s
}

/// Writes the shell completion script for `A` (`tool --generate
/// complete-bash|complete-zsh|complete-fish`, as `make completions` does).
fn generate<A: Parser>(tool: &str, what: &std::ffi::OsStr) -> ExitCode {
    use clap_complete::Shell;
    let shell = match what.to_str() {
        Some("complete-bash") => Shell::Bash,
        Some("complete-zsh") => Shell::Zsh,
        Some("complete-fish") => Shell::Fish,
        _ => {
            report(
                tool,
                "--generate takes complete-bash, complete-zsh or complete-fish",
            );
            return Status::Usage.into();
        }
    };
    let mut cmd = A::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, tool, &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if tool == "qmp-exec" {
        script = super::live::add_commands(tool, shell, &cmd, script);
    }
    match io::stdout().write_all(script.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => Status::Local.into(),
    }
}

/// The `main` of every binary: parses `A`, runs `run`, prints errors as one
/// line `tool: message` on stderr and exits with the table's status.
///
/// `tool --generate complete-SHELL` (a hidden option, as ripgrep's
/// `--generate`) prints the shell completion script instead.
pub fn main<A: Parser>(tool: &str, run: impl FnOnce(A) -> RunResult) -> ExitCode {
    main_with(tool, run, ExitCode::from, |status| {
        status.map_or(ExitCode::SUCCESS, ExitCode::from)
    })
}

/// [`main`] for a binary whose statuses are not the table's (qga-run exits
/// with its program's status): `ok` makes the exit code of what `run`
/// returned; `failed` that of a failure, given the table's status for it
/// (`None`: stdout was closed); a usage error on the command line is
/// `Some(Status::Usage)`. The failure is reported on stderr first.
pub fn main_with<A: Parser, T>(
    tool: &str,
    run: impl FnOnce(A) -> Result<T, Failure>,
    ok: impl FnOnce(T) -> ExitCode,
    failed: impl FnOnce(Option<Status>) -> ExitCode,
) -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().take(4).collect();
    if argv.len() == 3 && argv[1] == "--generate" {
        return generate::<A>(tool, &argv[2]);
    }
    let args = match A::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help, --version: clap prints them on stdout.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let msg: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(|l| l.trim().trim_start_matches("error: "))
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("tip:")
                        && !l.starts_with("For more information")
                })
                .collect();
            report(tool, &format!("{}; try '{tool} --help'", msg.join(" ")));
            return failed(Some(Status::Usage));
        }
    };
    match run(args) {
        Ok(value) => ok(value),
        Err(failure) => {
            let status = failure.status();
            if status.is_some() {
                report(tool, &failure.to_string());
            }
            failed(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_its_status() {
        let io = |k: io::ErrorKind| io::Error::from(k);
        let cases: Vec<(Failure, Option<Status>)> = vec![
            (Failure::Usage("x".into()), Some(Status::Usage)),
            (
                Failure::Input {
                    what: "reading --args from stdin".into(),
                    source: io(io::ErrorKind::InvalidData),
                },
                Some(Status::Usage),
            ),
            (Failure::Output(io(io::ErrorKind::BrokenPipe)), None),
            (
                Failure::Output(io(io::ErrorKind::StorageFull)),
                Some(Status::Local),
            ),
            (
                Failure::Output(io(io::ErrorKind::Other)),
                Some(Status::Local),
            ),
            (
                Failure::Qmp(Error::Connect {
                    address: "a".into(),
                    source: io(io::ErrorKind::NotFound),
                }),
                Some(Status::Connection),
            ),
            (
                Failure::Qmp(Error::Io {
                    doing: "reading".into(),
                    source: io(io::ErrorKind::ConnectionReset),
                }),
                Some(Status::Connection),
            ),
            (
                Failure::Qmp(Error::Item {
                    item: "x".into(),
                    reason: "y".into(),
                }),
                Some(Status::Usage),
            ),
            (
                Failure::Qmp(Error::Busy {
                    address: "a".into(),
                    after: std::time::Duration::from_secs(1),
                }),
                Some(Status::Connection),
            ),
            (
                Failure::Qmp(Error::Qmp(crate::QmpError {
                    class: "GenericError".into(),
                    desc: "no".into(),
                })),
                Some(Status::Failed),
            ),
        ];
        for (failure, want) in cases {
            assert_eq!(failure.status(), want, "{failure:?}");
        }
        // An I/O failure reaching `?` in a binary is never "usage".
        let f: Failure = io(io::ErrorKind::PermissionDenied).into();
        assert_eq!(f.status(), Some(Status::Local));
    }
}
