//! The QMP client: handshake, commands, pipelining and the event queue.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::address::Address;
use crate::error::{Error, Phase, Result};
use crate::handshake::{Handshake, Qmp};
use crate::message::{Event, Greeting, Incoming, Reply, Request};
use crate::transport::{Connection, open};
use crate::wire::{
    DEFAULT_MAX_MESSAGE, Decoder, Direction, ReadError, ReturnSeed, Stream, Tracer,
    TranscodeReturn, deadline_after, is_timeout, remaining,
};

/// Requests written ahead of their replies are capped at this many bytes, so
/// they always fit in the socket buffers: the server can then never block
/// writing replies while we block writing requests.
const WINDOW: usize = 32 << 10;

/// How to connect and what to negotiate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deadline for connecting plus the handshake, and for each reply.
    pub timeout: Duration,
    /// Retry connecting while the socket is missing or refuses (QEMU starting).
    pub wait: bool,
    /// Largest message accepted from the server, in bytes.
    pub max_message: usize,
    /// Enable the `oob` capability when the server offers it. Worth it only
    /// for pipelines: QEMU then parses the next request while it runs the
    /// current one; a one-shot command just pays for the longer negotiation.
    pub oob: bool,
    /// Receives every message sent and received (`-v`); the library itself
    /// never prints.
    pub trace: Option<Tracer>,
    /// How many events to keep while replies are awaited, for
    /// [`Client::next_event`]; 0 keeps none (for callers that never wait
    /// for events). More than this is an error, not a silent loss: a server
    /// flooding events cannot make the client use unbounded memory.
    pub event_queue: usize,
}

/// The default [`Options::event_queue`]: room for a burst far beyond what
/// QEMU emits, at a few tens of MiB.
pub const DEFAULT_EVENT_QUEUE: usize = 100_000;

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(10),
            wait: false,
            max_message: DEFAULT_MAX_MESSAGE,
            oob: false,
            trace: None,
            event_queue: DEFAULT_EVENT_QUEUE,
        }
    }
}

/// What [`Client::request_raw`] returns.
#[derive(Debug)]
#[non_exhaustive]
pub enum RawReply {
    /// A success: the `return` value as compact JSON text (as
    /// [`crate::output::compact`] writes it).
    Return(String),
    /// Any other reply (an error reply), whole.
    Other(Reply),
}

/// Feeds requests to [`Client::pipeline`] and receives their replies.
pub trait Pipeline {
    /// The next request to send, or `None` when there is nothing to send
    /// *now*. The pipeline ends when this returns `None` while `idle`; it
    /// is asked again after each reply, so requests may depend on earlier
    /// replies.
    ///
    /// `idle` says that no reply is outstanding. A source that waits for
    /// input (a terminal, a coprocess writing one command per reply it
    /// reads) should block only when idle, and otherwise return `None` when
    /// nothing is ready, so that replies keep flowing.
    fn next_request(&mut self, idle: bool) -> Option<Request>;

    /// Receives the reply to the `index`-th request (counting from 0), in the
    /// order the requests were sent. Returning `false` stops sending new
    /// requests; replies to requests already sent are still delivered.
    fn on_reply(&mut self, index: usize, reply: Reply) -> bool;

    /// Receives an event that arrived during the pipeline, before the reply
    /// it preceded is handed to [`Pipeline::on_reply`] (so that both keep
    /// their order of arrival). Returning it keeps it in the client's queue
    /// for [`Client::next_event`], which is what the default does. Only
    /// events the client keeps reach here ([`Options::event_queue`]).
    fn on_event(&mut self, event: Event) -> Option<Event> {
        Some(event)
    }
}

struct InFlight {
    command: String,
    bytes: usize,
    oob: bool,
}

