//! `--job` and `--attach`: following a job to its end ([`crate::job`]),
//! with a progress line on a terminal, the job's events on stdout and its
//! outcome mapped to an exit status.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Failure, RunResult, Status, print_event, report, write_stdout};
use crate::client::Client;
use crate::job::{Ending, Follow, JobError, Meter, Outcome, Seen, State, Target, Until};
use crate::message::Request;
use crate::output::{Format, sanitize};

/// Progress polls (`query-jobs`) at most this often: cheap for QEMU.
const POLL: Duration = Duration::from_millis(333);

/// Options for following a job.
#[derive(Debug, Clone, clap::Args)]
pub struct JobOpts {
    /// After the reply, follow the job the command starts or acts on (its job-id; id= for job-*, device= for block-job-*) until ready (the default; for mirror and active commit) or concluded, within --event-timeout; status 0 when it ended well, 1 failed, paused by an error or cancelled, 4 deadline
    #[arg(
        long,
        value_name = "UNTIL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "ready",
        value_parser = ["ready", "concluded"],
        conflicts_with_all = ["batch", "hmp", "event", "matches", "fail_on", "count"]
    )]
    pub job: Option<String>,
    /// Follow the job ID as --job does, without a command (a job started elsewhere); after a command, the job it acts on
    #[arg(
        long,
        value_name = "ID",
        conflicts_with_all = ["batch", "hmp", "event", "matches", "fail_on", "count"]
    )]
    pub attach: Option<String>,
    /// With --job or --attach: no progress line on the terminal
    #[arg(long)]
    pub no_progress: bool,
    /// With --job or --attach: dismiss the job once concluded (job-dismiss), for auto-dismiss:=false jobs and blockdev-create
    #[arg(long)]
    pub dismiss: bool,
    /// With --job or --attach: finalize the job when it waits at pending (job-finalize), for auto-finalize:=false jobs
    #[arg(long)]
    pub finalize: bool,
}

impl JobOpts {
    /// Whether a job is to be followed.
    pub fn on(&self) -> bool {
        self.job.is_some() || self.attach.is_some()
    }

    /// The job to follow after `request` (`None`: attaching, no command);
    /// `Ok(None)` when no job is to be followed.
    ///
    /// # Errors
    /// A usage error for a command that names no job, or for the options
    /// that need `--job` without it.
    pub fn target(&self, request: Option<&Request>) -> Result<Option<Target>, Failure> {
        if !self.on() {
            if self.no_progress || self.dismiss || self.finalize {
                let msg = "--no-progress, --dismiss and --finalize go with --job or --attach ID";
                return Err(Failure::Usage(msg.into()));
            }
            return Ok(None);
        }
        let until = match self.job.as_deref() {
            Some("concluded") => Until::Concluded,
            _ => Until::Ready,
        };
        let command = request.map(|r| r.command.as_str());
        let id = match (&self.attach, request) {
            (Some(id), _) => id.clone(),
            (None, Some(r)) => match Target::job_of(&r.command, r.arguments.as_ref()) {
                Some(id) => id,
                None => {
                    return Err(Failure::Usage(format!(
                        "--job: '{}' has no job-id argument: give the job-id=ID the job is \
                         created with (id=ID for job-* commands, device=ID for block-job-*), \
                         or name the job with --attach ID",
                        r.command
                    )));
                }
            },
            (None, None) => {
                return Err(Failure::Usage(
                    "--job needs a command that starts a job, or --attach ID".into(),
                ));
            }
        };
        let mut target = Target::new(id, command, until);
        target.finalize = self.finalize;
        target.dismiss = self.dismiss;
        Ok(Some(target))
    }
}

