//! Arguments that mean what the user meant: typed qom-set, property names
//! with dots, type hints, 64-bit integers, whole commands, --args as a
//! template, and socket addresses of any length.

use std::time::Duration;

use serde_json::json;

use crate::fake::*;
use crate::qemu::{Qemu, version};
use crate::util::{Cmd, exec, tool};

/// A paused q35 machine with a free hot-plug slot (rp9) and two virtio
/// devices (two objects named virtio-backend).
fn q35() -> Option<Qemu> {
    Qemu::system(&[
        "-M",
        "q35",
        "-S",
        "-accel",
        "tcg",
        "-object",
        "iothread,id=io0",
        "-device",
        "pcie-root-port,id=rp9,chassis=9",
        "-device",
        "virtio-rng-pci,id=vr0",
        "-device",
        "virtio-balloon-pci,id=vb0",
    ])
}

fn get(q: &Qemu, prop: &str) -> String {
    tool("qom-get", q.sock(), &[prop]).ok().stdout
}

#[test]
fn qom_set_sends_the_type_the_property_has() {
    let Some(q) = q35() else { return };
    let s = q.sock();
    // A string property gets the text, as QEMU's qom-set sends it.
    tool("qom-set", s, &["/machine.append", "123"]).ok();
    assert_eq!(get(&q, "/machine.append"), "123\n");
    tool("qom-set", s, &["/machine.append", " \"quoted\" "]).ok();
    assert_eq!(get(&q, "/machine.append"), " \"quoted\" \n");
    // Integers, exactly, decimal or hex; bools in their usual spellings;
    // a QAPI enum as its text.
    tool("qom-set", s, &["/objects/io0.poll-max-ns", "0x10"]).ok();
    assert_eq!(get(&q, "/objects/io0.poll-max-ns"), "16\n");
    tool("qom-set", s, &["/machine.max-ram-below-4g", "1073741824"]).ok();
    assert_eq!(get(&q, "/machine.max-ram-below-4g"), "1073741824\n");
    for (text, want) in [("off", "False\n"), ("yes", "True\n"), ("false", "False\n")] {
        tool("qom-set", s, &["/machine.dump-guest-core", text]).ok();
        assert_eq!(get(&q, "/machine.dump-guest-core"), want, "{text}");
    }
    tool("qom-set", s, &["/machine.vmport", "on"]).ok();
    assert_eq!(get(&q, "/machine.vmport"), "on\n");
    // A value that does not fit: a usage error naming the type, nothing set.
    tool("qom-set", s, &["/objects/io0.poll-max-ns", "lots"])
        .status(2)
        .assert_err(
            "qom-set: /objects/io0.poll-max-ns: 'lots' is not a valid int: expected an integer \
             from -9223372036854775808 to 9223372036854775807, decimal or 0x hex (--json sends \
             VALUE as JSON, --string as text); nothing was set",
        );
    tool("qom-set", s, &["/machine.dump-guest-core", "maybe"])
        .status(2)
        .assert_err_has(
            "qom-set: /machine.dump-guest-core: 'maybe' is not a valid bool",
            "",
        );
    assert_eq!(get(&q, "/objects/io0.poll-max-ns"), "16\n");
    // --json and --string, whatever the type; QEMU's refusal gets a hint.
    tool("qom-set", s, &["--json", "/objects/io0.poll-max-ns", "32"]).ok();
    assert_eq!(get(&q, "/objects/io0.poll-max-ns"), "32\n");
    tool(
        "qom-set",
        s,
        &["--string", "/objects/io0.poll-max-ns", "64"],
    )
    .status(1)
    .assert_err(
        "qom-set: /objects/io0.poll-max-ns: GenericError: Invalid parameter type for \
             'poll-max-ns', expected: integer (--json sends VALUE as JSON, --string as text)",
    );
}

