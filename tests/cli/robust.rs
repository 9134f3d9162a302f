//! Startup races, signals and closed pipes.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::fake::*;
use crate::qemu::{available, system_bin, version};
use crate::util::{bin, tool};

/// QEMU creates its socket file before it listens, and a client may try in
/// between: `--wait` must ride that out every time. 200 starts in a row.
#[test]
fn wait_rides_out_the_startup_race_200_times() {
    if !available(system_bin()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let mut want = None;
    for i in 0..200 {
        let sock = dir.path().join(format!("q{i}.sock"));
        let qmp = format!("unix:{},server=on,wait=off", sock.display());
        let mut qemu = Command::new(system_bin())
            .args([
                "-M",
                "none",
                "-nodefaults",
                "-display",
                "none",
                "-qmp",
                &qmp,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = tool(
            "qmp-exec",
            &sock,
            &["--wait", "--timeout", "20", "query-status"],
        )
        .run();
        // QEMU 7.2 still reports the deprecated singlestep member; 10.0
        // has none.
        let want = want.get_or_insert_with(|| {
            if version(&sock) < (10, 0) {
                "{\"status\":\"running\",\"singlestep\":false,\"running\":true}\n"
            } else {
                "{\"status\":\"running\",\"running\":true}\n"
            }
        });
        let _ = qemu.kill();
        let _ = qemu.wait();
        assert_eq!(out.status, 0, "start {i} of 200{}", out.show());
        assert_eq!(out.stdout, *want, "start {i}{}", out.show());
    }
    eprintln!("200 starts in {:?}", start.elapsed());
}

#[test]
fn sigint_ends_like_130_and_leaves_whole_lines() {
    use std::os::unix::process::ExitStatusExt;
    // A listener that prints an event, then waits: Ctrl-C ends it. Output is
    // flushed per event, so what was printed is whole; the default SIGINT
    // disposition ends the process, which shells report as status 130.
    let event = b"{\"event\": \"E\", \"data\": {\"n\": 1}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n";
    let f = Fake::new(vec![Raw(event.to_vec()), Drain]);
    let running = tool("qmp-events", f.path(), &[]).spawn();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = running.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (status, out) = running.wait_status();
    assert_eq!(status.signal(), Some(2), "ended by SIGINT{}", out.show());
    assert_eq!(out.stdout, "1.000002 E {\"n\":1}\n");
    assert_eq!(out.stderr, "");
    f.finish();
}

#[test]
fn closed_stdout_ends_quietly() {
    // 2,000 events, of which head takes one: the writer's pipe closes.
    let mut events = Vec::new();
    for n in 0..2000 {
        events.extend_from_slice(
            format!("{{\"event\": \"E\", \"data\": {{\"n\": {n}}}}}\r\n").as_bytes(),
        );
    }
    let f = Fake::new(vec![Raw(events), Drain]);
    let script = format!(
        "{} -s {} --json -n 2000 2>err.txt | head -1; echo \"${{PIPESTATUS:-x}}\"; cat err.txt",
        bin("qmp-events"),
        f.path().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "cd {} && set -o pipefail; {script}",
            dir.path().display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text, "{\"event\":\"E\",\"data\":{\"n\":0}}\n0\n",
        "one line, status 0, nothing on stderr"
    );
    f.finish();
    // The same for a one-shot command whose output is cut.
    let big: Vec<_> = (0..100_000).collect();
    let f = Fake::new(vec![expect("x"), ret(serde_json::json!(big)), Drain]);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {} -s {} --pretty x 2>&1 | head -2; echo $?",
            bin("qmp-exec"),
            f.path().display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[\n  0,\n0\n");
    f.finish();
}

#[test]
fn a_terminal_never_gets_raw_control_characters() {
    // ESC [2J would clear the screen, ESC ]0; sets the title, U+009B is CSI.
    let nasty = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\u{7f}end";
    // One fake per connection: a plain string, JSON, an error description.
    let fakes = [
        Fake::new(vec![expect("x"), ret(serde_json::json!(nasty)), Drain]),
        Fake::new(vec![
            expect("x"),
            ret(serde_json::json!({ "k": nasty })),
            Drain,
        ]),
        Fake::new(vec![
            expect("x"),
            Reply(serde_json::json!({"error": {"class": "GenericError", "desc": nasty}})),
            Drain,
        ]),
    ];
    let exec = bin("qmp-exec");
    let [a, b, c] = fakes.each_ref().map(|f| f.path().display().to_string());
    let commands = format!("{exec} -s {a} x; {exec} -s {b} --json x; {exec} -s {c} x");
    let screen = crate::util::on_terminal(&commands);
    for f in fakes {
        f.abandon();
    }
    let Some(screen) = screen else {
        eprintln!("SKIPPED: util-linux script(1) is not available");
        return;
    };
    // Only newlines (as CR LF from the terminal) and tabs may be raw.
    let raw: Vec<char> = screen
        .chars()
        .filter(|&c| (c.is_control() && c != '\n' && c != '\r') || c == '\u{7f}')
        .collect();
    assert!(
        raw.is_empty(),
        "raw control characters reached the terminal: {raw:?} in {screen:?}"
    );
    // Plain: shown escaped; JSON: still valid JSON with \u escapes.
    let lines: Vec<&str> = screen.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(
        lines[0],
        "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{9b}31m\\u{7f}end"
    );
    let v: serde_json::Value = serde_json::from_str(lines[1])
        .unwrap_or_else(|e| panic!("JSON on a terminal stays JSON: {e}: {screen:?}"));
    assert_eq!(v, serde_json::json!({ "k": nasty }));
    assert!(
        lines[2].starts_with("qmp-exec: GenericError: \\u{1b}[2J"),
        "{:?}",
        lines[2]
    );
    // Not a terminal: the bytes pass as they are (scripts get the data).
    let f = Fake::new(vec![expect("x"), ret(serde_json::json!(nasty))]);
    tool("qmp-exec", f.path(), &["x"])
        .ok()
        .assert_stdout(&format!("{nasty}\n"));
    f.finish();
}

/// A stdout that cannot be written (a full disk: /dev/full) is status 5,
/// said in one line; never "usage", never success.
#[test]
fn an_output_that_cannot_be_written_is_status_5() {
    let f = Fake::new(vec![
        expect("query-version"),
        ret(serde_json::json!({"a": 1})),
        Drain,
    ]);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(bin("qmp-exec"))
        .args(["-s", f.path().to_str().unwrap(), "query-version"])
        .env_remove("QMP_SOCKET")
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmp-exec: writing the output: No space left on device (os error 28)\n"
    );
    f.finish();
}
