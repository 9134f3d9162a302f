//! The library over a socket pair: events queued in order, pipelining.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use qmp::{Client, Options, Pipeline, Reply, Request};
use serde_json::{Value, json};

/// Runs `server` on one end of a socket pair, returns a client on the other.
fn pair(
    server: impl FnOnce(UnixStream) + Send + 'static,
) -> (Client<UnixStream>, std::thread::JoinHandle<()>) {
    let (a, b) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || server(b));
    let c = Client::with_stream(
        a,
        "pair",
        &Options {
            timeout: Duration::from_secs(10),
            ..Default::default()
        },
    )
    .unwrap();
    (c, t)
}

fn send(s: &mut UnixStream, v: Value) {
    use std::io::Write;
    s.write_all(format!("{v}\r\n").as_bytes()).unwrap();
}

fn requests(s: &UnixStream) -> impl Iterator<Item = Value> + use<> {
    serde_json::Deserializer::from_reader(s.try_clone().unwrap())
        .into_iter::<Value>()
        .map(Result::unwrap)
}

fn event(name: &str, n: u64) -> Value {
    json!({"event": name, "data": {"n": n}, "timestamp": {"seconds": 1, "microseconds": n}})
}

#[test]
fn events_before_and_between_replies_are_kept_in_order() {
    let (mut c, t) = pair(|mut s| {
        send(&mut s, json!({"QMP": {"version": {}, "capabilities": []}}));
        let mut reqs = requests(&s);
        reqs.next();
        send(&mut s, event("BEFORE_CAPS_REPLY", 0));
        send(&mut s, json!({"return": {}}));
        let r = reqs.next().unwrap();
        assert_eq!(r, json!({"execute": "a"}), "compact, no arguments, no id");
        send(&mut s, event("E", 1));
        send(&mut s, event("E", 2));
        assert!(r.get("id").is_none());
        send(&mut s, json!({"return": 1}));
        assert_eq!(reqs.next().unwrap(), json!({"execute": "b"}));
        send(&mut s, event("E", 3));
        send(&mut s, json!({"return": 2}));
        send(&mut s, event("E", 4));
    });
    assert_eq!(c.execute("a", None).unwrap(), json!(1));
    assert_eq!(c.execute("b", None).unwrap(), json!(2));
    t.join().unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let e = c
            .next_event(Some(Duration::from_secs(5)))
            .unwrap()
            .expect("an event");
        assert_eq!(e.timestamp(), Some((1, e.data()["n"].as_u64().unwrap())));
        seen.push(format!("{}{}", e.name(), e.data()["n"]));
    }
    assert_eq!(seen, ["BEFORE_CAPS_REPLY0", "E1", "E2", "E3", "E4"]);
    let end = c
        .next_event(Some(Duration::from_secs(5)))
        .unwrap_err()
        .to_string();
    assert_eq!(
        end,
        "connection closed by the server while waiting for an event"
    );
}

struct Numbers {
    next: u64,
    total: u64,
    got: Vec<Value>,
}

impl Pipeline for Numbers {
    fn next_request(&mut self, _: bool) -> Option<Request> {
        (self.next < self.total).then(|| {
            self.next += 1;
            let mut a = serde_json::Map::new();
            a.insert("n".into(), json!(self.next - 1));
            Request::new("echo", Some(a))
        })
    }
    fn on_reply(&mut self, index: usize, reply: Reply) -> bool {
        assert_eq!(index, self.got.len());
        self.got.push(reply.into_result().unwrap());
        true
    }
}

