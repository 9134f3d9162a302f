//! qga-exec and qga-run against a fake agent: what a real one on the host
//! will not (or must not) do: a channel holding a stale reply, commands
//! that never reply (shutdown, suspend), truncated output, odd exit codes.

use std::time::Duration;

use serde_json::json;

use crate::fake::*;
use crate::util::tool;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// What a virtio-serial channel may hold when a client comes: the reply to
/// a previous client's command, its sync (another id), half a message.
fn stale() -> Vec<u8> {
    let mut v =
        b"{\"return\": {\"pid\": 4242}}\n\xff{\"return\": 1234}\n{\"return\": {\"ha".to_vec();
    v.extend_from_slice(PARSE_ERROR);
    v
}

#[test]
fn resync_skips_a_stale_reply_and_half_a_message() {
    let f = Fake::raw(vec![
        Raw(b"{\"return\": {\"exited\": true, \"exitcode\": 0}}\n{\"retu".to_vec()),
        Sync(stale()),
        expect("guest-info"),
        ret(agent_info(&[("guest-get-host-name", true)])),
        expect("guest-get-host-name"),
        ret(json!({"host-name": "vm1"})),
    ]);
    tool("qga-exec", f.path(), &["--json", "guest-get-host-name"])
        .ok()
        .assert_stdout("{\"host-name\":\"vm1\"}\n");
    f.finish();
}

#[test]
fn a_stale_reply_after_the_sync_is_not_taken_for_a_command_s() {
    // The stale reply came after a stale 0xFF: it is not the sync's (wrong
    // id), and is skipped; the command then gets its own reply.
    let f = Fake::raw(vec![
        Sync(b"\xff{\"return\": {\"pid\": 1}}\n".to_vec()),
        expect("guest-info"),
        ret(agent_info(&[])),
        expect("guest-ping"),
        ret(json!({})),
    ]);
    tool("qga-exec", f.path(), &["--raw", "guest-ping"])
        .ok()
        .assert_stdout("{\"return\":{}}\n");
    f.finish();
}

/// A fake agent that syncs, answers guest-info listing commands that send
/// no reply on success, then plays `steps`.
fn no_reply_agent(steps: Vec<Step>) -> Fake {
    let info = agent_info(&[
        ("guest-shutdown", false),
        ("guest-suspend-ram", false),
        ("guest-ping", true),
    ]);
    let mut script = vec![Sync(Vec::new()), expect("guest-info"), ret(info)];
    script.extend(steps);
    Fake::raw(script)
}

/// A fake agent that starts a program as pid 5 and reports `end` for it.
fn program_ending(end: serde_json::Value) -> Fake {
    Fake::raw(vec![
        Sync(Vec::new()),
        expect("guest-exec"),
        ret(json!({"pid": 5})),
        Expect("guest-exec-status", Some(json!({"pid": 5}))),
        ret(end),
    ])
}

#[test]
fn a_command_without_a_reply_succeeds_on_silence() {
    let f = no_reply_agent(vec![
        Expect("guest-shutdown", Some(json!({"mode": "powerdown"}))),
        // The agent says nothing; the client gives it 1 s, then hangs up.
        Silence(MS(5000)),
    ]);
    let out = tool("qga-exec", f.path(), &["guest-shutdown", "mode=powerdown"]).ok();
    out.assert_stdout("").assert_err("");
    assert!(out.elapsed >= MS(1000), "{}", out.show());
    f.finish();
}

#[test]
fn a_command_without_a_reply_succeeds_when_the_agent_closes() {
    let f = no_reply_agent(vec![
        expect("guest-suspend-ram"),
        // The script ends: the fake closes the connection.
    ]);
    let out = tool(
        "qga-exec",
        f.path(),
        &["--timeout", "30", "guest-suspend-ram"],
    )
    .ok();
    assert!(out.elapsed < MS(20000), "{}", out.show());
    f.finish();
}

#[test]
fn a_command_without_a_reply_that_fails_says_so() {
    let f = no_reply_agent(vec![
        expect("guest-suspend-ram"),
        Reply(json!({"error": {"class": "GenericError", "desc": "suspend: not supported"}})),
    ]);
    tool("qga-exec", f.path(), &["guest-suspend-ram"])
        .status(1)
        .assert_err("qga-exec: GenericError: suspend: not supported");
    f.finish();
}

#[test]
fn a_command_that_replies_is_awaited_to_the_timeout() {
    // guest-ping replies on success: its silence is a timeout, never success.
    let f = no_reply_agent(vec![expect("guest-ping"), Drain]);
    tool("qga-exec", f.path(), &["--timeout", "1.5", "guest-ping"])
        .status(4)
        .assert_err(
            "qga-exec: no reply to 'guest-ping' within 1.5 s (QEMU may still complete the command)",
        );
    f.finish();
}