#[test]
fn qom_set_on_the_wire() {
    // What is sent, for types a fake can claim; and nothing at all when the
    // value does not fit.
    let list = json!([{"name": "type", "type": "string"}, {"name": "u8", "type": "uint8"},
        {"name": "s", "type": "str"}, {"name": "l", "type": "link<iothread>"},
        {"name": "st", "type": "ThrottleLimits"}]);
    let cases: &[(&[&str], &str, serde_json::Value)] = &[
        (&[], "u8=255", json!(255)),
        (&[], "s=0x10", json!("0x10")),
        (&[], "l=/objects/io0", json!("/objects/io0")),
        (&[], "st={\"bps-total\":5}", json!({"bps-total": 5})),
        (&[], "st=off", json!("off")),
    ];
    for (opts, assignment, value) in cases {
        let (prop, text) = assignment.split_once('=').unwrap();
        let f = Fake::new(vec![
            Expect("qom-list", Some(json!({"path": "/x"}))),
            ret(list.clone()),
            Expect(
                "qom-set",
                Some(json!({"path": "/x", "property": prop, "value": value})),
            ),
            ret(json!({})),
        ]);
        let mut args = opts.to_vec();
        let target = format!("/x.{prop}");
        args.extend([target.as_str(), text]);
        tool("qom-set", f.path(), &args).ok();
        f.finish();
    }
    // --string and --json need no type: one command, where the last dot
    // says; only a "not found" makes them look further.
    let f = Fake::new(vec![
        Expect(
            "qom-set",
            Some(json!({"path": "/x", "property": "u8", "value": "7"})),
        ),
        ret(json!({})),
    ]);
    tool("qom-set", f.path(), &["--string", "/x.u8", "7"]).ok();
    f.finish();
    let f = Fake::new(vec![
        Expect(
            "qom-set",
            Some(json!({"path": "/x.a", "property": "b", "value": [1]})),
        ),
        Reply(json!({"error": {"class": "DeviceNotFound", "desc": "Device '/x.a' not found"}})),
        Expect("qom-list", Some(json!({"path": "/x.a"}))),
        Expect("qom-list", Some(json!({"path": "/x"}))),
        Reply(json!({"error": {"class": "DeviceNotFound", "desc": "Device '/x.a' not found"}})),
        ret(json!([{"name": "a.b", "type": "any"}])),
        Expect(
            "qom-set",
            Some(json!({"path": "/x", "property": "a.b", "value": [1]})),
        ),
        ret(json!({})),
    ]);
    tool("qom-set", f.path(), &["--json", "/x.a.b", "[1]"]).ok();
    f.finish();
    let f = Fake::new(vec![
        Expect("qom-list", Some(json!({"path": "/x"}))),
        ret(list),
        Silence(Duration::from_millis(300)),
        Drain,
    ]);
    tool("qom-set", f.path(), &["/x.u8", "256"])
        .status(2)
        .assert_err_has(
            "qom-set: /x.u8: '256' is not a valid uint8: expected an integer from 0 to 255",
            "",
        );
    f.finish();
}

