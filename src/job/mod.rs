//! Following a job (mirror, backup, stream, commit, blockdev-create, ...)
//! to its end, and saying how it really ended.
//!
//! A job's command returns at once; what happens next arrives as events
//! (`JOB_STATUS_CHANGE`, `BLOCK_JOB_ERROR`, `BLOCK_JOB_COMPLETED` with an
//! `error` member when the job failed, `BLOCK_JOB_CANCELLED`) and states
//! (`query-jobs`, `query-block-jobs` for the `io-status` of a job an error
//! paused). [`Tracker`] is the pure state machine over both; [`follow`]
//! drives it on a connection. Neither prints: [`follow`] hands what it sees
//! to a callback and returns an [`Ending`].

mod follow;
mod tracker;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub use follow::{Follow, Seen, follow};
pub use tracker::{Action, Tracker};

/// Where a wait for a job ends when the job does well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// At `ready` for the jobs that get there (mirror, active commit: the
    /// moment a script runs `job-complete`), else at the end.
    Ready,
    /// At the end (`concluded`), through `ready`.
    Concluded,
}

/// The job to follow, and what to do on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The job's id (a block job's `device` in its events).
    pub id: String,
    /// Where a wait that goes well ends.
    pub until: Until,
    /// The command asked for the cancel (job-cancel, block-job-cancel): a
    /// cancelled end is then what was wanted.
    pub cancels: bool,
    /// Send `job-finalize` when the job waits at `pending`
    /// (`auto-finalize: false`).
    pub finalize: bool,
    /// Send `job-dismiss` when the job stays `concluded`
    /// (`auto-dismiss: false`, and jobs such as blockdev-create).
    pub dismiss: bool,
}

/// Commands that take a job past `ready`: following one waits to the end.
const ENDING: [&str; 6] = [
    "job-complete",
    "block-job-complete",
    "job-cancel",
    "block-job-cancel",
    "job-finalize",
    "block-job-finalize",
];

impl Target {
    /// The job `command` with `arguments` starts or acts on: its `job-id`;
    /// else `id` for the `job-*` commands; else `device` (the older
    /// `block-job-*` commands, and jobs started without a `job-id`, which
    /// QEMU names after their device). `None` when there is none.
    pub fn job_of(command: &str, arguments: Option<&Map<String, Value>>) -> Option<String> {
        let args = arguments?;
        let key = if args.contains_key("job-id") {
            "job-id"
        } else if command.starts_with("job-") {
            "id"
        } else {
            "device"
        };
        args.get(key).and_then(Value::as_str).map(str::to_string)
    }

    /// The target for job `id` acted on by `command` (`None`: attaching):
    /// after a command that takes the job past `ready` the wait goes to the
    /// end, and a cancel is what a cancel command wanted.
    pub fn new(id: String, command: Option<&str>, until: Until) -> Target {
        let command = command.unwrap_or_default();
        let ends = ENDING.contains(&command);
        Target {
            id,
            until: if ends { Until::Concluded } else { until },
            cancels: command.ends_with("job-cancel"),
            finalize: false,
            dismiss: false,
        }
    }
}

/// I/O errors a job reported (`BLOCK_JOB_ERROR`), counted by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// `read` or `write`.
    pub operation: String,
    /// What the job did: `report`, `ignore` or `stop`.
    pub action: String,
    /// How many such events arrived.
    pub count: usize,
}

/// What is known of the job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// The job's id.
    pub id: String,
    /// Its type (`mirror`, `backup`, `create`, ...), once known.
    pub kind: Option<String>,
    /// Its last known status (`running`, `ready`, `concluded`, ...).
    pub status: Option<String>,
    /// `current-progress` (bytes for block jobs).
    pub current: Option<u64>,
    /// `total-progress`.
    pub total: Option<u64>,
    /// The job's error, from `BLOCK_JOB_COMPLETED` or `query-jobs`.
    pub error: Option<String>,
    /// The I/O errors it reported.
    pub errors: Vec<JobError>,
    /// `io-status` from `query-block-jobs` (`ok`, `failed`, `nospace`).
    pub io_status: Option<String>,
    /// Whether it is a block job (it has `BLOCK_JOB_*` events and a
    /// `query-block-jobs` entry, resumed with `block-job-resume`).
    pub block: bool,
}

