//! Exit statuses and waits a CI step can trust: `--batch` that stops like
//! `set -e`, job recipes under every error policy, what a socket is, time
//! limits, QEMU quitting, and a greeting that comes twice.

use std::os::unix::net::UnixListener;
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::{Listener, daemon, mon2};
use crate::fake::*;
use crate::qemu::{Qemu, version};
use crate::util::{Out, exec, tool};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn lines(out: &Out) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}{}", out.show())))
        .collect()
}

/// The children of /objects, as qom-list prints them. QEMU 7.2 makes
/// /objects with the first object: until then, it is not found.
fn objects(q: &Qemu) -> String {
    let out = exec(q.sock(), &["--json", "qom-list", "path=/objects"]).run();
    if version(q.sock()) < (10, 0) && out.status == 1 {
        out.assert_err("qmp-exec: DeviceNotFound: Device '/objects' not found");
        return String::new();
    }
    out.assert_status(0);
    out.stdout
}

#[test]
fn batch_stops_like_set_e_on_real_qemu() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let input = concat!(
        "{\"execute\":\"query-version\",\"id\":1}\n",
        "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"nope\",\"node-name\":\"n0\"},\"id\":2}\n",
        "{\"execute\":\"query-version\",\"id\":3}\n",
        "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"iothread\",\"id\":\"io9\"},\"id\":4}\n",
        "{\"execute\":\"query-version\",\"id\":5}\n",
    );
    // The failing line ends the output and the batch: object-add never ran.
    let out = exec(q.sock(), &["--batch"]).stdin(input).status(1);
    let got = lines(&out);
    assert_eq!(got.len(), 2, "{}", out.show());
    assert_eq!(got[0]["id"], 1);
    assert_eq!(got[1]["id"], 2);
    assert_eq!(got[1]["error"]["class"], "GenericError", "{}", out.show());
    out.assert_err_has("qmp-exec: stdin line 2: GenericError: ", "nope");
    assert!(
        !objects(&q).contains("io9"),
        "object-add ran after the failure"
    );
    // --keep-going runs everything, pipelined, and still reports the failure.
    let out = exec(q.sock(), &["--batch", "--keep-going"])
        .stdin(input)
        .status(1);
    let ids: Vec<Value> = lines(&out).iter().map(|l| l["id"].clone()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5], "{}", out.show());
    assert!(objects(&q).contains("io9"));
}

#[test]
fn batch_holds_a_command_with_side_effects_behind_many_queries() {
    // Several queries in flight when object-add is read: it waits through
    // all their replies, then runs; nothing is lost.
    let Some(q) = Qemu::qsd(&[]) else { return };
    let mut input = String::new();
    for i in 0..20 {
        input.push_str(&format!("{{\"execute\":\"query-version\",\"id\":{i}}}\n"));
        if i % 5 == 4 {
            input.push_str(&format!(
                "{{\"execute\":\"object-add\",\"arguments\":{{\"qom-type\":\"iothread\",\
                 \"id\":\"io{i}\"}},\"id\":\"add{i}\"}}\n"
            ));
        }
    }
    let out = exec(q.sock(), &["--batch"]).stdin(input).ok();
    let ids: Vec<String> = lines(&out).iter().map(|l| l["id"].to_string()).collect();
    let mut want = Vec::new();
    for i in 0..20 {
        want.push(i.to_string());
        if i % 5 == 4 {
            want.push(format!("\"add{i}\""));
        }
    }
    assert_eq!(ids, want, "{}", out.show());
    let objects = objects(&q);
    for i in [4, 9, 14, 19] {
        assert!(objects.contains(&format!("\"io{i}\"")), "io{i}: {objects}");
    }
}

#[test]
fn batch_sends_a_command_with_side_effects_only_after_every_reply() {
    // The fake checks what arrives when: object-add must not be on the wire
    // while query-status is unanswered, and object-del never (object-add
    // fails).
    let f = Fake::new(vec![
        expect("query-status"),
        Silence(MS(300)),
        ret(json!({"status": "running"})),
        expect("object-add"),
        Silence(MS(300)),
        Reply(json!({"error": {"class": "GenericError", "desc": "no"}})),
        Silence(MS(300)),
        Drain,
    ]);
    let input = "{\"execute\":\"query-status\"}\n{\"execute\":\"object-add\"}\n\
                 {\"execute\":\"object-del\"}\n";
    let out = exec(f.path(), &["--batch"]).stdin(input).status(1);
    out.assert_err("qmp-exec: stdin line 2: GenericError: no");
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.show());
    f.finish();
}

