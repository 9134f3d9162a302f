//! What every binary shares: connection options, output options, the
//! exit-status table and the `main` wrapper.

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::address::Address;
use crate::client::{Client, Options};
use crate::error::Error;
use crate::events::{Condition, Filter, Wait};
use crate::message::Event;
use crate::output::Format;
use crate::wire::DEFAULT_MAX_MESSAGE;

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
];

impl Status {
    /// The status for a library error.
    pub fn of(err: &Error) -> Status {
        match err {
            Error::Address { .. } | Error::Item { .. } => Status::Usage,
            Error::Connect { .. } | Error::Closed { .. } | Error::Io { .. } => Status::Connection,
            Error::Protocol { .. } | Error::Busy { .. } | Error::NotQmp { .. } => {
                Status::Connection
            }
            Error::Timeout { .. } => Status::Timeout,
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

/// Parses a timeout: a positive number of seconds (fractions and exponents
/// allowed), or `none` (also `0`) for no limit, which is `Duration::MAX`, as
/// is any number too large to represent.
///
/// # Errors
/// A message for anything else.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    if s == "none" || s == "0" {
        return Ok(Duration::MAX);
    }
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && !v.is_nan() => {
            Ok(Duration::try_from_secs_f64(v).unwrap_or(Duration::MAX))
        }
        _ => Err(format!(
            "'{s}' is not a positive number of seconds (e.g. 10, 0.5 or 1e4), nor 'none' \
             (no limit)"
        )),
    }
}

/// The timeout when `--timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options, flattened into every binary.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectOpts {
    /// The monitor's address.
    #[arg(
        short,
        long,
        value_name = "ADDR",
        env = "QMP_SOCKET",
        help = "Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT or [IPV6]:PORT"
    )]
    pub socket: Option<Address>,
    /// Seconds allowed for connecting plus the handshake, and for each reply ('none': no limit) [default: 10]
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,
    /// Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)
    #[arg(long)]
    pub wait: bool,
    /// Largest message accepted from the server, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE)]
    pub max_message: usize,
    /// Print the wire traffic on stderr ("-> " sent, "<- " received)
    #[arg(short, long, env = "QMP_TRACE", value_parser = clap::builder::FalseyValueParser::new())]
    pub verbose: bool,
}

impl ConnectOpts {
    /// Connects and negotiates; `oob` asks for the `oob` capability
    /// (pipelines); `events` keeps the events that arrive while replies are
    /// awaited (for callers that then wait for events), else they are
    /// dropped as they come.
    ///
    /// # Errors
    /// A [`UsageError`] when no address was given, else the library's errors.
    pub fn connect(
        &self,
        oob: bool,
        events: bool,
    ) -> Result<Client, Box<dyn StdError + Send + Sync>> {
        let Some(address) = &self.socket else {
            return Err(Box::new(UsageError(
                "no monitor address: give -s/--socket ADDR or set QMP_SOCKET (ADDR: PATH, \
                 unix:PATH, unix:@NAME, HOST:PORT, tcp:HOST:PORT or [IPV6]:PORT)"
                    .into(),
            )));
        };
        let options = Options {
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            wait: self.wait,
            max_message: self.max_message,
            oob,
            trace: self.verbose,
            event_queue: if events {
                crate::client::DEFAULT_EVENT_QUEUE
            } else {
                0
            },
        };
        Ok(Client::connect(address, &options)?)
    }
}

/// Event options, shared by qmp-events and qmp-exec.
#[derive(Debug, Clone, clap::Args)]
pub struct EventOpts {
    /// Wait for events named NAME (repeatable; shell globs such as 'BLOCK_JOB_*')
    #[arg(short = 'e', long = "event", value_name = "NAME")]
    pub event: Vec<String>,
    /// Only events whose data meets COND: PATH=VALUE (PATH dotted; a string matches VALUE as text), PATH (present) or !PATH (absent); repeatable, all must hold
    #[arg(short = 'm', long = "match", value_name = "COND")]
    pub matches: Vec<Condition>,
    /// End with status 1 when an event NAME whose data meets every COND arrives (COND as for -m; \, is a comma in a VALUE; repeatable)
    #[arg(long = "fail-on", value_name = "NAME[,COND...]")]
    pub fail_on: Vec<Filter>,
    /// End with status 0 after N matching events
    #[arg(short = 'n', long = "count", value_name = "N")]
    pub count: Option<usize>,
    /// Seconds allowed for the awaited events, from the end of the reply ('none': no limit) [default: --timeout]
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub event_timeout: Option<Duration>,
}

impl EventOpts {
    /// Whether any event option was given.
    pub fn any(&self) -> bool {
        !self.event.is_empty()
            || !self.matches.is_empty()
            || !self.fail_on.is_empty()
            || self.count.is_some()
            || self.event_timeout.is_some()
    }

