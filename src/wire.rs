//! The wire: splitting a byte stream into JSON messages, under a size cap and
//! a deadline.
//!
//! QEMU ends each message with CRLF, but a monitor started with `pretty=on`
//! spreads one message over many lines, so messages are delimited by JSON
//! structure, not by newlines: a small scanner tracks string and nesting state
//! and finds where each top-level object ends; only then is the message
//! parsed, once. Scanning is incremental, so a message arriving in many pieces
//! costs linear time.

use std::io::{self, Read};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::error::{Error, snippet};

/// A reader of whole messages: the first message of the text, and where
/// it ends; `None` when it gives up ([`Decoder::take_whole`]).
type Whole<'a, T> = &'a dyn Fn(&str) -> Option<(T, usize)>;

/// The default cap on one message: 64 MiB (`query-qmp-schema` is ~200 KB).
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

const READ_CHUNK: usize = 64 << 10;

/// Why [`Decoder::read_message`] returned without a message.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The deadline passed; `partial` says whether part of a message had arrived.
    Timeout { partial: bool },
    /// End of stream; the count of bytes of an unfinished message.
    Closed(usize),
    /// A read failed.
    Io(io::Error),
    /// What arrived is not a stream of JSON objects (or exceeds the cap).
    Protocol(Error),
}

/// Streams whose reads and writes can be bounded in time.
///
/// Implemented for Unix and TCP sockets, and for [`crate::Connection`].
pub trait Stream: Read + io::Write {
    /// Bounds the next reads; `None` blocks indefinitely.
    ///
    /// # Errors
    /// As `set_read_timeout` of the socket.
    fn set_read_timeout(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()>;
    /// Bounds the next writes; `None` blocks indefinitely.
    ///
    /// # Errors
    /// As `set_write_timeout` of the socket.
    fn set_write_timeout(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()>;
    /// The descriptor of a Unix socket (for passing descriptors); `None`
    /// for anything else.
    fn unix_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    /// The descriptor to `poll` for input; `None` if there is none.
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        self.unix_fd()
    }
}

impl Stream for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, t: Option<std::time::Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, t)
    }
    fn set_write_timeout(&mut self, t: Option<std::time::Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, t)
    }
    fn unix_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }
}

impl Stream for std::net::TcpStream {
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }
    fn set_read_timeout(&mut self, t: Option<std::time::Duration>) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, t)
    }
    fn set_write_timeout(&mut self, t: Option<std::time::Duration>) -> io::Result<()> {
        std::net::TcpStream::set_write_timeout(self, t)
    }
}

/// The instant `after` from now; a timeout too long to represent (no limit,
/// `Duration::MAX`) gives a deadline a century away.
pub(crate) fn deadline_after(after: std::time::Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 86400)))
        .unwrap_or(now)
}

/// Time left until `deadline`, or `None` when it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<std::time::Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Which way a traced message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// Written to the server.
    Sent,
    /// Received from the server.
    Received,
}

/// Receives every message on the wire, as raw text (invalid UTF-8
/// replaced, nothing escaped): the hook behind `-v`. The library never
/// prints; a binary connects this to stderr, a shell to its own output.
#[derive(Clone)]
pub struct Tracer(std::sync::Arc<TraceFn>);

/// What a [`Tracer`] calls.
type TraceFn = dyn Fn(Direction, &str) + Send + Sync;

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

impl Tracer {
    /// A tracer calling `f`.
    pub fn new(f: impl Fn(Direction, &str) + Send + Sync + 'static) -> Self {
        Tracer(std::sync::Arc::new(f))
    }

    pub(crate) fn trace(&self, direction: Direction, bytes: &[u8]) {
        (self.0)(direction, &String::from_utf8_lossy(bytes));
    }
}

/// Reads a reply's `return` member as the message is parsed (for a large
/// reply: one pass, and no `Value` built of it).
pub(crate) trait ReturnSeed {
    /// What it makes of the value.
    type Out;
    /// Reads the value of the `return` member from `map`.
    fn read<'de, A: serde::de::MapAccess<'de>>(&self, map: &mut A) -> Result<Self::Out, A::Error>;

    /// What it makes of `return` given as compact JSON text, when it can
    /// take that instead of parsing (then the message is minified as it
    /// arrives: [`crate::minify`]).
    fn take_compact(&self, _text: String) -> Option<Self::Out> {
        None
    }

