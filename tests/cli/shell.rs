//! qmp-shell against real QEMU: typing by the schema, scripts with and
//! without -e, transactions, HMP, and the interactive shell through tmux
//! (completion, events while typing, history, --wrap).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::events::{daemon, mon2};
use crate::qemu::{Qemu, available, system_bin};
use crate::util::{Out, bin, exec, tool};

/// qmp-shell on `sock` with `lines` as its stdin (a script).
fn script(sock: &Path, args: &[&str], lines: &[&str]) -> Out {
    let mut input = lines.join("\n");
    input.push('\n');
    tool("qmp-shell", sock, args).stdin(input).run()
}

fn replies(out: &Out) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}\n{}", out.show())))
        .collect()
}

#[test]
fn script_types_items_by_the_schema() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    // Each line would fail if its text went as a string (or a number) the
    // way an untyped shell sends it: QEMU's input is strictly typed.
    let out = script(
        q.sock(),
        &[],
        &[
            "blockdev-add driver=null-co node-name=n1 size=1048576 read-only=on",
            "object-add qom-type=iothread id=io1 poll-max-ns=0x1000 poll-grow=2",
            "qom-set path=/objects/io1 property=poll-shrink value=3",
            "qom-get path=/objects/io1 property=poll-max-ns",
            "qom-get path=/objects/io1 property=poll-shrink",
            "query-named-block-nodes flat=yes",
            "object-add qom-type=secret id=s1 data=1234",
            "object-add qom-type=iothread id=io2 poll-max-ns:=\"5\"",
        ],
    );
    out.assert_status(1);
    let r = replies(&out);
    assert_eq!(
        r[..3],
        [
            json!({"return": {}}),
            json!({"return": {}}),
            json!({"return": {}})
        ]
    );
    assert_eq!(r[3], json!({"return": 4096}));
    assert_eq!(r[4], json!({"return": 3}));
    let node = r[5]["return"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node-name"] == "n1");
    assert_eq!(node.unwrap()["ro"], true, "{}", out.show());
    // A string member takes digits as a string.
    assert_eq!(r[6], json!({"return": {}}), "{}", out.show());
    // key:= is sent as written: a string for an integer, which QEMU refuses.
    assert_eq!(r[7]["error"]["class"], "GenericError", "{}", out.show());
    assert!(
        out.stderr.contains("qmp-shell: line 8: GenericError: "),
        "{}",
        out.show()
    );
}

#[test]
fn script_rejects_what_the_schema_refuses_and_says_why() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let table: &[(&str, &str)] = &[
        (
            "blockdev-add driver=nope node-name=x",
            "'nope' is not one of: blkdebug, ",
        ),
        (
            "blockdev-add driver=null-co node-name=x size=1k",
            "'1k' is not an integer",
        ),
        (
            "blockdev-add driver=null-co node-name=x read-only=2",
            "'2' is not a bool",
        ),
        (
            "blockdev-add driver=null-co node-name=x cache=1",
            "this takes an object",
        ),
        (
            "query-named-block-nodes flat=maybe",
            "true/false, on/off or yes/no",
        ),
        ("blockdev-add driver=null-co 'node-name=x", "is not closed"),
        ("node-name=x", "'node-name=x' is an argument, not a command"),
        ("help no-such-thing", "no command or event 'no-such-thing'"),
    ];
    for (line, want) in table {
        let out = script(q.sock(), &[], &[line]);
        out.assert_status(2);
        assert!(
            out.stderr.starts_with("qmp-shell: line 1: "),
            "{}",
            out.show()
        );
        assert!(out.stderr.contains(want), "{line}: {want}\n{}", out.show());
        assert_eq!(out.stdout, "", "{}", out.show());
    }
    // Nothing was sent for them: no node x.
    let nodes = exec(q.sock(), &["query-named-block-nodes", "--json"])
        .ok()
        .json();
    assert_eq!(nodes, json!([]));
}