/// Follows `target` on `client` for at most `timeout` (`None`: no limit):
/// prints the job's events on stdout (as `-e` does; JSON lines with
/// `json`), then its final state, a progress line on stderr when it is a
/// terminal and `progress` holds, and reports a job that did not end well
/// on stderr. The status: 0 concluded without error (or ready, or pending),
/// 1 failed, paused by an error, cancelled by someone else or gone, 4 the
/// deadline passed.
///
/// # Errors
/// The follower's errors (connection lost, a query refused) and write errors.
pub fn follow<S: crate::wire::Stream>(
    tool: &str,
    client: &mut Client<S>,
    target: Target,
    timeout: Option<Duration>,
    format: Format,
    progress: bool,
) -> RunResult {
    let json = format != Format::Plain;
    let progress = progress && io::stderr().is_terminal();
    let how = Follow {
        target,
        timeout,
        poll: progress.then_some(POLL),
    };
    let mut line = ProgressLine::default();
    // A stdout closed early (| head) stops the printing, not the wait: the
    // status still says how the job ended.
    let mut closed = false;
    let result = crate::job::follow(client, &how, |seen| -> Result<(), Failure> {
        match seen {
            Seen::Event(e) => {
                line.erase();
                unless_closed(&mut closed, || print_event(e, json))?;
            }
            Seen::Progress(state) => line.draw(state),
        }
        Ok(())
    });
    line.erase();
    let ending = result?;
    if json {
        let text = format!("{}\n", final_state(&ending));
        unless_closed(&mut closed, || write_stdout(&text, true))?;
    }
    let (status, text) = verdict(tool, &ending, timeout);
    match status {
        Status::Ok if !json => {
            unless_closed(&mut closed, || write_stdout(&format!("{text}\n"), false))?;
        }
        Status::Ok => {}
        _ => report(tool, &text),
    }
    Ok(status)
}

/// Runs the write `w` unless stdout was found closed; a closed pipe is
/// remembered, not an error.
fn unless_closed(closed: &mut bool, w: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    if *closed {
        return Ok(());
    }
    match w() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            *closed = true;
            Ok(())
        }
        r => r,
    }
}

/// `job ID (TYPE)`.
fn name(state: &State) -> String {
    match &state.kind {
        Some(kind) => format!("job {} ({kind})", state.id),
        None => format!("job {}", state.id),
    }
}

/// `read (action report); 3 × write (action ignore)`.
fn errors(list: &[JobError]) -> String {
    let each: Vec<String> = list
        .iter()
        .map(|e| {
            let n = if e.count == 1 {
                String::new()
            } else {
                format!("{} × ", e.count)
            };
            format!("{n}{} (action {})", e.operation, e.action)
        })
        .collect();
    each.join("; ")
}

/// ` at 75% (3145728 of 4194304)`, when known (bytes: block jobs only;
/// the progress of other jobs is in steps of their own).
fn at(state: &State) -> String {
    if !state.block {
        return String::new();
    }
    match (state.current, state.total) {
        (Some(c), Some(t)) => match percent(c, t) {
            Some(p) => format!(" at {p}% ({c} of {t})"),
            None => String::new(),
        },
        _ => String::new(),
    }
}

/// `current` of `total` in whole percent (at most 100); `None` for a zero
/// total.
fn percent(current: u64, total: u64) -> Option<u128> {
    (u128::from(current.min(total)) * 100).checked_div(u128::from(total))
}

/// The status and the line that says how the job ended.
fn verdict(tool: &str, ending: &Ending, timeout: Option<Duration>) -> (Status, String) {
    let s = &ending.state;
    let (job, id) = (name(s), &s.id);
    let seen = if s.errors.is_empty() {
        String::new()
    } else {
        format!("; I/O errors (BLOCK_JOB_ERROR): {}", errors(&s.errors))
    };
    match &ending.outcome {
        Outcome::Concluded => (Status::Ok, format!("{job} concluded{seen}")),
        Outcome::Cancelled { requested: true } => (Status::Ok, format!("{job} cancelled{seen}")),
        Outcome::Ready => (
            Status::Ok,
            format!(
                "{job} ready{seen}: complete it with '{tool} job-complete id={id} \
                 --job=concluded'"
            ),
        ),
        Outcome::Pending => (
            Status::Ok,
            format!("{job} pending{seen}: finalize it with '{tool} job-finalize id={id} --job'"),
        ),
        Outcome::Failed => {
            let error = s.error.as_deref().unwrap_or("unknown error");
            (
                Status::Failed,
                format!("{job} failed{}: {error}{seen}", at(s)),
            )
        }
        Outcome::Paused => {
            let io = s.io_status.as_deref().unwrap_or("failed");
            let why = if io == "nospace" {
                "nospace: no space left on the target; make room, then resume it"
            } else {
                "failed: resume it to retry"
            };
            let resume = if s.block {
                format!(
                    "'{tool} block-job-resume device={id} --job' (or '{tool} job-resume id={id} --job')"
                )
            } else {
                format!("'{tool} job-resume id={id} --job'")
            };
            (
                Status::Failed,
                format!(
                    "{job} is paused by an I/O error{} (io-status {why}){seen}; it stays \
                     paused: resume it with {resume}, or cancel it with '{tool} job-cancel \
                     id={id}'",
                    at(s)
                ),
            )
        }
        Outcome::Cancelled { requested: false } => (
            Status::Failed,
            format!("{job} was cancelled, not by this command{}{seen}", at(s)),
        ),
        Outcome::NoSuchJob { ids } => {
            let listed = if ids.is_empty() {
                "it lists none".to_string()
            } else {
                format!("it lists: {}", ids.join(", "))
            };
            (
                Status::Failed,
                format!("no job '{id}' on this server (query-jobs: {listed})"),
            )
        }
        Outcome::Vanished => (
            Status::Failed,
            format!("{job} was dismissed before its end could be read{seen}"),
        ),
        Outcome::Deadline => {
            let status = s.status.as_deref().unwrap_or("running");
            let after = timeout.map(crate::error::secs).unwrap_or_default();
            (
                Status::Timeout,
                format!(
                    "{job} is still {status} after {after} (--event-timeout){seen}; it runs \
                     on: follow it with '{tool} --attach {id}', cancel it with '{tool} \
                     job-cancel id={id}'"
                ),
            )
        }
    }
}

