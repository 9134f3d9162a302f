//! The library's one error type.

use std::fmt;
use std::io;
use std::time::Duration;

/// A `Result` whose error is the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error reply from the server: `{"error": {"class": ..., "desc": ...}}`.
///
/// `class` is meant for programs (`DeviceNotFound`, `GenericError`, ...);
/// `desc` is for people and should not be parsed (QMP spec, section 2.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QmpError {
    /// The error class, e.g. `DeviceNotFound`.
    pub class: String,
    /// The human-readable description.
    pub desc: String,
}

impl fmt::Display for QmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.class.is_empty(), self.desc.is_empty()) {
            (_, true) => write!(f, "{} (no description)", self.class),
            (true, false) => f.write_str(&self.desc),
            (false, false) => write!(f, "{}: {}", self.class, self.desc),
        }
    }
}

impl std::error::Error for QmpError {}

/// What the client was doing when a deadline passed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Establishing the connection.
    Connect,
    /// Listening (`listen:ADDR`) for QEMU to connect.
    Listen,
    /// Retrying the connection (`--wait`); holds the last reason it failed.
    Wait(String),
    /// Connected, part of the `{"QMP": ...}` greeting arrived, not all of
    /// it (no greeting at all is [`Error::Busy`]).
    Greeting,
    /// Waiting for the reply to a command.
    Reply(String),
    /// Writing a command the server would not read.
    Send(String),
    /// Waiting for a number of matching events.
    Events {
        /// How many matched.
        seen: usize,
        /// How many were wanted.
        wanted: usize,
    },
}