#[test]
fn script_exit_on_error_stops_and_without_it_goes_on() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let lines = [
        "blockdev-add driver=null-co node-name=a",
        "blockdev-del node-name=nope",
        "blockdev-add driver=null-co node-name=b",
        "blockdev-add driver=bad",
        "blockdev-add driver=null-co node-name=c",
    ];
    let out = script(q.sock(), &["-e"], &lines);
    out.assert_status(1);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.show());
    let nodes = |q: &Qemu| {
        let v = exec(q.sock(), &["query-named-block-nodes", "--json"])
            .ok()
            .json();
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["node-name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(nodes(&q), ["a"]);
    // A parse error first: status 2 with -e.
    script(
        q.sock(),
        &["-e"],
        &[
            "blockdev-add driver=bad",
            "blockdev-add driver=null-co node-name=d",
        ],
    )
    .assert_status(2);
    assert_eq!(nodes(&q), ["a"]);
    // Without -e every line runs; the status is the first failure's.
    exec(q.sock(), &["blockdev-del", "node-name=a"]).ok();
    let out = script(q.sock(), &[], &lines);
    out.assert_status(1);
    assert_eq!(nodes(&q), ["a", "b", "c"]);
    assert!(
        out.stderr.contains("line 2: ") && out.stderr.contains("line 4: "),
        "{}",
        out.show()
    );
    // Only successes: 0.
    script(q.sock(), &[], &["query-version", "", "query-jobs"]).assert_status(0);
}

#[test]
fn script_transactions_are_typed_per_action() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let out = script(
        q.sock(),
        &["-e"],
        &[
            "blockdev-add driver=null-co node-name=n0 size=1048576",
            "transaction(",
            "block-dirty-bitmap-add node=n0 name=b0 granularity=65536 persistent=off",
            "block-dirty-bitmap-add node=n0 name=b1",
            ")",
            "transaction( block-dirty-bitmap-remove node=n0 name=b1 )",
            "x-debug-block-dirty-bitmap-sha256 node=n0 name=b0",
        ],
    );
    out.assert_status(0);
    let r = replies(&out);
    assert_eq!(r.len(), 4, "{}", out.show());
    assert!(r[3]["return"]["sha256"].is_string(), "{}", out.show());
    exec(
        q.sock(),
        &["x-debug-block-dirty-bitmap-sha256", "node=n0", "name=b1"],
    )
    .status(1);
    let out = script(q.sock(), &[], &["transaction(", "frobnicate x=1", ")"]);
    out.assert_status(2);
    assert!(
        out.stderr
            .contains("'frobnicate' is not a transaction action; actions: abort,"),
        "{}",
        out.show()
    );
    let out = script(q.sock(), &[], &["transaction(", "abort"]);
    out.assert_status(2);
    assert!(
        out.stderr.contains("ends inside transaction("),
        "{}",
        out.show()
    );
}

#[test]
fn script_hmp_switches_cpu() {
    if !available(system_bin()) {
        return;
    }
    let Some(q) = Qemu::system(&["-M", "pc", "-smp", "2", "-S", "-accel", "tcg"]) else {
        return;
    };
    let out = script(
        q.sock(),
        &["-H"],
        &["info cpus", "cpu 1", "info cpus", "cpu x"],
    );
    out.assert_status(2);
    let text = &out.stdout;
    assert!(
        text.contains("* CPU #0") && text.contains("* CPU #1"),
        "{}",
        out.show()
    );
    assert!(
        out.stderr.contains("'cpu x': the CPU is a number"),
        "{}",
        out.show()
    );
    // What Tab completes in -H, from this QEMU's own help.
    let address = qmp::Address::Unix(q.sock().to_path_buf());
    let client = qmp::Client::connect(&address, &qmp::Options::default()).unwrap();
    let quiet = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shared = qmp::cli::shell::Shared::new(client, true, quiet);
    let (commands, info) = shared.hmp_names();
    for c in ["cont", "c", "info", "stop", "system_reset"] {
        assert!(commands.iter().any(|n| n == c), "{c} not in {commands:?}");
    }
    for i in ["status", "cpus", "block"] {
        assert!(info.iter().any(|n| n == i), "{i} not in {info:?}");
    }
}

