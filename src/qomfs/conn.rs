//! One QMP connection shared by many threads, their requests pipelined.
//!
//! The FUSE side answers kernel requests on several threads; each hands its
//! requests to [`Conn::run`] and waits. One worker thread owns the
//! [`Client`]: it takes every job waiting at that moment and sends all their
//! requests in one [`Client::execute_all`], so concurrent readers cost one
//! round trip together, not one each. While idle it watches the socket, so
//! that a QEMU that goes away is noticed even when nobody reads.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::thread;
use std::time::Duration;

use crate::client::Client;
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

struct Job {
    requests: Vec<Request>,
    done: SyncSender<Result<Vec<Reply>, Lost>>,
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
        let gone = || Lost::Closed("the connection to QEMU is closed".into());
        self.tx.send(Job { requests, done }).map_err(|_| gone())?;
        wait.recv().map_err(|_| gone())?
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
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        if let Some(l) = &lost {
            for job in jobs {
                let _ = job.done.send(Err(l.clone()));
            }
            continue;
        }
        let counts: Vec<usize> = jobs.iter().map(|j| j.requests.len()).collect();
        let mut all = Vec::with_capacity(counts.iter().sum());
        for job in &mut jobs {
            all.append(&mut job.requests);
        }
        match client.execute_all(all) {
            Ok(replies) => {
                let mut replies = replies.into_iter();
                for (job, n) in jobs.into_iter().zip(counts) {
                    let mine: Vec<Reply> = replies.by_ref().take(n).collect();
                    let _ = job.done.send(if mine.len() == n {
                        Ok(mine)
                    } else {
                        Err(Lost::Closed("the server sent too few replies".into()))
                    });
                }
            }
            Err(e) => {
                let l = Lost::from(e);
                for job in jobs {
                    let _ = job.done.send(Err(l.clone()));
                }
                lost = Some(l.clone());
                if let Some(f) = on_lost.take() {
                    f(l);
                }
            }
        }
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
