//! The guest agent (qemu-ga) over the session core: commands that send no
//! reply when they succeed, its command list, and running a program with
//! `guest-exec` / `guest-exec-status`.
//!
//! The session opens with [`crate::handshake::Agent`]
//! ([`Client::connect_with`]); every other command is an ordinary request.
//!
//! ```no_run
//! use qmp::agent::Exec;
//! use qmp::{Address, Client, Options, handshake::Agent};
//!
//! # fn main() -> Result<(), qmp::Error> {
//! let address: Address = "/run/vm1.qga".parse()?;
//! let mut agent = Client::connect_with(&address, &Options::default(), &Agent)?;
//! agent.execute("guest-ping", None)?;
//! let uname = Exec {
//!     path: "uname".into(),
//!     args: vec!["-r".into()],
//!     ..Exec::default()
//! };
//! let pid = agent.guest_exec(&uname)?;
//! if let Some(end) = agent.wait_exec(pid, None)? {
//!     print!("{}", String::from_utf8_lossy(&end.stdout));
//! }
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::message::Reply;
use crate::wire::{Stream, deadline_after};

/// How long a command that sends no reply on success is given to report an
/// error before its silence is taken as success (see
/// [`Client::request_unanswered`]).
pub const SILENCE: Duration = Duration::from_secs(1);

/// The commands of qemu-ga that send no reply when they succeed (it lists
/// them with `success-response: false` in `guest-info`).
pub const NO_REPLY: &[&str] = &[
    "guest-shutdown",
    "guest-suspend-disk",
    "guest-suspend-ram",
    "guest-suspend-hybrid",
];

/// One command of the agent, from `guest-info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCommand {
    /// Its name, e.g. `guest-exec`.
    pub name: String,
    /// Whether the agent runs it (it can be disabled with `qemu-ga -b`).
    pub enabled: bool,
    /// Whether it replies on success (`false` for `guest-shutdown` and
    /// `guest-suspend-*`: they answer only to report an error).
    pub success_response: bool,
}

/// What `guest-info` says: the agent's version and its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// The agent's version, e.g. `10.0.2`.
    pub version: String,
    /// Its commands, in the order it listed them.
    pub commands: Vec<AgentCommand>,
}