#[test]
fn batch_with_events_interleaves_them_in_arrival_order() {
    let script = || {
        vec![
            expect("query-a"),
            Raw(b"{\"event\": \"E1\", \"data\": {}}\r\n".to_vec()),
            ret(json!(1)),
            expect("query-b"),
            ret(json!(2)),
            Raw(b"{\"event\": \"E2\"}\r\n".to_vec()),
            expect("query-c"),
            ret(json!(3)),
            Drain,
        ]
    };
    // E1 comes before the first reply, E2 between the second and the third,
    // however far ahead the queries were sent.
    let input = "{\"execute\":\"query-a\"}\n{\"execute\":\"query-b\"}\n{\"execute\":\"query-c\"}\n";
    let f = Fake::new(script());
    let out = exec(f.path(), &["--batch", "--with-events"])
        .stdin(input)
        .ok();
    out.assert_stdout(
        "{\"event\":\"E1\",\"data\":{}}\n{\"return\":1}\n{\"return\":2}\n{\"event\":\"E2\"}\n\
         {\"return\":3}\n",
    );
    f.finish();
    // Without it, only replies.
    let f = Fake::new(script());
    exec(f.path(), &["--batch"])
        .stdin(input)
        .ok()
        .assert_stdout("{\"return\":1}\n{\"return\":2}\n{\"return\":3}\n");
    f.finish();
}

#[test]
fn batch_with_events_on_a_real_job() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let img = q.path("new.img");
    let input = format!(
        "{{\"execute\":\"blockdev-create\",\"arguments\":{{\"job-id\":\"c0\",\"options\":\
         {{\"driver\":\"file\",\"filename\":{},\"size\":0}}}},\"id\":\"create\"}}\n\
         {{\"execute\":\"query-jobs\",\"id\":\"jobs\"}}\n",
        Value::from(img.to_str().unwrap())
    );
    let out = exec(q.sock(), &["--batch", "--with-events"])
        .stdin(input)
        .ok();
    let got = lines(&out);
    let reply = got.iter().position(|l| l["id"] == "create").unwrap();
    let created = got
        .iter()
        .position(|l| l["event"] == "JOB_STATUS_CHANGE" && l["data"]["status"] == "created");
    // QEMU announces the job before it answers the command.
    assert!(created.is_some_and(|c| c < reply), "{}", out.show());
    assert!(got.last().unwrap().get("event").is_some() || got.last().unwrap()["id"] == "jobs");
}

/// `qmp-exec blockdev-backup` of src to dst under `policy`, with the man
/// page's recipe for "wait for this job, fail if it failed".
fn backup_recipe(q: &Qemu, policy: &str) -> Out {
    let policy = format!("on-source-error={policy}");
    exec(
        q.sock(),
        &[
            "blockdev-backup",
            "job-id=job0",
            "device=src",
            "target=dst",
            "sync=full",
            &policy,
            "-e",
            "BLOCK_JOB_COMPLETED",
            "-m",
            "device=job0",
            "--fail-on",
            "BLOCK_JOB_COMPLETED,device=job0,error",
            "--fail-on",
            "BLOCK_JOB_ERROR,device=job0,action=stop",
            "--fail-on",
            "BLOCK_JOB_CANCELLED,device=job0",
            "--timeout",
            "30",
        ],
    )
    .run()
}

#[test]
fn the_job_recipe_tells_failure_under_every_policy() {
    // (injected errno, policy, status, the event that decides)
    let cases: &[(Option<i32>, &str, i32, &str)] = &[
        (None, "report", 0, "BLOCK_JOB_COMPLETED"),
        (Some(5), "report", 1, "BLOCK_JOB_COMPLETED"),
        (Some(5), "ignore", 0, "BLOCK_JOB_COMPLETED"),
        (Some(5), "stop", 1, "BLOCK_JOB_ERROR"),
        (Some(28), "enospc", 1, "BLOCK_JOB_ERROR"),
        (Some(5), "enospc", 1, "BLOCK_JOB_COMPLETED"),
    ];
    for &(errno, policy, status, event) in cases {
        let Some(q) = daemon(errno) else { return };
        let out = backup_recipe(&q, policy);
        out.assert_status(status);
        let last = out.stdout.lines().last().unwrap_or_default();
        assert!(last.contains(&format!(" {event} ")), "{}", out.show());
        if status == 0 {
            assert!(!last.contains("\"error\""), "{}", out.show());
            continue;
        }
        // The stderr line says why, with stdout redirected.
        let line = out.stderr.trim_end();
        assert!(
            line.starts_with(&format!(
                "qmp-exec: failure event {event} {{\"device\":\"job0\""
            )),
            "{}",
            out.show()
        );
        if event == "BLOCK_JOB_COMPLETED" {
            assert!(
                line.contains("\"error\":\"Input/output error\""),
                "{}",
                out.show()
            );
        } else {
            assert!(line.contains("\"action\":\"stop\""), "{}", out.show());
            // Left paused, for someone to resume.
            let jobs = exec(q.sock(), &["--json", "query-block-jobs"]).ok().json();
            let io = if errno == Some(28) {
                "nospace"
            } else {
                "failed"
            };
            assert_eq!(jobs[0]["io-status"], io, "{jobs}");
        }
    }
}