/// The `--json` line that ends a followed job: its state and outcome.
pub fn final_state(ending: &Ending) -> Value {
    let s = &ending.state;
    let outcome = match ending.outcome {
        Outcome::Concluded => "concluded",
        Outcome::Failed => "failed",
        Outcome::Cancelled { .. } => "cancelled",
        Outcome::Ready => "ready",
        Outcome::Pending => "pending",
        Outcome::Paused => "paused",
        Outcome::NoSuchJob { .. } => "no-such-job",
        Outcome::Vanished => "dismissed",
        Outcome::Deadline => "timeout",
    };
    let mut m = serde_json::Map::new();
    m.insert("job".into(), Value::from(s.id.as_str()));
    m.insert("outcome".into(), Value::from(outcome));
    let mut put = |k: &str, x: Option<Value>| {
        if let Some(x) = x {
            m.insert(k.into(), x);
        }
    };
    put("type", s.kind.clone().map(Value::from));
    put("status", s.status.clone().map(Value::from));
    put("current-progress", s.current.map(Value::from));
    put("total-progress", s.total.map(Value::from));
    put("error", s.error.clone().map(Value::from));
    put("io-status", s.io_status.clone().map(Value::from));
    let errors: Vec<Value> = s
        .errors
        .iter()
        .map(|e| json!({"operation": e.operation, "action": e.action, "count": e.count}))
        .collect();
    m.insert("errors".into(), Value::Array(errors));
    Value::Object(m)
}

/// The progress line on stderr, drawn in place and erased.
#[derive(Default)]
struct ProgressLine {
    meter: Meter,
    shown: bool,
}

/// Whether a progress line is on stderr now: the `-v` trace, which writes
/// stderr too, erases it first ([`erase_for_trace`]).
static ON_SCREEN: AtomicBool = AtomicBool::new(false);

/// Erases the progress line, if one is shown, before another stderr line
/// (the next poll draws it again).
pub(crate) fn erase_for_trace() {
    if ON_SCREEN.swap(false, Ordering::Relaxed) {
        let mut err = io::stderr().lock();
        let _ = err.write_all(b"\r\x1b[K");
    }
}

impl ProgressLine {
    fn draw(&mut self, state: &State) {
        let (Some(current), Some(total)) = (state.current, state.total) else {
            return;
        };
        self.meter.add(Instant::now(), current);
        let mut text = format!(
            "{} {} {}",
            truncate(&state.id),
            truncate(state.kind.as_deref().unwrap_or("job")),
            state.status.as_deref().unwrap_or("")
        );
        if let Some(p) = percent(current, total) {
            text.push_str(&format!(" {p:>3}%"));
        }
        if state.block {
            text.push_str(&format!(
                " {} of {}",
                bytes(current as f64),
                bytes(total as f64)
            ));
            if let Some(rate) = self.meter.rate() {
                text.push_str(&format!(", {}/s", bytes(rate)));
            }
        } else {
            text.push_str(&format!(" {current} of {total}"));
        }
        if let Some(left) = self.meter.left(total).filter(|_| current < total) {
            text.push_str(&format!(", {} left", duration(left)));
        }
        // One line of an 80-column terminal: a longer one would wrap, and
        // "\r" would then redraw only its last part.
        let text: String = sanitize(&text).chars().take(79).collect();
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{text}");
        let _ = err.flush();
        self.shown = true;
        ON_SCREEN.store(true, Ordering::Relaxed);
    }