/// Everything that can go wrong talking to a QMP server.
///
/// Messages are one lowercase line; the operating-system error, when there is
/// one, is reachable through [`std::error::Error::source`] and is not repeated
/// in the message (`qmp::cli::one_line` prints the whole chain).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The address fits none of the accepted forms.
    Address {
        /// What the user gave.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A command-line argument item (`key=value`, `key:=json`) is malformed
    /// or conflicts with another one.
    Item {
        /// The item as the user wrote it.
        item: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The connection could not be established.
    Connect {
        /// The address, as the user wrote it.
        address: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A deadline passed.
    Timeout {
        /// The address of the server.
        address: String,
        /// What was being waited for.
        phase: Phase,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The server closed the connection.
    Closed {
        /// What the client was waiting for, e.g. "the reply to 'query-status'".
        waiting_for: String,
        /// Bytes of an unfinished message that had arrived, if any.
        partial: usize,
    },
    /// Reading or writing the socket failed (e.g. connection reset).
    Io {
        /// What the client was doing.
        doing: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The server sent something that is not QMP.
    Protocol {
        /// What was expected.
        expected: String,
        /// A short, escaped snippet of what came instead (may be empty).
        got: String,
    },
    /// The monitor took no new client within the timeout: it accepted the
    /// connection but sent no greeting, or its connection queue stayed full.
    /// Another client is probably connected (QEMU serves one client per
    /// socket), or the peer is not a QMP monitor (a guest agent sends no
    /// greeting).
    Busy {
        /// The address of the server.
        address: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The peer answered, but it is not a QMP monitor (e.g. QEMU's human
    /// monitor, which greets with `QEMU x.y.z monitor - type 'help' ...`).
    NotQmp {
        /// The address of the server.
        address: String,
        /// What it is, and what to use instead.
        what: String,
    },
    /// The guest agent did not answer the resync (`guest-sync-delimited`)
    /// within the timeout: it is not running in the guest, another client
    /// holds its channel (it serves one at a time), or the socket is not a
    /// guest agent's.
    NoAgent {
        /// The address of the socket.
        address: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The peer answered, but it is not a guest agent (e.g. a QMP monitor,
    /// which greets with `{"QMP": ...}`).
    NotAgent {
        /// The address of the server.
        address: String,
        /// What it is, and what to use instead.
        what: String,
    },
    /// No reading of a `PATH.PROPERTY` names a property: the object exists,
    /// but has no property by that name (every split at a dot was tried).
    NoProperty {
        /// The argument as written.
        raw: String,
        /// The object that exists.
        object: String,
        /// The property looked for on it.
        property: String,
    },
    /// A partial path matches more than one object.
    Ambiguous {
        /// The partial path.
        path: String,
        /// Whole paths that end with it (found by walking the tree; at most
        /// a handful).
        candidates: Vec<String>,
    },
    /// Descriptors to pass over a connection that cannot carry them (TCP):
    /// nothing was sent.
    NoFdPassing {
        /// The command.
        command: String,
    },
    /// An out-of-band command for a server that offers no `oob` capability
    /// (nothing was sent).
    NoOob {
        /// The command.
        command: String,
    },
    /// The server answered with an error reply.
    Qmp(QmpError),
}

/// A duration for messages: `10 s`, `0.5 s`.
pub(crate) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Address { input, reason } => write!(
                f,
                "bad address '{}': {reason} (accepted forms: PATH, unix:PATH, unix:@NAME, \
                 HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, listen:ADDR)",
                input.escape_debug()
            ),
            Error::Item { item, reason } => {
                write!(f, "bad argument '{}': {reason}", item.escape_debug())
            }
            Error::Connect { address, .. } => write!(f, "cannot connect to {address}"),
            Error::Timeout {
                address,
                phase,
                after,
            } => match phase {
                Phase::Connect => write!(
                    f,
                    "timed out after {} connecting to {address}",
                    secs(*after)
                ),
                Phase::Listen => write!(
                    f,
                    "nothing connected to {address} within {} (start QEMU with -qmp \
                     unix:PATH or -chardev socket,path=PATH,server=off, without server=on)",
                    secs(*after)
                ),
                Phase::Wait(last) => write!(
                    f,
                    "timed out after {} waiting for {address} to accept connections (last \
                     error: {last})",
                    secs(*after)
                ),
                Phase::Greeting => write!(
                    f,
                    "connected to {address}, but the greeting did not arrive in full within {}",
                    secs(*after)
                ),
                Phase::Reply(cmd) => write!(
                    f,
                    "no reply to '{cmd}' within {} (QEMU may still complete the command)",
                    secs(*after)
                ),
                Phase::Send(cmd) => write!(
                    f,
                    "could not send '{cmd}' within {}: the server is not reading",
                    secs(*after)
                ),
                Phase::Events { seen, wanted } => write!(
                    f,
                    "timed out after {}: {seen} of {wanted} matching event{} arrived",
                    secs(*after),
                    if *wanted == 1 { "" } else { "s" }
                ),
            },
            Error::Closed {
                waiting_for,
                partial: 0,
            } => {
                write!(
                    f,
                    "connection closed by the server while waiting for {waiting_for}"
                )
            }
            Error::Closed {
                waiting_for,
                partial,
            } => write!(
                f,
                "connection closed by the server in the middle of a message ({partial} bytes \
                 received) while waiting for {waiting_for}"
            ),
            Error::Io { doing, .. } => write!(f, "connection lost while {doing}"),
            Error::Protocol { expected, got } if got.is_empty() => {
                write!(f, "protocol error: expected {expected}")
            }
            Error::Protocol { expected, got } => {
                write!(f, "protocol error: expected {expected}, got {got}")
            }
            Error::Busy { address, after } => write!(
                f,
                "{address} is busy: no greeting within {}: another client is probably \
                 connected (QEMU serves one client per monitor socket; give QEMU a second \
                 -qmp socket for a second client), or this is not a QMP monitor (a guest \
                 agent sends no greeting)",
                secs(*after)
            ),
            Error::NotQmp { address, what } => write!(f, "{address} is not a QMP monitor: {what}"),
            Error::NoAgent { address, after } => write!(
                f,
                "no answer from the guest agent at {address} within {}: the agent is not \
                 running in the guest (start qemu-guest-agent there), another client holds \
                 its channel (it serves one at a time), or this socket is not a guest \
                 agent's",
                secs(*after)
            ),
            Error::NotAgent { address, what } => {
                write!(f, "{address} is not a guest agent: {what}")
            }
            Error::NoProperty {
                raw,
                object,
                property,
            } => write!(
                f,
                "{raw}: {object} has no property '{property}' (qom-list {object} lists them)"
            ),
            Error::Ambiguous { path, candidates } if candidates.is_empty() => write!(
                f,
                "partial path '{path}' is ambiguous: it matches more than one object (give \
                 the whole path)"
            ),
            Error::Ambiguous { path, candidates } => write!(
                f,
                "partial path '{path}' is ambiguous: it matches {} (give the whole path)",
                candidates.join(", ")
            ),
            Error::NoFdPassing { command } => write!(
                f,
                "cannot pass file descriptors with '{command}': only a Unix socket carries them"
            ),
            Error::NoOob { command } => write!(
                f,
                "cannot send '{command}' out of band: the server offers no 'oob' capability \
                 (its greeting lists none); send it in band, without --oob or exec-oob"
            ),
            Error::Qmp(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } | Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<QmpError> for Error {
    fn from(e: QmpError) -> Self {
        Error::Qmp(e)
    }
}

/// A short one-line rendering of raw bytes for error messages: at most
/// `max` bytes, invalid UTF-8 replaced, control characters escaped (so a
/// hostile peer cannot put escape sequences on the user's terminal).
pub(crate) fn snippet(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut s = String::from("'");
    for c in String::from_utf8_lossy(cut).chars() {
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    s.push('\'');
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}