/// A synchronous QMP client in command mode.
///
/// Requests carry no id: without `exec-oob`, QMP answers in-band commands
/// one at a time and in order (with or without OOB negotiated), so replies
/// are matched by order, and QEMU, which reads requests one byte per system
/// call, is spared ~5 us per byte of id. A reply carrying an id is therefore
/// not ours: a protocol error, not a hang. Events that arrive
/// while a reply is awaited are queued, in order, and handed out by
/// [`Client::next_event`]; none is dropped.
pub struct Client<S: Stream = Connection> {
    pub(crate) stream: S,
    pub(crate) decoder: Decoder,
    pub(crate) events: VecDeque<Event>,
    pub(crate) greeting: Greeting,
    pub(crate) address: String,
    pub(crate) timeout: Duration,
    pub(crate) trace: Option<Tracer>,
    pub(crate) event_queue: usize,
    pub(crate) oob: bool,
    pub(crate) out: Vec<u8>,
    /// `qmp_capabilities` requests sent after a greeting that came in the
    /// middle of the session, whose replies (tagged [`RENEGOTIATE_ID`]) are
    /// still to come.
    pub(crate) renegotiating: usize,
    /// Whether the session speaks QMP (a greeting in mid-session means
    /// negotiate again); set by the QMP handshake.
    pub(crate) qmp: bool,
}

/// The id of a `qmp_capabilities` sent because a greeting arrived after the
/// session had started; its reply is taken by the client, not the caller.
const RENEGOTIATE_ID: &str = "qmp-tools:renegotiate";

/// The id of an out-of-band request (QMP requires one). One is outstanding
/// at a time: the client sends an `exec-oob` only when no reply is awaited.
const OOB_ID: &str = "qmp-tools:oob";

/// Appends one compact request to `out`. Compact matters: QEMU reads
/// requests one byte per system call, ~4-5 us per byte.
pub(crate) fn encode_into(
    out: &mut Vec<u8>,
    command: &str,
    arguments: Option<&Map<String, Value>>,
    id: Option<&str>,
) {
    if id == Some(OOB_ID) {
        out.extend_from_slice(b"{\"exec-oob\":");
    } else {
        out.extend_from_slice(b"{\"execute\":");
    }
    // Serializing a str or a Map into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, command);
    if let Some(args) = arguments.filter(|a| !a.is_empty()) {
        out.extend_from_slice(b",\"arguments\":");
        let _ = serde_json::to_writer(&mut *out, args);
    }
    if let Some(id) = id {
        out.extend_from_slice(b",\"id\":");
        let _ = serde_json::to_writer(&mut *out, id);
    }
    out.push(b'}');
}

impl<S: Stream> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("oob", &self.oob)
            .field("queued_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Client<Connection> {
    /// Connects to `address`, reads the greeting and negotiates capabilities.
    ///
    /// # Errors
    /// [`Error::Connect`], [`Error::Timeout`] (connect or greeting; a missing
    /// greeting usually means another client holds the monitor),
    /// [`Error::Closed`], [`Error::Protocol`], or [`Error::Qmp`] if the server
    /// refuses `qmp_capabilities`.
    pub fn connect(address: &Address, options: &Options) -> Result<Self> {
        Client::connect_with(address, options, &Qmp { oob: options.oob })
    }

    /// Connects to `address` and opens the session with `handshake`:
    /// [`crate::handshake::Agent`] for a guest agent.
    ///
    /// # Errors
    /// As [`Client::connect`], with the handshake's own errors.
    pub fn connect_with<H: Handshake>(
        address: &Address,
        options: &Options,
        handshake: &H,
    ) -> Result<Self> {
        let deadline = deadline_after(options.timeout);
        let stream = open(address, deadline, options.wait, options.timeout)?;
        let mut client = Client::new_session(stream, address.to_string(), options);
        handshake.open(&mut client, deadline)?;
        Ok(client)
    }
}

impl<S: Stream> Client<S> {
    /// Runs the handshake over an already open stream (a socket pair in
    /// tests, a socket received from elsewhere). `name` is used in messages.
    ///
    /// # Errors
    /// As [`Client::connect`], minus connecting.
    pub fn with_stream(stream: S, name: &str, options: &Options) -> Result<Self> {
        Client::open_with(stream, name, options, &Qmp { oob: options.oob })
    }