#[test]
fn pipeline_with_events_interleaved_and_oob() {
    const N: u64 = 20_000;
    let (a, mut b) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        send(
            &mut b,
            json!({"QMP": {"version": {}, "capabilities": ["oob"]}}),
        );
        let mut reqs = requests(&b);
        let caps = reqs.next().unwrap();
        assert_eq!(
            caps["arguments"],
            json!({"enable": ["oob"]}),
            "oob negotiated for pipelines"
        );
        send(&mut b, json!({"return": {}}));
        // Replies are big and written while requests keep coming: if the
        // client wrote everything before reading, both sides would block.
        let pad = "p".repeat(2000);
        for i in 0..N {
            let r = reqs.next().unwrap();
            assert_eq!(r["arguments"]["n"], i);
            send(&mut b, event("E", i));
            assert!(r.get("id").is_none(), "pipelined requests carry no id: {r}");
            send(
                &mut b,
                json!({"return": {"n": r["arguments"]["n"], "pad": pad}}),
            );
        }
    });
    let opts = Options {
        oob: true,
        ..Default::default()
    };
    let mut c = Client::with_stream(a, "pair", &opts).unwrap();
    assert!(c.oob());
    let mut p = Numbers {
        next: 0,
        total: N,
        got: Vec::new(),
    };
    c.pipeline(&mut p).unwrap();
    assert_eq!(p.got.len() as u64, N);
    for (i, v) in p.got.iter().enumerate() {
        assert_eq!(v["n"], i);
    }
    let events: Vec<u64> = c
        .take_events()
        .map(|e| e.data()["n"].as_u64().unwrap())
        .collect();
    assert_eq!(events, (0..N).collect::<Vec<_>>());
    t.join().unwrap();
}

/// Waits until `fd` is readable (at most 10 s).
fn readable(fd: std::os::fd::RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the length given.
    unsafe { libc::poll(&mut p, 1, 10_000) > 0 }
}

#[test]
fn events_already_there_are_taken_without_waiting() {
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (mut c, t) = pair(move |mut s| {
        send(&mut s, json!({"QMP": {"version": {}, "capabilities": []}}));
        let mut reqs = requests(&s);
        assert_eq!(reqs.next().unwrap()["execute"], "qmp_capabilities");
        send(&mut s, json!({"return": {}}));
        go_rx.recv().unwrap();
        send(&mut s, event("A", 1));
        send(&mut s, event("B", 2));
        go_rx.recv().unwrap();
        // closes
    });
    // Nothing yet: an empty answer at once, not a wait.
    let start = std::time::Instant::now();
    assert!(c.ready_events().unwrap().is_empty());
    assert!(start.elapsed() < Duration::from_secs(2));
    go_tx.send(()).unwrap();
    let fd = c.poll_fd().expect("a socket pair has a descriptor");
    let mut got = Vec::new();
    while got.len() < 2 {
        assert!(readable(fd), "the events never came");
        got.extend(c.ready_events().unwrap());
    }
    let names: Vec<&str> = got.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["A", "B"]);
    go_tx.send(()).unwrap();
    t.join().unwrap();
    assert!(readable(fd));
    let err = c.ready_events().unwrap_err().to_string();
    assert!(err.contains("connection closed by the server"), "{err}");
}

