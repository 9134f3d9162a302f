//! qmp-exec against real QEMU servers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::qemu::{Qemu, available, qsd_bin};
use crate::util::{Cmd, exec};

#[test]
fn query_version_plain_json_raw() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let plain = exec(q.sock(), &["query-version"]).ok();
    let v: Value = serde_json::from_str(plain.stdout.trim_end()).unwrap();
    assert!(
        v["qemu"]["major"].as_u64().unwrap() >= 2,
        "{}",
        plain.show()
    );
    // Not a terminal: one compact line, members in QEMU's order.
    assert_eq!(plain.stdout.lines().count(), 1, "{}", plain.show());
    assert!(
        plain.stdout.starts_with("{\"qemu\":{\"micro\":"),
        "{}",
        plain.show()
    );
    let j = exec(q.sock(), &["--json", "query-version"]).ok();
    assert_eq!(j.json(), v);
    let pretty = exec(q.sock(), &["--pretty", "query-version"]).ok();
    assert!(
        pretty.stdout.starts_with("{\n  \"qemu\": {\n"),
        "{}",
        pretty.show()
    );
    let raw = exec(q.sock(), &["--raw", "query-version"]).ok();
    assert_eq!(raw.json(), json!({"return": v}));
    // QMP_SOCKET is the default address.
    let env = Cmd::new("qmp-exec")
        .env("QMP_SOCKET", q.sock().to_str().unwrap())
        .arg("query-version")
        .ok();
    assert_eq!(env.stdout, plain.stdout);
}

#[test]
fn error_reply_is_status_1_with_class_and_desc() {
    let Some(q) = Qemu::system(&[]) else { return };
    exec(q.sock(), &["device_del", "id=nic9"])
        .status(1)
        .assert_err("qmp-exec: DeviceNotFound: Device 'nic9' not found")
        .assert_stdout("");
    let raw = exec(q.sock(), &["--raw", "device_del", "id=nic9"]).status(1);
    assert_eq!(
        raw.json()["error"]["class"],
        "DeviceNotFound",
        "{}",
        raw.show()
    );
    exec(q.sock(), &["no-such-command"])
        .status(1)
        .assert_err("qmp-exec: CommandNotFound: The command no-such-command has not been found");
}