    /// A session over `stream` with no handshake run yet (a
    /// [`crate::handshake::Handshake`] opens it).
    pub(crate) fn new_session(stream: S, address: String, options: &Options) -> Self {
        let mut decoder = Decoder::new(options.max_message);
        decoder.trace = options.trace.clone();
        Client {
            stream,
            decoder,
            events: VecDeque::new(),
            greeting: Greeting::default(),
            address,
            timeout: options.timeout,
            trace: options.trace.clone(),
            event_queue: options.event_queue,
            oob: false,
            out: Vec::with_capacity(256),
            renegotiating: 0,
            qmp: false,
        }
    }

    /// Opens a session over `stream` with `handshake` (the QMP greeting
    /// and capabilities, or another protocol's). `name` is used in messages.
    ///
    /// # Errors
    /// The handshake's errors.
    pub fn open_with<H: Handshake>(
        stream: S,
        name: &str,
        options: &Options,
        handshake: &H,
    ) -> Result<Self> {
        let mut client = Client::new_session(stream, name.to_string(), options);
        handshake.open(&mut client, deadline_after(options.timeout))?;
        Ok(client)
    }

    /// The server's greeting (QEMU version, capabilities).
    pub fn greeting(&self) -> &Greeting {
        &self.greeting
    }

    /// The server's address, as given (or the name given to `with_stream`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the `oob` capability was negotiated.
    pub fn oob(&self) -> bool {
        self.oob
    }

    /// Runs `command` and returns its `return` value.
    ///
    /// # Errors
    /// [`Error::Qmp`] for an error reply; [`Error::Timeout`] when no reply
    /// comes within the timeout; connection and protocol errors.
    pub fn execute(
        &mut self,
        command: &str,
        arguments: Option<&Map<String, Value>>,
    ) -> Result<Value> {
        self.request(command, arguments)?
            .into_result()
            .map_err(Error::Qmp)
    }

    /// Runs a [`Request`] and returns its `return` value.
    ///
    /// # Errors
    /// As [`Client::execute`].
    pub fn execute_request(&mut self, request: &Request) -> Result<Value> {
        self.send(request)?.into_result().map_err(Error::Qmp)
    }

    /// Runs a [`Request`] with the descriptors `fds` attached to its message
    /// (SCM_RIGHTS), as `getfd` and `add-fd` need; never pipelined, since
    /// QEMU closes descriptors of an earlier message that were not used.
    ///
    /// # Errors
    /// As [`Client::send`]; [`Error::NoFdPassing`] (nothing sent) when the
    /// connection is not a Unix socket.
    pub fn send_with_fds(
        &mut self,
        request: &Request,
        fds: &[std::os::fd::RawFd],
    ) -> Result<Reply> {
        if fds.is_empty() {
            return self.send(request);
        }
        let Some(sock) = self.stream.unix_fd() else {
            return Err(Error::NoFdPassing {
                command: request.command.clone(),
            });
        };
        if request.oob && !self.oob {
            return Err(Error::NoOob {
                command: request.command.clone(),
            });
        }
        self.out.clear();
        self.encode_request(request);
        let deadline = deadline_after(self.timeout);
        let lost = |source| Error::Io {
            doing: format!("sending '{}' with its descriptors", request.command),
            source,
        };
        let left = remaining(deadline).unwrap_or(Duration::from_millis(1));
        self.stream.set_write_timeout(Some(left)).map_err(lost)?;
        let out = std::mem::take(&mut self.out);
        let sent = crate::fdpass::send_with_fds(sock, &out, fds);
        let result = match sent {
            Ok(n) => self.write_bytes(&out[n..], deadline, &request.command),
            Err(e) => Err(lost(e)),
        };
        self.out = out;
        result?;
        self.read_reply(deadline, &request.command, request.oob)
    }

    /// Runs a [`Request`], in band or out of band, and returns the whole
    /// reply, error replies included.
    ///
    /// # Errors
    /// As [`Client::request`]; [`Error::NoOob`] (nothing sent) for an
    /// out-of-band request when `oob` was not negotiated.
    pub fn send(&mut self, request: &Request) -> Result<Reply> {
        if !request.oob {
            return self.request(&request.command, request.arguments.as_ref());
        }
        if !self.oob {
            return Err(Error::NoOob {
                command: request.command.clone(),
            });
        }
        self.out.clear();
        self.encode_request(request);
        let deadline = deadline_after(self.timeout);
        self.flush(deadline, &request.command)?;
        self.read_reply(deadline, &request.command, true)
    }