/// A large reply in QEMU's style (spaces after ':' and ','), written in
/// pieces with pauses, after an event that came in pieces too: the raw
/// reply is the compact text serde_json writes, whether the reply is in
/// the minifier's subset or not (a float, an escape: parsed as before).
#[test]
fn raw_replies_in_pieces_come_out_compact_as_serde_writes_them() {
    use std::io::Write;
    let big: Vec<Value> = (0..3000)
        .map(|i| json!({"name": format!("n{i}"), "meta-type": "object", "members": [{"name": "a", "type": "int", "default": null}], "n": i, "ok": i % 2 == 0}))
        .collect();
    let replies = [
        json!(big),
        json!({"f": 1.5, "s": "tab\there é", "big": u64::MAX, "neg": -0}),
        json!([]),
    ];
    let qemu_style = |v: &Value| {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced);
        serde::Serialize::serialize(v, &mut ser).unwrap();
        String::from_utf8(out).unwrap()
    };
    let texts: Vec<String> = replies
        .iter()
        .map(|r| qemu_style(&json!({"return": r})))
        .collect();
    let (mut c, t) = pair(move |mut s| {
        send(&mut s, json!({"QMP": {"version": {}, "capabilities": []}}));
        let mut reqs = requests(&s);
        reqs.next();
        send(&mut s, json!({"return": {}}));
        for text in &texts {
            reqs.next();
            let ev = format!("{}\r\n", event("E", 1));
            let (a, b) = ev.split_at(10);
            s.write_all(a.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            s.write_all(b.as_bytes()).unwrap();
            let msg = format!("{text}\r\n");
            let bytes = msg.as_bytes();
            for piece in bytes.chunks(bytes.len() / 3 + 1) {
                s.write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
    for r in &replies {
        match c.request_raw("x", None).unwrap() {
            qmp::RawReply::Return(text) => assert_eq!(text, r.to_string()),
            other => panic!("{other:?}"),
        }
    }
    t.join().unwrap();
    assert_eq!(c.take_events().count(), 3, "the events were kept");
}

/// serde_json's pretty printer without newlines: QEMU's `{"a": 1, "b": 2}`.
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
}

/// A qomfs (the whole tree, a TTL of an hour) over a socket pair whose
/// server greets, then answers each request of `script` in turn (asserting
/// it is the one expected); a step `(null, null)` asserts instead that no
/// request is waiting (the next comes later, not in the same batch).
/// `report` gets the messages of failed writes. Join the server's thread
/// once the filesystem is dropped.
fn scripted_qomfs(
    script: Vec<(Value, Value)>,
    report: Box<dyn Fn(&str) + Send + Sync>,
) -> (qmp::qomfs::QomFs, std::thread::JoinHandle<()>) {
    use qmp::qomfs::{Conn, QomFs, Settings};
    let (c, t) = pair(|mut s| {
        send(&mut s, json!({"QMP": {"version": {}, "capabilities": []}}));
        let mut reqs = requests(&s);
        reqs.next();
        send(&mut s, json!({"return": {}}));
        for (want, reply) in script {
            if want.is_null() {
                use std::os::fd::AsRawFd;
                let mut b = [0u8; 1];
                let (fd, flags) = (s.as_raw_fd(), libc::MSG_PEEK | libc::MSG_DONTWAIT);
                // SAFETY: an open socket and a buffer of the length given.
                let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), 1, flags) };
                assert_eq!(n, -1, "a request came in the same batch");
                continue;
            }
            assert_eq!(reqs.next().unwrap(), want);
            send(&mut s, reply);
        }
    });
    let conn = Conn::start(c, |_| {}).unwrap();
    let settings = Settings {
        root: "/".into(),
        ttl: Duration::from_secs(3600),
        read_only: false,
    };
    (QomFs::new(conn, settings, report), t)
}