#[test]
fn property_names_with_dots() {
    let Some(q) = q35() else { return };
    let s = q.sock();
    let cpu = "/machine/unattached/device[0]";
    // The last dot first (drop-in with QEMU's tools), then the others.
    let plain = get(&q, &format!("{cpu}.sse4.2"));
    assert!(plain == "False\n" || plain == "True\n", "{plain}");
    assert_eq!(get(&q, &format!("{cpu}.sse4\\.2")), plain);
    assert_eq!(get(&q, "/machine/q35/pcie.0.realized"), "True\n");
    let both = tool(
        "qom-get",
        s,
        &[
            "--json",
            &format!("{cpu}.sse4.1"),
            "/machine/q35/pcie.0.realized",
        ],
    )
    .ok()
    .json();
    assert_eq!(both["/machine/q35/pcie.0.realized"], json!(true), "{both}");
    assert!(both[format!("{cpu}.sse4.1")].is_boolean(), "{both}");
    // qom-set finds the same property (QEMU then refuses: realized CPU).
    tool("qom-set", s, &[&format!("{cpu}.sse4.2"), "on"])
        .status(1)
        .assert_err_has(
            "qom-set: GenericError: Attempt to set property 'sse4.2'",
            "",
        );
    // Nothing fits: the object and the property looked for.
    tool("qom-get", s, &[&format!("{cpu}.nosuch.x")])
        .status(1)
        .assert_err(&format!(
            "qom-get: {cpu}.nosuch.x: {cpu} has no property 'nosuch.x' (qom-list {cpu} lists \
             them)"
        ));
    tool("qom-get", s, &["vr0.nosuch"])
        .status(1)
        .assert_err("qom-get: vr0.nosuch: vr0 has no property 'nosuch' (qom-list vr0 lists them)");
    tool("qom-get", s, &["nosuch.type"])
        .status(1)
        .assert_err("qom-get: DeviceNotFound: Device 'nosuch' not found");
    // An ambiguous partial path: QEMU's qom-get says "not found"; we say
    // ambiguous, with the candidates.
    let amb = tool("qom-get", s, &["virtio-backend.type"]).status(1);
    amb.assert_err_has(
        "qom-get: partial path 'virtio-backend' is ambiguous: it matches ",
        "/machine/peripheral/vr0/virtio-backend",
    );
    assert!(
        amb.stderr
            .contains("/machine/peripheral/vb0/virtio-backend"),
        "{}",
        amb.show()
    );
    // The first try costs nothing extra: one qom-get, no qom-list.
    let traced = tool("qom-get", s, &["-v", "/machine/q35/pcie.0.realized"]).ok();
    let sent: Vec<&str> = traced
        .stderr
        .lines()
        .filter(|l| l.starts_with("-> "))
        .collect();
    assert_eq!(
        sent.len(),
        2,
        "qmp_capabilities and one qom-get{}",
        traced.show()
    );
    assert!(sent[1].contains("\"qom-get\""), "{}", traced.show());
}

#[test]
fn type_hints_say_how_to_write_the_item() {
    let Some(q) = q35() else { return };
    // device_add stopped converting strings in QEMU 9.2: there the item
    // needs := and the error says so; before, the string was converted.
    let v = exec(q.sock(), &["--json", "query-version"]).ok().json();
    let (major, minor) = (
        v["qemu"]["major"].as_u64().unwrap(),
        v["qemu"]["minor"].as_u64().unwrap(),
    );
    let add = |bytes: &str| {
        exec(
            q.sock(),
            &[
                "device_add",
                "driver=virtio-rng-pci",
                "id=rng9",
                "bus=rp9",
                bytes,
            ],
        )
    };
    if (major, minor) >= (9, 2) {
        add("max-bytes=1024").status(1).assert_err(
            "qmp-exec: GenericError: Parameter 'max-bytes' expects uint64 (write \
             max-bytes:=1024 to send a number)",
        );
        add("max-bytes:=1024").ok();
    } else {
        add("max-bytes=1024").ok();
    }
    let Some(d) = Qemu::qsd(&[]) else { return };
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "blockdev-add",
                "driver=null-co",
                "node-name=n0",
                "size=1024",
            ],
            "qmp-exec: GenericError: Invalid parameter type for 'size', expected: integer \
             (write size:=1024 to send a number)",
        ),
        (
            &[
                "blockdev-add",
                "driver=raw",
                "node-name=r0",
                "file.driver=null-co",
                "file.size=4k",
            ],
            "qmp-exec: GenericError: Invalid parameter type for 'file.size', expected: integer \
             (write file.size:=1024 to send a number)",
        ),
        (
            &[
                "blockdev-add",
                "driver=null-co",
                "node-name=n1",
                "read-only=on",
            ],
            "qmp-exec: GenericError: Invalid parameter type for 'read-only', expected: boolean \
             (write read-only:=true to send a boolean)",
        ),
        (
            &["blockdev-add", "driver=null-co", "node-name:=12"],
            "qmp-exec: GenericError: Invalid parameter type for 'node-name', expected: string \
             (write node-name=12 to send a string)",
        ),
    ];
    for (args, want) in cases {
        exec(d.sock(), args).status(1).assert_err(want);
    }
}