#[test]
fn items_reach_qemu_with_their_json_types() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let s = q.sock();
    let idfile = q.path("id.txt");
    std::fs::write(&idfile, "io0").unwrap();
    let id_item = format!("id=@{}", idfile.display());
    // An int property: a JSON number, read back as one.
    exec(
        s,
        &[
            "object-add",
            "qom-type=iothread",
            &id_item,
            "poll-max-ns:=1000",
        ],
    )
    .ok()
    .assert_stdout("");
    exec(s, &["qom-get", "path=/objects/io0", "property=poll-max-ns"])
        .ok()
        .assert_stdout("1000\n");
    let j = exec(
        s,
        &[
            "--json",
            "qom-get",
            "path=/objects/io0",
            "property=poll-max-ns",
        ],
    )
    .ok();
    assert_eq!(j.json(), json!(1000));
    // A string where QEMU wants a number is refused by QEMU itself.
    exec(
        s,
        &[
            "object-add",
            "qom-type=iothread",
            "id=io1",
            "poll-max-ns=1000",
        ],
    )
    .status(1);
    // Nested objects, bools, big integers, and --args merged with items.
    let argsfile = q.path("args.json");
    std::fs::write(
        &argsfile,
        "{\"driver\": \"null-co\", \"size\": 1099511627776}",
    )
    .unwrap();
    let file_item = format!("file:=@{}", argsfile.display());
    exec(
        s,
        &[
            "blockdev-add",
            "driver=raw",
            "node-name=r0",
            &file_item,
            "read-only:=true",
        ],
    )
    .ok();
    exec(
        s,
        &[
            "--args",
            "{\"driver\":\"raw\",\"node-name\":\"r1\"}",
            "blockdev-add",
            "file.driver=null-co",
            "file.size:=4096",
        ],
    )
    .ok();
    Cmd::new("qmp-exec")
        .args(&["-s", s.to_str().unwrap(), "--args", "-", "blockdev-add"])
        .stdin(r#"{"driver":"null-co","node-name":"n2","size":512}"#)
        .ok();
    let nodes = exec(s, &["--json", "query-named-block-nodes"]).ok().json();
    let node = |name: &str| {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node-name"] == name)
            .cloned()
    };
    let r0 = node("r0").expect("r0");
    assert_eq!(r0["ro"], true);
    assert_eq!(r0["image"]["virtual-size"], json!(1099511627776u64));
    assert_eq!(node("r1").expect("r1")["image"]["virtual-size"], 4096);
    assert_eq!(node("n2").expect("n2")["image"]["virtual-size"], 512);
    // Conflicting and malformed items never reach the server.
    // Items override --args: the node is null-co, not raw.
    exec(
        s,
        &[
            "--args",
            "{\"driver\":\"raw\",\"node-name\":\"t0\"}",
            "blockdev-add",
            "driver=null-co",
        ],
    )
    .ok();
    exec(s, &["blockdev-add", "size:=12k"])
        .status(2)
        .assert_err_has("qmp-exec: ", "invalid JSON after ':='");
    exec(s, &["--args", "[1]", "blockdev-add"])
        .status(2)
        .assert_err("qmp-exec: --args must be a JSON object");
    exec(s, &["--args", "{}", "driver=raw"])
        .status(2)
        .assert_err("qmp-exec: 'driver=raw' is an argument, not a command: give the command first");
}

#[test]
fn hmp_prints_text_and_its_errors_fail() {
    let Some(q) = Qemu::system(&["-M", "pc", "-S", "-accel", "tcg", "-smp", "2"]) else {
        return;
    };
    let paused = "VM status: paused (prelaunch)\n";
    // One quoted command line, or its words unquoted (as virsh takes them).
    exec(q.sock(), &["--hmp", "info status"])
        .ok()
        .assert_stdout(paused);
    exec(q.sock(), &["--hmp", "info", "status"])
        .ok()
        .assert_stdout(paused);
    let j = exec(q.sock(), &["--json", "--hmp", "info", "status"]).ok();
    assert_eq!(j.json(), json!("VM status: paused (prelaunch)\r\n"));
    // --cpu-index: HMP's current CPU is the one marked '*'.
    let cpus = exec(q.sock(), &["--hmp", "info", "cpus", "--cpu-index", "1"]).ok();
    assert!(cpus.stdout.contains("* CPU #1:"), "{}", cpus.show());
    assert!(cpus.stdout.contains("  CPU #0:"), "{}", cpus.show());
    // No output prints nothing (not an empty line); --json still shows "".
    exec(q.sock(), &["--hmp", "cont"]).ok().assert_stdout("");
    exec(q.sock(), &["--json", "--hmp", "stop"])
        .ok()
        .assert_stdout("\"\"\n");
    // HMP's errors: stderr, one line, status 1, nothing on stdout.
    let errors: &[(&[&str], &str)] = &[
        (&["foo", "bar"], "qmp-exec: HMP: unknown command: 'foo'"),
        (
            &["info nosuch"],
            "qmp-exec: HMP: unknown command: 'info nosuch'",
        ),
        (
            &["device_del", "nosuch"],
            "qmp-exec: HMP: Error: Device 'nosuch' not found",
        ),
        (
            &["cpu", "x"],
            "qmp-exec: HMP: invalid char 'x' in expression; Try \"help cpu\" for more information",
        ),
    ];
    for (words, want) in errors {
        let mut args = vec!["--hmp"];
        args.extend(*words);
        exec(q.sock(), &args)
            .status(1)
            .assert_err(want)
            .assert_stdout("");
    }
    exec(q.sock(), &["--hmp", "info", "cpus", "--cpu-index", "7"])
        .status(1)
        .assert_err("qmp-exec: GenericError: Parameter 'cpu-index' expects a CPU number");
    // qemu-storage-daemon has no HMP: say so.
    let Some(d) = Qemu::qsd(&[]) else { return };
    exec(d.sock(), &["--hmp", "info", "status"])
        .status(1)
        .assert_err(
            "qmp-exec: this server has no human monitor: HMP needs qemu-system-* \
             (qemu-storage-daemon has none)",
        );
}