/// qomfs over a socket pair with a server that has qom-list-get (QEMU
/// 10.1): listings bring the values, so sizes and link targets need no
/// qom-get; escaped names; a write converted, refused by type, then by QEMU.
#[test]
fn qomfs_with_qom_list_get() {
    use qmp::qomfs::{EntryKind, ROOT};
    use std::sync::{Arc, Mutex};
    let script = vec![
        (
            json!({"execute": "qom-list-get", "arguments": {"paths": ["/"]}}),
            json!({"return": [{"properties": [
                {"name": "type", "type": "string", "value": "container"},
                {"name": "machine", "type": "child<container>"},
                {"name": "a/b", "type": "uint8", "value": 5},
                {"name": "", "type": "bool", "value": true},
                {"name": "l", "type": "link<x>", "value": "/machine"},
                {"name": "none", "type": "link<x>", "value": ""},
            ]}]}),
        ),
        // The children, listed ahead in one command.
        (
            json!({"execute": "qom-list-get", "arguments": {"paths": ["/machine"]}}),
            json!({"return": [{"properties": [
                {"name": "type", "type": "string", "value": "container"},
            ]}]}),
        ),
        (
            json!({"execute": "qom-set", "arguments": {"path": "/", "property": "a/b", "value": 7}}),
            json!({"return": {}}),
        ),
        (
            json!({"execute": "qom-set", "arguments": {"path": "/", "property": "a/b", "value": 8}}),
            json!({"error": {"class": "GenericError", "desc": "Property 'container.a/b' is not writable"}}),
        ),
    ];
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = said.clone();
    let (fs, t) = scripted_qomfs(
        script,
        Box::new(move |m: &str| log.lock().unwrap().push(m.to_string())),
    );
    let entries = fs.readdir(ROOT, true).unwrap();
    let names: Vec<(&str, EntryKind)> = entries.iter().map(|(_, k, n)| (n.as_str(), *k)).collect();
    assert_eq!(
        names,
        [
            ("type", EntryKind::File),
            ("machine", EntryKind::Dir),
            ("a%2Fb", EntryKind::File),
            ("%", EntryKind::File),
            ("l", EntryKind::Link),
            ("none", EntryKind::Link),
        ]
    );
    assert_eq!(
        fs.lookup(ROOT, "type").unwrap().size,
        "container\n".len() as u64
    );
    assert_eq!(fs.lookup(ROOT, "%").unwrap().size, "True\n".len() as u64);
    let l = fs.lookup(ROOT, "l").unwrap();
    assert_eq!(fs.readlink(l.ino).unwrap(), b"machine");
    let none = fs.lookup(ROOT, "none").unwrap();
    assert_eq!(
        fs.readlink(none.ino).unwrap(),
        qmp::qomfs::EMPTY_LINK.as_bytes()
    );
    assert_eq!(fs.getxattr(l.ino, "user.qom.type").unwrap(), b"link<x>");
    // The child's listing came ahead: no request for it now.
    let m = fs.lookup(ROOT, "machine").unwrap();
    assert_eq!(fs.lookup(m.ino, "type").unwrap().size, 10);
    assert_eq!(fs.lookup(ROOT, "a/b"), Err(libc::ENOENT));
    let ab = fs.lookup(ROOT, "a%2Fb").unwrap();
    assert_eq!(ab.mode, 0o644);
    // Does not convert: nothing sent, the reason reported.
    let fh = fs.open(ab.ino, false, true, true).unwrap().fh;
    assert_eq!(fs.write(fh, 0, b"300\n"), Err(libc::EINVAL));
    assert!(said.lock().unwrap()[0].starts_with("/.a/b: '300' is not a valid uint8"));
    fs.truncate(ab.ino, Some(fh), 0).unwrap();
    assert_eq!(fs.write(fh, 0, b"7\n"), Ok(2));
    assert_eq!(fs.release(fh), Ok(()));
    // QEMU refuses: EACCES, its message, and the file is 0444 from then on.
    let fh = fs.open(ab.ino, false, true, true).unwrap().fh;
    assert_eq!(fs.write(fh, 0, b"8"), Ok(1));
    assert_eq!(fs.flush(fh), Err(libc::EACCES));
    assert_eq!(fs.release(fh), Ok(()));
    assert!(said.lock().unwrap()[1].contains("is not writable"));
    assert_eq!(fs.open(ab.ino, false, true, true), Err(libc::EACCES));
    drop(fs);
    t.join().unwrap();
}

