//! Startup races, signals and closed pipes.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::fake::*;
use crate::qemu::{SYSTEM, available};
use crate::util::{bin, tool};

/// QEMU creates its socket file before it listens, and a client may try in
/// between: `--wait` must ride that out every time. 200 starts in a row.
#[test]
fn wait_rides_out_the_startup_race_200_times() {
    if !available(SYSTEM) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    for i in 0..200 {
        let sock = dir.path().join(format!("q{i}.sock"));
        let qmp = format!("unix:{},server=on,wait=off", sock.display());
        let mut qemu = Command::new(SYSTEM)
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
        let _ = qemu.kill();
        let _ = qemu.wait();
        assert_eq!(out.status, 0, "start {i} of 200{}", out.show());
        assert_eq!(
            out.stdout,
            "{\"status\":\"running\",\"running\":true}\n",
            "start {i}{}",
            out.show()
        );
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
