//! One QMP connection shared by many threads, their requests pipelined.
//!
//! The FUSE side answers kernel requests on several threads; each hands its
//! requests to [`Conn::run`] and waits, or to [`Conn::send`] with what to do
//! with the replies. One worker thread owns the [`Client`] and streams
//! every job's requests through one [`Client::pipeline`], taking the jobs
//! that come meanwhile, so concurrent readers cost one round trip together,
//! not one each, and QEMU never waits for a job to be handed out: each job
//! is answered as soon as its own replies are in. While idle it watches the
//! socket, so that a QEMU that goes away is noticed even when nobody reads.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use crate::client::{Client, Pipeline};
use crate::error::Error;
use crate::fdpass::wait_readable;
use crate::message::{Reply, Request};
use crate::wire::Stream;

/// How often an idle worker looks whether the server went away.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Why the connection can serve no more requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// The server closed the connection, or it broke, or it sent something
    /// that is not QMP.
    Closed(String),
    /// A reply did not come within the deadline: the server is wedged (and
    /// the stream can no longer be matched to requests).
    Timeout(String),
}

impl Lost {
    /// The message, one line.
    pub fn message(&self) -> &str {
        match self {
            Lost::Closed(m) | Lost::Timeout(m) => m,
        }
    }

    /// The errno the kernel side answers with.
    pub fn errno(&self) -> i32 {
        match self {
            Lost::Closed(_) => libc::ENOTCONN,
            Lost::Timeout(_) => libc::ETIMEDOUT,
        }
    }
}

impl From<Error> for Lost {
    fn from(e: Error) -> Lost {
        let text = e.to_string();
        match e {
            Error::Timeout { .. } => Lost::Timeout(text),
            _ => Lost::Closed(text),
        }
    }
}

/// What receives a job's replies (or why there are none), called once on
/// the worker's thread: it must not wait for the connection.
pub type Done = Box<dyn FnOnce(Result<Vec<Reply>, Lost>) + Send>;

struct Job {
    requests: Vec<Request>,
    done: Done,
}

/// The shared connection (cheap to use from any thread).
pub struct Conn {
    tx: Sender<Job>,
}

impl Conn {
    /// Starts the worker that owns `client`. `on_lost` is called once, from
    /// the worker, when the connection is lost.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start<S: Stream + Send + 'static>(
        client: Client<S>,
        on_lost: impl FnOnce(Lost) + Send + 'static,
    ) -> std::io::Result<Conn> {
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("qmp".into())
            .spawn(move || serve(client, &rx, on_lost))?;
        Ok(Conn { tx })
    }

    /// Sends `requests` (pipelined with those of other threads) and returns
    /// their replies in order, error replies included.
    ///
    /// # Errors
    /// [`Lost`] when the connection is gone or timed out.
    pub fn run(&self, requests: Vec<Request>) -> Result<Vec<Reply>, Lost> {
        let (done, wait) = mpsc::sync_channel(1);
        self.send(
            requests,
            Box::new(move |r| {
                let _ = done.send(r);
            }),
        )?;
        wait.recv().map_err(|_| gone())?
    }

    /// Sends `requests` without waiting: `done` gets their replies (or why
    /// there are none), on the worker's thread, as soon as they are in.
    ///
    /// # Errors
    /// [`Lost`] when the worker is gone (`done` is not called then).
    pub fn send(&self, requests: Vec<Request>, done: Done) -> Result<(), Lost> {
        self.tx.send(Job { requests, done }).map_err(|_| gone())
    }

    /// [`Conn::run`] for one request.
    ///
    /// # Errors
    /// As [`Conn::run`].
    pub fn one(&self, request: Request) -> Result<Reply, Lost> {
        let mut replies = self.run(vec![request])?;
        replies.pop().ok_or_else(|| Lost::Closed("no reply".into()))
    }
}

fn gone() -> Lost {
    Lost::Closed("the connection to QEMU is closed".into())
}

fn serve<S: Stream>(mut client: Client<S>, rx: &Receiver<Job>, on_lost: impl FnOnce(Lost)) {
    let mut on_lost = Some(on_lost);
    let mut lost: Option<Lost> = None;
    loop {
        let first = match rx.recv_timeout(IDLE_CHECK) {
            Ok(job) => job,
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                if lost.is_none()
                    && let Err(e) = check_idle(&mut client)
                {
                    lost = Some(e.clone());
                    if let Some(f) = on_lost.take() {
                        f(e);
                    }
                }
                continue;
            }
        };
        if let Some(l) = &lost {
            (first.done)(Err(l.clone()));
            for job in rx.try_iter() {
                (job.done)(Err(l.clone()));
            }
            continue;
        }
        let mut jobs = Jobs {
            rx,
            unsent: VecDeque::new(),
            waiting: VecDeque::new(),
        };
        jobs.take(first);
        if let Err(e) = client.pipeline(&mut jobs) {
            let l = Lost::from(e);
            for w in jobs.waiting.drain(..) {
                (w.done)(Err(l.clone()));
            }
            lost = Some(l.clone());
            if let Some(f) = on_lost.take() {
                f(l);
            }
        }
    }
}

/// The jobs of one stretch of pipelining: the requests not sent yet, and
/// the jobs waiting for replies, in order.
struct Jobs<'a> {
    rx: &'a Receiver<Job>,
    unsent: VecDeque<Request>,
    waiting: VecDeque<Waiting>,
}

struct Waiting {
    done: Done,
    count: usize,
    replies: Vec<Reply>,
}

impl Jobs<'_> {
    fn take(&mut self, job: Job) {
        let count = job.requests.len();
        self.unsent.extend(job.requests);
        self.waiting.push_back(Waiting {
            done: job.done,
            count,
            replies: Vec::with_capacity(count),
        });
        self.answer_complete();
    }

    /// Hands the jobs at the front whose replies are all in (a job without
    /// requests as soon as those before it are answered).
    fn answer_complete(&mut self) {
        while self
            .waiting
            .front()
            .is_some_and(|w| w.replies.len() == w.count)
        {
            if let Some(w) = self.waiting.pop_front() {
                (w.done)(Ok(w.replies));
            }
        }
    }
}

impl Pipeline for Jobs<'_> {
    fn next_request(&mut self, _idle: bool) -> Option<Request> {
        if self.unsent.is_empty()
            && let Ok(job) = self.rx.try_recv()
        {
            self.take(job);
        }
        self.unsent.pop_front()
    }

    fn on_reply(&mut self, _index: usize, reply: Reply) -> bool {
        if let Some(w) = self.waiting.front_mut() {
            w.replies.push(reply);
        }
        self.answer_complete();
        true
    }
}

/// While no request is out, anything readable is an event or the end.
fn check_idle<S: Stream>(client: &mut Client<S>) -> Result<(), Lost> {
    let Some(fd) = client.poll_fd() else {
        return Ok(());
    };
    if wait_readable(fd, Duration::ZERO).unwrap_or(false) {
        return match client.ready_events() {
            Ok(_) => Ok(()),
            // Nobody was waiting for anything: say what happened, not what
            // the client was doing.
            Err(Error::Closed { .. }) => {
                Err(Lost::Closed("the server closed the connection".into()))
            }
            Err(e) => Err(e.into()),
        };
    }
    Ok(())
}