    /// Runs `command` and returns the whole reply, error replies included.
    ///
    /// # Errors
    /// As [`Client::execute`], except that an error reply is `Ok`.
    pub fn request(
        &mut self,
        command: &str,
        arguments: Option<&Map<String, Value>>,
    ) -> Result<Reply> {
        let deadline = self.send_in_band(command, arguments)?;
        self.read_reply(deadline, command, false)
    }

    /// Writes one in-band request; returns the deadline for its reply.
    pub(crate) fn send_in_band(
        &mut self,
        command: &str,
        arguments: Option<&Map<String, Value>>,
    ) -> Result<Instant> {
        self.out.clear();
        self.encode(command, arguments);
        let deadline = deadline_after(self.timeout);
        self.flush(deadline, command)?;
        Ok(deadline)
    }

    /// Sends many requests over this connection without waiting for each
    /// reply, and hands the replies to `pipeline` in order.
    ///
    /// Requests are written ahead up to a bounded number of bytes, so neither
    /// side can block on a full socket buffer. Replies are matched by order
    /// (see [`Client`]); an id on each request would cost QEMU ~5 % of the
    /// time of a pipelined QOM walk. Each reply must arrive
    /// within the timeout of the moment the client starts waiting for it.
    ///
    /// # Errors
    /// Connection, timeout and protocol errors end the pipeline; error
    /// replies do not (they are delivered to `on_reply`).
    pub fn pipeline<P: Pipeline + ?Sized>(&mut self, pipeline: &mut P) -> Result<()> {
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        let mut inflight_bytes = 0;
        let mut sending = true;
        let mut index = 0;
        // An out-of-band request waits until no reply is awaited: its reply
        // could overtake theirs, and replies are matched by order.
        let mut held: Option<Request> = None;
        loop {
            if sending && inflight_bytes <= WINDOW / 2 {
                self.out.clear();
                while inflight.is_empty() || inflight_bytes + self.out.len() < WINDOW {
                    let req = match held.take() {
                        Some(req) if inflight.is_empty() && self.out.is_empty() => req,
                        Some(req) => {
                            held = Some(req);
                            break;
                        }
                        None => match pipeline.next_request(inflight.is_empty()) {
                            Some(req) => req,
                            None => break,
                        },
                    };
                    if req.oob && !self.oob {
                        return Err(Error::NoOob {
                            command: req.command,
                        });
                    }
                    if req.oob && !(inflight.is_empty() && self.out.is_empty()) {
                        held = Some(req);
                        break;
                    }
                    let before = self.out.len();
                    self.encode_request(&req);
                    let bytes = self.out.len() - before;
                    inflight.push_back(InFlight {
                        command: req.command,
                        bytes,
                        oob: req.oob,
                    });
                    if req.oob {
                        break;
                    }
                }
                if !self.out.is_empty() {
                    inflight_bytes += self.out.len();
                    let last = inflight
                        .back()
                        .map(|f| f.command.clone())
                        .unwrap_or_default();
                    self.flush(deadline_after(self.timeout), &last)?;
                }
            }
            let Some(front) = inflight.front() else {
                if held.is_some() && sending {
                    continue;
                }
                return Ok(());
            };
            let (bytes, oob) = (front.bytes, front.oob);
            let command = front.command.clone();
            let queued = self.events.len();
            let reply = self.read_reply(deadline_after(self.timeout), &command, oob)?;
            inflight.pop_front();
            inflight_bytes -= bytes;
            // Only the events that came with this reply: those kept earlier
            // were offered already.
            if self.events.len() > queued {
                let arrived: Vec<Event> = self.events.drain(queued..).collect();
                for event in arrived {
                    if let Some(event) = pipeline.on_event(event) {
                        self.events.push_back(event);
                    }
                }
            }
            sending &= pipeline.on_reply(index, reply);
            index += 1;
        }
    }