    /// Whether [`ReturnSeed::take_compact`] takes the text.
    fn takes_compact(&self) -> bool {
        false
    }

    /// Reads the value of `return` with the reader of the common case
    /// ([`crate::subset`]); `None` gives up, and the whole message is then
    /// parsed with [`ReturnSeed::read`]. Seeds that have no such reader
    /// give up at once.
    fn read_subset(&self, _reader: &mut crate::subset::Reader<'_>) -> Option<Self::Out> {
        None
    }

    /// Whether [`ReturnSeed::read_subset`] reads anything (then messages
    /// are tried whole before they are scanned).
    fn reads_subset(&self) -> bool {
        false
    }
}

/// `return` transcoded straight to compact JSON text
/// ([`crate::output::compact`]'s form).
pub(crate) struct TranscodeReturn;

impl ReturnSeed for TranscodeReturn {
    type Out = String;
    fn read<'de, A: serde::de::MapAccess<'de>>(&self, map: &mut A) -> Result<String, A::Error> {
        let mut out = Vec::new();
        map.next_value_seed(crate::output::Transcode(&mut out))?;
        // Only whole UTF-8 strings and ASCII were written.
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    fn take_compact(&self, text: String) -> Option<String> {
        Some(text)
    }

    fn takes_compact(&self) -> bool {
        true
    }
}

/// A message parsed with its `return` (if any) read by a [`ReturnSeed`]
/// and its other members as values, in the order they came.
pub(crate) struct SeededMessage<T> {
    /// The members other than `return`.
    pub(crate) members: Vec<(String, Value)>,
    /// What the seed made of `return`, and the place it had among the
    /// members.
    pub(crate) ret: Option<(usize, T)>,
}

impl<T> SeededMessage<T> {
    pub(crate) fn has(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// The whole message as a map, members in their order; `value` makes a
    /// `Value` of what the seed read.
    pub(crate) fn into_map(
        self,
        value: impl FnOnce(T) -> Result<Value, serde_json::Error>,
    ) -> Result<Map<String, Value>, serde_json::Error> {
        let mut members: Vec<(String, Value)> = self.members;
        if let Some((at, ret)) = self.ret {
            members.insert(at.min(members.len()), ("return".into(), value(ret)?));
        }
        Ok(members.into_iter().collect())
    }
}

/// The message from its compact text and top-level members, with `return`
/// handed to the seed as text; `None` when a member does not parse (it
/// cannot: the minifier took only valid JSON) or the seed declines.
fn seeded_from_compact<R: ReturnSeed>(
    seed: &R,
    text: &[u8],
    members: Vec<crate::minify::Member>,
) -> Option<SeededMessage<R::Out>> {
    let mut out = SeededMessage {
        members: Vec::new(),
        ret: None,
    };
    for (key, a, b) in members {
        let value = &text[a..b];
        if key == "return" && out.ret.is_none() {
            // The minifier took printable ASCII only.
            let text = String::from_utf8(value.to_vec()).ok()?;
            out.ret = Some((out.members.len(), seed.take_compact(text)?));
        } else {
            out.members.push((key, serde_json::from_slice(value).ok()?));
        }
    }
    Some(out)
}

/// Parses a whole message as `T`: as text when it is UTF-8 (one check of
/// the message, where serde_json checks each string of a byte slice by
/// itself), as bytes otherwise (for serde_json's error).
fn parse_message<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// The first message of `text` read by the reader of the common case, its
/// `return` by the seed's [`ReturnSeed::read_subset`], and where it ends;
/// `None` when either gives up.
fn seeded_from_subset<R: ReturnSeed>(
    seed: &R,
    text: &str,
) -> Option<(SeededMessage<R::Out>, usize)> {
    let mut r = crate::subset::Reader::new(text);
    let mut out = SeededMessage {
        members: Vec::new(),
        ret: None,
    };
    r.object(|r, key| {
        if key == "return" && out.ret.is_none() {
            out.ret = Some((out.members.len(), seed.read_subset(r)?));
        } else {
            let value = serde_json::from_str(r.skip()?).ok()?;
            out.members.push((key.to_owned(), value));
        }
        Some(())
    })?;
    Some((out, r.pos()))
}

/// A message read by `de`, its `return` by `seed`.
fn seeded<'de, R: serde_json::de::Read<'de>, S: ReturnSeed>(
    mut de: serde_json::Deserializer<R>,
    seed: &S,
) -> Result<SeededMessage<S::Out>, serde_json::Error> {
    use serde::Deserializer as _;
    let msg = (&mut de).deserialize_map(Members(seed))?;
    de.end()?;
    Ok(msg)
}

struct Members<'a, R>(&'a R);

impl<'de, R: ReturnSeed> serde::de::Visitor<'de> for Members<'_, R> {
    type Value = SeededMessage<R::Out>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<SeededMessage<R::Out>, A::Error> {
        let mut members = Vec::new();
        let mut ret = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "return" && ret.is_none() {
                ret = Some((members.len(), self.0.read(&mut map)?));
            } else {
                members.push((key, map.next_value()?));
            }
        }
        Ok(SeededMessage { members, ret })
    }
}