/// How the job ended, or why the wait for it did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It concluded without an error.
    Concluded,
    /// It concluded with an error ([`State::error`]).
    Failed,
    /// It was cancelled; `requested` when the followed command asked for it.
    Cancelled {
        /// The command was a cancel.
        requested: bool,
    },
    /// It is `ready` (mirror, active commit): `job-complete` ends it.
    Ready,
    /// It waits at `pending` for `job-finalize` (`auto-finalize: false`).
    Pending,
    /// An I/O error paused it (policy `stop`, or `enospc` on ENOSPC); it
    /// stays paused until resumed ([`State::io_status`] says why).
    Paused,
    /// There is no job by that id.
    NoSuchJob {
        /// The ids `query-jobs` lists.
        ids: Vec<String>,
    },
    /// The job was dismissed before its end could be read.
    Vanished,
    /// The deadline passed; the job runs on.
    Deadline,
}

/// The end of a wait: how, and the job's state then.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    /// How it ended.
    pub outcome: Outcome,
    /// What was known of the job.
    pub state: State,
}

/// Progress samples, for a rate and the time left.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    samples: VecDeque<(Instant, u64)>,
}

/// The span of samples the rate is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(5);

impl Meter {
    /// Adds the progress `current` seen at `now`. A value below the last
    /// one (QEMU can lower a mirror's progress as the guest writes) starts
    /// the measurement over.
    pub fn add(&mut self, now: Instant, current: u64) {
        if self.samples.back().is_some_and(|&(_, c)| c > current) {
            self.samples.clear();
        }
        self.samples.push_back((now, current));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|&(t, _)| now.duration_since(t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Progress per second over the last few seconds; `None` before two
    /// samples a while apart.
    pub fn rate(&self) -> Option<f64> {
        let (&(t0, c0), &(t1, c1)) = (self.samples.front()?, self.samples.back()?);
        let secs = t1.duration_since(t0).as_secs_f64();
        (secs >= 0.2).then(|| (c1 - c0) as f64 / secs)
    }

    /// The time left at the current rate to reach `total`; `None` while the
    /// rate is unknown or zero.
    pub fn left(&self, total: u64) -> Option<Duration> {
        let rate = self.rate().filter(|r| *r > 0.0)?;
        let &(_, current) = self.samples.back()?;
        Duration::try_from_secs_f64(total.saturating_sub(current) as f64 / rate).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_job_a_command_names() {
        let obj = |v: Value| v.as_object().cloned();
        let cases = [
            (
                "blockdev-backup",
                json!({"job-id": "j0", "device": "src"}),
                Some("j0"),
            ),
            ("drive-mirror", json!({"device": "drive0"}), Some("drive0")),
            ("block-job-resume", json!({"device": "j0"}), Some("j0")),
            ("job-resume", json!({"id": "j0"}), Some("j0")),
            ("job-complete", json!({"id": "j0"}), Some("j0")),
            (
                "blockdev-create",
                json!({"job-id": "c0", "options": {}}),
                Some("c0"),
            ),
            ("query-status", json!({}), None),
            (
                "blockdev-add",
                json!({"node-name": "n", "driver": "raw"}),
                None,
            ),
            ("job-resume", json!({"device": "j0"}), None),
            ("blockdev-backup", json!({"job-id": 7}), None),
        ];
        for (command, args, want) in cases {
            let got = Target::job_of(command, obj(args).as_ref());
            assert_eq!(got.as_deref(), want, "{command}");
        }
        assert_eq!(Target::job_of("x", None), None);
    }

    #[test]
    fn commands_that_end_a_job_wait_to_its_end() {
        let t = Target::new("j".into(), Some("job-complete"), Until::Ready);
        assert_eq!((t.until, t.cancels), (Until::Concluded, false));
        let t = Target::new("j".into(), Some("block-job-cancel"), Until::Ready);
        assert_eq!((t.until, t.cancels), (Until::Concluded, true));
        let t = Target::new("j".into(), Some("blockdev-mirror"), Until::Ready);
        assert_eq!((t.until, t.cancels), (Until::Ready, false));
        let t = Target::new("j".into(), None, Until::Concluded);
        assert_eq!((t.until, t.cancels), (Until::Concluded, false));
    }

    #[test]
    fn meter() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut m = Meter::default();
        assert_eq!(m.rate(), None);
        m.add(t0, 0);
        assert_eq!(m.rate(), None);
        m.add(t0 + s, 1000);
        assert_eq!(m.rate(), Some(1000.0));
        assert_eq!(m.left(4000), Some(3 * s));
        m.add(t0 + 2 * s, 2000);
        assert_eq!(m.left(4000), Some(2 * s));
        // Old samples leave the window.
        m.add(t0 + 10 * s, 2000);
        assert_eq!(m.rate(), Some(0.0));
        assert_eq!(m.left(4000), None);
        // Progress going back starts over.
        m.add(t0 + 11 * s, 100);
        assert_eq!(m.rate(), None);
        // Done: nothing left.
        m.add(t0 + 12 * s, 4000);
        assert_eq!(m.left(4000), Some(Duration::ZERO));
    }
}
