//! The state machine over a job's events and states: pure, no I/O.

use serde_json::Value;

use super::{JobError, Outcome, State, Target, Until};
use crate::message::Event;

/// What the follower should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Wait for the next event.
    Wait,
    /// Run `query-jobs` and hand its return to [`Tracker::jobs`], after the
    /// events that arrived before its reply.
    QueryJobs,
    /// Run `query-block-jobs` and hand its return to
    /// [`Tracker::block_jobs`], after the events that arrived before its reply.
    QueryBlockJobs,
    /// Send `job-finalize`, then call [`Tracker::finalized`].
    Finalize,
    /// Send `job-dismiss`, then call [`Tracker::dismissed`].
    Dismiss,
    /// The wait is over.
    End(Outcome),
}

/// How the block events said the job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Completed,
    Cancelled,
}

/// Follows one job through its events and the states queried.
///
/// Feed it every event ([`Tracker::event`]) and the returns of the queries
/// it asks for, then ask [`Tracker::next`] what to do. A state queried is
/// newer than every event that arrived before its reply: hand those events
/// in first.
#[derive(Debug, Clone)]
pub struct Tracker {
    target: Target,
    state: State,
    ended: Option<Ended>,
    /// The status was read from a query since it last changed.
    checked: bool,
    /// The io-status was read since the status last changed.
    io_checked: bool,
    /// A listing showed the job concluded (its error, if any, is known).
    concluded_read: bool,
    /// An event said `ready`, and BLOCK_JOB_READY, which QEMU sends right
    /// after it, has not come yet (nor a listing, which would come after it).
    ready_event_due: bool,
    /// The job appeared in an event or a query.
    seen: bool,
    /// The last `query-jobs` did not list it.
    gone: bool,
    ids: Vec<String>,
    finalized: bool,
    dismissed: bool,
    /// A status event came since the last query was sent ([`Tracker::query_sent`]).
    status_event: bool,
}

impl Tracker {
    /// A tracker for `target`, knowing nothing yet.
    pub fn new(target: Target) -> Tracker {
        let state = State {
            id: target.id.clone(),
            ..State::default()
        };
        Tracker {
            target,
            state,
            ended: None,
            checked: false,
            io_checked: false,
            concluded_read: false,
            ready_event_due: false,
            seen: false,
            gone: false,
            ids: Vec::new(),
            finalized: false,
            dismissed: false,
            status_event: false,
        }
    }

    /// What is known of the job.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether the job has been seen (an event, or a listing).
    pub fn seen(&self) -> bool {
        self.seen
    }

    fn set_status(&mut self, status: &str) {
        if self.state.status.as_deref() != Some(status) {
            self.state.status = Some(status.to_string());
            self.checked = false;
            self.io_checked = false;
        }
    }

    /// Takes in an event; returns whether it is about the job.
    pub fn event(&mut self, event: &Event) -> bool {
        let data = event.data();
        let field = |k: &str| data.get(k).and_then(Value::as_str);
        let name = event.name();
        let key = if name == "JOB_STATUS_CHANGE" || name == "BLOCK_JOB_PENDING" {
            "id"
        } else {
            "device"
        };
        if !name.starts_with("BLOCK_JOB_") && name != "JOB_STATUS_CHANGE"
            || field(key) != Some(self.target.id.as_str())
        {
            return false;
        }
        self.seen = true;
        if name.starts_with("BLOCK_JOB_") {
            self.state.block = true;
        }
        if let Some(kind) = field("type") {
            self.state.kind = Some(kind.to_string());
        }
        match name {
            "JOB_STATUS_CHANGE" => {
                if let Some(status) = field("status") {
                    self.set_status(status);
                    self.status_event = true;
                    self.ready_event_due = status == "ready";
                }
            }
            "BLOCK_JOB_READY" => self.ready_event_due = false,
            "BLOCK_JOB_ERROR" => {
                let operation = field("operation").unwrap_or("?").to_string();
                let action = field("action").unwrap_or("?").to_string();
                match self
                    .state
                    .errors
                    .iter_mut()
                    .find(|e| e.operation == operation && e.action == action)
                {
                    Some(e) => e.count += 1,
                    None => self.state.errors.push(JobError {
                        operation,
                        action,
                        count: 1,
                    }),
                }
            }
            "BLOCK_JOB_COMPLETED" | "BLOCK_JOB_CANCELLED" => {
                let (len, offset) = (data.get("len"), data.get("offset"));
                self.state.total = len.and_then(Value::as_u64).or(self.state.total);
                self.state.current = offset.and_then(Value::as_u64).or(self.state.current);
                if name == "BLOCK_JOB_CANCELLED" {
                    self.ended = Some(Ended::Cancelled);
                } else {
                    self.ended = Some(Ended::Completed);
                    if let Some(e) = field("error") {
                        self.state.error = Some(e.to_string());
                    }
                }
            }
            _ => {}
        }
        true
    }

