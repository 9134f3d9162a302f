//! What qga-exec and qga-run share beyond the connection options: the
//! agent's command list, and qga-run's run of a program with its own exit
//! statuses.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ConnectOpts, Failure, GuestAgent, RunResult, Status, report};
use crate::agent::{Exec, ExecStatus};

/// qga-run: `--timeout` passed while the program was still running (as
/// timeout(1) says it).
pub const TIMED_OUT: u8 = 124;
/// qga-run failed itself: usage, connection, the agent, writing.
pub const OWN_FAILURE: u8 = 125;
/// qga-run: the agent could not start the program.
pub const CANNOT_RUN: u8 = 126;

/// qga-run's exit statuses, as its man page prints them: the program's own
/// status, except for these (each comes with a `qga-run:` line on stderr).
pub const RUN_STATUSES: &[(u8, &str)] = &[
    (
        TIMED_OUT,
        "the timeout passed while the program was still running",
    ),
    (
        OWN_FAILURE,
        "qga-run failed: usage, connection, the agent, or writing the output",
    ),
    (CANNOT_RUN, "the agent could not start the program"),
];

/// `qga-exec --list`: the agent's commands from `guest-info`, sorted, one
/// per line as `NAME enabled|disabled` (plus ` no-reply` for those that
/// send no reply on success); with `json`, one JSON list of
/// `{"name", "enabled", "success-response"}`.
///
/// # Errors
/// Connecting, the agent's answer, writing.
pub fn list(conn: &ConnectOpts<GuestAgent>, json: bool) -> RunResult {
    let mut client = conn.connect()?;
    let mut commands = client.agent_info()?.commands;
    commands.sort_by(|a, b| a.name.cmp(&b.name));
    let text = if json {
        let list: Vec<Value> = commands
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name, "enabled": c.enabled, "success-response": c.success_response
                })
            })
            .collect();
        format!("{}\n", Value::from(list))
    } else {
        commands
            .iter()
            .map(|c| {
                let state = if c.enabled { "enabled" } else { "disabled" };
                let reply = if c.success_response { "" } else { " no-reply" };
                format!("{} {state}{reply}\n", c.name)
            })
            .collect()
    };
    super::write_stdout(&text, json)?;
    Ok(Status::Ok)
}

/// The exit status a program's end gives, and a note when it had to be
/// bent: an exit code that fits no status (a Windows guest's NTSTATUS)
/// gives 255, never 0 or the low byte.
pub fn exit_status(end: &ExecStatus) -> (u8, Option<String>) {
    match (end.exitcode, end.signal) {
        (Some(code), _) if (0..=255).contains(&code) => (code as u8, None),
        (Some(code), _) => (
            255,
            Some(format!(
                "the program's exit code {code} fits no exit status: 255"
            )),
        ),
        (None, Some(sig)) if (1..=127).contains(&sig) => (128 + sig as u8, None),
        (None, sig) => (
            255,
            Some(format!(
                "the program ended by signal {}, which fits no exit status: 255",
                sig.unwrap_or_default()
            )),
        ),
    }
}

/// Writes `data` to `out`; a closed pipe stops the writing quietly (the
/// exit status stays the program's, as a shell pipeline's does).
fn write_quietly(mut out: impl Write, data: &[u8]) -> io::Result<()> {
    match out.write_all(data).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// qga-run: starts `exec` in the guest, waits until it ends (within
/// `timeout`, from its start; `Duration::MAX`: no limit), writes its output
/// to our stdout and stderr, and returns its exit status ([`exit_status`])
/// or one of [`RUN_STATUSES`].
///
/// # Errors
/// What makes qga-run fail itself ([`OWN_FAILURE`]): connecting, the agent,
/// writing.
pub fn run(conn: &ConnectOpts<GuestAgent>, exec: &Exec) -> Result<u8, Failure> {
    let timeout = conn.timeout.unwrap_or(super::DEFAULT_TIMEOUT);
    let mut client = conn.connect()?;
    let pid = match client.guest_exec(exec) {
        Ok(pid) => pid,
        Err(crate::Error::Qmp(e)) => {
            report(
                "qga-run",
                &format!("cannot run '{}' in the guest: {e}", exec.path),
            );
            return Ok(CANNOT_RUN);
        }
        Err(e) => return Err(e.into()),
    };
    let until = Instant::now()
        .checked_add(timeout)
        .filter(|_| timeout != Duration::MAX);
    let Some(end) = client.wait_exec(pid, until)? else {
        report(
            "qga-run",
            &format!(
                "timed out after {}: the program is still running in the guest as pid {pid} \
                 (qga-exec guest-exec-status pid:={pid} reports its end, once)",
                crate::error::secs(timeout)
            ),
        );
        return Ok(TIMED_OUT);
    };
    write_quietly(io::stdout().lock(), &end.stdout).map_err(Failure::Output)?;
    write_quietly(io::stderr().lock(), &end.stderr).map_err(Failure::Output)?;
    for (truncated, which) in [
        (end.stdout_truncated, "stdout"),
        (end.stderr_truncated, "stderr"),
    ] {
        if truncated {
            report(
                "qga-run",
                &format!(
                    "the agent truncated the program's {which}: only its first part (the \
                     agent keeps 16 MiB) was written"
                ),
            );
        }
    }
    let (status, note) = exit_status(&end);
    if let Some(note) = note {
        report("qga-run", &note);
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_never_say_success_for_a_failure() {
        let end = |exitcode, signal| ExecStatus {
            exitcode,
            signal,
            ..Default::default()
        };
        let cases = [
            (end(Some(0), None), 0, false),
            (end(Some(3), None), 3, false),
            (end(Some(255), None), 255, false),
            (end(None, Some(9)), 137, false),
            (end(None, Some(15)), 143, false),
            (end(Some(256), None), 255, true),
            (end(Some(3221225477), None), 255, true),
            (end(Some(-1), None), 255, true),
            (end(None, Some(0)), 255, true),
            (end(None, Some(200)), 255, true),
        ];
        for (end, want, noted) in cases {
            let (got, note) = exit_status(&end);
            assert_eq!((got, note.is_some()), (want, noted), "{end:?}");
        }
    }
}