#[test]
fn integers_beyond_64_bits_are_refused_before_anything_is_sent() {
    let nowhere = std::path::Path::new("/nonexistent/qmp.sock");
    let big = "18446744073709551616";
    let says = format!(
        "integer {big} does not fit in 64 bits (QMP integers go from -9223372036854775808 to \
         18446744073709551615)"
    );
    exec(nowhere, &["x", &format!("size:={big}")])
        .status(2)
        .assert_err_has("qmp-exec: bad argument 'size:=", &says);
    exec(nowhere, &["--args", &format!("{{\"a\":[{big}]}}"), "x"])
        .status(2)
        .assert_err(&format!("qmp-exec: --args: {says}"));
    exec(
        nowhere,
        &[&format!(
            "{{\"execute\":\"x\",\"arguments\":{{\"n\":-{big}}}}}"
        )],
    )
    .status(2)
    .assert_err_has(
        "qmp-exec: the command '",
        "integer -18446744073709551616 does not fit",
    );
    tool("qom-set", nowhere, &["--json", "/x.y", big])
        .status(2)
        .assert_err(&format!("qom-set: VALUE for --json: {says}"));
    // In a batch, the line is refused and nothing is sent for it; the
    // batch's own lines are never rewritten.
    let f = Fake::new(vec![expect("query-version"), ret(json!({})), Drain]);
    let out = exec(f.path(), &["--batch", "--keep-going"])
        .stdin(format!(
            "{{\"execute\":\"query-status\",\"arguments\":{{\"n\":{big}}}}}\n\
             {{\"execute\":\"query-version\"}}\n"
        ))
        .status(2);
    out.assert_err(&format!(
        "qmp-exec: stdin line 1: {says}; nothing sent for it"
    ));
    out.assert_stdout("{\"return\":{}}\n");
    f.finish();
    // Floats and 64-bit extremes pass.
    let f = Fake::new(vec![
        Expect(
            "x",
            Some(json!({"a": u64::MAX, "b": i64::MIN, "c": 1.8446744073709552e19})),
        ),
        ret(json!({})),
    ]);
    exec(
        f.path(),
        &[
            "x",
            "a:=18446744073709551615",
            "b:=-9223372036854775808",
            "c:=1.8446744073709552e19",
        ],
    )
    .ok();
    f.finish();
}

#[test]
fn a_whole_command_as_the_argument() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let out = exec(
        q.sock(),
        &["--raw", "{\"execute\":\"query-version\",\"id\":\"v1\"}"],
    )
    .ok();
    let reply = out.json();
    assert_eq!(reply["id"], "v1", "{}", out.show());
    assert!(reply["return"]["qemu"]["major"].is_u64(), "{}", out.show());
    let objs = exec(
        q.sock(),
        &[
            "--json",
            "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/\"}}",
        ],
    )
    .ok()
    .json();
    assert!(
        objs.as_array()
            .is_some_and(|a| a.iter().any(|p| p["name"] == "type"))
    );
    exec(q.sock(), &["{\"execute\":\"qom-list\"}", "path=/objects"])
        .status(2)
        .assert_err(
            "qmp-exec: a whole command ('{\"execute\": ...}') takes no items or --args: put the \
             arguments in its \"arguments\"",
        );
    exec(q.sock(), &["{\"execute\":1}"])
        .status(2)
        .assert_err("qmp-exec: the command '{\"execute\":1}': \"execute\" must be a string");
}

#[test]
fn items_over_args_escapes_and_empty_key_parts() {
    let f = Fake::new(vec![
        Expect(
            "object-add",
            Some(json!({"qom-type": "iothread", "id": "t2", "poll-max-ns": 7,
                "x": {"y": "z"}, "at": "@home", "": {"a": "v"}})),
        ),
        ret(json!({})),
    ]);
    exec(
        f.path(),
        &[
            "--args",
            "{\"qom-type\":\"iothread\",\"id\":\"t1\",\"poll-max-ns\":5,\"x\":1}",
            "object-add",
            "id=t2",
            "poll-max-ns:=7",
            "x.y=z",
            "at=\\@home",
            "\"\".a=v",
        ],
    )
    .ok();
    f.finish();
    // Two items on one key still conflict.
    exec(std::path::Path::new("/x"), &["c", "a=1", "a=2"])
        .status(2)
        .assert_err_has("qmp-exec: bad argument 'a=2': 'a' is already set", "");
    // On a real server: the template's id is overridden.
    let Some(q) = Qemu::qsd(&[]) else { return };
    exec(
        q.sock(),
        &[
            "--args",
            "{\"qom-type\":\"iothread\",\"id\":\"t1\"}",
            "object-add",
            "id=t2",
            "poll-max-ns:=7",
        ],
    )
    .ok();
    assert_eq!(
        tool("qom-get", q.sock(), &["/objects/t2.poll-max-ns"])
            .ok()
            .stdout,
        "7\n"
    );
}

