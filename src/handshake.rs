//! Handshakes: how a session opens once the transport is up. The session
//! core ([`Client`]: framing, reply matching, the event queue, pipelining,
//! deadlines) is the same for every protocol on QEMU's JSON sockets; QMP
//! opens with a greeting and `qmp_capabilities` ([`Qmp`]), the guest agent
//! with a resync: no greeting, a 0xFF byte and `guest-sync-delimited`
//! ([`Agent`]).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Phase, Result, snippet};
use crate::message::{Greeting, Incoming};
use crate::wire::{DELIMITER, ReadError, Stream};

/// How long a silent peer is given to answer as a guest agent, after the
/// greeting's timeout (see `answers_as_agent`).
const PROBE: Duration = Duration::from_millis(500);

/// Opens a session on a fresh [`Client`].
pub trait Handshake {
    /// Runs the handshake before `deadline`.
    ///
    /// # Errors
    /// Whatever keeps the session from opening.
    fn open<S: Stream>(&self, client: &mut Client<S>, deadline: Instant) -> Result<()>;
}

/// QMP's handshake: read the `{"QMP": ...}` greeting, send
/// `qmp_capabilities` (asking for `oob` when offered and wanted).
#[derive(Debug, Clone, Copy, Default)]
pub struct Qmp {
    /// Negotiate the `oob` capability when the server offers it.
    pub oob: bool,
}

impl Handshake for Qmp {
    fn open<S: Stream>(&self, client: &mut Client<S>, deadline: Instant) -> Result<()> {
        // An event can come before the greeting: a client that connects
        // while QEMU starts gets the RESUME of the VM starting first
        // (QEMU 10.0, seen once in ~100 starts). Keep it and read on.
        let msg = loop {
            let msg = client
                .decoder
                .read_message(&mut client.stream, deadline)
                .map_err(|e| client.greeting_error(e))?;
            match msg.get("event") {
                Some(Value::String(_)) if !msg.contains_key("QMP") => {
                    if let Ok(Incoming::Event(e)) = Incoming::classify(msg) {
                        client.keep(e, "the greeting")?;
                    }
                }
                _ => break msg,
            }
        };
        client.greeting = Greeting::from_message(msg)?;
        client.oob = self.oob && client.greeting.capabilities.iter().any(|c| c == "oob");
        client.qmp = true;
        client.negotiate(deadline)
    }
}

/// The guest agent's handshake (qemu-ga): no greeting and no
/// capabilities, but a resync, as QEMU's docs for `guest-sync-delimited`
/// describe it. The client sends the byte 0xFF (it resets the agent's
/// parser, which answers it with a `JSON parse error` reply) and
/// `guest-sync-delimited` with a random id, then discards everything up to
/// the 0xFF that the agent writes before `{"return": ID}`: a stale reply a
/// previous client left in the channel, half a message, that parse error.
/// A reply after a 0xFF that carries another id is stale too, and skipped.
///
/// A peer that greets with `{"QMP": ...}` is a QMP monitor
/// ([`Error::NotAgent`], at once); no answer within the timeout is
/// [`Error::NoAgent`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Agent;

/// How often the sync looks at what it skipped while it waits, so that a QMP
/// monitor's greeting is recognized at once rather than at the timeout.
const SYNC_SLICE: Duration = Duration::from_millis(50);

/// A fresh id for `guest-sync-delimited`, from the clock, the process id
/// and a counter (ids must differ between clients and between syncs; they
/// need not be unpredictable). Kept below 2^53, exact in any JSON reader.
pub(crate) fn sync_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mixed = (now.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 29)
        ^ COUNT
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed & ((1 << 53) - 1)
}

impl Handshake for Agent {
    fn open<S: Stream>(&self, client: &mut Client<S>, deadline: Instant) -> Result<()> {
        let id = sync_id();
        let mut args = serde_json::Map::new();
        args.insert("id".into(), Value::from(id));
        let mut bytes = vec![DELIMITER];
        crate::client::encode_into(&mut bytes, "guest-sync-delimited", Some(&args), None);
        client.trace_request(&bytes[1..]);
        client.write_bytes(&bytes, deadline, "guest-sync-delimited")?;
        client.decoder.skip_to_delimiter();
        loop {
            let slice = deadline.min(Instant::now() + SYNC_SLICE);
            match client.decoder.read_message(&mut client.stream, slice) {
                Ok(msg) => {
                    let ours = msg.get("return").and_then(Value::as_u64) == Some(id)
                        && !msg.contains_key("error");
                    if ours {
                        return Ok(());
                    }
                    client.decoder.skip_to_delimiter();
                }
                // Not JSON after a stale 0xFF: skip to the next one.
                Err(ReadError::Protocol(_)) => client.decoder.skip_to_delimiter(),
                Err(ReadError::Timeout { .. }) => {
                    if let Some(e) = client.not_an_agent() {
                        return Err(e);
                    }
                    if Instant::now() >= deadline {
                        return Err(Error::NoAgent {
                            address: client.address.clone(),
                            after: client.timeout,
                        });
                    }
                }
                Err(e) => {
                    if let Some(e) = client.not_an_agent() {
                        return Err(e);
                    }
                    let what = "the reply to 'guest-sync-delimited'";
                    return Err(
                        client.read_error(e, what, |_| Phase::Reply("guest-sync-delimited".into()))
                    );
                }
            }
        }
    }
}