fn qom_get_lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            let prop = if i % 2 == 0 { "type" } else { "poll-max-ns" };
            format!("{{\"execute\":\"qom-get\",\"arguments\":{{\"path\":\"/objects/io0\",\"property\":\"{prop}\"}},\"id\":{i}}}\n")
        })
        .collect()
}

#[test]
fn batch_of_1000_in_order() {
    let Some(q) = Qemu::qsd(&["--object", "iothread,id=io0,poll-max-ns=77"]) else {
        return;
    };
    let out = exec(q.sock(), &["--batch"]).stdin(qom_get_lines(1000)).ok();
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1000, "{}", out.show());
    for (i, l) in lines.iter().enumerate() {
        let want = if i % 2 == 0 {
            json!("iothread")
        } else {
            json!(77)
        };
        assert_eq!(l, &json!({"return": want, "id": i}), "line {i}");
    }
}

#[test]
fn batch_stops_at_first_error_unless_keep_going() {
    let Some(q) = Qemu::qsd(&["--object", "iothread,id=io0"]) else {
        return;
    };
    // 2,000 requests are more than the pipeline writes ahead, so stopping shows.
    let mut input = qom_get_lines(1);
    input.push_str("{\"execute\":\"nope\"}\n");
    input.push_str(&qom_get_lines(2000));
    let stop = exec(q.sock(), &["--batch"]).stdin(input.clone()).status(1);
    stop.assert_err("qmp-exec: stdin line 2: CommandNotFound: The command nope has not been found");
    let n = stop.stdout.lines().count();
    assert!(
        (2..2002).contains(&n),
        "stopped after the error, {n} replies{}",
        stop.show()
    );
    let go = exec(q.sock(), &["--batch", "--keep-going"])
        .stdin(input)
        .status(1);
    assert_eq!(go.stdout.lines().count(), 2002, "{}", go.show());
    // An invalid line: reported with its number, nothing sent for it or after.
    let bad = exec(q.sock(), &["--batch"])
        .stdin(format!(
            "{}\n{{\"execute\": 1}}\n{}",
            qom_get_lines(1).trim(),
            qom_get_lines(3)
        ))
        .status(2);
    bad.assert_err("qmp-exec: stdin line 2: \"execute\" must be a string; nothing sent for it");
    assert_eq!(bad.stdout.lines().count(), 1, "{}", bad.show());
    let kept = exec(q.sock(), &["--batch", "--keep-going"])
        .stdin(format!("junk\n\n{}", qom_get_lines(3)))
        .status(2);
    assert_eq!(kept.stdout.lines().count(), 3, "{}", kept.show());
}

