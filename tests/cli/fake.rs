//! A scripted fake QMP server for what a real QEMU will not do.
//!
//! It accepts one client on a Unix socket in a temporary directory and plays
//! its script; `finish` (or drop) asserts the whole script was played.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

pub enum Step {
    /// Send these bytes as they are.
    Raw(Vec<u8>),
    /// Send these bytes one at a time with a pause between them.
    Drip(Vec<u8>, Duration),
    /// Read one request and check its command name (and arguments, if given).
    Expect(&'static str, Option<Value>),
    /// Send this message plus the id of the last request, then CRLF.
    Reply(Value),
    /// Pause.
    Sleep(Duration),
    /// Read and discard until the client closes.
    Drain,
    /// Assert that the client sends nothing for this long.
    Silence(Duration),
    /// Send the prefix, then `fill` bytes over and over, `total` bytes in
    /// all, stopping quietly when the client hangs up.
    Flood(Vec<u8>, u8, usize),
    /// A guest agent's resync: read the 0xFF byte and the
    /// `guest-sync-delimited` request, send these bytes (what the channel
    /// held, a parse error), then 0xFF and `{"return": ID}`.
    Sync(Vec<u8>),
}

pub use Step::*;

pub fn greeting() -> Vec<u8> {
    b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": 10}, \"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}\r\n".to_vec()
}

/// The script of a normal handshake.
pub fn handshake() -> Vec<Step> {
    vec![
        Raw(greeting()),
        Expect("qmp_capabilities", None),
        Reply(json!({"return": {}})),
    ]
}

/// What qemu-ga 10.0.2 answers to the 0xFF byte itself.
pub const PARSE_ERROR: &[u8] =
    b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n";

/// A fake agent's `guest-info` return listing `commands` as
/// `(name, success-response)`.
pub fn agent_info(commands: &[(&str, bool)]) -> Value {
    let list: Vec<Value> = commands
        .iter()
        .map(|(n, r)| json!({"enabled": true, "name": n, "success-response": r}))
        .collect();
    json!({"version": "10.0.2", "supported_commands": list})
}

pub fn expect(cmd: &'static str) -> Step {
    Expect(cmd, None)
}

pub fn ret(v: Value) -> Step {
    Reply(json!({ "return": v }))
}

pub struct Fake {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Fake {
    /// Starts a server that plays `script` (a handshake is *not* added).
    pub fn raw(script: Vec<Step>) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
            play(stream, script)
        });
        Fake {
            _dir: dir,
            path,
            thread: Some(thread),
        }
    }

    /// A "server" that connects to a tool listening at `path` (`listen:`),
    /// once the socket appears (within 30 s), and plays `script`.
    pub fn dial(path: &Path, script: Vec<Step>) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let path = path.to_path_buf();
        let target = path.clone();
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let stream = loop {
                match UnixStream::connect(&target) {
                    Ok(s) => break s,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => return Err(format!("dial {}: {e}", target.display())),
                }
            };
            play(stream, script)
        });
        Fake {
            _dir: dir,
            path,
            thread: Some(thread),
        }
    }

    /// Starts a server that does the handshake, then plays `script`.
    pub fn new(script: Vec<Step>) -> Fake {
        let mut all = handshake();
        all.extend(script);
        Fake::raw(all)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asserts the script was played to the end.
    pub fn finish(mut self) {
        self.join();
    }

    /// Drops the server without checking its script (the client was
    /// expected to give up early).
    pub fn abandon(mut self) {
        self.thread.take();
    }

    fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("fake server: {e}"),
                Err(_) => panic!("fake server panicked"),
            }
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.join();
        }
    }
}

fn play(stream: UnixStream, script: Vec<Step>) -> Result<(), String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut out = stream.try_clone().unwrap();
    let mut requests =
        serde_json::Deserializer::from_reader(stream.try_clone().unwrap()).into_iter::<Value>();
    let mut last_id = None;
    for (n, step) in script.into_iter().enumerate() {
        let err = |e: &dyn std::fmt::Display| format!("step {n}: {e}");
        match step {
            Raw(bytes) => out.write_all(&bytes).map_err(|e| err(&e))?,
            Drip(bytes, pause) => {
                for b in bytes {
                    if out.write_all(&[b]).is_err() {
                        break; // the client gave up, as it should
                    }
                    std::thread::sleep(pause);
                }
            }
            Expect(cmd, args) => {
                let req = match requests.next() {
                    Some(Ok(v)) => v,
                    Some(Err(e)) => return Err(err(&format!("bad request: {e}"))),
                    None => return Err(err(&format!("client closed, expected {cmd}"))),
                };
                if req["execute"] != cmd {
                    return Err(err(&format!("expected {cmd}, got {req}")));
                }
                if let Some(a) = args
                    && req["arguments"] != a
                {
                    return Err(err(&format!("expected arguments {a}, got {req}")));
                }
                last_id = req.get("id").cloned();
            }
            Reply(mut v) => {
                if let (Some(id), Some(obj)) = (&last_id, v.as_object_mut()) {
                    obj.insert("id".into(), id.clone());
                }
                let mut bytes = v.to_string().into_bytes();
                bytes.extend_from_slice(b"\r\n");
                out.write_all(&bytes).map_err(|e| err(&e))?;
            }
            Sleep(d) => std::thread::sleep(d),
            Flood(prefix, fill, total) => {
                let chunk = vec![fill; 1 << 16];
                let mut sent = prefix.len();
                let mut ok = out.write_all(&prefix).is_ok();
                while ok && sent < total {
                    ok = out.write_all(&chunk).is_ok();
                    sent += chunk.len();
                }
            }
            Silence(d) => {
                // Raw reads are safe here: the request reader holds no
                // bytes between requests (ours end with '}', nothing after).
                let mut s = stream.try_clone().unwrap();
                s.set_read_timeout(Some(d)).unwrap();
                let mut byte = [0u8; 1];
                let got = s.read(&mut byte);
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                match got {
                    Ok(0) => {}
                    Ok(_) => {
                        let mut rest = vec![0u8; 4096];
                        let n = s.read(&mut rest).unwrap_or(0);
                        rest.truncate(n);
                        rest.insert(0, byte[0]);
                        let text = String::from_utf8_lossy(&rest);
                        return Err(err(&format!("expected silence, got {text}")));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(err(&e)),
                }
            }
            Sync(before) => {
                let mut byte = [0u8; 1];
                let mut s = stream.try_clone().unwrap();
                s.read_exact(&mut byte).map_err(|e| err(&e))?;
                if byte[0] != 0xFF {
                    return Err(err(&format!("expected 0xFF, got {:#x}", byte[0])));
                }
                let req = match requests.next() {
                    Some(Ok(v)) => v,
                    other => return Err(err(&format!("expected guest-sync-delimited: {other:?}"))),
                };
                if req["execute"] != "guest-sync-delimited" || !req["arguments"]["id"].is_u64() {
                    return Err(err(&format!(
                        "expected guest-sync-delimited {{id}}, got {req}"
                    )));
                }
                let mut bytes = before;
                bytes.push(0xFF);
                bytes.extend_from_slice(
                    format!("{{\"return\": {}}}\n", req["arguments"]["id"]).as_bytes(),
                );
                out.write_all(&bytes).map_err(|e| err(&e))?;
            }
            Drain => {
                let mut s = stream.try_clone().unwrap();
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            }
        }
    }
    Ok(())
}
