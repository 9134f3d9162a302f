//! What every binary shares: connection options, output options, the
//! exit-status table and the `main` wrapper.
//!
//! Internal to the qmp-tools binaries: not part of the library's API (no
//! semver promise), and built only with the `cli` feature (the default).

pub mod agent;
pub mod describe;
#[cfg(feature = "fuse")]
pub mod fuse;
pub mod job;
mod live;
pub mod request;
mod run;
#[cfg(feature = "shell")]
pub mod shell;

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

pub use run::{
    EXIT_STATUSES, Failure, RunResult, Status, UsageError, main, main_with, one_line, report,
};

use crate::address::Address;
use crate::client::{Client, Options};
use crate::events::{Condition, Filter, Wait};
use crate::message::Event;
use crate::output::Format;
use crate::wire::{DEFAULT_MAX_MESSAGE, Direction, Tracer};

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

/// Which kind of socket a tool talks to: the words of its `-s` and
/// `--timeout` help, and the environment variable that gives the address.
/// The QMP tools use [`Monitor`], the guest-agent tools [`GuestAgent`].
pub trait Peer: std::fmt::Debug + Clone + Send + Sync + 'static {
    /// The environment variable holding the address.
    const ENV: &'static str;
    /// The help of `-s/--socket`.
    const SOCKET_HELP: &'static str;
    /// The help of `--timeout`.
    const TIMEOUT_HELP: &'static str;
    /// The usage error when no address was given.
    const NO_ADDRESS: &'static str;
}

/// A QMP monitor's socket (`QMP_SOCKET`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Monitor;

impl Peer for Monitor {
    const ENV: &'static str = "QMP_SOCKET";
    const SOCKET_HELP: &'static str = "Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect";
    const TIMEOUT_HELP: &'static str = "Seconds allowed for connecting plus the handshake, and for each reply ('none': no limit) [default: 10]";
    const NO_ADDRESS: &'static str = "no monitor address: give -s/--socket ADDR or set QMP_SOCKET \
        (ADDR: PATH, unix:PATH, unix:@NAME, HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT or listen:ADDR)";
}

/// A guest agent's socket (`QGA_SOCKET`): the host end of the guest's
/// `org.qemu.guest_agent.0` virtio-serial port.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuestAgent;

impl Peer for GuestAgent {
    const ENV: &'static str = "QGA_SOCKET";
    const SOCKET_HELP: &'static str = "Guest agent address (the host end of the guest's org.qemu.guest_agent.0 port): a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect";
    const TIMEOUT_HELP: &'static str = "Seconds allowed for connecting plus the agent's sync, for each reply, and for qga-run's program to exit ('none': no limit) [default: 10]";
    const NO_ADDRESS: &'static str = "no guest agent address: give -s/--socket ADDR or set \
        QGA_SOCKET (ADDR: PATH, unix:PATH, unix:@NAME, HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT or \
        listen:ADDR; QMP_SOCKET is the monitor's, not the agent's)";
}

/// Connection options, flattened into every binary; `P` says whether the
/// peer is a monitor (the default) or a guest agent.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectOpts<P: Peer = Monitor> {
    /// The peer's address.
    #[arg(short, long, value_name = "ADDR", env = P::ENV, help = P::SOCKET_HELP)]
    pub socket: Option<Address>,
    /// Seconds allowed for connecting plus the handshake, and for each reply.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, help = P::TIMEOUT_HELP)]
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
    #[arg(skip)]
    peer: std::marker::PhantomData<P>,
}

impl ConnectOpts<Monitor> {
    /// Connects and negotiates; `oob` asks for the `oob` capability
    /// (pipelines); `events` keeps the events that arrive while replies are
    /// awaited (for callers that then wait for events), else they are
    /// dropped as they come.
    ///
    /// # Errors
    /// A [`UsageError`] when no address was given, else the library's errors.
    pub fn connect(&self, oob: bool, events: bool) -> Result<Client, Failure> {
        let address = self.address()?;
        Ok(Client::connect(address, &self.options(oob, events))?)
    }
}

impl ConnectOpts<GuestAgent> {
    /// Connects to the guest agent and syncs with it.
    ///
    /// # Errors
    /// A [`UsageError`] when no address was given, else the library's errors.
    pub fn connect(&self) -> Result<Client, Failure> {
        let address = self.address()?;
        let options = self.options(false, false);
        Ok(Client::connect_with(
            address,
            &options,
            &crate::handshake::Agent,
        )?)
    }
}

impl<P: Peer> ConnectOpts<P> {
    /// The address given.
    ///
    /// # Errors
    /// A usage failure naming `-s` and the environment variable when none
    /// was given.
    pub fn address(&self) -> Result<&Address, Failure> {
        self.socket
            .as_ref()
            .ok_or_else(|| Failure::Usage(P::NO_ADDRESS.into()))
    }

    /// The client options these flags give (see `connect`).
    pub fn options(&self, oob: bool, events: bool) -> Options {
        Options {
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            wait: self.wait,
            max_message: self.max_message,
            oob,
            trace: self.verbose.then(stderr_tracer),
            event_queue: if events {
                crate::client::DEFAULT_EVENT_QUEUE
            } else {
                0
            },
        }
    }
}

/// `-v`: each message on stderr, `-> ` before what was sent and `<- `
/// before what was received, control characters escaped.
fn stderr_tracer() -> Tracer {
    Tracer::new(|direction, text| {
        let arrow = match direction {
            Direction::Sent => "->",
            Direction::Received => "<-",
        };
        job::erase_for_trace();
        eprintln!("{arrow} {}", crate::output::sanitize(text));
    })
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
    write_stdout(&event_line(event, json), json)
}

/// The line [`print_event`] prints, with its newline.
pub fn event_line(event: &Event, json: bool) -> String {
    if json {
        format!("{}\n", serde_json::Value::Object(event.message().clone()))
    } else {
        let (s, us) = event.timestamp().unwrap_or((0, 0));
        match event.message().get("data") {
            Some(data) => format!("{s}.{us:06} {} {data}\n", event.name()),
            None => format!("{s}.{us:06} {}\n", event.name()),
        }
    }
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
    let outcome = wait.run(client, |e| print_event(e, json).map_err(Failure::Output))?;
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
