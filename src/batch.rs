//! The line-driven pipeline of `qmp-exec --batch`, for any tool that feeds
//! JSON request lines to a monitor: `set -e` semantics, events among the
//! replies on request, a coprocess-friendly reader.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::sync::mpsc;

use serde_json::{Map, Value};

use crate::client::Pipeline;
use crate::message::{Event, Reply, Request, has_no_side_effects, parse_request};

/// Reads what `open` gives (it is called on the reader's own thread, e.g.
/// `|| std::io::stdin().lock()`) line by line, into a channel for
/// [`Batch::new`], so that waiting for input never holds up replies.
pub fn read_lines<B: BufRead>(
    open: impl FnOnce() -> B + Send + 'static,
) -> mpsc::Receiver<io::Result<String>> {
    let (tx, rx) = mpsc::sync_channel(1024);
    std::thread::spawn(move || {
        for line in open().lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A line-driven pipeline (`qmp-exec --batch`): JSON request lines in
/// ([`crate::parse_request`]), one reply message per line out, pipelined.
///
/// Lines come from a reader thread ([`read_lines`]), so that waiting for the next line never
/// holds up the replies: a coprocess that writes a command and waits for its
/// reply before writing the next one works too.
///
/// Without `--keep-going` it stops like `set -e`: a command with side effects
/// is sent only once every earlier reply is in (and was a success, or the
/// batch has stopped); commands without side effects
/// ([`has_no_side_effects`]) are sent ahead. After a failure nothing more
/// is sent or printed.
pub struct Batch<W, R> {
    lines: mpsc::Receiver<io::Result<String>>,
    line_no: usize,
    /// Line number and the caller's own id of each request in flight.
    pending: VecDeque<(usize, Option<Value>)>,
    /// A command with side effects, waiting for the replies before it.
    held: Option<(Request, usize, Option<Value>)>,
    out: W,
    report: R,
    keep_going: bool,
    with_events: bool,
    stopped: bool,
    /// The line of the first failure (without --keep-going): nothing after
    /// it is printed.
    cutoff: Option<usize>,
    /// Whether the reply of the cutoff line (or a later one) came.
    past_cutoff: bool,
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// Reading the lines or writing the output failed; the batch stopped.
    pub error: Option<io::Error>,
}

/// The first thing that went wrong in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A line that is not a request (nothing was sent for it).
    InvalidLine,
    /// An error reply.
    ErrorReply,
}

impl<W: Write, R: FnMut(&str)> Batch<W, R> {
    /// A batch reading `lines`, writing replies (and, `with_events`, events)
    /// to `out`, and handing each diagnostic line (an invalid line, an error
    /// reply) to `report`. `keep_going` pipelines everything and goes on
    /// after failures; without it the batch stops like `set -e`.
    pub fn new(
        lines: mpsc::Receiver<io::Result<String>>,
        out: W,
        report: R,
        keep_going: bool,
        with_events: bool,
    ) -> Self {
        Batch {
            lines,
            line_no: 0,
            pending: VecDeque::new(),
            held: None,
            out,
            report,
            keep_going,
            with_events,
            stopped: false,
            cutoff: None,
            past_cutoff: false,
            failure: None,
            error: None,
        }
    }

    /// The output back (to flush it).
    pub fn out(&mut self) -> &mut W {
        &mut self.out
    }

    fn fail(&mut self, failure: Failure, line: usize) {
        self.failure.get_or_insert(failure);
        if !self.keep_going {
            self.stopped = true;
            self.cutoff = Some(self.cutoff.map_or(line, |c| c.min(line)));
        }
    }

    fn send(&mut self, req: Request, line: usize, id: Option<Value>) -> Option<Request> {
        self.pending.push_back((line, id));
        Some(req)
    }

    fn write_line(&mut self, msg: Map<String, Value>) {
        if let Err(e) = writeln!(self.out, "{}", Value::Object(msg)) {
            self.error.get_or_insert(e);
            self.stopped = true;
        }
    }
}

impl<W: Write, R: FnMut(&str)> Pipeline for Batch<W, R> {
    fn next_request(&mut self, idle: bool) -> Option<Request> {
        if self.held.is_some() {
            // Sent once every earlier reply is in; a failure drops it.
            if self.stopped {
                self.held = None;
            }
            if !idle {
                return None;
            }
            let (req, line, id) = self.held.take()?;
            return self.send(req, line, id);
        }
        while !self.stopped {
            let next = if idle {
                // Nothing in flight: show the replies so far, then wait.
                if let Err(e) = self.out.flush() {
                    self.error = Some(e);
                    self.stopped = true;
                    return None;
                }
                self.lines.recv().ok()
            } else {
                self.lines.try_recv().ok()
            };
            let line = match next? {
                Ok(l) => l,
                Err(e) => {
                    self.error = Some(e);
                    self.stopped = true;
                    return None;
                }
            };
            self.line_no += 1;
            if line.trim().is_empty() {
                continue;
            }
            match parse_request(&line) {
                Ok((req, id)) if idle || self.keep_going || has_no_side_effects(&req.command) => {
                    return self.send(req, self.line_no, id);
                }
                Ok((req, id)) => {
                    self.held = Some((req, self.line_no, id));
                    return None;
                }
                Err(why) => {
                    let msg = format!("stdin line {}: {why}; nothing sent for it", self.line_no);
                    (self.report)(&msg);
                    self.fail(Failure::InvalidLine, self.line_no);
                }
            }
        }
        None
    }

    fn on_reply(&mut self, _: usize, reply: Reply) -> bool {
        let (line, id) = self.pending.pop_front().unwrap_or_default();
        if let Some(cutoff) = self.cutoff {
            self.past_cutoff |= line >= cutoff;
            if line > cutoff {
                // Sent ahead (no side effects) before the failure; the batch
                // ended there.
                return false;
            }
        }
        if reply.is_error()
            && let Err(e) = reply.clone().into_result()
        {
            (self.report)(&format!("stdin line {line}: {e}"));
            self.fail(Failure::ErrorReply, line);
            self.past_cutoff = true;
        }
        let mut msg = reply.into_message();
        msg.shift_remove("id");
        if let Some(id) = id {
            msg.insert("id".into(), id);
        }
        self.write_line(msg);
        !self.stopped
    }

    fn on_event(&mut self, event: Event) -> Option<Event> {
        if self.with_events && !self.past_cutoff {
            self.write_line(event.into_message());
        }
        None
    }
}