#[test]
fn a_string_member_matches_the_text_as_written() {
    // JOB_STATUS_CHANGE's last status is the string "null" (the state
    // job-dismiss leads to): -m status=null must see it.
    let Some(q) = Qemu::qsd(&[]) else { return };
    let img = q.path("new.img");
    let filename = format!("options.filename={}", img.display());
    let wait = |status: &str| {
        vec![
            "-e".to_string(),
            "JOB_STATUS_CHANGE".into(),
            "-m".into(),
            "id=c0".into(),
            "-m".into(),
            format!("status={status}"),
            "--timeout".into(),
            "30".into(),
        ]
    };
    let mut create = vec![
        "blockdev-create".to_string(),
        "job-id=c0".into(),
        "options.driver=file".into(),
        filename,
        "options.size:=0".into(),
    ];
    create.extend(wait("concluded"));
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    exec(q.sock(), &create).ok();
    let mut dismiss = vec!["job-dismiss".to_string(), "id=c0".into()];
    dismiss.extend(wait("null"));
    let dismiss: Vec<&str> = dismiss.iter().map(String::as_str).collect();
    let out = exec(q.sock(), &dismiss).ok();
    assert!(
        out.stdout
            .ends_with(" JOB_STATUS_CHANGE {\"status\":\"null\",\"id\":\"c0\"}\n"),
        "{}",
        out.show()
    );
    // Ids that look like numbers, numbers written as floats, and commas.
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(
            b"{\"event\": \"E\", \"data\": {\"id\": \"123\", \"len\": 1, \"v\": \"a,b\"}}\r\n"
                .to_vec(),
        ),
        ret(json!({})),
        Drain,
    ]);
    let out = exec(
        f.path(),
        &[
            "query-status",
            "-e",
            "X",
            "--fail-on",
            "E,id=123,len=1.0,v=a\\,b,!error",
        ],
    )
    .status(1);
    out.assert_err("qmp-exec: failure event E {\"id\":\"123\",\"len\":1,\"v\":\"a,b\"}");
    f.finish();
}

#[test]
fn what_the_socket_is() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    // Not a socket: status 3 at once, and --wait does not spin on it.
    for (path, what) in [
        (&file, "a regular file"),
        (&dir.path().to_path_buf(), "a directory"),
    ] {
        let out = exec(path, &["--wait", "--timeout", "20", "query-status"]).status(3);
        out.assert_err(&format!(
            "qmp-exec: cannot connect to {}: not a socket: it is {what} (give the path of \
             QEMU's -qmp socket)",
            path.display()
        ));
        assert!(out.elapsed < Duration::from_secs(5), "{}", out.show());
    }
    // A socket nobody listens on (its server exited without removing it).
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    exec(&stale, &["query-status"])
        .status(3)
        .assert_err(&format!(
            "qmp-exec: cannot connect to {}: nothing listens on this socket (left behind by a QEMU \
         that exited?)",
            stale.display()
        ));
    // QEMU's human monitor greets in text.
    let Some(q) = Qemu::system_in(|d| {
        vec![
            "-monitor".into(),
            format!("unix:{},server=on,wait=off", d.join("hmp.sock").display()),
        ]
    }) else {
        return;
    };
    let hmp = q.path("hmp.sock");
    exec(&hmp, &["query-status"]).status(3).assert_err(&format!(
        "qmp-exec: {} is not a QMP monitor: it greets as QEMU's human monitor (HMP: 'QEMU {} \
         monitor - type 'help' for more information'); give QEMU a -qmp socket (HMP commands \
         then run with qmp-exec --hmp)",
        hmp.display(),
        qemu_version(&q)
    ));
}

fn qemu_version(q: &Qemu) -> String {
    let v = exec(q.sock(), &["--json", "query-version"]).ok().json();
    let n = &v["qemu"];
    format!("{}.{}.{}", n["major"], n["minor"], n["micro"])
}