    /// A query is about to be sent: the status events from now on come
    /// before its reply.
    pub fn query_sent(&mut self) {
        self.status_event = false;
    }

    /// Takes in the return of `query-jobs` (`[{id, type, status,
    /// current-progress, total-progress, error?}]`).
    ///
    /// QEMU may build the listing before it sends status events that reach
    /// the client ahead of the listing's reply: a status event since the
    /// query was sent is at least as new as the listing. When the two
    /// disagree, the event's status stays and the state is not counted as
    /// checked (the next query settles it).
    pub fn jobs(&mut self, jobs: &Value) {
        self.ready_event_due = false;
        let list = jobs.as_array().map(Vec::as_slice).unwrap_or_default();
        self.ids = list
            .iter()
            .filter_map(|j| j.get("id").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let Some(job) = list
            .iter()
            .find(|j| j.get("id").and_then(Value::as_str) == Some(self.target.id.as_str()))
        else {
            self.gone = true;
            self.checked = true;
            return;
        };
        self.seen = true;
        self.gone = false;
        let text = |k: &str| job.get(k).and_then(Value::as_str);
        let stale = self.status_event
            && text("status").is_some_and(|s| self.state.status.as_deref() != Some(s));
        if let Some(status) = text("status")
            && !stale
        {
            self.set_status(status);
        }
        if let Some(kind) = text("type") {
            self.state.kind = Some(kind.to_string());
            // The JobType values of the block jobs (their progress is in
            // bytes, and they take block-job-* commands).
            self.state.block |= matches!(kind, "commit" | "stream" | "mirror" | "backup");
        }
        if let Some(e) = text("error") {
            self.state.error = Some(e.to_string());
        }
        let number = |k: &str| job.get(k).and_then(Value::as_u64);
        self.state.current = number("current-progress").or(self.state.current);
        self.state.total = number("total-progress").or(self.state.total);
        self.checked = !stale;
        self.concluded_read |= !stale && text("status") == Some("concluded");
    }

    /// Takes in the return of `query-block-jobs` (`[{device, status,
    /// io-status, ...}]`); a job it does not list is not a block job.
    pub fn block_jobs(&mut self, jobs: &Value) {
        self.ready_event_due = false;
        let list = jobs.as_array().map(Vec::as_slice).unwrap_or_default();
        if let Some(job) = list
            .iter()
            .find(|j| j.get("device").and_then(Value::as_str) == Some(self.target.id.as_str()))
        {
            self.seen = true;
            self.state.block = true;
            let text = |k: &str| job.get(k).and_then(Value::as_str);
            if let Some(status) = text("status") {
                self.set_status(status);
            }
            self.state.io_status = text("io-status").map(str::to_string);
            let number = |k: &str| job.get(k).and_then(Value::as_u64);
            self.state.current = number("offset").or(self.state.current);
            self.state.total = number("len").or(self.state.total);
        } else {
            self.state.io_status = None;
        }
        self.io_checked = true;
    }

    /// `job-finalize` was sent and accepted.
    pub fn finalized(&mut self) {
        self.finalized = true;
    }

    /// `job-dismiss` was sent and accepted.
    pub fn dismissed(&mut self) {
        self.dismissed = true;
    }

    /// The outcome of a job that has ended, from what is known.
    fn end(&self) -> Outcome {
        match self.ended {
            Some(Ended::Cancelled) => Outcome::Cancelled {
                requested: self.target.cancels,
            },
            _ if self.state.error.is_some() => Outcome::Failed,
            _ => Outcome::Concluded,
        }
    }

    /// What to do next.
    pub fn next(&self) -> Action {
        let status = self.state.status.as_deref();
        if self.gone || status == Some("null") {
            // Dismissed (auto-dismiss, by us, or by someone), or never there.
            return Action::End(if self.ended.is_some() || self.concluded_read {
                self.end()
            } else if !self.seen {
                Outcome::NoSuchJob {
                    ids: self.ids.clone(),
                }
            } else {
                Outcome::Vanished
            });
        }
        let dismiss = self.target.dismiss && !self.dismissed;
        match status {
            // Nothing known yet (attaching): ask.
            None if !self.checked => Action::QueryJobs,
            // Its error (jobs without block events have it only there), and
            // whether it is still there to dismiss.
            Some("concluded") if !self.checked && (self.ended.is_none() || dismiss) => {
                Action::QueryJobs
            }
            Some("concluded") if dismiss => Action::Dismiss,
            Some("concluded") => Action::End(self.end()),
            // Auto-finalized jobs leave `pending` at once; one still there
            // when asked waits for job-finalize.
            Some("pending") if !self.checked => Action::QueryJobs,
            Some("pending") if self.finalized => Action::Wait,
            Some("pending") if self.target.finalize => Action::Finalize,
            Some("pending") => Action::End(Outcome::Pending),
            Some("ready") if self.target.until == Until::Ready && !self.ready_event_due => {
                Action::End(Outcome::Ready)
            }
            // Paused by an I/O error, or by a drain or a user (io-status ok).
            Some("paused") if !self.io_checked => Action::QueryBlockJobs,
            Some("paused")
                if matches!(self.state.io_status.as_deref(), Some("failed" | "nospace")) =>
            {
                Action::End(Outcome::Paused)
            }
            _ => Action::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Incoming;
    use serde_json::json;

    fn event(name: &str, data: Value) -> Event {
        let msg =
            json!({"event": name, "data": data, "timestamp": {"seconds": 1, "microseconds": 2}});
        match Incoming::classify(msg.as_object().unwrap().clone()) {
            Ok(Incoming::Event(e)) => e,
            _ => unreachable!(),
        }
    }

    fn status(s: &str) -> Event {
        event("JOB_STATUS_CHANGE", json!({"id": "j0", "status": s}))
    }

    fn target(until: Until) -> Target {
        Target::new("j0".into(), Some("blockdev-backup"), until)
    }

    /// Feeds `events` and returns the action after each.
    fn run(t: &mut Tracker, events: &[Event]) -> Vec<Action> {
        events
            .iter()
            .map(|e| {
                t.event(e);
                t.next()
            })
            .collect()
    }

    #[test]
    fn a_backup_that_succeeds_concludes() {
        let mut t = Tracker::new(target(Until::Ready));
        let done = event(
            "BLOCK_JOB_COMPLETED",
            json!({"device": "j0", "len": 4, "offset": 4, "speed": 0, "type": "backup"}),
        );
        let events = [
            status("created"),
            status("running"),
            // A drain pauses a starting job: not an end.
            status("paused"),
        ];
        let actions = run(&mut t, &events);
        assert_eq!(
            actions,
            [Action::Wait, Action::Wait, Action::QueryBlockJobs]
        );
        t.block_jobs(&json!([{"device": "j0", "status": "running", "io-status": "ok"}]));
        assert_eq!(t.next(), Action::Wait);
        let events = [status("running"), status("waiting"), status("pending")];
        assert_eq!(run(&mut t, &events).last(), Some(&Action::QueryJobs));
        // Auto-finalized meanwhile: the events that came first, then the state.
        t.event(&done);
        t.event(&status("concluded"));
        t.event(&status("null"));
        t.jobs(&json!([]));
        assert_eq!(t.next(), Action::End(Outcome::Concluded));
        assert_eq!(t.state().kind.as_deref(), Some("backup"));
        assert_eq!((t.state().current, t.state().total), (Some(4), Some(4)));
    }

    #[test]
    fn a_backup_that_fails_reports_its_error_and_the_error_events() {
        let mut t = Tracker::new(target(Until::Ready));
        let err = event(
            "BLOCK_JOB_ERROR",
            json!({"device": "j0", "operation": "read", "action": "report"}),
        );
        let done = event(
            "BLOCK_JOB_COMPLETED",
            json!({"device": "j0", "len": 4, "offset": 3, "type": "backup",
                   "error": "Input/output error"}),
        );
        let events = [
            status("running"),
            err,
            status("aborting"),
            done,
            status("concluded"),
        ];
        let actions = run(&mut t, &events);
        assert_eq!(actions.last(), Some(&Action::End(Outcome::Failed)));
        assert_eq!(t.state().error.as_deref(), Some("Input/output error"));
        assert_eq!(
            t.state().errors,
            [JobError {
                operation: "read".into(),
                action: "report".into(),
                count: 1
            }]
        );
        assert!(t.state().block);
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let mut t = Tracker::new(target(Until::Ready));
        let e = |op: &str, action: &str| {
            event(
                "BLOCK_JOB_ERROR",
                json!({"device": "j0", "operation": op, "action": action}),
            )
        };
        run(
            &mut t,
            &[
                e("read", "ignore"),
                e("read", "ignore"),
                e("write", "ignore"),
            ],
        );
        let counts: Vec<(&str, usize)> = t
            .state()
            .errors
            .iter()
            .map(|e| (e.operation.as_str(), e.count))
            .collect();
        assert_eq!(counts, [("read", 2), ("write", 1)]);
    }

    #[test]
    fn other_jobs_and_events_are_not_ours() {
        let mut t = Tracker::new(target(Until::Ready));
        let other = [
            event(
                "JOB_STATUS_CHANGE",
                json!({"id": "j1", "status": "concluded"}),
            ),
            event("BLOCK_JOB_COMPLETED", json!({"device": "j1", "error": "x"})),
            event("SHUTDOWN", json!({"guest": false})),
            event("BLOCK_IO_ERROR", json!({"device": "j0"})),
            event(
                "JOB_STATUS_CHANGE",
                json!({"device": "j0", "status": "null"}),
            ),
        ];
        for e in &other {
            assert!(!t.event(e), "{e:?}");
        }
        assert_eq!(t.state().status, None);
        assert!(!t.seen());
        assert!(t.event(&event(
            "BLOCK_JOB_PENDING",
            json!({"id": "j0", "type": "backup"})
        )));
    }

    #[test]
    fn a_stop_error_pauses_the_job_and_ends_the_wait() {
        for io in ["failed", "nospace"] {
            let mut t = Tracker::new(target(Until::Ready));
            let err = event(
                "BLOCK_JOB_ERROR",
                json!({"device": "j0", "operation": "write", "action": "stop"}),
            );
            let actions = run(&mut t, &[status("running"), err, status("paused")]);
            assert_eq!(actions.last(), Some(&Action::QueryBlockJobs));
            t.block_jobs(&json!([{"device": "j0", "status": "paused", "io-status": io}]));
            assert_eq!(t.next(), Action::End(Outcome::Paused));
            assert_eq!(t.state().io_status.as_deref(), Some(io));
        }
        // A job paused by a user waits on; once resumed and paused again,
        // it is asked about again.
        let mut t = Tracker::new(target(Until::Ready));
        run(&mut t, &[status("paused")]);
        t.block_jobs(&json!([{"device": "j0", "status": "paused", "io-status": "ok"}]));
        assert_eq!(t.next(), Action::Wait);
        let actions = run(&mut t, &[status("running"), status("paused")]);
        assert_eq!(actions, [Action::Wait, Action::QueryBlockJobs]);
    }

    #[test]
    fn ready_ends_the_wait_unless_until_concluded() {
        let mut t = Tracker::new(target(Until::Ready));
        let ready = event("BLOCK_JOB_READY", json!({"device": "j0", "type": "mirror"}));
        // The status, then the block event, which a script may wait for.
        assert_eq!(
            run(&mut t, &[status("ready"), ready]),
            [Action::Wait, Action::End(Outcome::Ready)]
        );
        // A listing that says ready comes after both.
        let mut t = Tracker::new(target(Until::Ready));
        run(&mut t, &[status("ready")]);
        t.jobs(&json!([{"id": "j0", "status": "ready", "type": "mirror"}]));
        assert_eq!(t.next(), Action::End(Outcome::Ready));
        let mut t = Tracker::new(target(Until::Concluded));
        assert_eq!(run(&mut t, &[status("ready")]), [Action::Wait]);
        // job-complete on a job that is ready goes to the end.
        let mut t = Tracker::new(Target::new("j0".into(), Some("job-complete"), Until::Ready));
        t.jobs(&json!([{"id": "j0", "status": "ready", "type": "mirror"}]));
        assert_eq!(t.next(), Action::Wait);
    }

    #[test]
    fn a_cancel_by_someone_else_is_not_what_was_asked() {
        let cancelled = event(
            "BLOCK_JOB_CANCELLED",
            json!({"device": "j0", "len": 4, "offset": 1, "type": "backup"}),
        );
        let events = [
            status("running"),
            status("aborting"),
            cancelled,
            status("concluded"),
            status("null"),
        ];
        let mut t = Tracker::new(target(Until::Ready));
        let actions = run(&mut t, &events);
        let end = Action::End(Outcome::Cancelled { requested: false });
        assert_eq!(actions[3..], [end.clone(), end]);
        let mut t = Tracker::new(Target::new("j0".into(), Some("job-cancel"), Until::Ready));
        let actions = run(&mut t, &events);
        assert_eq!(
            actions.last(),
            Some(&Action::End(Outcome::Cancelled { requested: true }))
        );
    }

    #[test]
    fn a_job_without_block_events_has_its_error_read_at_concluded() {
        let mut t = Tracker::new(Target::new(
            "c0".into(),
            Some("blockdev-create"),
            Until::Ready,
        ));
        let s = |st: &str| event("JOB_STATUS_CHANGE", json!({"id": "c0", "status": st}));
        let actions = run(&mut t, &[s("running"), s("aborting"), s("concluded")]);
        assert_eq!(actions.last(), Some(&Action::QueryJobs));
        t.jobs(
            &json!([{"id": "c0", "status": "concluded", "type": "create",
                        "current-progress": 1, "total-progress": 1,
                        "error": "Could not create 'x': No such file or directory"}]),
        );
        assert_eq!(t.next(), Action::End(Outcome::Failed));
        assert!(!t.state().block);
        // Without an error: concluded; with --dismiss, dismissed first.
        let mut target = Target::new("c0".into(), Some("blockdev-create"), Until::Ready);
        target.dismiss = true;
        let mut t = Tracker::new(target);
        run(&mut t, &[s("running"), s("concluded")]);
        t.jobs(&json!([{"id": "c0", "status": "concluded", "type": "create"}]));
        assert_eq!(t.next(), Action::Dismiss);
        t.dismissed();
        assert_eq!(t.next(), Action::End(Outcome::Concluded));
        t.event(&s("null"));
        assert_eq!(t.next(), Action::End(Outcome::Concluded));
    }

    #[test]
    fn dismiss_on_a_job_dismissed_already_ends() {
        let mut target = target(Until::Ready);
        target.dismiss = true;
        let mut t = Tracker::new(target);
        let done = event(
            "BLOCK_JOB_COMPLETED",
            json!({"device": "j0", "type": "backup"}),
        );
        let actions = run(&mut t, &[status("running"), done, status("concluded")]);
        assert_eq!(actions.last(), Some(&Action::QueryJobs));
        t.event(&status("null"));
        t.jobs(&json!([]));
        assert_eq!(t.next(), Action::End(Outcome::Concluded));
    }

    /// QEMU can build a listing before it sends the status events that
    /// reach us ahead of the listing's reply (seen on qemu-storage-daemon
    /// 10.0 under load: the listing said waiting after the pending event).
    #[test]
    fn a_listing_older_than_the_events_before_its_reply_is_not_taken() {
        let mut t = Tracker::new(target(Until::Ready));
        assert_eq!(t.next(), Action::QueryJobs);
        t.query_sent();
        run(
            &mut t,
            &[status("running"), status("waiting"), status("pending")],
        );
        t.jobs(&json!([{"id": "j0", "status": "waiting", "type": "backup"}]));
        assert_eq!(t.state().status.as_deref(), Some("pending"));
        // Not settled: ask again, and take a listing that agrees.
        assert_eq!(t.next(), Action::QueryJobs);
        t.query_sent();
        t.jobs(&json!([{"id": "j0", "status": "pending", "type": "backup"}]));
        assert_eq!(t.next(), Action::End(Outcome::Pending));
        // With no status event since the query, the listing is the news.
        let mut t = Tracker::new(target(Until::Ready));
        t.query_sent();
        t.jobs(&json!([{"id": "j0", "status": "running", "type": "backup"}]));
        assert_eq!(t.state().status.as_deref(), Some("running"));
    }

    #[test]
    fn pending_waits_for_finalize() {
        let mut t = Tracker::new(target(Until::Ready));
        run(&mut t, &[status("waiting"), status("pending")]);
        t.jobs(&json!([{"id": "j0", "status": "pending", "type": "backup"}]));
        assert_eq!(t.next(), Action::End(Outcome::Pending));
        let mut target = target(Until::Ready);
        target.finalize = true;
        let mut t = Tracker::new(target);
        run(&mut t, &[status("pending")]);
        t.jobs(&json!([{"id": "j0", "status": "pending", "type": "backup"}]));
        assert_eq!(t.next(), Action::Finalize);
        t.finalized();
        assert_eq!(t.next(), Action::Wait);
        let done = event(
            "BLOCK_JOB_COMPLETED",
            json!({"device": "j0", "type": "backup"}),
        );
        let actions = run(&mut t, &[done, status("concluded")]);
        assert_eq!(actions.last(), Some(&Action::End(Outcome::Concluded)));
    }

    #[test]
    fn attaching() {
        // Nothing known: ask; a job that is not there.
        let mut t = Tracker::new(Target::new("nope".into(), None, Until::Ready));
        assert_eq!(t.next(), Action::QueryJobs);
        t.jobs(&json!([{"id": "j0", "status": "running"}]));
        assert_eq!(
            t.next(),
            Action::End(Outcome::NoSuchJob {
                ids: vec!["j0".into()]
            })
        );
        // One that runs: wait; one concluded with an error: failed.
        let mut t = Tracker::new(Target::new("j0".into(), None, Until::Ready));
        t.jobs(
            &json!([{"id": "j0", "status": "running", "current-progress": 1,
                        "total-progress": 4}]),
        );
        assert_eq!(t.next(), Action::Wait);
        assert_eq!((t.state().current, t.state().total), (Some(1), Some(4)));
        let mut t = Tracker::new(Target::new("j0".into(), None, Until::Ready));
        t.jobs(&json!([{"id": "j0", "status": "concluded", "error": "boom"}]));
        assert_eq!(t.next(), Action::End(Outcome::Failed));
        // Seen, then gone without an end known: say so, never "success".
        let mut t = Tracker::new(Target::new("j0".into(), None, Until::Ready));
        t.jobs(&json!([{"id": "j0", "status": "running"}]));
        t.jobs(&json!([]));
        assert_eq!(t.next(), Action::End(Outcome::Vanished));
    }

    #[test]
    fn nonsense_from_the_server_does_not_end_the_wait() {
        let mut t = Tracker::new(target(Until::Ready));
        t.jobs(&json!({"not": "a list"}));
        assert_eq!(
            t.next(),
            Action::End(Outcome::NoSuchJob { ids: vec![] }),
            "a job the server does not list is not there"
        );
        let mut t = Tracker::new(target(Until::Ready));
        for e in [
            event("JOB_STATUS_CHANGE", json!({"id": "j0"})),
            event("JOB_STATUS_CHANGE", json!({"id": "j0", "status": 7})),
            event("BLOCK_JOB_ERROR", json!({"device": "j0"})),
            event(
                "BLOCK_JOB_COMPLETED",
                json!({"device": "j0", "len": "x", "error": 3}),
            ),
        ] {
            t.event(&e);
        }
        assert_eq!(t.state().errors[0].operation, "?");
        assert_eq!(t.next(), Action::QueryJobs);
    }
}