#[test]
fn a_busy_monitor_reads_the_same_until_it_frees() {
    let Some(q) = Qemu::system(&[]) else { return };
    let addr = qmp::Address::Unix(q.sock.clone());
    let busy = format!(
        "qmp-exec: {} is busy: no greeting within 1 s: another client is probably connected \
         (QEMU serves one client per monitor socket; give QEMU a second -qmp socket for a second \
         client), or this is not a QMP monitor (a guest agent sends no greeting)",
        q.sock().display()
    );
    let held = qmp::Client::connect(&addr, &qmp::Options::default()).unwrap();
    // Queued behind the client that holds the monitor: no greeting.
    let out = exec(q.sock(), &["--timeout", "1", "query-version"]).status(3);
    out.assert_err(&busy);
    assert!(out.elapsed >= Duration::from_secs(1), "{}", out.show());
    assert!(out.elapsed < Duration::from_secs(4), "{}", out.show());
    // Abandoned connections fill QEMU's backlog: connect itself is refused
    // (EAGAIN). The same status and the same words, after the same wait.
    let mut abandoned = Vec::new();
    loop {
        let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        match s.connect(&socket2::SockAddr::unix(q.sock()).unwrap()) {
            Ok(()) => abandoned.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(abandoned.len() < 64, "the backlog never filled");
    }
    for wait in [&[][..], &["--wait"]] {
        let mut args = vec!["--timeout", "1", "query-version"];
        args.extend(wait);
        let out = exec(q.sock(), &args).status(3);
        out.assert_err(&busy);
        assert!(out.elapsed >= Duration::from_secs(1), "{}", out.show());
        assert!(out.elapsed < Duration::from_secs(4), "{}", out.show());
    }
    // --wait rides it out: once the holder and the abandoned connections
    // go, the command runs.
    let waiting = exec(q.sock(), &["--wait", "--timeout", "30", "query-status"]).spawn();
    std::thread::sleep(Duration::from_millis(1500));
    drop(abandoned);
    drop(held);
    let out = waiting.wait();
    out.assert_status(0);
    assert!(out.stdout.contains("\"running\""), "{}", out.show());
}

#[test]
fn wait_for_a_server_started_later() {
    if !available(qsd_bin()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("qmp.sock");
    // Without --wait: the missing socket is an immediate connection error.
    exec(&sock, &["query-version"])
        .status(3)
        .assert_err(&format!(
            "qmp-exec: cannot connect to {}: No such file or directory (os error 2)",
            sock.display()
        ));
    let waiting = exec(
        &sock,
        &["--wait", "--timeout", "20", "--json", "query-version"],
    )
    .spawn();
    std::thread::sleep(Duration::from_millis(500));
    let q = Qemu::start(
        qsd_bin(),
        &[
            "--chardev",
            &format!("socket,id=m,path={},server=on,wait=off", sock.display()),
            "--monitor",
            "chardev=m",
        ],
        dir,
        sock.clone(),
    );
    let out = waiting.wait();
    out.assert_status(0);
    assert!(out.json()["qemu"]["major"].is_u64(), "{}", out.show());
    drop(q);
    // --wait gives up at the deadline with status 4 and the last reason.
    let gone = tempfile::tempdir().unwrap();
    let out = exec(
        &gone.path().join("none.sock"),
        &["--wait", "--timeout", "0.3", "query-status"],
    )
    .status(4);
    out.assert_err_has(
        "qmp-exec: timed out after 0.3 s waiting for",
        "(last error: No such file or directory",
    );
}

#[test]
fn tcp_addresses() {
    // A free port: bind, note it, release (a small race, fine for a test).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let chardev = format!("socket,id=t,host=127.0.0.1,port={port},server=on,wait=off");
    let Some(_q) = Qemu::qsd(&["--chardev", &chardev, "--monitor", "chardev=t"]) else {
        return;
    };
    for addr in [
        format!("127.0.0.1:{port}"),
        format!("tcp:127.0.0.1:{port}"),
        format!("tcp:localhost:{port}"),
    ] {
        let out = Cmd::new("qmp-exec")
            .args(&["-s", &addr, "--json", "query-version"])
            .ok();
        assert!(out.json()["qemu"]["major"].is_u64(), "{}", out.show());
    }
}

#[test]
fn usage_errors_are_status_2_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["query-status"],
            "qmp-exec: no monitor address: give -s/--socket ADDR or set QMP_SOCKET",
        ),
        (
            &["-s", "host:port", "query-status"],
            "qmp-exec: invalid value 'host:port' for '--socket <ADDR>': bad address 'host:port': port 'port' is not a number",
        ),
        (
            &["-s", "/x", "query-status", "novalue"],
            "qmp-exec: bad argument 'novalue': missing '='",
        ),
        (
            &["-s", "/x", "--timeout=-1", "query-status"],
            "qmp-exec: invalid value '-1' for '--timeout <SECS>'",
        ),
        (
            &["-s", "/x", "--timeout", "forever", "query-status"],
            "qmp-exec: invalid value 'forever' for '--timeout <SECS>'",
        ),
        (
            &["-s", "/x"],
            "qmp-exec: the following required arguments were not provided: <COMMAND>",
        ),
        (
            &["-s", "/x", "--bogus"],
            "qmp-exec: unexpected argument '--bogus' found",
        ),
        (
            &["-s", "/x", "--hmp", "--batch"],
            "qmp-exec: the argument '--hmp' cannot be used with '--batch'",
        ),
        (
            &["-s", "/x", "--cpu-index", "1", "query-status"],
            "qmp-exec: the following required arguments were not provided: --hmp",
        ),
        (
            &["-s", "/x", "query-status", "x"],
            "qmp-exec: bad argument 'x': ",
        ),
    ];
    for (args, want) in cases.iter() {
        let out = Cmd::new("qmp-exec").args(args).status(2);
        out.assert_err_has(want, "");
        assert!(out.stdout.is_empty());
    }
    let help = Cmd::new("qmp-exec").arg("--help").ok();
    assert!(
        help.stdout.contains("Examples:") && help.stdout.contains("QMP_SOCKET"),
        "{}",
        help.show()
    );
    let version = Cmd::new("qmp-exec").arg("--version").ok();
    assert_eq!(
        version.stdout,
        format!("qmp-exec {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn batch_answers_each_line_before_the_next_arrives() {
    // A coprocess writes a command, waits for its reply, then writes the
    // next: --batch must answer without waiting for more input.
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let Some(q) = Qemu::qsd(&["--object", "iothread,id=io0"]) else {
        return;
    };
    let mut child = Command::new(crate::util::bin("qmp-exec"))
        .args(["-s", q.sock().to_str().unwrap(), "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    for (i, prop) in ["type", "poll-max-ns", "type"].iter().enumerate() {
        let line = format!(
            "{{\"execute\":\"qom-get\",\"arguments\":{{\"path\":\"/objects/io0\",\"property\":\"{prop}\"}},\"id\":{i}}}\n"
        );
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let reply = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "no reply to line {} while the next line is not written yet",
                i + 1
            )
        });
        let v: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["id"], i, "{reply}");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_large_reply_prints_as_its_value_would() {
    // Printed from the raw reply (no Value built): byte for byte what the
    // parsed value prints, in plain (piped) and --json output.
    let Some(q) = Qemu::qsd(&[]) else { return };
    let raw = exec(q.sock(), &["--raw", "query-qmp-schema"]).ok().json();
    let want = format!("{}\n", raw["return"]);
    assert!(want.len() > 50_000, "a large reply: {} bytes", want.len());
    exec(q.sock(), &["query-qmp-schema"])
        .ok()
        .assert_stdout(&want);
    exec(q.sock(), &["--json", "query-qmp-schema"])
        .ok()
        .assert_stdout(&want);
    // Small returns keep their plain forms: {} prints nothing, a string is
    // printed raw with LF line ends.
    for (reply, want) in [
        (&b"{\"return\": {  }}\r\n"[..], ""),
        (b"{\"return\": \"a\\r\\nb\"}\r\n", "a\nb\n"),
    ] {
        let f = crate::fake::Fake::new(vec![
            crate::fake::expect("x"),
            crate::fake::Raw(reply.to_vec()),
        ]);
        exec(f.path(), &["x"]).ok().assert_stdout(want);
        f.finish();
    }
}
