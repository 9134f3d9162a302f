//! `qmp-exec --job` and `--attach` on real qemu-storage-daemon block jobs,
//! I/O errors injected with blkdebug: every outcome and its status, the
//! progress line on a pseudo-terminal, and nothing of it on a pipe.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::events::json_lines;
use crate::qemu::Qemu;
use crate::util::{Cmd, Out, bin, exec};

/// The size of both images.
const SIZE: usize = 4 << 20;

/// qemu-storage-daemon with node `src` (raw over blkdebug over a file of
/// [`SIZE`] non-zero bytes: a sparse image is never read) and node `dst`
/// (raw over blkdebug over an empty file of the same size); `src_errors`
/// and `dst_errors` are blkdebug `inject-error` rules. A second monitor
/// listens on DIR/mon2.sock.
fn daemon(src_errors: Value, dst_errors: Value) -> Option<Qemu> {
    Qemu::qsd_in(|dir| {
        let (src, dst) = crate::qemu::images(dir, SIZE);
        let node = |name: &str, file: &PathBuf, errors: &Value| {
            let mut n = json!({"driver": "raw", "node-name": name, "file": {
                "driver": "blkdebug",
                "image": {"driver": "file", "filename": file}}});
            // An empty list does not survive QEMU's command-line parsing.
            if errors.as_array().is_some_and(|a| !a.is_empty()) {
                n["file"]["inject-error"] = errors.clone();
            }
            n.to_string()
        };
        let mon2 = format!(
            "socket,id=m2,path={},server=on,wait=off",
            dir.join("mon2.sock").display()
        );
        vec![
            "--blockdev".into(),
            node("src", &src, &src_errors),
            "--blockdev".into(),
            node("dst", &dst, &dst_errors),
            "--chardev".into(),
            mon2,
            "--monitor".into(),
            "chardev=m2".into(),
        ]
    })
}

/// One error on the first `event` (read_aio, write_aio) with `errno`.
fn once(event: &str, errno: i32) -> Value {
    json!([{"event": event, "errno": errno, "once": true}])
}

fn none() -> Value {
    json!([])
}

/// `qmp-exec blockdev-backup` of src to dst as job j0, then `extra`.
fn backup(q: &Qemu, extra: &[&str]) -> Cmd {
    let mut c = exec(
        q.sock(),
        &[
            "blockdev-backup",
            "job-id=j0",
            "device=src",
            "target=dst",
            "sync=full",
        ],
    );
    c.args(extra);
    c
}

/// [`backup`] as a shell command line, `rest` appended.
fn backup_line(q: &Qemu, rest: &str) -> String {
    format!(
        "{} -s {} blockdev-backup job-id=j0 device=src target=dst sync=full {rest}",
        bin("qmp-exec"),
        q.sock().display()
    )
}

fn jobs(q: &Qemu) -> Value {
    exec(q.sock(), &["--json", "query-jobs"]).ok().json()
}

fn block_jobs(q: &Qemu) -> Value {
    exec(q.sock(), &["--json", "query-block-jobs"]).ok().json()
}

/// Asserts the last stdout line (the outcome, in plain mode).
fn assert_last(out: &Out, want: &str) {
    let last = out.stdout.lines().last().unwrap_or_default();
    assert_eq!(last, want, "{}", out.show());
}

/// The statuses of the job's JOB_STATUS_CHANGE events, from plain lines.
fn statuses(out: &Out) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| l.contains(" JOB_STATUS_CHANGE "))
        .map(|l| {
            let data: Value = serde_json::from_str(l.splitn(3, ' ').nth(2).unwrap()).unwrap();
            data["status"].as_str().unwrap().to_string()
        })
        .collect()
}

fn assert_copied(q: &Qemu) {
    let src = std::fs::read(q.path("src.img")).unwrap();
    let dst = std::fs::read(q.path("dst.img")).unwrap();
    assert!(src == dst, "dst.img differs from src.img");
}

