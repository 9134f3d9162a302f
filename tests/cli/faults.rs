//! qmp-exec against a fake server doing what QEMU will not.

use std::time::Duration;

use serde_json::json;

use crate::fake::*;
use crate::util::exec;

const MS: fn(u64) -> Duration = Duration::from_millis;

#[test]
fn no_greeting_is_a_busy_monitor_or_a_guest_agent() {
    let f = Fake::raw(vec![Drain]);
    let out = exec(f.path(), &["--timeout", "0.5", "query-status"]).status(3);
    out.assert_err(&format!(
        "qmp-exec: {} is busy: no greeting within 0.5 s: another client is probably \
         connected (QEMU serves one client per monitor socket; give QEMU a second -qmp socket \
         for a second client), or this is not a QMP monitor (a guest agent sends no greeting)",
        f.path().display()
    ));
    assert!(out.elapsed < MS(3000), "{}", out.show());
    f.finish();
}

#[test]
fn bad_greetings_are_protocol_errors() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"hello world\r\n",
            "qmp-exec: protocol error: expected a JSON object, got 'hello world\\r\\n'",
        ),
        (
            b"[\"QMP\"]\r\n",
            "qmp-exec: protocol error: expected a JSON object, got '[\"QMP\"]\\r\\n'",
        ),
        (
            b"{\"foo\": 1}\r\n",
            "qmp-exec: protocol error: expected the greeting {\"QMP\": ...}, got '{\"foo\":1}'",
        ),
        (
            b"{\"QMP\": 1}\r\n",
            "qmp-exec: protocol error: expected the greeting {\"QMP\": ...}, got '{\"QMP\":1}'",
        ),
        (
            b"{\"QMP\": {\"x\": \"\xff\"}}\r\n",
            "qmp-exec: protocol error: expected a JSON object (invalid unicode code point",
        ),
    ];
    for (greeting, want) in cases {
        let f = Fake::raw(vec![Raw(greeting.to_vec()), Drain]);
        exec(f.path(), &["query-status"])
            .status(3)
            .assert_err_has(want, "");
        f.finish();
    }
    let f = Fake::raw(vec![Raw(b"{\"QMP\": {\"version\"".to_vec())]);
    exec(f.path(), &["query-status"]).status(3).assert_err(
        "qmp-exec: connection closed by the server in the middle of a message (18 bytes received) \
         while waiting for the greeting",
    );
}

#[test]
fn close_before_and_during_a_reply() {
    let f = Fake::new(vec![expect("query-status")]);
    exec(f.path(), &["query-status"]).status(3).assert_err(
        "qmp-exec: connection closed by the server while waiting for the reply to 'query-status'",
    );
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(b"{\"return\": {\"sta".to_vec()),
    ]);
    exec(f.path(), &["query-status"]).status(3).assert_err(
        "qmp-exec: connection closed by the server in the middle of a message (16 bytes received) \
         while waiting for the reply to 'query-status'",
    );
}

#[test]
fn framing_pretty_crlf_lf_and_events_between() {
    let pretty = b"{\n    \"event\": \"X\",\n    \"data\": {}\n}\n{\n    \"return\": {\n        \"status\": \"running\",\n        \"n\": [\n            1\n        ]\n    }\n}\r\n";
    let f = Fake::raw(vec![
        Raw(b"{\n    \"QMP\": {\n        \"version\": {},\n        \"capabilities\": []\n    }\n}\n".to_vec()),
        expect("qmp_capabilities"),
        Raw(b"{\"return\": {}}\n".to_vec()),
        expect("query-status"),
        Raw(pretty.to_vec()),
    ]);
    exec(f.path(), &["query-status"])
        .ok()
        .assert_stdout("{\"status\":\"running\",\"n\":[1]}\n");
    f.finish();
}

#[test]
fn message_past_the_cap() {
    // The fake's greeting is 115 bytes; the reply is 293.
    let f = Fake::new(vec![
        expect("query-status"),
        ret(json!("x".repeat(280))),
        Drain,
    ]);
    exec(f.path(), &["--max-message", "200", "query-status"])
        .status(3)
        .assert_err(
            "qmp-exec: protocol error: expected a message of at most 200 bytes, got 293 bytes",
        );
}