impl<S: Stream> Client<S> {
    /// What the peer is, when what the sync skipped shows it is not an
    /// agent: a QMP monitor greets first, a human monitor greets with text.
    fn not_an_agent(&self) -> Option<Error> {
        let skipped = self.decoder.skipped().trim_ascii_start();
        let what = if skipped.starts_with(b"{\"QMP\"") {
            "it greets as a QMP monitor ({\"QMP\": ...}); use qmp-exec for it, and give qga-* \
             the socket of the guest agent's channel (a virtio-serial port named \
             org.qemu.guest_agent.0)"
        } else if skipped.starts_with(b"QEMU ") {
            "it greets as QEMU's human monitor (HMP); give qga-* the socket of the guest \
             agent's channel (a virtio-serial port named org.qemu.guest_agent.0)"
        } else {
            return None;
        };
        Some(Error::NotAgent {
            address: self.address.clone(),
            what: what.into(),
        })
    }

    /// Why no greeting came: nothing at all within the timeout is a busy
    /// monitor (or no monitor, or a guest agent: it answers a probe); text
    /// that is not JSON may be a human monitor.
    fn greeting_error(&mut self, e: ReadError) -> Error {
        match e {
            ReadError::Timeout { partial: false } => {
                if self.answers_as_agent() {
                    return Error::NotQmp {
                        address: self.address.clone(),
                        what: "it is a guest agent (qemu-ga: no greeting, it answers \
                               guest-sync); use qga-exec or qga-run for it"
                            .into(),
                    };
                }
                Error::Busy {
                    address: self.address.clone(),
                    after: self.timeout,
                }
            }
            ReadError::Protocol(e) => {
                let raw = self.decoder.unconsumed();
                if !raw.starts_with(b"QEMU ") {
                    return e;
                }
                let line = raw
                    .split(|&b| b == b'\r' || b == b'\n')
                    .next()
                    .unwrap_or(raw);
                Error::NotQmp {
                    address: self.address.clone(),
                    what: format!(
                        "it greets as QEMU's human monitor (HMP: {}); give QEMU a -qmp socket \
                         (HMP commands then run with qmp-exec --hmp)",
                        snippet(line, 60)
                    ),
                }
            }
            e => self.read_error(e, "the greeting", |_| Phase::Greeting),
        }
    }

    /// After a greeting that never came: whether the peer answers the guest
    /// agent's `guest-sync` within [`PROBE`] (past the timeout: the error
    /// comes that much later). A QMP monitor busy with another client reads
    /// nothing of it before that client leaves, and then only after its
    /// greeting; by then this client has given up and closed.
    fn answers_as_agent(&mut self) -> bool {
        let id = sync_id();
        let mut args = serde_json::Map::new();
        args.insert("id".into(), Value::from(id));
        let mut bytes = Vec::with_capacity(64);
        crate::client::encode_into(&mut bytes, "guest-sync", Some(&args), None);
        let deadline = Instant::now() + PROBE;
        if self.write_bytes(&bytes, deadline, "guest-sync").is_err() {
            return false;
        }
        // guest-sync returns its id; the agent may first answer whatever a
        // previous client left half-sent in its channel.
        while let Ok(msg) = self.decoder.read_message(&mut self.stream, deadline) {
            if msg.get("return").and_then(Value::as_u64) == Some(id) {
                return true;
            }
            if msg.contains_key("QMP") {
                return false;
            }
        }
        false
    }

    /// Sends `qmp_capabilities` and reads its reply. A second greeting that
    /// arrives meanwhile means the server started the session over (seen
    /// once from qemu-storage-daemon under load): negotiate again, and take
    /// the negotiation as done when any of the replies is a success (the
    /// others then say it was already complete).
    fn negotiate(&mut self, deadline: Instant) -> Result<()> {
        let mut unanswered = 1;
        self.send_capabilities(deadline, None)?;
        let mut ok = false;
        let mut first_error = None;
        while unanswered > 0 {
            let msg = self
                .decoder
                .read_message(&mut self.stream, deadline)
                .map_err(|e| {
                    self.read_error(e, "the reply to 'qmp_capabilities'", |_| {
                        Phase::Reply("qmp_capabilities".into())
                    })
                })?;
            if msg.contains_key("QMP") {
                self.greeting = Greeting::from_message(msg)?;
                self.send_capabilities(deadline, None)?;
                unanswered += 1;
                continue;
            }
            match Incoming::classify(msg)? {
                Incoming::Event(e) => self.keep(e, "the reply to 'qmp_capabilities'")?,
                Incoming::Reply(r) => {
                    unanswered -= 1;
                    match r.into_result() {
                        Ok(_) => ok = true,
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        match first_error {
            Some(e) if !ok => Err(Error::Qmp(e)),
            _ => Ok(()),
        }
    }

    /// Writes `qmp_capabilities` (asking for `oob` when it was negotiated),
    /// with `id` when given.
    pub(crate) fn send_capabilities(&mut self, deadline: Instant, id: Option<&str>) -> Result<()> {
        let mut args = serde_json::Map::new();
        if self.oob {
            args.insert("enable".into(), Value::from(vec!["oob"]));
        }
        let mut bytes = Vec::with_capacity(64);
        crate::client::encode_into(&mut bytes, "qmp_capabilities", Some(&args), id);
        self.trace_request(&bytes);
        self.write_bytes(&bytes, deadline, "qmp_capabilities")
    }
}