#[test]
fn a_backup_that_succeeds_is_0_and_one_that_fails_is_1_with_its_error() {
    let Some(q) = daemon(none(), none()) else {
        return;
    };
    let out = backup(&q, &["--job"]).ok();
    assert_last(&out, "job j0 (backup) concluded");
    assert_eq!(out.stderr, "", "{}", out.show());
    // Every status change, the first ones before the reply included.
    let seen = statuses(&out);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("created"),
        "{}",
        out.show()
    );
    assert!(seen.contains(&"concluded".to_string()), "{}", out.show());
    assert_copied(&q);
    assert_eq!(jobs(&q), json!([]));

    // A read error of the source under report (the default).
    let Some(q) = daemon(once("read_aio", 5), none()) else {
        return;
    };
    let out = backup(&q, &["--job", "on-source-error=report"]).status(1);
    out.assert_err_has(
        "qmp-exec: job j0 (backup) failed at ",
        ": Input/output error; I/O errors (BLOCK_JOB_ERROR): read (action report)",
    );
    assert!(
        out.stdout.contains(" BLOCK_JOB_COMPLETED ") && !out.stdout.contains(" concluded\n"),
        "{}",
        out.show()
    );

    // A write error of the target, with --json: events, then the final state.
    let Some(q) = daemon(none(), once("write_aio", 5)) else {
        return;
    };
    let out = backup(&q, &["--job", "--json", "on-target-error=report"]).status(1);
    out.assert_err_has("qmp-exec: job j0 (backup) failed", "write (action report)");
    let lines = json_lines(&out);
    assert_eq!(lines[0], json!({}), "the reply first{}", out.show());
    assert!(
        lines[1..lines.len() - 1]
            .iter()
            .all(|e| e["event"].is_string() && e["timestamp"].is_object()),
        "{}",
        out.show()
    );
    let last = lines.last().unwrap();
    assert_eq!(last["job"], "j0", "{}", out.show());
    assert_eq!(last["outcome"], "failed", "{}", out.show());
    assert_eq!(last["type"], "backup", "{}", out.show());
    assert_eq!(last["error"], "Input/output error", "{}", out.show());
    assert_eq!(
        last["errors"],
        json!([{"operation": "write", "action": "report", "count": 1}]),
        "{}",
        out.show()
    );
    assert_eq!(last["total-progress"], SIZE, "{}", out.show());
}

#[test]
fn a_mirror_ends_the_wait_at_ready_then_job_complete_to_the_end() {
    let Some(q) = daemon(none(), none()) else {
        return;
    };
    let out = exec(
        q.sock(),
        &[
            "blockdev-mirror",
            "job-id=j0",
            "device=src",
            "target=dst",
            "sync=full",
            "--job",
        ],
    )
    .ok();
    assert_last(
        &out,
        "job j0 (mirror) ready: complete it with 'qmp-exec job-complete id=j0 --job=concluded'",
    );
    assert_eq!(statuses(&out).last().map(String::as_str), Some("ready"));
    // BLOCK_JOB_READY, which comes right after the status, too.
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[lines.len() - 2].contains(" BLOCK_JOB_READY {\"device\":\"j0\""),
        "{}",
        out.show()
    );
    // Still there, ready: the wait did not complete it.
    assert_eq!(jobs(&q)[0]["status"], "ready");
    let out = exec(q.sock(), &["job-complete", "id=j0", "--job=concluded"]).ok();
    assert_last(&out, "job j0 (mirror) concluded");
    assert!(
        statuses(&out).contains(&"concluded".to_string()),
        "{}",
        out.show()
    );
    assert_eq!(jobs(&q), json!([]));
    assert_copied(&q);

    // --job=concluded on the mirror itself waits through ready: a cancel
    // from the other monitor ends it, as someone else's cancel (status 1).
    let mirror = exec(
        q.sock(),
        &[
            "blockdev-mirror",
            "job-id=j1",
            "device=src",
            "target=dst",
            "sync=full",
            "--job=concluded",
            "--event-timeout",
            "60",
        ],
    );
    let out = cancelled_from_mon2(&q, mirror, "j1", "ready");
    out.assert_err_has(
        "qmp-exec: job j1 (mirror) was cancelled, not by this command",
        "",
    );
    assert!(
        statuses(&out).contains(&"ready".to_string()),
        "{}",
        out.show()
    );
}

/// Runs `follower` and, once job `id` is `status` (as the second monitor
/// sees it: the follower holds the first), cancels it from there; the
/// follower's output, with status 1.
fn cancelled_from_mon2(q: &Qemu, mut follower: Cmd, id: &str, status: &str) -> Out {
    let running = follower.spawn();
    let mon2 = q.path("mon2.sock");
    wait_for_status(&mon2, id, status);
    exec(&mon2, &["job-cancel", &format!("id={id}")]).ok();
    let out = running.wait();
    out.assert_status(1);
    out
}