#[test]
fn the_event_wait_has_its_own_time_limit() {
    // The reply deadline is short; the event comes later, within
    // --event-timeout.
    let script = || {
        vec![
            expect("query-status"),
            ret(json!({})),
            Sleep(MS(1500)),
            Raw(b"{\"event\": \"E\"}\r\n".to_vec()),
            Drain,
        ]
    };
    let f = Fake::new(script());
    let out = exec(
        f.path(),
        &[
            "--timeout",
            "0.5",
            "--event-timeout",
            "20",
            "query-status",
            "-e",
            "E",
        ],
    )
    .ok();
    assert!(out.stdout.ends_with(" E\n"), "{}", out.show());
    f.finish();
    // Without it, --timeout bounds the event wait too, as before.
    let f = Fake::new(script());
    exec(f.path(), &["--timeout", "0.5", "query-status", "-e", "E"])
        .status(4)
        .assert_err("qmp-exec: timed out after 0.5 s: 0 of 1 matching event arrived");
    f.abandon();
    // "none", and numbers of any size, mean what they say.
    for t in ["none", "0", "1e9", "1e300"] {
        let f = Fake::new(script());
        exec(
            f.path(),
            &[
                "--timeout",
                t,
                "--event-timeout",
                t,
                "query-status",
                "-e",
                "E",
            ],
        )
        .ok();
        f.finish();
    }
}

#[test]
fn a_listener_that_sees_qemu_quit_ends_with_status_0() {
    let Some(q) = Qemu::system_in(|d| {
        vec![
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", d.join("mon2.sock").display()),
        ]
    }) else {
        return;
    };
    let mut all = Listener::start(&mon2(&q), &[]);
    all.negotiated();
    exec(q.sock(), &["quit"]).ok();
    let heard = all.finish();
    assert_eq!(heard.status, 0, "{}", heard.show());
    assert!(
        heard.stdout.contains(" SHUTDOWN {\"guest\":false"),
        "{}",
        heard.show()
    );
    assert!(heard.messages.is_empty(), "{}", heard.show());
}

#[test]
fn a_listener_waiting_for_more_when_qemu_quits_fails() {
    let script = vec![Raw(
        b"{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false}}\r\n".to_vec(),
    )];
    let f = Fake::new(script);
    tool(
        "qmp-events",
        f.path(),
        &["-e", "BLOCK_JOB_COMPLETED", "-n", "1"],
    )
    .status(3)
    .assert_err(
        "qmp-events: connection closed by the server while waiting for 1 more matching \
             event, after SHUTDOWN (QEMU quit)",
    );
    f.finish();
    // Closed without SHUTDOWN: lost, status 3.
    let f = Fake::new(vec![Raw(b"{\"event\": \"STOP\"}\r\n".to_vec())]);
    tool("qmp-events", f.path(), &[])
        .status(3)
        .assert_err("qmp-events: connection closed by the server while waiting for an event");
    f.finish();
}

#[test]
fn an_event_before_the_greeting_is_kept() {
    // QEMU 10.0 sends RESUME before the greeting to a client that connects
    // while it starts (seen once in ~100 starts of the startup-race test).
    let f = Fake::raw(vec![
        Raw(
            b"{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}\r\n"
                .to_vec(),
        ),
        Raw(greeting()),
        expect("qmp_capabilities"),
        ret(json!({})),
        expect("query-status"),
        ret(json!({"status": "running"})),
        Drain,
    ]);
    exec(f.path(), &["--json", "query-status", "-e", "RESUME"])
        .ok()
        .assert_stdout("{\"status\":\"running\"}\n{\"timestamp\":{\"seconds\":1,\"microseconds\":2},\"event\":\"RESUME\"}\n");
    f.finish();
}

#[test]
fn a_second_greeting_means_negotiate_again() {
    // Two greetings at once (qemu-storage-daemon under load, once): two
    // qmp_capabilities; the second is refused as already done.
    let f = Fake::raw(vec![
        Raw([greeting(), greeting()].concat()),
        expect("qmp_capabilities"),
        ret(json!({})),
        expect("qmp_capabilities"),
        Reply(json!({"error": {"class": "CommandNotFound",
            "desc": "Capabilities negotiation is already complete, command ignored"}})),
        expect("query-status"),
        ret(json!({"status": "running"})),
    ]);
    exec(f.path(), &["--json", "query-status"])
        .ok()
        .assert_stdout("{\"status\":\"running\"}\n");
    f.finish();
    // A greeting in the middle of the session: negotiate again (that reply
    // is the client's own), and the command's reply still counts.
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(greeting()),
        expect("qmp_capabilities"),
        ret(json!({})),
        Raw(b"{\"return\": {\"status\": \"running\"}}\r\n".to_vec()),
    ]);
    exec(f.path(), &["--json", "query-status"])
        .ok()
        .assert_stdout("{\"status\":\"running\"}\n");
    f.finish();
}
