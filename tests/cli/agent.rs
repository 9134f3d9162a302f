//! qga-exec and qga-run against a real qemu-ga run on the host (commands
//! that act on the machine are tested against the fake agent only).

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use crate::qemu::Qemu;
use crate::util::{Cmd, exec, tool};

fn qga(q: &Qemu, args: &[&str]) -> Cmd {
    tool("qga-exec", q.sock(), args)
}

fn run(q: &Qemu, args: &[&str]) -> Cmd {
    tool("qga-run", q.sock(), args)
}

#[test]
fn guest_ping_and_the_output_forms() {
    let Some(q) = Qemu::qga() else { return };
    qga(&q, &["guest-ping"]).ok().assert_stdout("");
    qga(&q, &["--json", "guest-ping"])
        .ok()
        .assert_stdout("{}\n");
    qga(&q, &["--raw", "guest-ping"])
        .ok()
        .assert_stdout("{\"return\":{}}\n");
    // The address from QGA_SOCKET; QMP_SOCKET is the monitor's and is not read.
    let mut c = Cmd::new("qga-exec");
    c.env("QGA_SOCKET", q.sock().to_str().unwrap())
        .arg("--json")
        .arg("guest-ping");
    c.ok().assert_stdout("{}\n");
    Cmd::new("qga-exec")
        .env("QMP_SOCKET", q.sock().to_str().unwrap())
        .arg("guest-ping")
        .status(2)
        .assert_err_has("qga-exec: no guest agent address:", "set QGA_SOCKET");
    // -v shows the sync and the reply, as for QMP.
    let v = qga(&q, &["-v", "guest-ping"]).ok();
    assert!(
        v.stderr
            .contains("-> {\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":"),
        "{}",
        v.show()
    );
    assert!(
        v.stderr
            .contains("-> {\"execute\":\"guest-ping\"}\n<- {\"return\": {}}"),
        "{}",
        v.show()
    );
    // A whole command as JSON, with its own id kept for --raw.
    qga(&q, &["--raw", r#"{"execute": "guest-ping", "id": "mine"}"#])
        .ok()
        .assert_stdout("{\"return\":{},\"id\":\"mine\"}\n");
    // An error reply: status 1, class and description.
    qga(&q, &["guest-no-such-command"]).status(1).assert_err(
        "qga-exec: CommandNotFound: The command guest-no-such-command has not been found",
    );
}

#[test]
fn list_and_guest_info() {
    let Some(q) = Qemu::qga() else { return };
    let info = qga(&q, &["--json", "guest-info"]).ok().json();
    let listed = info["supported_commands"].as_array().unwrap();
    let plain = qga(&q, &["--list"]).ok();
    assert_eq!(
        plain.stdout.lines().count(),
        listed.len(),
        "{}",
        plain.show()
    );
    for c in listed {
        let state = if c["enabled"] == true {
            "enabled"
        } else {
            "disabled"
        };
        let reply = if c["success-response"] == true {
            ""
        } else {
            " no-reply"
        };
        let line = format!("{} {state}{reply}", c["name"].as_str().unwrap());
        assert!(
            plain.stdout.lines().any(|l| l == line),
            "{line}{}",
            plain.show()
        );
    }
    assert!(plain.stdout.lines().any(|l| l == "guest-exec enabled"));
    assert!(
        plain
            .stdout
            .lines()
            .any(|l| l == "guest-shutdown enabled no-reply")
    );
    let mut names: Vec<&str> = plain.stdout.lines().collect();
    let sorted = {
        let mut s = names.clone();
        s.sort();
        s
    };
    assert_eq!(names, sorted, "sorted");
    names.clear();
    let json = qga(&q, &["--list", "--json"]).ok().json();
    assert_eq!(json.as_array().unwrap().len(), listed.len());
    assert!(json.as_array().unwrap().contains(
        &json!({"name": "guest-suspend-ram", "enabled": true, "success-response": false})
    ));
}

#[test]
fn guest_get_osinfo_is_this_host() {
    let Some(q) = Qemu::qga() else { return };
    let os = qga(&q, &["--json", "guest-get-osinfo"]).ok().json();
    let uname = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .unwrap();
    let release = String::from_utf8(uname.stdout).unwrap();
    assert_eq!(os["kernel-release"], release.trim());
    assert_eq!(os["machine"], std::env::consts::ARCH);
}

#[test]
fn guest_file_open_read_close() {
    let Some(q) = Qemu::qga() else { return };
    let path = q.dir.path().join("data.bin");
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let path_item = format!("path={}", path.display());
    let handle = qga(&q, &["guest-file-open", &path_item]).ok();
    let handle = handle.stdout.trim().to_string();
    assert!(handle.parse::<u64>().is_ok(), "a handle: {handle}");
    let h = format!("handle:={handle}");
    let read = qga(&q, &["--json", "guest-file-read", &h, "count:=65536"])
        .ok()
        .json();
    assert_eq!(read["count"], data.len());
    let got = base64::engine::general_purpose::STANDARD
        .decode(read["buf-b64"].as_str().unwrap())
        .unwrap();
    assert_eq!(got, data);
    qga(&q, &["guest-file-close", &h]).ok().assert_stdout("");
    // Closed: the handle is gone.
    let again = qga(&q, &["guest-file-read", &h]).status(1);
    assert!(
        again.stderr.starts_with("qga-exec: GenericError: "),
        "{}",
        again.show()
    );
}

#[test]
fn qga_run_exit_codes_and_output() {
    let Some(q) = Qemu::qga() else { return };
    run(&q, &["--", "sh", "-c", "echo hi; echo oops >&2; exit 3"])
        .status(3)
        .assert_stdout("hi\n")
        .assert_err("oops");
    run(&q, &["sh", "-c", "printf 'a\\0b'"])
        .ok()
        .assert_stdout("a\0b");
    run(&q, &["true"]).ok().assert_stdout("").assert_err("");
    run(
        &q,
        &[
            "--env",
            "GREETING=hello there",
            "--",
            "sh",
            "-c",
            "echo \"$GREETING\"",
        ],
    )
    .ok()
    .assert_stdout("hello there\n");
    // Killed by a signal: 128+N, as shells say it.
    run(&q, &["--", "sh", "-c", "kill -KILL $$"])
        .status(137)
        .assert_err("");
    run(&q, &["--", "sh", "-c", "kill -TERM $$"]).status(143);
    // stdin: ours, sent whole.
    let input: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    run(&q, &["--stdin", "--", "cat"])
        .stdin(input.clone())
        .ok()
        .assert_stdout(&input);
    // Without --stdin the program reads nothing.
    run(&q, &["--", "wc", "-c"])
        .stdin("ignored")
        .ok()
        .assert_stdout("0\n");
}

#[test]
fn qga_run_statuses_of_its_own() {
    let Some(q) = Qemu::qga() else { return };
    // The agent cannot start it: 126.
    let out = run(&q, &["--", "/nonexistent/program"]).status(126);
    out.assert_err_has(
        "qga-run: cannot run '/nonexistent/program' in the guest: GenericError: ",
        "No such file or directory",
    );
    // Past --timeout: 124, and where it goes on.
    let out = run(&q, &["--timeout", "1", "--", "sleep", "60"]).status(124);
    out.assert_err_has(
        "qga-run: timed out after 1 s: the program is still running in the guest as pid ",
        "qga-exec guest-exec-status pid:=",
    );
    assert!(out.elapsed >= Duration::from_secs(1), "{}", out.show());
    // The pid it names is the program's: the agent still reports it
    // running; then it is stopped by that pid.
    let pid: i32 = out.stderr
        ["qga-run: timed out after 1 s: the program is still running in the guest as pid ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let status = qga(&q, &["--json", "guest-exec-status", &format!("pid:={pid}")])
        .ok()
        .json();
    assert_eq!(status["exited"], false, "{status}");
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    // Usage: 125, never a status the program could be blamed for silently.
    Cmd::new("qga-run")
        .args(&["--env", "NOEQUALS", "true"])
        .run()
        .assert_status(125);
    Cmd::new("qga-run")
        .arg("true")
        .status(125)
        .assert_err_has("qga-run: no guest agent address:", "QGA_SOCKET");
}

#[test]
fn the_wrong_socket_says_which_it_is() {
    let Some(agent) = Qemu::qga() else { return };
    // qmp-exec at an agent: it never greets, and answers a guest-sync.
    let out = exec(agent.sock(), &["--timeout", "1", "query-status"]).status(3);
    out.assert_err(&format!(
        "qmp-exec: {} is not a QMP monitor: it is a guest agent (qemu-ga: no greeting, it \
         answers guest-sync); use qga-exec or qga-run for it",
        agent.sock().display()
    ));
    let Some(monitor) = Qemu::qsd(&[]) else {
        return;
    };
    let said = format!(
        "{} is not a guest agent: it greets as a QMP monitor ({{\"QMP\": ...}}); use qmp-exec \
         for it, and give qga-* the socket of the guest agent's channel (a virtio-serial port \
         named org.qemu.guest_agent.0)",
        monitor.sock().display()
    );
    let out = tool("qga-exec", monitor.sock(), &["guest-ping"]).status(3);
    out.assert_err(&format!("qga-exec: {said}"));
    assert!(
        out.elapsed < Duration::from_secs(5),
        "at once, not at the timeout{}",
        out.show()
    );
    tool("qga-run", monitor.sock(), &["true"])
        .status(125)
        .assert_err(&format!("qga-run: {said}"));
}

#[test]
fn an_agent_held_by_another_client_does_not_answer() {
    let Some(q) = Qemu::qga() else { return };
    let addr = qmp::Address::Unix(q.sock.clone());
    let held =
        qmp::Client::connect_with(&addr, &qmp::Options::default(), &qmp::handshake::Agent).unwrap();
    let out = qga(&q, &["--timeout", "1", "guest-ping"]).status(4);
    out.assert_err(&format!(
        "qga-exec: no answer from the guest agent at {} within 1 s: the agent is not running \
         in the guest (start qemu-guest-agent there), another client holds its channel (it \
         serves one at a time), or this socket is not a guest agent's",
        q.sock().display()
    ));
    drop(held);
    // Once the other client is gone, the agent serves the next one.
    qga(&q, &["--json", "guest-ping"])
        .ok()
        .assert_stdout("{}\n");
}