/// Waits until the daemon lists no job (20 s at most).
fn wait_gone(q: &Qemu) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while jobs(q) != json!([]) {
        assert!(Instant::now() < deadline, "jobs left: {}", jobs(q));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `query-jobs` on `sock` until job `id` has `status` (20 s at most).
fn wait_for_status(sock: &std::path::Path, id: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = exec(sock, &["--json", "query-jobs"]).ok().json();
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id && j["status"] == status);
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "job {id} never {status}: {list}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stop_pauses_the_job_with_status_1_and_resume_with_job_follows_it_to_success() {
    let Some(q) = daemon(once("read_aio", 5), none()) else {
        return;
    };
    let out = backup(&q, &["--job", "on-source-error=stop"]).status(1);
    out.assert_err_has(
        "qmp-exec: job j0 (backup) is paused by an I/O error at ",
        "(io-status failed: resume it to retry); I/O errors (BLOCK_JOB_ERROR): read (action \
         stop); it stays paused: resume it with 'qmp-exec block-job-resume device=j0 --job' (or \
         'qmp-exec job-resume id=j0 --job')",
    );
    let listed = block_jobs(&q);
    assert_eq!(listed[0]["status"], "paused", "left paused: {listed}");
    assert_eq!(listed[0]["io-status"], "failed", "{listed}");
    // Attaching says the same, and leaves it paused.
    let out = exec(q.sock(), &["--attach", "j0", "--json"]).status(1);
    out.assert_err_has("qmp-exec: job j0 (backup) is paused by an I/O error", "");
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["outcome"], "paused", "{}", out.show());
    assert_eq!(last["io-status"], "failed", "{}", out.show());
    assert_eq!(block_jobs(&q)[0]["status"], "paused");
    // Resumed and followed: the error was injected once, so it completes.
    let out = exec(q.sock(), &["job-resume", "id=j0", "--job"]).ok();
    assert_last(&out, "job j0 (backup) concluded");
    assert_eq!(statuses(&out).first().map(String::as_str), Some("running"));
    assert_copied(&q);
    // Gone now: attaching to it is an error that says what there is.
    exec(q.sock(), &["--attach", "j0"])
        .status(1)
        .assert_err("qmp-exec: no job 'j0' on this server (query-jobs: it lists none)");
}

#[test]
fn enospc_pauses_on_enospc_and_reports_other_errors() {
    let Some(q) = daemon(none(), once("write_aio", 28)) else {
        return;
    };
    let out = backup(&q, &["--job", "on-target-error=enospc"]).status(1);
    out.assert_err_has(
        "qmp-exec: job j0 (backup) is paused by an I/O error",
        "(io-status nospace: no space left on the target; make room, then resume it); I/O \
         errors (BLOCK_JOB_ERROR): write (action stop)",
    );
    assert_eq!(block_jobs(&q)[0]["io-status"], "nospace");
    let out = exec(q.sock(), &["block-job-resume", "device=j0", "--job"]).ok();
    assert_last(&out, "job j0 (backup) concluded");

    let Some(q) = daemon(none(), once("write_aio", 5)) else {
        return;
    };
    let out = backup(&q, &["--job", "on-target-error=enospc"]).status(1);
    out.assert_err_has(
        "qmp-exec: job j0 (backup) failed",
        ": Input/output error; I/O errors (BLOCK_JOB_ERROR): write (action report)",
    );
    assert_eq!(jobs(&q), json!([]));
}

#[test]
fn ignore_concludes_with_status_0_and_lists_the_errors() {
    let Some(q) = daemon(once("read_aio", 5), none()) else {
        return;
    };
    let out = backup(&q, &["--job", "on-source-error=ignore"]).ok();
    assert_last(
        &out,
        "job j0 (backup) concluded; I/O errors (BLOCK_JOB_ERROR): read (action ignore)",
    );
    assert_eq!(out.stderr, "", "{}", out.show());
    let Some(q) = daemon(once("read_aio", 5), none()) else {
        return;
    };
    let out = backup(&q, &["--json", "on-source-error=ignore", "--job"]).ok();
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["outcome"], "concluded", "{}", out.show());
    assert_eq!(
        last["errors"],
        json!([{"operation": "read", "action": "ignore", "count": 1}])
    );
    assert!(last.get("error").is_none(), "{}", out.show());
}