#[test]
fn a_silent_socket_is_no_agent() {
    for (bin, status) in [("qga-exec", 4), ("qga-run", 125)] {
        let f = Fake::raw(vec![Drain]);
        let out = tool(bin, f.path(), &["--timeout", "0.5", "guest-ping"]).status(status);
        out.assert_err(&format!(
            "{bin}: no answer from the guest agent at {} within 0.5 s: the agent is not \
             running in the guest (start qemu-guest-agent there), another client holds its \
             channel (it serves one at a time), or this socket is not a guest agent's",
            f.path().display()
        ));
        assert!(out.elapsed < MS(4000), "{}", out.show());
        f.finish();
    }
}

#[test]
fn qga_run_reports_truncated_output_and_odd_exit_codes() {
    let f = Fake::raw(vec![
        Sync(Vec::new()),
        Expect(
            "guest-exec",
            Some(json!({"path": "big", "capture-output": true})),
        ),
        ret(json!({"pid": 77})),
        Expect("guest-exec-status", Some(json!({"pid": 77}))),
        ret(json!({"exited": false})),
        Expect("guest-exec-status", Some(json!({"pid": 77}))),
        ret(
            json!({"exited": true, "exitcode": 0, "out-data": "aGkK", "out-truncated": true,
                   "err-data": "ZXJyCg==", "err-truncated": true}),
        ),
    ]);
    let out = tool("qga-run", f.path(), &["big"]).ok();
    out.assert_stdout("hi\n");
    assert_eq!(
        out.stderr,
        "err\nqga-run: the agent truncated the program's stdout: only its first part (the \
         agent keeps 16 MiB) was written\nqga-run: the agent truncated the program's stderr: \
         only its first part (the agent keeps 16 MiB) was written\n",
        "{}",
        out.show()
    );
    f.finish();
    // A Windows guest's exit code fits no status: 255, said, never its low byte.
    let f = program_ending(json!({"exited": true, "exitcode": 3221225728u64}));
    tool("qga-run", f.path(), &["crash.exe"])
        .status(255)
        .assert_err("qga-run: the program's exit code 3221225728 fits no exit status: 255");
    f.finish();
    // Output that is not base64 is the agent's fault: 125, not the program's status.
    let f = program_ending(json!({"exited": true, "exitcode": 0, "out-data": "***"}));
    tool("qga-run", f.path(), &["true"])
        .status(125)
        .assert_err_has("qga-run: protocol error: expected guest-exec-status's return (\"out-data\" is not base64", "");
    f.finish();
}

#[test]
fn qga_run_survives_a_closed_stdout_with_the_program_s_status() {
    // Output that cannot be written (stdout closed) leaves the status the
    // program's: a failing program behind `| head` is still a failure.
    let f = program_ending(json!({"exited": true, "exitcode": 7, "out-data": "aGkK"}));
    let bin = crate::util::bin("qga-run");
    let script = format!(
        "{{ '{bin}' -s '{}' false; echo $? >&2; }} | true",
        f.path().display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "7\n");
    f.finish();
}

#[test]
fn without_guest_info_the_known_commands_still_need_no_reply() {
    // guest-info disabled (qemu-ga -b guest-info): guest-shutdown is known
    // to send no reply, and its silence is still success.
    let refused = json!({"error": {"class": "CommandNotFound", "desc": "The command guest-info has been disabled for this instance"}});
    let f = Fake::raw(vec![
        Sync(Vec::new()),
        expect("guest-info"),
        Reply(refused.clone()),
        expect("guest-shutdown"),
        Silence(MS(5000)),
    ]);
    tool("qga-exec", f.path(), &["guest-shutdown"]).ok();
    f.finish();
    // ... and any other command is awaited for its reply.
    let f = Fake::raw(vec![
        Sync(Vec::new()),
        expect("guest-info"),
        Reply(refused),
        expect("guest-get-time"),
        ret(json!(1796124902644685000u64)),
    ]);
    tool("qga-exec", f.path(), &["guest-get-time"])
        .ok()
        .assert_stdout("1796124902644685000\n");
    f.finish();
}

#[test]
fn a_human_monitor_is_not_an_agent() {
    let f = Fake::raw(vec![
        Raw(b"QEMU 10.0.2 monitor - type 'help' for more information\r\n(qemu) ".to_vec()),
        Drain,
    ]);
    let out = tool("qga-exec", f.path(), &["--timeout", "30", "guest-ping"]).status(3);
    out.assert_err(&format!(
        "qga-exec: {} is not a guest agent: it greets as QEMU's human monitor (HMP); give \
         qga-* the socket of the guest agent's channel (a virtio-serial port named \
         org.qemu.guest_agent.0)",
        f.path().display()
    ));
    assert!(
        out.elapsed < MS(10000),
        "at once, not at the timeout{}",
        out.show()
    );
    f.finish();
}

#[test]
fn qmp_exec_names_an_agent_only_when_it_answers_as_one() {
    // A silent peer that answers the probe with something else than
    // guest-sync's id is still a busy monitor, as far as anyone can tell.
    let f = Fake::raw(vec![expect("guest-sync"), ret(json!({})), Drain]);
    let out = crate::util::exec(f.path(), &["--timeout", "0.5", "query-status"]).status(3);
    assert!(
        out.stderr.contains(" is busy: no greeting within 0.5 s"),
        "{}",
        out.show()
    );
    f.finish();
}