    /// Runs `requests` pipelined over this connection and returns their
    /// replies in order (error replies included). For a handful of commands;
    /// use [`Client::pipeline`] to stream many.
    ///
    /// # Errors
    /// As [`Client::pipeline`].
    pub fn execute_all(&mut self, requests: Vec<Request>) -> Result<Vec<Reply>> {
        struct All(std::vec::IntoIter<Request>, Vec<Reply>);
        impl Pipeline for All {
            fn next_request(&mut self, _: bool) -> Option<Request> {
                self.0.next()
            }
            fn on_reply(&mut self, _: usize, reply: Reply) -> bool {
                self.1.push(reply);
                true
            }
        }
        let mut all = All(requests.into_iter(), Vec::new());
        self.pipeline(&mut all)?;
        Ok(all.1)
    }

    /// Returns the next event: a queued one first, else one read from the
    /// socket within `timeout` (`None`: wait as long as it takes).
    /// `Ok(None)` means the timeout passed without an event.
    ///
    /// # Errors
    /// [`Error::Closed`] when the server goes away; protocol errors, including
    /// a reply that no request is waiting for.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        let deadline = deadline_after(timeout.unwrap_or(Duration::MAX));
        loop {
            match self.decoder.read_message(&mut self.stream, deadline) {
                Ok(msg) => match self.incoming(msg)? {
                    None => {}
                    Some(Incoming::Event(e)) => return Ok(Some(e)),
                    Some(Incoming::Reply(r)) => {
                        return Err(Error::Protocol {
                            expected: "an event".into(),
                            got: format!("a reply no request was waiting for: {}", r.snippet()),
                        });
                    }
                },
                Err(ReadError::Timeout { .. }) => return Ok(None),
                // A timeout is Ok(None) above: no phase is ever needed here.
                Err(e) => {
                    return Err(
                        self.read_error(e, "an event", |_| Phase::Events { seen: 0, wanted: 1 })
                    );
                }
            }
        }
    }

    /// The events that have arrived, without waiting: those queued, then
    /// those the socket already holds (for a shell that shows events while
    /// the user types; [`Client::poll_fd`] says when to call it).
    ///
    /// # Errors
    /// [`Error::Closed`] when the server has gone; protocol errors,
    /// including a reply no request is waiting for.
    pub fn ready_events(&mut self) -> Result<Vec<Event>> {
        let mut events: Vec<Event> = self.events.drain(..).collect();
        loop {
            while let Some(msg) = self.decoder.next_message()? {
                match self.incoming(msg)? {
                    None => {}
                    Some(Incoming::Event(e)) => events.push(e),
                    Some(Incoming::Reply(r)) => {
                        return Err(Error::Protocol {
                            expected: "an event".into(),
                            got: format!("a reply no request was waiting for: {}", r.snippet()),
                        });
                    }
                }
            }
            match self.decoder.read_available(&mut self.stream) {
                Ok(true) => {}
                Ok(false) => return Ok(events),
                Err(e) => {
                    return Err(
                        self.read_error(e, "events", |_| Phase::Events { seen: 0, wanted: 0 })
                    );
                }
            }
        }
    }

    /// The socket's descriptor, to `poll(2)` beside others (a terminal):
    /// readable means [`Client::ready_events`] has something to take.
    /// `None` for a stream without one.
    pub fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        self.stream.poll_fd()
    }

    /// Takes the events queued so far, oldest first, without reading.
    pub fn take_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.events.drain(..)
    }

    /// Appends one compact request to `self.out`, out of band if it says so.
    fn encode_request(&mut self, request: &Request) {
        let start = self.out.len();
        let id = request.oob.then_some(OOB_ID);
        encode_into(
            &mut self.out,
            &request.command,
            request.arguments.as_ref(),
            id,
        );
        if let Some(t) = &self.trace {
            t.trace(Direction::Sent, &self.out[start..]);
        }
    }

    /// Appends one compact request to `self.out`.
    fn encode(&mut self, command: &str, arguments: Option<&Map<String, Value>>) {
        let start = self.out.len();
        encode_into(&mut self.out, command, arguments, None);
        if let Some(t) = &self.trace {
            t.trace(Direction::Sent, &self.out[start..]);
        }
    }

    pub(crate) fn trace_request(&self, bytes: &[u8]) {
        if let Some(t) = &self.trace {
            t.trace(Direction::Sent, bytes);
        }
    }

    /// Writes `self.out` before `deadline`.
    fn flush(&mut self, deadline: Instant, command: &str) -> Result<()> {
        let out = std::mem::take(&mut self.out);
        let result = self.write_bytes(&out, deadline, command);
        self.out = out;
        result
    }

    /// Writes `bytes` before `deadline`.
    pub(crate) fn write_bytes(
        &mut self,
        bytes: &[u8],
        deadline: Instant,
        command: &str,
    ) -> Result<()> {
        let mut done = 0;
        while done < bytes.len() {
            let timeout = || Error::Timeout {
                address: self.address.clone(),
                phase: Phase::Send(command.to_string()),
                after: self.timeout,
            };
            let left = remaining(deadline).ok_or_else(timeout)?;
            let lost = |source| Error::Io {
                doing: format!("sending '{command}'"),
                source,
            };
            self.stream.set_write_timeout(Some(left)).map_err(lost)?;
            match self.stream.write(&bytes[done..]) {
                Ok(0) => return Err(lost(io::ErrorKind::WriteZero.into())),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(timeout()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    return Err(self.why_closed(deadline, command, lost(e)));
                }
                Err(e) => return Err(lost(e)),
            }
        }
        Ok(())
    }

    /// Classifies a message received in command mode. A greeting means the
    /// server started the session over: negotiate again (the reply to that
    /// is tagged and taken here too). `Ok(None)`: the client took it.
    fn incoming(&mut self, msg: Map<String, Value>) -> Result<Option<Incoming>> {
        if self.qmp && msg.contains_key("QMP") {
            self.greeting = Greeting::from_message(msg)?;
            self.send_capabilities(deadline_after(self.timeout), Some(RENEGOTIATE_ID))?;
            self.renegotiating += 1;
            return Ok(None);
        }
        let incoming = Incoming::classify(msg)?;
        if let Incoming::Reply(r) = &incoming
            && self.renegotiating > 0
            && r.message().get("id").and_then(Value::as_str) == Some(RENEGOTIATE_ID)
        {
            self.renegotiating -= 1;
            return Ok(None);
        }
        Ok(Some(incoming))
    }

    /// The server stopped reading our request: what it sent before it went
    /// says more than "broken pipe" (a half-sent reply, garbage, or a plain
    /// close). Events are kept; the first problem found is returned.
    fn why_closed(&mut self, deadline: Instant, command: &str, lost: Error) -> Error {
        loop {
            match self.decoder.read_message(&mut self.stream, deadline) {
                Ok(msg) => match Incoming::classify(msg) {
                    Ok(Incoming::Event(e)) => {
                        if let Err(e) = self.keep(e, &format!("the reply to '{command}'")) {
                            return e;
                        }
                    }
                    Ok(Incoming::Reply(_)) => return lost,
                    Err(e) => return e,
                },
                Err(ReadError::Io(_)) => return lost,
                Err(e) => {
                    let what = format!("the reply to '{command}'");
                    return self.read_error(e, &what, |_| Phase::Reply(command.to_string()));
                }
            }
        }
    }

    /// Queues an event that arrived while `waiting_for` was awaited.
    pub(crate) fn keep(&mut self, event: Event, waiting_for: &str) -> Result<()> {
        if self.event_queue == 0 {
            return Ok(());
        }
        if self.events.len() >= self.event_queue {
            return Err(Error::Protocol {
                expected: format!(
                    "at most {} events while waiting for {waiting_for}",
                    self.event_queue
                ),
                got: "more (raise the limit, or read events sooner)".into(),
            });
        }
        self.events.push_back(event);
        Ok(())
    }

    /// Runs `command` in band, and returns its `return` value as compact
    /// JSON text when it succeeds, transcoded as the reply is parsed: for
    /// printing a large reply without building a `Value` of it. Anything
    /// else (an error reply) comes back whole.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub fn request_raw(
        &mut self,
        command: &str,
        arguments: Option<&Map<String, Value>>,
    ) -> Result<RawReply> {
        let reply = self.request_seeded(command, arguments, &TranscodeReturn, |text| {
            serde_json::from_str(&text)
        })?;
        Ok(match reply {
            Ok(text) => RawReply::Return(text),
            Err(reply) => RawReply::Other(reply),
        })
    }

    /// Runs `command` in band and reads a success's `return` with `seed`
    /// as the reply is parsed; anything else (an error reply) comes back
    /// whole, as `Err`. `value` makes a `Value` of what the seed read, for
    /// a message that turns out not to be the reply.
    pub(crate) fn request_seeded<R: ReturnSeed>(
        &mut self,
        command: &str,
        arguments: Option<&Map<String, Value>>,
        seed: &R,
        value: impl Fn(R::Out) -> Result<Value, serde_json::Error>,
    ) -> Result<std::result::Result<R::Out, Reply>> {
        let deadline = self.send_in_band(command, arguments)?;
        loop {
            let what = || format!("the reply to '{command}'");
            let mut msg = self
                .decoder
                .read_seeded_message(&mut self.stream, deadline, seed)
                .map_err(|e| self.read_error(e, &what(), |_| Phase::Reply(command.to_string())))?;
            let ours = !msg.has("event") && !msg.has("id") && !msg.has("QMP");
            if ours && let Some((_, ret)) = msg.ret.take() {
                return Ok(Ok(ret));
            }
            // Anything else is small: take it as read_reply does.
            let msg = msg.into_map(&value).map_err(|e| Error::Protocol {
                expected: format!("a JSON object ({e})"),
                got: String::new(),
            })?;
            if let Some(reply) = self.take_reply(msg, command, false)? {
                return Ok(Err(reply));
            }
        }
    }

    /// Reads until the reply to `command` (sent out of band if `oob`: its
    /// reply carries [`OOB_ID`]), queueing events.
    pub(crate) fn read_reply(
        &mut self,
        deadline: Instant,
        command: &str,
        oob: bool,
    ) -> Result<Reply> {
        loop {
            let what = || format!("the reply to '{command}'");
            let msg = self
                .decoder
                .read_message(&mut self.stream, deadline)
                .map_err(|e| self.read_error(e, &what(), |_| Phase::Reply(command.to_string())))?;
            if let Some(reply) = self.take_reply(msg, command, oob)? {
                return Ok(reply);
            }
        }
    }

    /// One message received while the reply to `command` is awaited: the
    /// reply, or `None` for what the client takes itself (events,
    /// renegotiation).
    fn take_reply(
        &mut self,
        msg: Map<String, Value>,
        command: &str,
        oob: bool,
    ) -> Result<Option<Reply>> {
        let what = || format!("the reply to '{command}'");
        {
            match self.incoming(msg)? {
                None => Ok(None),
                Some(Incoming::Event(e)) => self.keep(e, &what()).map(|()| None),
                Some(Incoming::Reply(r))
                    if oob && r.message().get("id").and_then(Value::as_str) == Some(OOB_ID) =>
                {
                    let mut message = r.into_message();
                    message.shift_remove("id");
                    Ok(Some(Reply::from_message(message)))
                }
                Some(Incoming::Reply(r)) if r.message().contains_key("id") => {
                    Err(Error::Protocol {
                        expected: what(),
                        got: format!("a reply with an id we never sent: {}", r.snippet()),
                    })
                }
                Some(Incoming::Reply(r)) if oob => Err(Error::Protocol {
                    expected: format!("{} (sent out of band, with an id)", what()),
                    got: format!("a reply without an id: {}", r.snippet()),
                }),
                Some(Incoming::Reply(r)) => Ok(Some(r)),
            }
        }
    }

    pub(crate) fn read_error(
        &self,
        e: ReadError,
        waiting_for: &str,
        phase: impl Fn(bool) -> Phase,
    ) -> Error {
        match e {
            ReadError::Timeout { partial } => Error::Timeout {
                address: self.address.clone(),
                phase: phase(partial),
                after: self.timeout,
            },
            ReadError::Closed(partial) => Error::Closed {
                waiting_for: waiting_for.to_string(),
                partial,
            },
            ReadError::Io(source) => Error::Io {
                doing: format!("waiting for {waiting_for}"),
                source,
            },
            ReadError::Protocol(e) => e,
        }
    }
}