    fn erase(&mut self) {
        ON_SCREEN.store(false, Ordering::Relaxed);
        if std::mem::take(&mut self.shown) {
            let mut err = io::stderr().lock();
            let _ = err.write_all(b"\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// At most 24 characters of a name, so the line fits a terminal's width.
fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(24).collect();
    if s.chars().count() > 24 {
        out.push('…');
    }
    out
}

/// `512 B`, `1.5 KiB`, `4.0 MiB`, `2.3 GiB`.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024.0 {
        return format!("{n:.0} B");
    }
    let mut v = n / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `42 s`, `3 min 5 s`, `2 h 10 min` (rounded up: never `0 s left`).
fn duration(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            id: "j0".into(),
            kind: Some("backup".into()),
            status: Some("concluded".into()),
            current: Some(3 << 20),
            total: Some(4 << 20),
            block: true,
            ..State::default()
        }
    }

    #[test]
    fn units() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(1023.0), "1023 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes((4u64 << 20) as f64), "4.0 MiB");
        assert_eq!(bytes(1e30), format!("{:.1} PiB", 1e30 / 1024f64.powi(5)));
        assert_eq!(duration(Duration::from_secs(42)), "42 s");
        assert_eq!(duration(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(duration(Duration::from_secs(7800)), "2 h 10 min");
        assert_eq!(percent(1, 4), Some(25));
        assert_eq!(percent(5, 4), Some(100));
        assert_eq!(percent(u64::MAX - 1, u64::MAX), Some(99));
        assert_eq!(percent(0, 0), None);
        assert_eq!(truncate("short"), "short");
        assert_eq!(truncate(&"x".repeat(30)), format!("{}…", "x".repeat(24)));
    }

    #[test]
    fn verdicts() {
        let end = |outcome, state| Ending { outcome, state };
        let mut failed = state();
        failed.error = Some("Input/output error".into());
        failed.errors = vec![JobError {
            operation: "read".into(),
            action: "report".into(),
            count: 1,
        }];
        let (status, text) = verdict("qmp-exec", &end(Outcome::Failed, failed.clone()), None);
        assert_eq!(status, Status::Failed);
        assert_eq!(
            text,
            "job j0 (backup) failed at 75% (3145728 of 4194304): Input/output error; I/O \
             errors (BLOCK_JOB_ERROR): read (action report)"
        );
        let mut paused = state();
        paused.io_status = Some("nospace".into());
        let (status, text) = verdict("qmp-exec", &end(Outcome::Paused, paused), None);
        assert_eq!(status, Status::Failed);
        assert!(text.contains("io-status nospace"), "{text}");
        assert!(
            text.contains("'qmp-exec block-job-resume device=j0 --job'"),
            "{text}"
        );
        let (status, _) = verdict(
            "t",
            &end(Outcome::Cancelled { requested: false }, state()),
            None,
        );
        assert_eq!(status, Status::Failed);
        let (status, _) = verdict(
            "t",
            &end(Outcome::Cancelled { requested: true }, state()),
            None,
        );
        assert_eq!(status, Status::Ok);
        let after = Some(Duration::from_secs(2));
        let (status, text) = verdict("t", &end(Outcome::Deadline, state()), after);
        assert_eq!(status, Status::Timeout);
        assert!(text.contains("after 2 s (--event-timeout)"), "{text}");
        for ok in [Outcome::Concluded, Outcome::Ready, Outcome::Pending] {
            assert_eq!(verdict("t", &end(ok, state()), None).0, Status::Ok);
        }
        for bad in [Outcome::Vanished, Outcome::NoSuchJob { ids: vec![] }] {
            assert_eq!(verdict("t", &end(bad, state()), None).0, Status::Failed);
        }
        let v = final_state(&end(Outcome::Failed, failed));
        assert_eq!(
            v,
            json!({"job": "j0", "outcome": "failed", "type": "backup", "status": "concluded",
                   "current-progress": 3145728, "total-progress": 4194304,
                   "error": "Input/output error",
                   "errors": [{"operation": "read", "action": "report", "count": 1}]})
        );
    }
}