/// A tmux server of the test's own (its own socket), running one command.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(command: &[&str], env: &[(&str, &str)]) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var("QMP_REQUIRE_QEMU").map_or(true, |v| v != "1"),
                "tmux is not installed and QMP_REQUIRE_QEMU=1 requires it"
            );
            eprintln!("SKIPPED: tmux is not installed");
            return None;
        }
        let name = format!("qmp-shell-test-{}-{}", std::process::id(), rand_suffix());
        let mut c = Command::new("tmux");
        c.args([
            "-L",
            &name,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
        ]);
        for (k, v) in env {
            c.args(["-e", &format!("{k}={v}")]);
        }
        c.args(command);
        let status = c.status().unwrap();
        assert!(status.success(), "tmux new-session failed");
        Some(Tmux { name })
    }

    fn keys(&self, keys: &[&str]) {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.name, "send-keys", "-t", "0"])
            .args(keys);
        assert!(c.status().unwrap().success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.name, "capture-pane", "-p", "-t", "0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (generously: the machine may be busy) until the screen holds
    /// `want`.
    fn wait_for(&self, want: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(want) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("{want:?} never appeared; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.name, "kill-server"])
            .status();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish() % 1_000_000
}

/// qmp-shell on `sock` in a tmux of its own, its history under `state`,
/// once its prompt is up; `None` without tmux.
fn shell_on(sock: &Path, state: &Path) -> Option<Tmux> {
    let cmd = [bin("qmp-shell"), "-s", sock.to_str().unwrap()];
    let t = Tmux::start(&cmd, &[("XDG_STATE_HOME", state.to_str().unwrap())])?;
    t.wait_for("(QEMU)");
    Some(t)
}

#[test]
fn interactive_completes_commands_nested_keys_and_enum_values() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let state = tempfile::tempdir().unwrap();
    let Some(t) = shell_on(q.sock(), state.path()) else {
        return;
    };
    // A command name: one candidate, completed in place.
    t.keys(&["query-named-bl", "Tab"]);
    t.wait_for("(QEMU) query-named-block-nodes");
    t.keys(&["C-u"]);
    // A nested key under an alternate's object branch, then an enum value.
    t.keys(&["blockdev-add driver=raw node-name=r0 file.dri", "Tab"]);
    t.wait_for("file.driver=");
    t.keys(&["null-c", "Tab"]);
    t.wait_for("file.driver=null-co");
    t.keys(&[" file.si", "Tab"]);
    t.wait_for("file.size=");
    t.keys(&["1048576", "Enter"]);
    t.wait_for("{}\n(QEMU)");
    let nodes = exec(q.sock(), &["query-named-block-nodes", "--json"]);
    // The shell holds the only monitor: ask through its own line instead.
    drop(nodes);
    t.keys(&["query-named-block-nodes flat=true", "Enter"]);
    t.wait_for("\"node-name\": \"r0\"");
    t.keys(&["C-d"]);
}

#[test]
fn interactive_prints_events_while_a_line_is_typed() {
    let Some(q) = daemon(None) else { return };
    let state = tempfile::tempdir().unwrap();
    let Some(t) = shell_on(q.sock(), state.path()) else {
        return;
    };
    t.keys(&["query-ver"]);
    t.wait_for("(QEMU) query-ver");
    // A job started from the second monitor: its events reach every monitor.
    exec(
        &mon2(&q),
        &[
            "blockdev-backup",
            "job-id=j0",
            "device=src",
            "target=dst",
            "sync=full",
        ],
    )
    .ok();
    let s = t.wait_for("JOB_STATUS_CHANGE {\"status\":\"created\",\"id\":\"j0\"}");
    // The line being typed is still there, below the events.
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(last, "(QEMU) query-ver", "{s}");
    t.keys(&["sion", "Enter"]);
    t.wait_for("\"qemu\": {");
    t.keys(&["C-d"]);
}

#[test]
fn interactive_history_is_kept_across_runs() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let state = tempfile::tempdir().unwrap();
    {
        let Some(t) = shell_on(q.sock(), state.path()) else {
            return;
        };
        t.keys(&["query-version", "Enter"]);
        t.wait_for("\"qemu\": {");
        t.keys(&["C-c"]);
        t.keys(&["C-d"]);
        let file = state.path().join("qmp-tools/qmp-shell_history");
        let start = Instant::now();
        while !std::fs::read_to_string(&file).is_ok_and(|h| h.contains("query-version")) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no history in {}",
                file.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The monitor is free again once the first shell has gone.
    let Some(t) = shell_on(q.sock(), state.path()) else {
        return;
    };
    t.keys(&["Up"]);
    t.wait_for("(QEMU) query-version");
    t.keys(&["C-d"]);
}

#[test]
fn wrap_starts_qemu_and_stops_it_at_the_end() {
    if !available(system_bin()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let pidfile_s = pidfile.to_str().unwrap();
    let qemu = [
        system_bin(),
        "-M",
        "none",
        "-display",
        "none",
        "-nodefaults",
        "-pidfile",
        pidfile_s,
    ];
    let mut c = crate::util::Cmd::new("qmp-shell");
    c.args(&["--wrap", "--"])
        .args(&qemu)
        .stdin("query-status\n");
    let out = c.run();
    out.assert_status(0);
    assert_eq!(
        replies(&out)[0]["return"]["status"],
        "running",
        "{}",
        out.show()
    );
    // No process runs with this test's directory on its command line: the
    // QEMU the shell started is gone (it removes its pid file as it ends).
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(!cmdline.contains(pidfile_s), "still running: {cmdline}");
    }
    assert!(!pidfile.exists());
    // A QEMU that cannot start: a usage error, quickly.
    let mut c = crate::util::Cmd::new("qmp-shell");
    c.args(&["--wrap", "--", system_bin(), "-M", "no-such-machine"])
        .stdin("");
    let out = c.run();
    out.assert_status(2);
    assert!(
        out.stderr
            .contains("exited (exit status: 1) before connecting"),
        "{}",
        out.show()
    );
}

#[test]
fn script_types_device_properties_from_qemu() {
    let Some(q) = Qemu::system(&[
        "-M",
        "q35",
        "-S",
        "-accel",
        "tcg",
        "-device",
        "pcie-root-port,id=rp1,chassis=1",
    ]) else {
        return;
    };
    // The schema says nothing of device_add's properties: their types come
    // from device-list-properties (QEMU refuses num-queues as a string).
    let out = script(
        q.sock(),
        &["-e"],
        &[
            "blockdev-add driver=null-co node-name=n5",
            "device_add driver=virtio-blk-pci drive=n5 id=vd5 bus=rp1 num-queues=2 serial=1234",
            "qom-get path=/machine/peripheral/vd5 property=num-queues",
            "qom-get path=/machine/peripheral/vd5 property=serial",
            "device_add driver=virtio-blk-pci drive=n5 id=vd6 bus=rp1 num-queues=two",
        ],
    );
    out.assert_status(2);
    let r = replies(&out);
    assert_eq!(r[2], json!({"return": 2}), "{}", out.show());
    assert_eq!(r[3], json!({"return": "1234"}), "{}", out.show());
    assert!(out.stderr.contains("line 5: 'num-queues=two': 'two' is not a valid uint16: expected an integer from 0 to 65535"), "{}", out.show());
}

#[test]
fn log_records_both_ways_and_v_echoes_only_the_lines() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let out = script(
        q.sock(),
        &["-v", "-l", log.to_str().unwrap()],
        &["query-version", "query-named-block-nodes flat=on"],
    );
    out.assert_status(0);
    let text = std::fs::read_to_string(&log).unwrap();
    for want in [
        "-> {\"execute\":\"qmp_capabilities\"}\n",
        "-> {\"execute\":\"query-qmp-schema\"}\n",
        "-> {\"execute\":\"query-version\"}\n",
        "<- {\"return\": {\"qemu\": {",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not in the log:\n{}",
            &text[..text.len().min(2000)]
        );
    }
    // The schema is fetched when a line first has items to type.
    let at = |s: &str| text.find(s).unwrap();
    assert!(
        at("\"query-version\"") < at("query-qmp-schema"),
        "{text:.300}"
    );
    assert!(
        text.lines().next().unwrap().starts_with("<- {\"QMP\": "),
        "{}",
        &text[..200]
    );
    // -v: the lines' requests only, not the shell's own (the schema,
    // fetched for the first line with items).
    assert_eq!(
        out.stderr,
        "-> {\"execute\":\"query-version\"}\n\
         -> {\"execute\":\"query-named-block-nodes\",\"arguments\":{\"flat\":true}}\n",
        "{}",
        out.show()
    );
    // A log that cannot be created: a usage error before connecting.
    script(
        q.sock(),
        &["-l", "/nonexistent/dir/log"],
        &["query-version"],
    )
    .assert_status(2)
    .assert_err_has(
        "qmp-shell: ",
        "creating the log file '/nonexistent/dir/log'",
    );
}