impl AgentInfo {
    /// Reads the `return` of `guest-info`.
    ///
    /// # Errors
    /// [`Error::Protocol`] when it is not shaped as `guest-info`'s return.
    pub fn from_return(value: &Value) -> Result<AgentInfo> {
        let bad = || Error::Protocol {
            expected: "guest-info's return {\"version\", \"supported_commands\": [...]}".into(),
            got: crate::error::snippet(value.to_string().as_bytes(), 60),
        };
        let list = value["supported_commands"].as_array().ok_or_else(bad)?;
        let commands = list
            .iter()
            .map(|c| {
                Some(AgentCommand {
                    name: c["name"].as_str()?.to_string(),
                    enabled: c["enabled"].as_bool().unwrap_or(true),
                    success_response: c["success-response"].as_bool().unwrap_or(true),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?;
        Ok(AgentInfo {
            version: value["version"].as_str().unwrap_or_default().to_string(),
            commands,
        })
    }

    /// Whether `command` replies on success; `true` for a command the agent
    /// does not list (it will answer with an error).
    pub fn replies(&self, command: &str) -> bool {
        self.commands
            .iter()
            .find(|c| c.name == command)
            .is_none_or(|c| c.success_response)
    }
}

/// A program for `guest-exec`.
#[derive(Debug, Clone, Default)]
pub struct Exec {
    /// The program: a path, or a name looked up in the guest's `PATH`.
    pub path: String,
    /// Its arguments (without the program itself).
    pub args: Vec<String>,
    /// `NAME=VALUE` pairs added to its environment.
    pub env: Vec<String>,
    /// What it reads on its standard input (sent base64-encoded); `None`:
    /// an empty stdin.
    pub input: Option<Vec<u8>>,
}

impl Exec {
    /// The arguments of `guest-exec` for it, output captured.
    pub fn arguments(&self) -> Map<String, Value> {
        let mut args = Map::new();
        args.insert("path".into(), Value::from(self.path.as_str()));
        if !self.args.is_empty() {
            args.insert("arg".into(), Value::from(self.args.clone()));
        }
        if !self.env.is_empty() {
            args.insert("env".into(), Value::from(self.env.clone()));
        }
        if let Some(input) = &self.input {
            let data = base64::engine::general_purpose::STANDARD.encode(input);
            args.insert("input-data".into(), Value::from(data));
        }
        args.insert("capture-output".into(), Value::Bool(true));
        args
    }
}

/// How a program run with `guest-exec` ended, with its output decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecStatus {
    /// Its exit code, when it exited.
    pub exitcode: Option<i64>,
    /// The signal that killed it, when one did.
    pub signal: Option<i64>,
    /// What it wrote on stdout (as the agent captured it).
    pub stdout: Vec<u8>,
    /// What it wrote on stderr.
    pub stderr: Vec<u8>,
    /// The agent kept only the first part of stdout (its limit is 16 MiB).
    pub stdout_truncated: bool,
    /// The agent kept only the first part of stderr.
    pub stderr_truncated: bool,
}

impl ExecStatus {
    /// Reads the `return` of `guest-exec-status`; `None` while the program
    /// runs (`"exited": false`).
    ///
    /// # Errors
    /// [`Error::Protocol`] for a return not so shaped, or output that is not
    /// base64.
    pub fn from_return(value: &Value) -> Result<Option<ExecStatus>> {
        let bad = |why: &str| Error::Protocol {
            expected: format!("guest-exec-status's return ({why})"),
            got: crate::error::snippet(value.to_string().as_bytes(), 60),
        };
        match value.get("exited").and_then(Value::as_bool) {
            Some(true) => {}
            Some(false) => return Ok(None),
            None => return Err(bad("no \"exited\"")),
        }
        let data = |key: &str| -> Result<Vec<u8>> {
            match value.get(key) {
                None => Ok(Vec::new()),
                Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| bad(&format!("\"{key}\" is not base64: {e}"))),
                Some(_) => Err(bad(&format!("\"{key}\" is not a string"))),
            }
        };
        let flag = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
        let status = ExecStatus {
            exitcode: value.get("exitcode").and_then(Value::as_i64),
            signal: value.get("signal").and_then(Value::as_i64),
            stdout: data("out-data")?,
            stderr: data("err-data")?,
            stdout_truncated: flag("out-truncated"),
            stderr_truncated: flag("err-truncated"),
        };
        if status.exitcode.is_none() && status.signal.is_none() {
            return Err(bad("exited, with neither \"exitcode\" nor \"signal\""));
        }
        Ok(Some(status))
    }
}

/// The pauses between polls of `guest-exec-status`: short at first (most
/// programs end within milliseconds), doubling up to 100 ms.
fn backoff(polls: u32) -> Duration {
    Duration::from_millis(1u64 << polls.min(7)).min(Duration::from_millis(100))
}

impl<S: Stream> Client<S> {
    /// Runs a command that sends no reply when it succeeds (`guest-shutdown`,
    /// `guest-suspend-*`: `success-response: false` in `guest-info`).
    /// `Ok(None)` is success: the agent closed the connection, or said
    /// nothing for `silence` (or the timeout, if shorter); a reply (an
    /// error, normally) is returned as it came.
    ///
    /// # Errors
    /// Sending failed; connection and protocol errors other than a close.
    pub fn request_unanswered(
        &mut self,
        command: &str,
        arguments: Option<&Map<String, Value>>,
        silence: Duration,
    ) -> Result<Option<Reply>> {
        let deadline = self.send_in_band(command, arguments)?;
        let quiet = deadline.min(deadline_after(silence));
        match self.read_reply(quiet, command, false) {
            Ok(reply) => Ok(Some(reply)),
            Err(Error::Timeout { .. } | Error::Closed { partial: 0, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `command` replies when it succeeds, as the agent's
    /// `guest-info` says; when guest-info itself is refused (disabled with
    /// `qemu-ga -b guest-info`), by the commands known not to:
    /// [`NO_REPLY`].
    ///
    /// # Errors
    /// Connection and protocol errors.
    pub fn replies_on_success(&mut self, command: &str) -> Result<bool> {
        if command == "guest-info" {
            return Ok(true);
        }
        match self.agent_info() {
            Ok(info) => Ok(info.replies(command)),
            Err(Error::Qmp(_)) => Ok(!NO_REPLY.contains(&command)),
            Err(e) => Err(e),
        }
    }

    /// The agent's version and commands (`guest-info`).
    ///
    /// # Errors
    /// As [`Client::execute`]; [`Error::Protocol`] for a malformed return.
    pub fn agent_info(&mut self) -> Result<AgentInfo> {
        AgentInfo::from_return(&self.execute("guest-info", None)?)
    }

    /// Starts `exec` in the guest (`guest-exec`, output captured) and returns
    /// its pid there.
    ///
    /// # Errors
    /// [`Error::Qmp`] when the agent cannot start it (no such program, not
    /// executable, `guest-exec` disabled); connection and protocol errors.
    pub fn guest_exec(&mut self, exec: &Exec) -> Result<i64> {
        let ret = self.execute("guest-exec", Some(&exec.arguments()))?;
        ret["pid"].as_i64().ok_or_else(|| Error::Protocol {
            expected: "guest-exec's return {\"pid\": N}".into(),
            got: crate::error::snippet(ret.to_string().as_bytes(), 60),
        })
    }

    /// Polls `guest-exec-status` for `pid` until the program has exited, with
    /// a short backoff; `Ok(None)` when `until` passes first (the program
    /// goes on running in the guest). The agent forgets a program once it
    /// has reported its end: the status is returned only once.
    ///
    /// # Errors
    /// As [`Client::execute`] (an unknown pid is an error reply);
    /// [`Error::Protocol`] for a malformed status.
    pub fn wait_exec(&mut self, pid: i64, until: Option<Instant>) -> Result<Option<ExecStatus>> {
        let mut args = Map::new();
        args.insert("pid".into(), Value::from(pid));
        let mut polls = 0;
        loop {
            let ret = self.execute("guest-exec-status", Some(&args))?;
            if let Some(status) = ExecStatus::from_return(&ret)? {
                return Ok(Some(status));
            }
            let pause = backoff(polls);
            polls += 1;
            if let Some(until) = until {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                std::thread::sleep(pause.min(left));
            } else {
                std::thread::sleep(pause);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exec_status_from_qemu_ga_returns() {
        let cases = [
            (json!({"exited": false}), Ok(None)),
            (
                json!({"exitcode": 3, "out-data": "aGkK", "exited": true}),
                Ok(Some(ExecStatus {
                    exitcode: Some(3),
                    stdout: b"hi\n".to_vec(),
                    ..Default::default()
                })),
            ),
            (
                json!({"signal": 9, "exited": true}),
                Ok(Some(ExecStatus {
                    signal: Some(9),
                    ..Default::default()
                })),
            ),
            (
                json!({"exitcode": 0, "exited": true, "err-data": "ZXJyCg==",
                       "out-truncated": true, "err-truncated": true}),
                Ok(Some(ExecStatus {
                    exitcode: Some(0),
                    stderr: b"err\n".to_vec(),
                    stdout_truncated: true,
                    stderr_truncated: true,
                    ..Default::default()
                })),
            ),
            (json!({}), Err("no \"exited\"")),
            (json!({"exited": true}), Err("neither")),
            (
                json!({"exited": true, "exitcode": 0, "out-data": "!!"}),
                Err("\"out-data\" is not base64"),
            ),
            (
                json!({"exited": true, "exitcode": 0, "out-data": 1}),
                Err("not a string"),
            ),
        ];
        for (value, want) in cases {
            let got = ExecStatus::from_return(&value);
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{value}"),
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{value}: {e}"),
                (got, want) => panic!("{value}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn exec_arguments() {
        let exec = Exec {
            path: "/bin/cat".into(),
            args: vec!["-".into()],
            env: vec!["A=1".into()],
            input: Some(b"hi\n".to_vec()),
        };
        assert_eq!(
            Value::Object(exec.arguments()),
            json!({"path": "/bin/cat", "arg": ["-"], "env": ["A=1"], "input-data": "aGkK",
                   "capture-output": true})
        );
        let bare = Exec {
            path: "true".into(),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(bare.arguments()),
            json!({"path": "true", "capture-output": true})
        );
    }

    #[test]
    fn agent_info_and_which_commands_reply() {
        let info = AgentInfo::from_return(&json!({"version": "10.0.2", "supported_commands": [
            {"enabled": true, "name": "guest-ping", "success-response": true},
            {"enabled": false, "name": "guest-exec", "success-response": true},
            {"enabled": true, "name": "guest-shutdown", "success-response": false}]}))
        .unwrap();
        assert_eq!(info.version, "10.0.2");
        assert!(!info.commands[1].enabled);
        assert!(info.replies("guest-ping"));
        assert!(!info.replies("guest-shutdown"));
        assert!(info.replies("no-such-command"));
        assert!(AgentInfo::from_return(&json!({"version": "1"})).is_err());
        assert!(AgentInfo::from_return(&json!({"supported_commands": [{}]})).is_err());
    }

    #[test]
    fn backoff_is_short_and_capped() {
        assert_eq!(backoff(0), Duration::from_millis(1));
        assert_eq!(backoff(3), Duration::from_millis(8));
        assert_eq!(backoff(40), Duration::from_millis(100));
    }
}