#[test]
fn socket_paths_of_any_length_and_abstract_sockets() {
    if !crate::qemu::available(crate::qemu::qsd_bin()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
    std::fs::create_dir_all(&deep).unwrap();
    let abstract_name = format!(
        "qmp-tools-test-{}-{}",
        std::process::id(),
        dir.path().file_name().unwrap().to_string_lossy()
    );
    // QEMU listens on the long path through a relative one.
    let mut qsd = std::process::Command::new(crate::qemu::qsd_bin())
        .current_dir(&deep)
        .args([
            "--chardev",
            "socket,id=m,path=qmp.sock,server=on,wait=off",
            "--monitor",
            "chardev=m",
            "--chardev",
            &format!("socket,id=a,path={abstract_name},abstract=on,server=on,wait=off"),
            "--monitor",
            "chardev=a",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let long = deep.join("qmp.sock");
    assert!(long.as_os_str().len() > 107);
    let guard = Kill(&mut qsd);
    let long_s = long.to_str().unwrap();
    for addr in [
        long_s.to_string(),
        format!("unix:{long_s}"),
        format!("unix:@{abstract_name}"),
    ] {
        let out = Cmd::new("qmp-exec")
            .args(&[
                "-s",
                &addr,
                "--wait",
                "--timeout",
                "20",
                "--json",
                "query-version",
            ])
            .ok();
        assert!(out.json()["qemu"]["major"].is_u64(), "{}", out.show());
    }
    // What cannot work says why.
    let name = deep.join("f".repeat(100));
    Cmd::new("qmp-exec")
        .args(&["-s", name.to_str().unwrap(), "query-version"])
        .status(3)
        .assert_err_has(
            "qmp-exec: cannot connect to ",
            "a socket file name of 100 bytes cannot be reached: a Unix socket address holds at \
             most 107 bytes",
        );
    Cmd::new("qmp-exec")
        .args(&[
            "-s",
            &format!("unix:@{abstract_name}-nobody"),
            "query-version",
        ])
        .status(3)
        .assert_err_has(
            "qmp-exec: cannot connect to unix:@",
            "nothing listens on this abstract socket",
        );
    drop(guard);
}

/// Kills and reaps a child when dropped (also when the test fails).
struct Kill<'a>(&'a mut std::process::Child);

impl Drop for Kill<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn listen_mode_takes_the_connection_qemu_makes() {
    // The tool first, then QEMU, which connects as a client: no start-up
    // race. The socket file is gone afterwards.
    if !crate::qemu::available(crate::qemu::qsd_bin()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("l.sock");
    let addr = format!("listen:{}", sock.display());
    let waiting = Cmd::new("qmp-exec")
        .args(&["-s", &addr, "--timeout", "30", "--json", "query-version"])
        .spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !sock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut qsd = std::process::Command::new(crate::qemu::qsd_bin())
        .args([
            "--chardev",
            &format!("socket,id=m,path={},server=off", sock.display()),
            "--monitor",
            "chardev=m",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = Kill(&mut qsd);
    let out = waiting.wait();
    out.assert_status(0);
    assert!(out.json()["qemu"]["major"].is_u64(), "{}", out.show());
    assert!(!sock.exists(), "the socket file was left behind");
    drop(guard);
    // Nobody connects: status 4, the socket removed again.
    let out = Cmd::new("qmp-exec")
        .args(&["-s", &addr, "--timeout", "0.5", "query-version"])
        .status(4);
    out.assert_err(&format!(
        "qmp-exec: nothing connected to {addr} within 0.5 s (start QEMU with -qmp unix:PATH or \
         -chardev socket,path=PATH,server=off, without server=on)"
    ));
    assert!(!sock.exists());
    // The fake dials too; two greetings at once (QEMU greets anew when it
    // reconnects) are negotiated twice.
    let f = Fake::dial(
        &sock,
        vec![
            Raw([greeting(), greeting()].concat()),
            expect("qmp_capabilities"),
            ret(json!({})),
            expect("qmp_capabilities"),
            ret(json!({})),
            expect("query-status"),
            ret(json!({"status": "running"})),
            Drain,
        ],
    );
    Cmd::new("qmp-exec")
        .args(&["-s", &addr, "--timeout", "10", "--json", "query-status"])
        .ok()
        .assert_stdout("{\"status\":\"running\"}\n");
    f.finish();
    // Something already listens there: said, and left alone.
    let Some(q) = Qemu::qsd(&[]) else { return };
    Cmd::new("qmp-exec")
        .args(&[
            "-s",
            &format!("listen:{}", q.sock().display()),
            "query-version",
        ])
        .status(3)
        .assert_err_has(
            "qmp-exec: cannot connect to listen:",
            "something already listens there",
        );
    exec(q.sock(), &["query-version"]).ok();
}

#[test]
fn out_of_band_commands() {
    let Some(q) = Qemu::system(&[]) else { return };
    // Only a command that arrived as exec-oob draws this answer: it proves
    // the path (query-status has no allow-oob).
    exec(q.sock(), &["--oob", "query-status"])
        .status(1)
        .assert_err("qmp-exec: GenericError: The command query-status does not support OOB");
    exec(q.sock(), &["query-status"]).ok();
    // exec-oob lines in a batch, sent when no reply is awaited; their ids
    // are the caller's.
    let out = exec(q.sock(), &["--batch", "--keep-going"])
        .stdin(
            "{\"execute\":\"query-status\",\"id\":1}\n{\"exec-oob\":\"query-status\",\"id\":2}\n\
             {\"execute\":\"query-status\",\"id\":3}\n",
        )
        .status(1);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}", out.show());
    assert_eq!(lines[1]["id"], 2);
    assert_eq!(
        lines[1]["error"]["desc"],
        "The command query-status does not support OOB"
    );
    assert!(lines[0]["return"].is_object() && lines[2]["return"].is_object());
    // A server without the oob capability: said before anything is sent.
    let greeting = b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": 2}, \"package\": \"\"}, \"capabilities\": []}}\r\n";
    let f = Fake::raw(vec![
        Raw(greeting.to_vec()),
        Expect("qmp_capabilities", None),
        ret(json!({})),
        Silence(Duration::from_millis(300)),
        Drain,
    ]);
    exec(f.path(), &["--oob", "migrate-pause"])
        .status(2)
        .assert_err(
            "qmp-exec: cannot send 'migrate-pause' out of band: the server offers no 'oob' \
             capability (its greeting lists none); send it in band, without --oob or exec-oob",
        );
    f.finish();
}

#[test]
fn file_descriptors_pass_with_the_command() {
    // A second monitor, for a client that stays connected (QEMU 7.2 below).
    let Some(q) = Qemu::system_in(|dir| {
        let hold = format!(
            "unix:{},server=on,wait=off",
            dir.join("hold.sock").display()
        );
        vec!["-qmp".into(), hold]
    }) else {
        return;
    };
    let img = q.path("disk.img");
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    // The shell opens descriptor 3; qmp-exec passes it; QEMU's fd set then
    // opens the disk as /dev/fdset/1.
    let script = format!(
        "exec 3<>{img}; {exec} -s {sock} --json add-fd fdset-id:=1 --pass-fd 3 && \
         {exec} -s {sock} getfd fdname=spare --pass-fd 3",
        img = img.display(),
        exec = crate::util::bin("qmp-exec"),
        sock = q.sock().display()
    );
    let add = || {
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .env_remove("QMP_SOCKET")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{out:?}");
        let added: serde_json::Value =
            serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
        assert_eq!(added["fdset-id"], 1, "{stdout}");
    };
    add();
    // QEMU 7.2 closes the fd sets none of its devices uses when its last
    // monitor client hangs up (qmp-exec's, here); 10.0 keeps them until
    // remove-fd. On 7.2 the set must be added while another client stays.
    let fdsets = exec(q.sock(), &["--json", "query-fdsets"]).ok().json();
    let _hold = if version(q.sock()) < (10, 0) {
        assert_eq!(fdsets, serde_json::json!([]), "7.2 closed the set");
        let addr = qmp::Address::Unix(q.path("hold.sock"));
        let hold = qmp::Client::connect(&addr, &qmp::Options::default()).unwrap();
        add();
        Some(hold)
    } else {
        assert_eq!(fdsets[0]["fdset-id"], 1, "10.0 kept the set: {fdsets}");
        None
    };
    exec(
        q.sock(),
        &[
            "blockdev-add",
            "driver=raw",
            "node-name=d0",
            "file.driver=file",
            "file.filename=/dev/fdset/1",
        ],
    )
    .ok();
    let nodes = exec(q.sock(), &["--json", "query-named-block-nodes"])
        .ok()
        .json();
    assert!(
        nodes
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node-name"] == "d0"),
        "{nodes}"
    );
    // A descriptor that is not open, and a server that takes none.
    exec(q.sock(), &["add-fd", "--pass-fd", "97"])
        .status(2)
        .assert_err(
            "qmp-exec: --pass-fd 97: descriptor 97 is not open (open it in the shell: \
             qmp-exec ... --pass-fd 97 97<>FILE)",
        );
    let Some(d) = Qemu::qsd(&[]) else { return };
    exec(d.sock(), &["add-fd", "--pass-fd", "2"])
        .status(1)
        .assert_err(
            "qmp-exec: CommandNotFound: The command add-fd has not been found (this server takes \
             no file descriptors: qemu-storage-daemon has neither getfd nor add-fd; qemu-system \
             has both)",
        );
}

/// Reads one JSON object a byte at a time (requests end with '}', and the
/// ones read here hold no braces in strings).
fn read_object(s: &mut std::os::unix::net::UnixStream) -> Vec<u8> {
    use std::io::Read;
    let (mut out, mut depth, mut byte) = (Vec::new(), 0, [0u8; 1]);
    while s.read_exact(&mut byte).is_ok() {
        out.push(byte[0]);
        match byte[0] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    out
}

/// recvmsg with room for descriptors: the bytes and the descriptors that
/// came with them.
fn recv_with_fds(sock: std::os::fd::RawFd) -> (Vec<u8>, Vec<std::os::fd::RawFd>) {
    let mut buf = vec![0u8; 4096];
    let mut control = vec![0u64; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut fds = Vec::new();
    // SAFETY: the msghdr points at the two buffers above, which outlive
    // the call; the kernel fills at most their sizes; CMSG_* walk the
    // control data the kernel wrote.
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = (control.len() * 8) as _;
        let n = libc::recvmsg(sock, &mut msg, 0);
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg) as *const std::os::fd::RawFd;
                for i in 0..len / std::mem::size_of::<std::os::fd::RawFd>() {
                    fds.push(*data.add(i));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        n
    };
    buf.truncate(n.max(0) as usize);
    (buf, fds)
}

#[test]
fn the_descriptors_arrive_with_the_command_s_message() {
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd};
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("fd.sock");
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    std::fs::write(&a, "first").unwrap();
    std::fs::write(&b, "second").unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(&greeting()).unwrap();
        read_object(&mut s);
        s.write_all(b"{\"return\": {}}\r\n").unwrap();
        let (bytes, fds) = recv_with_fds(s.as_raw_fd());
        s.write_all(b"{\"return\": {}}\r\n").unwrap();
        let texts: Vec<String> = fds
            .iter()
            .map(|&fd| {
                // SAFETY: the kernel just gave us this descriptor; we own it.
                let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
                let mut t = String::new();
                f.read_to_string(&mut t).unwrap();
                t
            })
            .collect();
        (String::from_utf8_lossy(&bytes).into_owned(), texts)
    });
    let script = format!(
        "exec 3<{} 4<{}; {} -s {} getfd fdname=x --pass-fd 3 --pass-fd 4",
        a.display(),
        b.display(),
        crate::util::bin("qmp-exec"),
        sock.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (request, texts) = server.join().unwrap();
    assert_eq!(
        request, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"x\"}}",
        "the descriptors came with the command's own bytes"
    );
    assert_eq!(texts, ["first", "second"]);
}