#[test]
fn slow_and_dripping_replies_hit_the_deadline() {
    let f = Fake::new(vec![expect("query-status"), Drain]);
    let out = exec(f.path(), &["--timeout", "0.5", "query-status"]).status(4);
    out.assert_err(
        "qmp-exec: no reply to 'query-status' within 0.5 s (QEMU may still complete the command)",
    );
    assert!(out.elapsed < MS(3000), "{}", out.show());
    // One byte every 100 ms keeps the socket busy but cannot stretch a deadline.
    let f = Fake::new(vec![
        expect("query-status"),
        Drip(
            b"{\"return\": {\"status\": \"running\"}, \"id\": 1}\r\n".to_vec(),
            MS(100),
        ),
    ]);
    let out = exec(f.path(), &["--timeout", "1", "query-status"]).status(4);
    out.assert_err(
        "qmp-exec: no reply to 'query-status' within 1 s (QEMU may still complete the command)",
    );
    assert!(out.elapsed < MS(4000), "{}", out.show());
    // A greeting dripped the same way.
    let f = Fake::raw(vec![Drip(greeting(), MS(100))]);
    let out = exec(f.path(), &["--timeout", "1", "query-status"]).status(4);
    out.assert_err_has(
        "qmp-exec: connected to",
        "but the greeting did not arrive in full within 1 s",
    );
    assert!(out.elapsed < MS(4000), "{}", out.show());
}

#[test]
fn a_server_that_stops_reading() {
    // 8 MB of arguments cannot fit in the socket buffers; the fake never reads.
    let big = format!("{{\"x\": \"{}\"}}", "y".repeat(8 << 20));
    // It hangs up after 6 s: reading and parsing the 8 MB on a loaded
    // machine may take a second or two before the 1 s for sending starts.
    let f = Fake::new(vec![Sleep(MS(6000))]);
    let out = exec(f.path(), &["--timeout", "1", "--args", "-", "echo"])
        .stdin(big)
        .status(4);
    out.assert_err("qmp-exec: could not send 'echo' within 1 s: the server is not reading");
    assert!(out.elapsed < MS(5500), "{}", out.show());
}

#[test]
fn foreign_ids_and_odd_replies() {
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(b"{\"return\": {}, \"id\": 99}\r\n".to_vec()),
    ]);
    exec(f.path(), &["query-status"]).status(3).assert_err(
        "qmp-exec: protocol error: expected the reply to 'query-status', got a reply with an id we never sent: '{\"return\":{},\"id\":99}'",
    );
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(b"{\"hello\": 1}\r\n".to_vec()),
    ]);
    exec(f.path(), &["query-status"])
        .status(3)
        .assert_err("qmp-exec: protocol error: expected a reply or an event, got '{\"hello\":1}'");
    let f = Fake::new(vec![
        expect("query-status"),
        Reply(json!({"error": {"class": "GenericError"}})),
    ]);
    exec(f.path(), &["query-status"])
        .status(1)
        .assert_err("qmp-exec: GenericError (no description)");
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(b"{\"return\": \"\xc3\x28\"}\r\n".to_vec()),
    ]);
    exec(f.path(), &["query-status"]).status(3).assert_err_has(
        "qmp-exec: protocol error: expected a JSON object (invalid unicode",
        "",
    );
    // An error reply found before QEMU read the id carries none: still ours.
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(
            b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n"
                .to_vec(),
        ),
    ]);
    exec(f.path(), &["query-status"])
        .status(1)
        .assert_err("qmp-exec: GenericError: JSON parse error");
}

#[test]
fn integers_stay_exact_and_requests_are_compact() {
    let v = json!({"size": u64::MAX, "neg": i64::MIN, "f": 0.1});
    let f = Fake::new(vec![
        Expect("x", Some(json!({"big": u64::MAX, "a": {"b": "c"}}))),
        ret(v),
    ]);
    exec(
        f.path(),
        &["--json", "x", "big:=18446744073709551615", "a.b=c"],
    )
    .ok()
    .assert_stdout("{\"size\":18446744073709551615,\"neg\":-9223372036854775808,\"f\":0.1}\n");
    f.finish();
}

#[test]
fn trace_shows_both_directions() {
    let f = Fake::new(vec![
        expect("query-status"),
        ret(json!({"status": "running"})),
    ]);
    let out = crate::util::Cmd::new("qmp-exec")
        .env("QMP_TRACE", "1")
        .args(&["-s", f.path().to_str().unwrap(), "query-status"])
        .ok();
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "-> {\"execute\":\"qmp_capabilities\"}",
            "<- {\"return\":{}}",
            "-> {\"execute\":\"query-status\"}",
            "<- {\"return\":{\"status\":\"running\"}}",
        ],
        "{}",
        out.show()
    );
    assert!(lines[0].starts_with("<- {\"QMP\""), "{}", out.show());
}