/// qomfs: a read-only open goes through the kernel's page cache only when
/// its value has the size the kernel was told; otherwise direct I/O, and
/// the read brings the whole new value. While a page-cached open lasts,
/// the file's size is its value's.
#[test]
fn qomfs_page_cache_only_at_the_size_told() {
    use qmp::qomfs::ROOT;
    // Older than this, a value is read again at open (qomfs::FRESH).
    let stale = || std::thread::sleep(Duration::from_millis(150));
    let get = json!({"execute": "qom-get", "arguments": {"path": "/", "property": "a"}});
    let script = vec![
        (
            json!({"execute": "qom-list-get", "arguments": {"paths": ["/"]}}),
            json!({"return": [{"properties": [
                {"name": "a", "type": "string", "value": "x"},
            ]}]}),
        ),
        (get.clone(), json!({"return": "y"})),
        (get, json!({"return": "longer"})),
    ];
    let (fs, t) = scripted_qomfs(script, Box::new(|_: &str| {}));
    fs.readdir(ROOT, true).unwrap();
    let a = fs.lookup(ROOT, "a").unwrap();
    assert_eq!(a.size, 2);
    // Read afresh, the same size: the page cache.
    stale();
    let o = fs.open(a.ino, true, false, false).unwrap();
    assert!(o.page_cache);
    assert_eq!(fs.read(o.fh, 0, 4096).unwrap(), b"y\n");
    // A second open meanwhile reads with direct I/O (the kernel shares the
    // cached pages between opens of a file).
    let o2 = fs.open(a.ino, true, false, false).unwrap();
    assert!(!o2.page_cache);
    fs.release(o2.fh).unwrap();
    fs.release(o.fh).unwrap();
    // Longer than told: direct I/O, the whole value.
    stale();
    let o = fs.open(a.ino, true, false, false).unwrap();
    assert!(!o.page_cache);
    assert_eq!(fs.read(o.fh, 0, 4096).unwrap(), b"longer\n");
    fs.release(o.fh).unwrap();
    assert_eq!(fs.getattr(a.ino).unwrap().size, 7);
    // Writing never goes through the page cache.
    let o = fs.open(a.ino, false, true, true).unwrap();
    assert!(!o.page_cache);
    fs.release(o.fh).unwrap();
    drop(fs);
    t.join().unwrap();
}

/// qomfs without qom-list-get (QEMU 10.0): the stat of a file reads its
/// value with those that follow it up to the next child object, in one
/// batch; the rest when a stat comes to them.
#[test]
fn qomfs_reads_values_up_to_the_next_object() {
    use qmp::qomfs::ROOT;
    let get = |p: &str| json!({"execute": "qom-get", "arguments": {"path": "/", "property": p}});
    let script = vec![
        (
            json!({"execute": "qom-list-get", "arguments": {"paths": ["/"]}}),
            json!({"error": {"class": "CommandNotFound", "desc": "The command qom-list-get has not been found"}}),
        ),
        (
            json!({"execute": "qom-list", "arguments": {"path": "/"}}),
            json!({"return": [
                {"name": "a", "type": "int"},
                {"name": "b", "type": "str"},
                {"name": "c", "type": "child<container>"},
                {"name": "d", "type": "bool"},
            ]}),
        ),
        (
            json!({"execute": "qom-list", "arguments": {"path": "/c"}}),
            json!({"return": []}),
        ),
        (get("a"), json!({"return": 1})),
        (get("b"), json!({"return": "bee"})),
        (Value::Null, Value::Null),
        (get("d"), json!({"return": false})),
    ];
    let (fs, t) = scripted_qomfs(script, Box::new(|_: &str| {}));
    fs.readdir(ROOT, true).unwrap();
    assert_eq!(fs.lookup(ROOT, "a").unwrap().size, 2);
    // Came with a's.
    assert_eq!(fs.lookup(ROOT, "b").unwrap().size, 4);
    // Past the child: asked now (after the server looked for it).
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(fs.lookup(ROOT, "d").unwrap().size, 6);
    drop(fs);
    t.join().unwrap();
}