#[test]
fn a_cancel_from_another_monitor_is_1_and_a_deadline_is_4() {
    let Some(q) = daemon(none(), none()) else {
        return;
    };
    // Slow (64 KiB/s after the first MiB): it cannot end by itself in time.
    let out = backup(&q, &["--job", "speed:=65536", "--event-timeout", "1"]).status(4);
    out.assert_err_has(
        "qmp-exec: job j0 (backup) is still running after 1 s (--event-timeout); it runs on: \
         follow it with 'qmp-exec --attach j0'",
        "",
    );
    assert_eq!(jobs(&q)[0]["status"], "running", "it runs on");
    // Attached to while it runs: the same deadline.
    exec(q.sock(), &["--attach", "j0", "--event-timeout", "0.5"])
        .status(4)
        .assert_err_has("qmp-exec: job j0 (backup) is still running after 0.5 s", "");
    exec(q.sock(), &["job-cancel", "id=j0"]).ok();
    wait_gone(&q);
    // Followed from the start, cancelled from the other monitor.
    let slow = backup(&q, &["--job", "speed:=65536", "--event-timeout", "60"]);
    let out = cancelled_from_mon2(&q, slow, "j0", "running");
    out.assert_err_has(
        "qmp-exec: job j0 (backup) was cancelled, not by this command at ",
        "of 4194304)",
    );
    assert!(
        out.stdout.contains(" BLOCK_JOB_CANCELLED "),
        "{}",
        out.show()
    );
    // A cancel that this command asked for is what it wanted.
    backup(&q, &["speed:=65536"]).ok();
    let out = exec(q.sock(), &["job-cancel", "id=j0", "--job"]).ok();
    assert_last(&out, "job j0 (backup) cancelled");
}

#[test]
fn dismiss_and_finalize_leave_no_job_behind() {
    let Some(q) = daemon(none(), none()) else {
        return;
    };
    let manual = ["auto-dismiss:=false", "--job"];
    // Without --dismiss the job stays, concluded.
    backup(&q, &manual).ok();
    assert_eq!(jobs(&q)[0]["status"], "concluded");
    exec(q.sock(), &["job-dismiss", "id=j0"]).ok();
    let out = backup(&q, &[&manual[..], &["--dismiss"]].concat()).ok();
    assert_last(&out, "job j0 (backup) concluded");
    assert_eq!(jobs(&q), json!([]), "dismissed");

    // auto-finalize:=false: the wait ends at pending, unless --finalize.
    let out = backup(&q, &["auto-finalize:=false", "--job"]).ok();
    assert_last(
        &out,
        "job j0 (backup) pending: finalize it with 'qmp-exec job-finalize id=j0 --job'",
    );
    assert_eq!(jobs(&q)[0]["status"], "pending");
    let out = exec(q.sock(), &["--attach", "j0", "--finalize", "--json"]).ok();
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["outcome"], "concluded", "{}", out.show());
    assert_eq!(jobs(&q), json!([]));
    let both = ["auto-finalize:=false", "auto-dismiss:=false", "--job"];
    backup(&q, &[&both[..], &["--finalize", "--dismiss"]].concat()).ok();
    assert_eq!(jobs(&q), json!([]));
}

#[test]
fn blockdev_create_is_followed_and_dismissed() {
    let Some(q) = daemon(none(), none()) else {
        return;
    };
    let create = |id: &str, file: &std::path::Path, extra: &[&str]| {
        let options = json!({"driver": "file", "filename": file, "size": 1 << 20});
        let mut c = exec(
            q.sock(),
            &[
                "blockdev-create",
                &format!("job-id={id}"),
                &format!("options:={options}"),
                "--job",
            ],
        );
        c.args(extra);
        c
    };
    let new = q.path("new.img");
    let out = create("c0", &new, &["--dismiss"]).ok();
    assert_last(&out, "job c0 (create) concluded");
    assert_eq!(std::fs::metadata(&new).unwrap().len(), 1 << 20);
    assert_eq!(jobs(&q), json!([]));
    // Its error is only in query-jobs: read there.
    let out = create("c1", &q.path("no/such/dir.img"), &[]).status(1);
    out.assert_err_has("qmp-exec: job c1 (create) failed", ": Could not create '");
    assert_eq!(
        jobs(&q)[0]["status"],
        "concluded",
        "left, without --dismiss"
    );
}