/// Splits a byte stream into JSON objects.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte (of the message being scanned).
    start: usize,
    /// How far the scanner got.
    pos: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    max: usize,
    /// Discarding input up to the next 0xFF byte (the guest agent's resync
    /// delimiter, [`Decoder::skip_to_delimiter`]).
    skipping: bool,
    /// The first bytes discarded while skipping, for saying what the peer
    /// sent instead (a QMP greeting, text); at most [`SKIPPED_KEPT`].
    skipped: Vec<u8>,
    /// What was pending when a message was last tried whole and not taken
    /// ([`Decoder::take_whole`]); 0 when it was not.
    tried: usize,
    /// Receives each message as it is taken.
    pub(crate) trace: Option<Tracer>,
}

/// How many skipped bytes a decoder keeps for error messages.
const SKIPPED_KEPT: usize = 256;

/// The guest agent's delimiter: it writes this byte before the reply to
/// `guest-sync-delimited` (it is never valid in UTF-8 JSON text).
pub const DELIMITER: u8 = 0xFF;

/// The bytes that matter to the scanner inside a message, between strings.
const STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

impl Decoder {
    /// A decoder that rejects messages longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            start: 0,
            pos: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            max,
            skipping: false,
            skipped: Vec::new(),
            tried: 0,
            trace: None,
        }
    }

    /// Discards everything received, whole messages or not, up to and
    /// including the next [`DELIMITER`] byte; messages are read again after
    /// it. The guest agent's resync: whatever a previous client left in the
    /// channel (a stale reply, half a message) comes before the delimiter
    /// that precedes the reply to `guest-sync-delimited`.
    pub fn skip_to_delimiter(&mut self) {
        self.skipping = true;
        self.skipped.clear();
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.pos = self.start;
    }

    /// Whether the decoder is still looking for the delimiter.
    pub fn skipping(&self) -> bool {
        self.skipping
    }

    /// The first bytes discarded by the last [`Decoder::skip_to_delimiter`]
    /// (at most 256).
    pub fn skipped(&self) -> &[u8] {
        &self.skipped
    }

    /// The bytes received and not yet taken (what a protocol error was
    /// found in, from the offending byte on).
    pub(crate) fn unconsumed(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Bytes of an unfinished message held in the buffer.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes received from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next complete message out of the buffer, if there is one.
    ///
    /// # Errors
    /// [`Error::Protocol`] when the bytes are not a stream of JSON objects,
    /// a message exceeds the cap, or is not valid JSON (or UTF-8).
    pub fn next_message(&mut self) -> Result<Option<Map<String, Value>>, Error> {
        self.next_parsed(parse_message::<Map<String, Value>>)
    }

    /// Takes the next complete message out of the buffer, parsed by `parse`.
    fn next_parsed<T>(
        &mut self,
        parse: impl FnOnce(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<Option<T>, Error> {
        let end = match self.scan()? {
            Some(end) => end,
            None => {
                if self.pos - self.start > self.max {
                    return Err(self.too_big(format!("more than {} bytes", self.max)));
                }
                return Ok(None);
            }
        };
        if end - self.start > self.max {
            return Err(self.too_big(format!("{} bytes", end - self.start)));
        }
        let bytes = &self.buf[self.start..end];
        if let Some(t) = &self.trace {
            t.trace(Direction::Received, bytes);
        }
        let parsed = parse(bytes);
        let result = parsed.map_err(|e| Error::Protocol {
            expected: format!("a JSON object ({e})"),
            got: snippet(bytes, 60),
        });
        self.taken_to(end);
        result.map(Some)
    }

    /// A message that ends at `end` was taken: what follows is the next
    /// one's, scanned from its start.
    fn taken_to(&mut self, end: usize) {
        self.start = end;
        self.pos = end;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.tried = 0;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.pos = 0;
        }
    }

    /// Takes the next message whole with `whole` (which reads a message
    /// from the start of the text and says where it ends, or gives up),
    /// without scanning it first, when the bytes pending end the way QEMU
    /// ends a message (a `}`, then CRLF). Tried again only once what is
    /// pending has doubled: a message never taken so costs at most twice
    /// its length more than scanning it.
    fn take_whole<T>(&mut self, whole: Whole<'_, T>) -> Result<Option<T>, Error> {
        let pending = &self.buf[self.start..];
        let body = pending.strip_suffix(b"\n").unwrap_or(&[]);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if self.skipping || body.last() != Some(&b'}') || pending.len() < 2 * self.tried {
            return Ok(None);
        }
        let lead = pending
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .count();
        let taken = std::str::from_utf8(&pending[lead..]).ok().and_then(whole);
        let Some((msg, len)) = taken else {
            self.tried = pending.len();
            return Ok(None);
        };
        if len > self.max {
            return Err(self.too_big(format!("{len} bytes")));
        }
        let (start, end) = (self.start + lead, self.start + lead + len);
        if let Some(t) = &self.trace {
            t.trace(Direction::Received, &self.buf[start..end]);
        }
        self.taken_to(end);
        Ok(Some(msg))
    }

    fn too_big(&self, got: String) -> Error {
        Error::Protocol {
            expected: format!("a message of at most {} bytes", self.max),
            got,
        }
    }

    /// Advances the scanner; returns the end of the first complete message.
    fn scan(&mut self) -> Result<Option<usize>, Error> {
        if self.skipping {
            let rest = &self.buf[self.pos..];
            let found = rest.iter().position(|&b| b == DELIMITER);
            let dropped = &rest[..found.unwrap_or(rest.len())];
            let room = SKIPPED_KEPT - self.skipped.len();
            self.skipped
                .extend_from_slice(&dropped[..dropped.len().min(room)]);
            match found {
                Some(i) => {
                    self.skipping = false;
                    self.pos += i + 1;
                }
                None => self.pos = self.buf.len(),
            }
            self.start = self.pos;
            if self.skipping {
                return Ok(None);
            }
        }
        let buf = &self.buf[..];
        let mut pos = self.pos;
        while pos < buf.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    pos += 1;
                    continue;
                }
                // The body of a string at once: only '"' and '\\' matter.
                let Some(i) = crate::subset::quote_or_backslash(&buf[pos..]) else {
                    pos = buf.len();
                    break;
                };
                pos += i;
                if buf[pos] == b'"' {
                    self.in_string = false;
                } else {
                    self.escaped = true;
                }
                pos += 1;
                continue;
            }
            if self.depth > 0 {
                // Between strings inside a message, only brackets and quotes
                // matter: skip the rest (spaces, ':', ',', numbers, words).
                while pos < buf.len() && !STRUCTURAL[buf[pos] as usize] {
                    pos += 1;
                }
                let Some(&b) = buf.get(pos) else { break };
                pos += 1;
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    _ => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.pos = pos;
                            return Ok(Some(pos));
                        }
                    }
                }
                continue;
            }
            let b = buf[pos];
            pos += 1;
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.start = pos,
                b'{' => self.depth = 1,
                _ => {
                    self.pos = pos;
                    return Err(Error::Protocol {
                        expected: "a JSON object".into(),
                        got: snippet(&buf[pos - 1..], 60),
                    });
                }
            }
        }
        self.pos = pos;
        Ok(None)
    }

    /// Reads what `stream` holds already, without waiting (one read with
    /// the shortest timeout a socket takes); `Ok(false)` when it held
    /// nothing.
    pub(crate) fn read_available<S: Stream>(&mut self, stream: &mut S) -> Result<bool, ReadError> {
        stream
            .set_read_timeout(Some(std::time::Duration::from_micros(1)))
            .map_err(ReadError::Io)?;
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.pos -= self.start;
            self.start = 0;
        }
        let len = self.buf.len();
        if self.buf.len() - self.start > self.max.saturating_add(READ_CHUNK) {
            return Err(ReadError::Protocol(
                self.too_big(format!("more than {} bytes", self.max)),
            ));
        }
        self.buf.resize(len + READ_CHUNK, 0);
        let got = stream.read(&mut self.buf[len..]);
        self.buf.truncate(len + *got.as_ref().unwrap_or(&0));
        match got {
            Ok(0) => Err(ReadError::Closed(self.pending())),
            Ok(_) => Ok(true),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                Err(ReadError::Closed(self.pending()))
            }
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    /// Reads from `stream` until a whole message is buffered, or `deadline`.
    pub(crate) fn read_message<S: Stream>(
        &mut self,
        stream: &mut S,
        deadline: Instant,
    ) -> Result<Map<String, Value>, ReadError> {
        self.read_parsed(stream, deadline, parse_message)
    }

    /// Reads a message with its `return` read by `seed` (or, for a seed
    /// that takes compact text, minified as it arrives).
    pub(crate) fn read_seeded_message<S: Stream, R: ReturnSeed>(
        &mut self,
        stream: &mut S,
        deadline: Instant,
        seed: &R,
    ) -> Result<SeededMessage<R::Out>, ReadError> {
        let mut minifier = seed.takes_compact().then(crate::minify::Minifier::new);
        let whole = |text: &str| seeded_from_subset(seed, text);
        let whole = seed
            .reads_subset()
            .then_some(&whole as &dyn Fn(&str) -> Option<_>);
        self.read_parsed_with(
            stream,
            deadline,
            minifier.as_mut(),
            whole,
            |bytes, minified| {
                if let Some(m) = minified
                    && let Some((text, members)) = {
                        m.feed_from(bytes);
                        m.finish(bytes.len())
                    }
                    && let Some(msg) = seeded_from_compact(seed, &text, members)
                {
                    return Ok(msg);
                }
                match std::str::from_utf8(bytes) {
                    Ok(text) => seeded(serde_json::Deserializer::from_str(text), seed),
                    Err(_) => seeded(serde_json::Deserializer::from_slice(bytes), seed),
                }
            },
        )
    }

    fn read_parsed<S: Stream, T>(
        &mut self,
        stream: &mut S,
        deadline: Instant,
        parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T, ReadError> {
        self.read_parsed_with(stream, deadline, None, None, |bytes, _| parse(bytes))
    }

    /// Reads until a message is complete and parses it with `parse`;
    /// `minifier` (if any) is fed the message's bytes as they arrive, and
    /// handed to `parse` with the message. With `whole` (a reader of whole
    /// messages, [`Decoder::take_whole`]), what a read that filled its
    /// buffer brought is looked at only once nothing more is waiting: a
    /// large reply that ends as QEMU ends its messages is then taken whole
    /// without being scanned first.
    fn read_parsed_with<S: Stream, T>(
        &mut self,
        stream: &mut S,
        deadline: Instant,
        mut minifier: Option<&mut crate::minify::Minifier>,
        whole: Option<Whole<'_, T>>,
        parse: impl Fn(&[u8], Option<&mut crate::minify::Minifier>) -> Result<T, serde_json::Error>,
    ) -> Result<T, ReadError> {
        // The last read filled its buffer (and the cap is not reached): more
        // is waiting, and is read (without waiting) before anything is
        // looked at.
        let mut more = false;
        loop {
            if !more {
                if let Some(whole) = whole
                    && let Some(msg) = self.take_whole(whole).map_err(ReadError::Protocol)?
                {
                    return Ok(msg);
                }
                // Inside a message (the framing has seen its `{`, so `start`
                // is fixed there until it ends), the minifier takes what came.
                if self.depth > 0
                    && let Some(m) = minifier.as_deref_mut()
                {
                    m.feed_from(&self.buf[self.start..]);
                }
                let parsed = self.next_parsed(|bytes| parse(bytes, minifier.as_deref_mut()));
                if let Some(msg) = parsed.map_err(ReadError::Protocol)? {
                    return Ok(msg);
                }
            }
            let partial = self.pending() > 0;
            let Some(left) = remaining(deadline) else {
                if more {
                    // What came is looked at before the time is up.
                    more = false;
                    continue;
                }
                return Err(ReadError::Timeout { partial });
            };
            let wait = if more {
                std::time::Duration::from_micros(1)
            } else {
                left
            };
            stream.set_read_timeout(Some(wait)).map_err(ReadError::Io)?;
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.pos -= self.start;
                self.start = 0;
            }
            let len = self.buf.len();
            // Grow by doubling, but never past what the cap can need: a peer
            // sending an endless message costs at most the cap plus a chunk.
            if self.buf.capacity() < len + READ_CHUNK {
                let limit = self.max.saturating_add(2 * READ_CHUNK);
                let target = (self.buf.capacity() * 2).min(limit).max(len + READ_CHUNK);
                self.buf.reserve_exact(target - len);
            }
            self.buf.resize(len + READ_CHUNK, 0);
            let got = stream.read(&mut self.buf[len..]);
            self.buf.truncate(len + *got.as_ref().unwrap_or(&0));
            match got {
                // What came before the end is looked at first.
                Ok(0) if more => more = false,
                Ok(0) => return Err(ReadError::Closed(self.pending())),
                Ok(n) => more = whole.is_some() && n == READ_CHUNK && self.pending() <= self.max,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) && more => more = false,
                Err(e) if is_timeout(&e) => return Err(ReadError::Timeout { partial }),
                // A peer that closes with our request unread resets the
                // connection: it closed, as far as the user is concerned.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && more => more = false,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(ReadError::Closed(self.pending()));
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_all(input: &[u8], split: usize) -> Result<Vec<Value>, Error> {
        let mut d = Decoder::new(1 << 20);
        let mut out = Vec::new();
        for chunk in [&input[..split], &input[split..]] {
            d.feed(chunk);
            while let Some(m) = d.next_message()? {
                out.push(Value::Object(m));
            }
        }
        Ok(out)
    }

    #[test]
    fn framing_at_every_split_point() {
        let input = b"{\"QMP\": {\"a\": \"}\\\"{\"}}\r\n{\"return\": {}}\n  {\n  \"event\": \"X\",\n  \"data\": {\"l\": [1, {\"b\": \"]\"}]}\n}\r\n";
        let want = vec![
            json!({"QMP": {"a": "}\"{"}}),
            json!({"return": {}}),
            json!({"event": "X", "data": {"l": [1, {"b": "]"}]}}),
        ];
        for split in 0..=input.len() {
            assert_eq!(decode_all(input, split).unwrap(), want, "split at {split}");
        }
    }

    #[test]
    fn long_strings_with_escapes_at_every_split_point() {
        let input = b"{\"return\": [{\"name\": \"a long name \\\\ with \\\" quotes } ] {\", \"x\": \"\\\\\"}, \"12345678\\\"1234567\"]}\r\n{\"event\": \"E\"}";
        let want = vec![
            json!({"return": [{"name": "a long name \\ with \" quotes } ] {", "x": "\\"}, "12345678\"1234567"]}),
            json!({"event": "E"}),
        ];
        for split in 0..=input.len() {
            assert_eq!(decode_all(input, split).unwrap(), want, "split at {split}");
        }
    }

    /// A peer that hands out its chunks one per read (a read takes at most
    /// what the buffer holds), then would block, or is closed.
    struct Chunks {
        chunks: std::collections::VecDeque<Vec<u8>>,
        closed: bool,
    }

    impl Chunks {
        fn new(chunks: Vec<Vec<u8>>, closed: bool) -> Self {
            Chunks {
                chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
                closed,
            }
        }
    }

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(chunk) = self.chunks.front_mut() else {
                return if self.closed {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            chunk.drain(..n);
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
            Ok(n)
        }
    }

    impl io::Write for Chunks {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Stream for Chunks {
        fn set_read_timeout(&mut self, _: Option<std::time::Duration>) -> io::Result<()> {
            Ok(())
        }
        fn set_write_timeout(&mut self, _: Option<std::time::Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    /// A seed reading `return` as a list of strings, by serde_json or by
    /// the subset reader (counting what that took).
    #[derive(Default)]
    struct Strings {
        taken: std::cell::Cell<usize>,
        tried: std::cell::Cell<usize>,
    }

    impl ReturnSeed for Strings {
        type Out = Vec<String>;
        fn read<'de, A: serde::de::MapAccess<'de>>(
            &self,
            map: &mut A,
        ) -> Result<Self::Out, A::Error> {
            map.next_value()
        }
        fn reads_subset(&self) -> bool {
            true
        }
        fn read_subset(&self, r: &mut crate::subset::Reader<'_>) -> Option<Self::Out> {
            self.tried.set(self.tried.get() + 1);
            let got = r.strings()?;
            self.taken.set(self.taken.get() + 1);
            Some(got)
        }
    }

    /// The messages read from `chunks` with the seed: each `return`, or the
    /// message without one; then how the reading ended.
    fn seeded_reads(seed: &Strings, chunks: Vec<Vec<u8>>, closed: bool) -> (Vec<Value>, String) {
        let mut d = Decoder::new(1 << 24);
        let mut peer = Chunks::new(chunks, closed);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut out = Vec::new();
        loop {
            match d.read_seeded_message(&mut peer, deadline, seed) {
                Ok(m) => out.push(match m.ret {
                    Some((_, strings)) => json!(strings),
                    None => Value::Object(m.members.into_iter().collect()),
                }),
                Err(ReadError::Timeout { partial }) => return (out, format!("timeout {partial}")),
                Err(ReadError::Closed(n)) => return (out, format!("closed {n}")),
                Err(ReadError::Protocol(e)) => return (out, format!("protocol {e}")),
                Err(ReadError::Io(e)) => return (out, format!("io {e}")),
            }
        }
    }

    fn reply(n: usize) -> (Vec<u8>, Value) {
        let names: Vec<String> = (0..n).map(|i| format!("name-{i}")).collect();
        let text = format!("{{\"return\": {}}}\r\n", json!(names)).replace("\",\"", "\", \"");
        (text.into_bytes(), json!(names))
    }

    #[test]
    fn a_large_reply_is_taken_whole_after_full_reads() {
        let (text, want) = reply(20_000);
        assert!(text.len() > 3 * READ_CHUNK);
        let event = b"{\"event\": \"E\"}\r\n".to_vec();
        // In chunks of what a read takes, the last with an event after it.
        let mut chunks: Vec<Vec<u8>> = text.chunks(READ_CHUNK).map(<[u8]>::to_vec).collect();
        chunks.last_mut().unwrap().extend_from_slice(&event);
        let seed = Strings::default();
        let (got, end) = seeded_reads(&seed, chunks, false);
        assert_eq!(got, vec![want.clone(), json!({"event": "E"})]);
        assert_eq!(end, "timeout false");
        assert_eq!(
            seed.taken.get(),
            1,
            "the reply's return read by the subset reader"
        );
        // Ending exactly where a read does, then the peer waits or closes.
        for closed in [false, true] {
            let mut text = text.clone();
            text.truncate(text.len() - 3);
            let pad = READ_CHUNK - (text.len() + 3) % READ_CHUNK;
            text.extend(std::iter::repeat_n(b' ', pad));
            text.extend_from_slice(b"}\r\n");
            assert_eq!(text.len() % READ_CHUNK, 0);
            let chunks = text.chunks(READ_CHUNK).map(<[u8]>::to_vec).collect();
            let (got, end) = seeded_reads(&Strings::default(), chunks, closed);
            assert_eq!(got, vec![want.clone()]);
            assert_eq!(end, if closed { "closed 0" } else { "timeout false" });
        }
    }

    #[test]
    fn seeded_reads_agree_with_the_scanner_however_the_bytes_come() {
        let (text, want) = reply(3);
        let pretty = serde_json::to_string_pretty(&json!({"return": want})).unwrap() + "\r\n";
        let escaped = b"{\"return\": [\"a\\\"}\\n\"]}\r\n".to_vec();
        let both = [b"{\"event\": \"E\"}\r\n".as_slice(), &text].concat();
        let cases: Vec<(Vec<u8>, Vec<Value>)> = vec![
            (text.clone(), vec![want.clone()]),
            (pretty.into_bytes(), vec![want.clone()]),
            (escaped, vec![json!(["a\"}\n"])]),
            (both, vec![json!({"event": "E"}), want.clone()]),
            (text[..text.len() - 2].to_vec(), vec![want.clone()]),
        ];
        for (text, want) in cases {
            for split in 0..=text.len() {
                let chunks = vec![text[..split].to_vec(), text[split..].to_vec()];
                let (got, end) = seeded_reads(&Strings::default(), chunks, false);
                assert_eq!(
                    got,
                    want,
                    "split at {split}: {}",
                    String::from_utf8_lossy(&text)
                );
                assert_eq!(end, "timeout false");
            }
            // One byte per read: whole messages are tried a few times only.
            let seed = Strings::default();
            let chunks = text.iter().map(|&b| vec![b]).collect();
            assert_eq!(seeded_reads(&seed, chunks, true).0, want);
            assert!(
                seed.tried.get() <= 2 * want.len() + 10,
                "{} tries",
                seed.tried.get()
            );
        }
        // What is not JSON is refused as the scanner refuses it.
        let (got, end) = seeded_reads(
            &Strings::default(),
            vec![b"{\"return\": [1 2]}\r\n".to_vec()],
            false,
        );
        assert!(got.is_empty());
        assert!(end.starts_with("protocol"), "{end}");
    }

    #[test]
    fn integers_stay_exact() {
        let v = decode_all(b"{\"return\": 18446744073709551615}", 3).unwrap();
        assert_eq!(v[0]["return"].as_u64(), Some(u64::MAX));
        let v = decode_all(b"{\"return\": -9223372036854775808}", 3).unwrap();
        assert_eq!(v[0]["return"].as_i64(), Some(i64::MIN));
    }

    #[test]
    fn rejects() {
        let cases: &[(&[u8], &str)] = &[
            (b"garbage\r\n", "expected a JSON object, got 'garbage"),
            (b"[1]", "expected a JSON object, got '[1]'"),
            (b"42 ", "expected a JSON object"),
            (b"{\"a\": tru}", "expected a JSON object (expected ident"),
            (b"{\"a\": \"\xff\"}", "invalid unicode"),
            (b"{\"a\" 1}", "expected a JSON object ("),
        ];
        for (input, want) in cases {
            let err = decode_all(input, 0).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut input = b"{\"a\":".to_vec();
        input.extend(std::iter::repeat_n(b'[', 100_000));
        input.extend(std::iter::repeat_n(b']', 100_000));
        input.push(b'}');
        let err = decode_all(&input, 7).unwrap_err().to_string();
        assert!(err.contains("recursion limit"), "{err}");
    }

    #[test]
    fn skips_to_the_delimiter_at_every_split_point() {
        // What qemu-ga 10.0.2 sends after 0xFF and guest-sync-delimited,
        // behind a stale reply and half a message left in the channel.
        let input = b"{\"return\": {\"pid\": 7}}\n{\"ret\xff\xfe garbage {\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n\xff{\"return\": 42}\n{\"return\": {}}\n";
        for split in 0..=input.len() {
            let mut d = Decoder::new(1 << 20);
            d.skip_to_delimiter();
            let mut out = Vec::new();
            for chunk in [&input[..split], &input[split..]] {
                d.feed(chunk);
                // The first 0xFF is inside the stale half message: skipping
                // stops there, and what follows is not JSON; the caller
                // skips again until the reply it wants.
                loop {
                    match d.next_message() {
                        Ok(Some(m)) if m["return"] == 42 || !out.is_empty() => {
                            out.push(Value::Object(m))
                        }
                        Ok(Some(_)) | Err(_) => d.skip_to_delimiter(),
                        Ok(None) => break,
                    }
                }
            }
            assert_eq!(
                out,
                vec![json!({"return": 42}), json!({"return": {}})],
                "split at {split}"
            );
            assert!(!d.skipping());
        }
        let mut d = Decoder::new(1 << 20);
        d.skip_to_delimiter();
        d.feed(b"{\"QMP\": {}}\r\n");
        assert!(d.next_message().unwrap().is_none());
        assert!(d.skipped().starts_with(b"{\"QMP\""));
        assert!(d.skipping());
    }

    #[test]
    fn cap() {
        let mut d = Decoder::new(16);
        d.feed(b"{\"return\": \"0123456789\"}");
        let err = d.next_message().unwrap_err().to_string();
        assert!(err.contains("at most 16 bytes"), "{err}");
        let mut d = Decoder::new(16);
        d.feed(b"{\"return\": \"0123456789");
        assert!(d.next_message().is_err());
        let mut d = Decoder::new(16);
        d.feed(b"    \r\n    \r\n    \r\n    {\"return\": 1}");
        assert_eq!(
            d.next_message().unwrap().unwrap()["return"],
            1,
            "whitespace does not count"
        );
    }
}
