//! Driving a [`Tracker`] on a connection: events, the queries it asks for,
//! progress polls and the deadline.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{Action, Ending, Outcome, State, Target, Tracker};
use crate::client::Client;
use crate::error::Error;
use crate::message::Event;
use crate::wire::Stream;

/// How to follow a job.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The job.
    pub target: Target,
    /// How long to follow it; `None`: no limit.
    pub timeout: Option<Duration>,
    /// Query its progress this often (`None`: never; a progress display
    /// wants a few times a second at most, to keep QEMU's load low).
    pub poll: Option<Duration>,
}

/// What [`follow`] shows its caller on the way.
#[derive(Debug)]
#[non_exhaustive]
pub enum Seen<'a> {
    /// An event about the job (events that came before the command's reply
    /// included), in order of arrival.
    Event(&'a Event),
    /// The job's state after a progress poll.
    Progress(&'a State),
}

/// Follows `how.target` on `client` until the job ends, the wait can go no
/// further (ready, pending, paused by an error), or the deadline passes;
/// hands each event about the job and each progress poll to `on`.
///
/// Events the client queued before (those that came before the command's
/// reply) count first. `job-finalize` and `job-dismiss` are sent when the
/// target asks for them.
///
/// # Errors
/// The client's errors (connection lost, a reply timed out, a query or
/// finalize/dismiss refused: [`Error::Qmp`]) and the callback's.
pub fn follow<S, E, F>(client: &mut Client<S>, how: &Follow, mut on: F) -> Result<Ending, E>
where
    S: Stream,
    E: From<Error>,
    F: FnMut(Seen<'_>) -> Result<(), E>,
{
    let mut tracker = Tracker::new(how.target.clone());
    let start = Instant::now();
    let deadline = how.timeout.and_then(|t| start.checked_add(t));
    // The first state comes from the first query (or the events).
    let mut next_poll = how.poll.and_then(|p| start.checked_add(p));
    loop {
        let outcome = match tracker.next() {
            Action::End(outcome) => outcome,
            Action::QueryJobs => {
                let jobs = query(client, &mut tracker, "query-jobs", None, &mut on)?;
                tracker.jobs(&jobs);
                continue;
            }
            Action::QueryBlockJobs => {
                let jobs = query(client, &mut tracker, "query-block-jobs", None, &mut on)?;
                tracker.block_jobs(&jobs);
                continue;
            }
            Action::Finalize => {
                let args = id_argument(&how.target.id);
                query(client, &mut tracker, "job-finalize", Some(&args), &mut on)?;
                tracker.finalized();
                continue;
            }
            Action::Dismiss => {
                let args = id_argument(&how.target.id);
                query(client, &mut tracker, "job-dismiss", Some(&args), &mut on)?;
                tracker.dismissed();
                continue;
            }
            Action::Wait => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    Outcome::Deadline
                } else if let (Some(poll), true) = (how.poll, next_poll.is_some_and(|t| now >= t)) {
                    next_poll = now.checked_add(poll);
                    let jobs = query(client, &mut tracker, "query-jobs", None, &mut on)?;
                    tracker.jobs(&jobs);
                    on(Seen::Progress(tracker.state()))?;
                    continue;
                } else {
                    let until = [deadline, next_poll].into_iter().flatten().min();
                    let left = until.map(|t| t.saturating_duration_since(now));
                    if let Some(event) = client.next_event(left)?
                        && tracker.event(&event)
                    {
                        on(Seen::Event(&event))?;
                    }
                    continue;
                }
            }
        };
        return Ok(Ending {
            outcome,
            state: tracker.state().clone(),
        });
    }
}

fn id_argument(id: &str) -> Map<String, Value> {
    let mut args = Map::new();
    args.insert("id".into(), Value::String(id.to_string()));
    args
}

/// Runs `command`; the events that came before its reply go to the tracker
/// (and `on`) first, since its answer is newer than they are.
fn query<S, E, F>(
    client: &mut Client<S>,
    tracker: &mut Tracker,
    command: &str,
    arguments: Option<&Map<String, Value>>,
    on: &mut F,
) -> Result<Value, E>
where
    S: Stream,
    E: From<Error>,
    F: FnMut(Seen<'_>) -> Result<(), E>,
{
    // Events already here are older than the answer: they go in first.
    let earlier: Vec<Event> = client.take_events().collect();
    for event in &earlier {
        if tracker.event(event) {
            on(Seen::Event(event))?;
        }
    }
    tracker.query_sent();
    let value = client.execute(command, arguments);
    let queued: Vec<Event> = client.take_events().collect();
    for event in &queued {
        if tracker.event(event) {
            on(Seen::Event(event))?;
        }
    }
    Ok(value?)
}