#[test]
fn job_on_a_command_that_names_no_job_is_a_usage_error() {
    let nowhere = std::path::Path::new("/nonexistent/qmp.sock");
    exec(nowhere, &["query-status", "--job"])
        .status(2)
        .assert_err(
            "qmp-exec: --job: 'query-status' has no job-id argument: give the job-id=ID the job is \
         created with (id=ID for job-* commands, device=ID for block-job-*), or name the job \
         with --attach ID",
        );
    exec(nowhere, &["query-status", "--dismiss"])
        .status(2)
        .assert_err(
            "qmp-exec: --no-progress, --dismiss and --finalize go with --job or --attach ID",
        );
    let out = exec(nowhere, &["x", "job-id=j", "--job", "-e", "E"]).status(2);
    out.assert_err_has(
        "qmp-exec: the argument '--job[=<UNTIL>]' cannot be used with",
        "",
    );
    exec(nowhere, &["x", "job-id=j", "--job=soon"])
        .status(2)
        .assert_err_has("qmp-exec: invalid value 'soon' for '--job[=<UNTIL>]'", "");
    exec(nowhere, &[]).status(2);
}

#[test]
fn a_progress_line_on_a_terminal_only() {
    let Some(q) = daemon(none(), none()) else {
        return;
    };
    let follow = backup_line(&q, "speed:=1048576 --job --event-timeout 60");
    let Some(screen) = crate::util::on_terminal(&format!("{follow}; echo status=$?")) else {
        eprintln!("SKIPPED: util-linux script(1) is not available");
        return;
    };
    assert!(screen.contains("status=0"), "{screen:?}");
    // Drawn in place ("\r" + erase line), with percents that grow.
    let draws: Vec<&str> = screen
        .split("\r\u{1b}[K")
        .filter(|d| d.starts_with("j0 backup running"))
        .collect();
    let percents: Vec<&str> = draws
        .iter()
        .filter_map(|d| d.split('%').next()?.rsplit(' ').next())
        .collect();
    let mut distinct = percents.clone();
    distinct.dedup();
    assert!(distinct.len() >= 2, "at least two updates: {screen:?}");
    assert!(
        draws.iter().any(|d| d.contains(" of 4.0 MiB")),
        "bytes: {screen:?}"
    );
    // Erased at the end: the outcome line starts on a clean line.
    let at_end = screen.rsplit("\r\u{1b}[K").next().unwrap();
    assert!(
        !at_end.contains('%') && at_end.contains("job j0 (backup) concluded"),
        "the last progress line was erased: {screen:?}"
    );
    // With -v, each trace line erases the progress line first: none is
    // written after progress text on the same terminal line.
    let screen = crate::util::on_terminal(&format!("{follow} -v")).unwrap();
    let draws = screen.matches(" backup running ").count();
    assert!(draws >= 2, "{screen:?}");
    for piece in screen
        .split("\r\u{1b}[K")
        .filter(|p| p.starts_with("j0 backup"))
    {
        assert!(
            !piece.contains("-> "),
            "a trace line after progress text: {piece:?}"
        );
    }
    // --no-progress: nothing of it.
    let screen = crate::util::on_terminal(&format!("{follow} --no-progress")).unwrap();
    assert!(
        !screen.contains('%') && !screen.contains('\u{1b}'),
        "{screen:?}"
    );
    assert!(screen.contains("job j0 (backup) concluded"), "{screen:?}");

    // On a pipe: no progress line, and no polling (-v shows every query).
    let out = backup(
        &q,
        &["--job", "speed:=1048576", "-v", "--event-timeout", "60"],
    )
    .ok();
    assert!(
        !out.stderr.contains('%') && !out.stderr.contains('\r'),
        "{}",
        out.show()
    );
    let queries = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("-> ") && l.contains("query-jobs"))
        .count();
    assert!(
        queries <= 2,
        "a job of about 3 s followed on a pipe queries only when events leave a question \
         open{}",
        out.show()
    );
    assert_last(&out, "job j0 (backup) concluded");
}

#[test]
fn a_stdout_closed_early_does_not_turn_a_failed_job_into_success() {
    let Some(q) = daemon(none(), none()) else {
        return;
    };
    // head exits after the first event; the job's end comes later, cancelled
    // from the other monitor, and its lines meet a closed pipe.
    let script = backup_line(
        &q,
        "speed:=65536 --job --event-timeout 60 | head -1 >/dev/null; echo ${PIPESTATUS[0]}",
    );
    let child = std::process::Command::new("bash")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mon2 = q.path("mon2.sock");
    wait_for_status(&mon2, "j0", "running");
    std::thread::sleep(Duration::from_millis(200));
    exec(&mon2, &["job-cancel", "id=j0"]).ok();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n", "{stderr}");
    assert!(
        stderr.starts_with("qmp-exec: job j0 (backup) was cancelled")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}
