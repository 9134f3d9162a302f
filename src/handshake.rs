//! Handshakes: how a session opens once the transport is up. The session
//! core ([`Client`]: framing, reply matching, the event queue, pipelining,
//! deadlines) is the same for every protocol on QEMU's JSON sockets; QMP
//! opens with a greeting and `qmp_capabilities`, and the guest agent (no
//! greeting; a `guest-sync-delimited` after a 0xFF resync byte) will be a
//! second [`Handshake`] beside [`Qmp`], with no change to the core.

use std::time::Instant;

use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Phase, Result, snippet};
use crate::message::{Greeting, Incoming};
use crate::wire::{ReadError, Stream};

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

impl<S: Stream> Client<S> {
    /// Why no greeting came: nothing at all within the timeout is a busy
    /// monitor (or no monitor); text that is not JSON may be a human monitor.
    fn greeting_error(&self, e: ReadError) -> Error {
        match e {
            ReadError::Timeout { partial: false } => Error::Busy {
                address: self.address.clone(),
                after: self.timeout,
            },
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