    /// The wait these options describe: `count` applies when `-n` was not
    /// given, and `timeout` when `--event-timeout` was not (`None`, or
    /// `Duration::MAX`: no limit).
    pub fn wait(&self, timeout: Option<Duration>, count: Option<usize>) -> Wait {
        let timeout = self
            .event_timeout
            .or(timeout)
            .filter(|t| *t != Duration::MAX);
        Wait {
            filter: Filter {
                names: self.event.clone(),
                conditions: self.matches.clone(),
            },
            fail_on: self.fail_on.clone(),
            count: self.count.or(count),
            timeout,
        }
    }
}

/// Prints one event: `SECONDS.MICROSECONDS NAME DATA` in plain mode, the whole
/// message as one JSON line with `json`; flushed at once.
///
/// # Errors
/// The write error.
pub fn print_event(event: &Event, json: bool) -> io::Result<()> {
    let text = if json {
        format!("{}\n", serde_json::Value::Object(event.message().clone()))
    } else {
        let (s, us) = event.timestamp().unwrap_or((0, 0));
        match event.message().get("data") {
            Some(data) => format!("{s}.{us:06} {} {data}\n", event.name()),
            None => format!("{s}.{us:06} {}\n", event.name()),
        }
    };
    write_stdout(&text, json)
}

/// The stderr line for a `--fail-on` event: its name and data, so that a log
/// with stdout redirected still says why (device, operation, error).
pub fn failure_message(event: &Event) -> String {
    match event.message().get("data") {
        Some(data) => format!("failure event {} {data}", event.name()),
        None => format!("failure event {}", event.name()),
    }
}

/// Runs `wait` on `client`, printing each event it hands out (as
/// [`print_event`]); a failure event is reported on stderr with
/// [`failure_message`] and gives status 1.
///
/// # Errors
/// The wait's errors (timeout, connection lost) and write errors.
pub fn await_events<S: crate::wire::Stream>(
    tool: &str,
    client: &mut Client<S>,
    wait: &Wait,
    json: bool,
) -> RunResult {
    let outcome = wait.run(client, |e| print_event(e, json).map_err(BoxError::from))?;
    Ok(match outcome {
        crate::events::Outcome::Failed(e) => {
            report(tool, &failure_message(&e));
            Status::Failed
        }
        _ => Status::Ok,
    })
}

/// Output options shared by the binaries that print values.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputOpts {
    /// Print JSON, one compact document per line (for jq)
    #[arg(short, long)]
    pub json: bool,
    /// Print indented JSON
    #[arg(long)]
    pub pretty: bool,
}

impl OutputOpts {
    /// The chosen format.
    pub fn format(&self) -> Format {
        match (self.pretty, self.json) {
            (true, _) => Format::Pretty,
            (false, true) => Format::Json,
            _ => Format::Plain,
        }
    }
}

/// Prints `value` in `format`; stdout's terminal-ness decides plain rendering.
///
/// # Errors
/// The write error (a closed pipe is handled by [`main`]).
pub fn print(value: &serde_json::Value, format: Format) -> io::Result<()> {
    let json = format != Format::Plain || !value.is_string();
    match crate::output::render(value, format, io::stdout().is_terminal()) {
        Some(s) => write_stdout(&s, json),
        None => Ok(()),
    }
}

/// Writes text to stdout and flushes it. On a terminal, the text is made
/// safe first ([`crate::output::terminal_safe`]; `json` says it is JSON).
///
/// # Errors
/// The write error (a closed pipe is handled by [`main`]).
pub fn write_stdout(text: &str, json: bool) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if out.is_terminal() {
        out.write_all(crate::output::terminal_safe(text, json).as_bytes())?;
    } else {
        out.write_all(text.as_bytes())?;
    }
    out.flush()
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

/// The error type of the binaries' `run`.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// What a binary's `run` returns.
pub type RunResult = Result<Status, BoxError>;

/// The status for an error chain, `None` for a closed stdout (exit quietly).
fn classify(err: &(dyn StdError + 'static)) -> Option<Status> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(e) = e.downcast_ref::<Error>() {
            return Some(Status::of(e));
        }
        if e.is::<UsageError>() {
            return Some(Status::Usage);
        }
        if e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        {
            return None;
        }
        cur = e.source();
    }
    Some(Status::Usage)
}

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
    clap_complete::generate(shell, &mut A::command(), tool, &mut io::stdout());
    ExitCode::SUCCESS
}

/// The `main` of every binary: parses `A`, runs `run`, prints errors as one
/// line `tool: message` on stderr and exits with the table's status.
///
/// `tool --generate complete-SHELL` (a hidden option, as ripgrep's
/// `--generate`) prints the shell completion script instead.
pub fn main<A: Parser>(tool: &str, run: impl FnOnce(A) -> RunResult) -> ExitCode {
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
            return Status::Usage.into();
        }
    };
    match run(args) {
        Ok(status) => status.into(),
        Err(e) => match classify(&*e) {
            None => ExitCode::SUCCESS,
            Some(status) => {
                report(tool, &one_line(&*e));
                status.into()
            }
        },
    }
}