/// qomfs's shared connection streams its jobs: each is answered as soon as
/// its own replies are in, not when those of the jobs sent with it are.
#[test]
fn qomfs_conn_answers_each_job_when_its_replies_are_in() {
    use qmp::qomfs::Conn;
    use std::sync::mpsc;
    let (go, wait) = mpsc::channel::<()>();
    let (c, t) = pair(move |mut s| {
        send(&mut s, json!({"QMP": {"version": {}, "capabilities": []}}));
        let mut reqs = requests(&s);
        reqs.next();
        send(&mut s, json!({"return": {}}));
        assert_eq!(reqs.next().unwrap()["execute"], "query-name");
        send(&mut s, json!({"return": {"name": "a"}}));
        assert_eq!(reqs.next().unwrap()["execute"], "query-uuid");
        wait.recv().unwrap();
        send(&mut s, json!({"return": {"UUID": "b"}}));
    });
    let conn = Conn::start(c, |_| {}).unwrap();
    let (tx, rx) = mpsc::channel();
    for command in ["query-name", "query-uuid"] {
        let tx = tx.clone();
        let done = Box::new(move |r: Result<Vec<Reply>, qmp::qomfs::Lost>| {
            tx.send((command, r.unwrap().len())).unwrap();
        });
        conn.send(vec![Request::new(command, None)], done).unwrap();
    }
    let first = rx.recv_timeout(Duration::from_secs(5));
    assert_eq!(
        first,
        Ok(("query-name", 1)),
        "answered before the next reply"
    );
    go.send(()).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(("query-uuid", 1))
    );
    drop(conn);
    t.join().unwrap();
}

/// qomfs: a reader that goes into a child object from the end of the values
/// before it walks the tree; the values at the start of the next child it
/// comes to are read ahead (a reader of one directory reads none of them).
#[test]
fn qomfs_reads_ahead_into_the_next_child_of_a_walker() {
    use qmp::qomfs::ROOT;
    let get = |path: &str, p: &str| json!({"execute": "qom-get", "arguments": {"path": path, "property": p}});
    let list = |path: &str| json!({"execute": "qom-list", "arguments": {"path": path}});
    let script = vec![
        (
            json!({"execute": "qom-list-get", "arguments": {"paths": ["/"]}}),
            json!({"error": {"class": "CommandNotFound", "desc": "The command qom-list-get has not been found"}}),
        ),
        (
            list("/"),
            json!({"return": [{"name": "a", "type": "int"}, {"name": "c", "type": "child<container>"}]}),
        ),
        (
            list("/c"),
            json!({"return": [{"name": "x", "type": "int"}, {"name": "y", "type": "child<container>"}]}),
        ),
        (get("/", "a"), json!({"return": 1})),
        // Not a walker yet: nothing of c is read ahead.
        (Value::Null, Value::Null),
        (
            list("/c/y"),
            json!({"return": [{"name": "z", "type": "int"}]}),
        ),
        (get("/c", "x"), json!({"return": 22})),
        // Into c from the end of /'s values: z, at the start of y, ahead
        // (before what the reader asks next).
        (get("/c/y", "z"), json!({"return": 333})),
        (
            json!({"execute": "qom-list-properties", "arguments": {"typename": "container"}}),
            json!({"return": []}),
        ),
    ];
    let (fs, t) = scripted_qomfs(script, Box::new(|_: &str| {}));
    fs.readdir(ROOT, true).unwrap();
    assert_eq!(fs.lookup(ROOT, "a").unwrap().size, 2);
    std::thread::sleep(Duration::from_millis(200));
    let c = fs.lookup(ROOT, "c").unwrap();
    fs.readdir(c.ino, true).unwrap();
    let x = fs.lookup(c.ino, "x").unwrap();
    assert_eq!(x.size, 3);
    assert_eq!(
        fs.getxattr(x.ino, "user.qom.description"),
        Err(libc::ENODATA)
    );
    let y = fs.lookup(c.ino, "y").unwrap();
    fs.readdir(y.ino, true).unwrap();
    assert_eq!(fs.lookup(y.ino, "z").unwrap().size, 4);
    drop(fs);
    t.join().unwrap();
}
