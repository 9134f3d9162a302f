//! Events: `qmp-events` and `qmp-exec -e`, on the block jobs of a real
//! qemu-storage-daemon under each error policy (I/O errors injected with
//! blkdebug), and on a fake server for what QEMU will not do on demand.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::fake::*;
use crate::qemu::Qemu;
use crate::util::{Cmd, Out, bin, exec, tool, wait_or_kill};

/// The size of both images.
const SIZE: usize = 4 << 20;

/// qemu-storage-daemon with node `src`: a raw image of [`SIZE`] bytes, all
/// non-zero (a sparse image is never read), over blkdebug, which fails the
/// first read with `errno` when one is given; node `dst`: an empty image of
/// the same size; and a second monitor on DIR/mon2.sock (see [`mon2`]).
pub(crate) fn daemon(errno: Option<i32>) -> Option<Qemu> {
    Qemu::qsd_in(|dir| {
        let (src, dst) = crate::qemu::images(dir, SIZE);
        let mut src_node = json!({"driver": "raw", "node-name": "src", "file": {
            "driver": "blkdebug",
            "image": {"driver": "file", "filename": src}}});
        // An empty list does not survive QEMU's command-line parsing.
        if let Some(e) = errno {
            src_node["file"]["inject-error"] =
                json!([{"event": "read_aio", "errno": e, "once": true}]);
        }
        let mon2 = format!(
            "socket,id=m2,path={},server=on,wait=off",
            dir.join("mon2.sock").display()
        );
        vec![
            "--blockdev".into(),
            src_node.to_string(),
            "--blockdev".into(),
            format!("driver=file,node-name=dst,filename={}", dst.display()),
            "--chardev".into(),
            mon2,
            "--monitor".into(),
            "chardev=m2".into(),
        ]
    })
}

/// The daemon's second monitor.
pub(crate) fn mon2(q: &Qemu) -> PathBuf {
    q.path("mon2.sock")
}

/// `qmp-exec blockdev-mirror` of `src` to `dst` as job `job0` with the
/// source error policy `policy`, then `extra`.
fn mirror(q: &Qemu, policy: &str, extra: &[&str]) -> Cmd {
    let policy = format!("on-source-error={policy}");
    let mut c = exec(
        q.sock(),
        &[
            "blockdev-mirror",
            "job-id=job0",
            "device=src",
            "target=dst",
            "sync=full",
            &policy,
        ],
    );
    c.args(extra);
    c
}

/// stdout's lines, each parsed as JSON.
pub(crate) fn json_lines(out: &Out) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line {l:?} is not JSON: {e}{}", out.show()))
        })
        .collect()
}

/// Asserts `v` is a whole event named `name` with exactly `data` and a
/// timestamp.
fn assert_event(v: &Value, name: &str, data: &Value) {
    assert_eq!(v["event"], name, "{v}");
    assert_eq!(&v["data"], data, "{v}");
    assert!(v["timestamp"]["seconds"].is_u64(), "{v}");
    assert!(
        v["timestamp"]["microseconds"].as_u64().unwrap() < 1_000_000,
        "{v}"
    );
}

/// The data of BLOCK_JOB_ERROR for a read error of job0.
fn read_error(action: &str) -> Value {
    json!({"device": "job0", "operation": "read", "action": action})
}

/// The data of BLOCK_JOB_READY or of a successful BLOCK_JOB_COMPLETED.
fn whole_mirror() -> Value {
    json!({"device": "job0", "len": SIZE, "offset": SIZE, "speed": 0, "type": "mirror"})
}

/// A plain event line `SECONDS.MICROSECONDS NAME DATA`, taken apart without
/// regexes: (seconds, microseconds, name, data as written).
fn plain_event(line: &str) -> (u64, u64, &str, &str) {
    let (ts, rest) = line.split_once(' ').expect("a space after the timestamp");
    let (name, data) = rest.split_once(' ').unwrap_or((rest, ""));
    let (s, us) = ts.split_once('.').expect("SECONDS.MICROSECONDS");
    assert_eq!(us.len(), 6, "six digits of microseconds in {line:?}");
    assert!(
        s.bytes().chain(us.bytes()).all(|b| b.is_ascii_digit()),
        "{line:?}"
    );
    (s.parse().unwrap(), us.parse().unwrap(), name, data)
}

/// The one job of query-block-jobs once its status is `status` (it lags a
/// little behind the events that announce it).
fn job_when(q: &Qemu, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = exec(q.sock(), &["--json", "query-block-jobs"]).ok();
        let jobs = out.json();
        assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{}", out.show());
        if jobs[0]["status"] == status || Instant::now() > deadline {
            return jobs[0].clone();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_no_jobs(q: &Qemu) {
    let out = exec(q.sock(), &["--json", "query-block-jobs"]).ok();
    assert_eq!(out.json(), json!([]), "{}", out.show());
}

fn assert_copied(q: &Qemu) {
    let src = std::fs::read(q.path("src.img")).unwrap();
    let dst = std::fs::read(q.path("dst.img")).unwrap();
    assert!(src == dst, "dst.img differs from src.img");
}

/// report (and enospc with an error other than ENOSPC): the error event,
/// then the job ends with an error.
fn reports(errno: i32, policy: &str) {
    let Some(q) = daemon(Some(errno)) else { return };
    let out = mirror(
        &q,
        policy,
        &[
            "--json",
            "-e",
            "BLOCK_JOB_ERROR",
            "-e",
            "BLOCK_JOB_COMPLETED",
            "-m",
            "device=job0",
            "-n",
            "2",
            "--timeout",
            "30",
        ],
    )
    .ok();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "the reply and two events{}", out.show());
    assert_eq!(lines[0], json!({}), "{}", out.show());
    assert_event(&lines[1], "BLOCK_JOB_ERROR", &read_error("report"));
    let done = &lines[2];
    assert_eq!(done["event"], "BLOCK_JOB_COMPLETED", "{}", out.show());
    assert_eq!(done["data"]["device"], "job0", "{}", out.show());
    assert_eq!(done["data"]["type"], "mirror", "{}", out.show());
    assert_eq!(done["data"]["len"], SIZE, "{}", out.show());
    assert!(
        done["data"]["offset"].as_u64().unwrap() < SIZE as u64,
        "{}",
        out.show()
    );
    assert_eq!(
        done["data"]["error"],
        "Input/output error",
        "{}",
        out.show()
    );
    assert_no_jobs(&q);
}

/// stop (and enospc with ENOSPC): the error event, the job pauses with
/// `io_status`, then resumes, gets ready and completes; the CI-style flow.
fn stops_then_resumes(errno: i32, policy: &str, io_status: &str) {
    let Some(q) = daemon(Some(errno)) else { return };
    // Start the mirror, wait until it is ready, fail on an error.
    let out = mirror(
        &q,
        policy,
        &[
            "-e",
            "BLOCK_JOB_READY",
            "-m",
            "device=job0",
            "--fail-on",
            "BLOCK_JOB_ERROR,device=job0",
            "--timeout",
            "30",
        ],
    )
    .status(1);
    out.assert_err(
        "qmp-exec: failure event BLOCK_JOB_ERROR \
         {\"device\":\"job0\",\"operation\":\"read\",\"action\":\"stop\"}",
    );
    let line = out.stdout.strip_suffix('\n').expect("one line");
    let (_, _, name, data) = plain_event(line);
    assert_eq!(
        (name, data),
        (
            "BLOCK_JOB_ERROR",
            "{\"device\":\"job0\",\"operation\":\"read\",\"action\":\"stop\"}"
        ),
        "{}",
        out.show()
    );
    // The job waits for someone to resume it.
    let job = job_when(&q, "paused");
    assert_eq!(job["device"], "job0", "{job}");
    assert_eq!(job["status"], "paused", "{job}");
    assert_eq!(job["paused"], true, "{job}");
    assert_eq!(job["io-status"], io_status, "{job}");
    assert_eq!(job["ready"], false, "{job}");
    // Resume and wait for ready on the same connection.
    let out = exec(
        q.sock(),
        &[
            "--json",
            "block-job-resume",
            "device=job0",
            "-e",
            "BLOCK_JOB_READY",
            "-m",
            "device=job0",
            "--fail-on",
            "BLOCK_JOB_ERROR,device=job0",
            "--timeout",
            "30",
        ],
    )
    .ok();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{}", out.show());
    assert_eq!(lines[0], json!({}), "{}", out.show());
    assert_event(&lines[1], "BLOCK_JOB_READY", &whole_mirror());
    let job = job_when(&q, "ready");
    assert_eq!(job["io-status"], "ok", "{job}");
    assert_eq!(job["paused"], false, "{job}");
    // Complete, and wait for the end.
    let out = exec(
        q.sock(),
        &[
            "--json",
            "block-job-complete",
            "device=job0",
            "-e",
            "BLOCK_JOB_COMPLETED",
            "-m",
            "device=job0",
            "--timeout",
            "30",
        ],
    )
    .ok();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{}", out.show());
    assert_event(&lines[1], "BLOCK_JOB_COMPLETED", &whole_mirror());
    assert_no_jobs(&q);
    assert_copied(&q);
}

#[test]
fn report_policy_ends_the_job_with_the_error() {
    reports(5, "report");
}

#[test]
fn ignore_policy_goes_on_to_ready_and_completes() {
    let Some(q) = daemon(Some(5)) else { return };
    let out = mirror(
        &q,
        "ignore",
        &[
            "--json",
            "-e",
            "BLOCK_JOB_ERROR",
            "-e",
            "BLOCK_JOB_READY",
            "-m",
            "device=job0",
            "-n",
            "2",
            "--timeout",
            "30",
        ],
    )
    .ok();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{}", out.show());
    assert_event(&lines[1], "BLOCK_JOB_ERROR", &read_error("ignore"));
    assert_event(&lines[2], "BLOCK_JOB_READY", &whole_mirror());
    let job = job_when(&q, "ready");
    assert_eq!(job["io-status"], "ok", "{job}");
    assert_eq!(job["ready"], true, "{job}");
    // job-complete this time (block-job-complete in the stop flow).
    let out = exec(
        q.sock(),
        &[
            "job-complete",
            "id=job0",
            "-e",
            "BLOCK_JOB_COMPLETED",
            "-m",
            "device=job0",
            "--json",
        ],
    )
    .ok();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{}", out.show());
    assert_event(&lines[1], "BLOCK_JOB_COMPLETED", &whole_mirror());
    assert_no_jobs(&q);
    // The failed chunk was copied again: nothing is missing.
    assert_copied(&q);
}

#[test]
fn stop_policy_pauses_until_resumed() {
    stops_then_resumes(5, "stop", "failed");
}

#[test]
fn enospc_policy_stops_on_enospc() {
    stops_then_resumes(28, "enospc", "nospace");
}

#[test]
fn enospc_policy_reports_other_errors() {
    reports(5, "enospc");
}

#[test]
fn exec_waits_for_ready_and_fails_on_an_error() {
    let args = [
        "-e",
        "BLOCK_JOB_READY",
        "-m",
        "device=job0",
        "--fail-on",
        "BLOCK_JOB_ERROR",
        "--timeout",
        "30",
    ];
    // Without an error: the READY event, in plain form.
    let Some(q) = daemon(None) else { return };
    let out = mirror(&q, "report", &args).ok();
    out.assert_err("");
    let line = out.stdout.strip_suffix('\n').expect("one line");
    assert!(!line.contains('\n'), "{}", out.show());
    let (s, _, name, data) = plain_event(line);
    assert_eq!(name, "BLOCK_JOB_READY", "{}", out.show());
    assert_eq!(
        data,
        "{\"device\":\"job0\",\"len\":4194304,\"offset\":4194304,\"speed\":0,\"type\":\"mirror\"}"
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert!(
        s.abs_diff(now.as_secs()) < 120,
        "QEMU's clock{}",
        out.show()
    );
    drop(q);
    // With an injected error (report is QEMU's default policy too): status 1,
    // the error event, and no READY.
    let Some(q) = daemon(Some(5)) else { return };
    let out = mirror(&q, "report", &args).status(1);
    out.assert_err(
        "qmp-exec: failure event BLOCK_JOB_ERROR \
         {\"device\":\"job0\",\"operation\":\"read\",\"action\":\"report\"}",
    );
    let (_, _, name, data) = plain_event(out.stdout.strip_suffix('\n').unwrap());
    assert_eq!(
        (name, data),
        (
            "BLOCK_JOB_ERROR",
            "{\"device\":\"job0\",\"operation\":\"read\",\"action\":\"report\"}"
        ),
        "{}",
        out.show()
    );
    // --json: the reply, then the whole event.
    let Some(q) = daemon(Some(5)) else { return };
    let mut json_args = vec!["--json"];
    json_args.extend(args);
    let out = mirror(&q, "report", &json_args).status(1);
    out.assert_err(
        "qmp-exec: failure event BLOCK_JOB_ERROR \
         {\"device\":\"job0\",\"operation\":\"read\",\"action\":\"report\"}",
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{}", out.show());
    assert_eq!(lines[0], json!({}), "{}", out.show());
    assert_event(&lines[1], "BLOCK_JOB_ERROR", &read_error("report"));
}

/// `qmp-events -v` run in the background; its trace on stderr tells when
/// QEMU starts sending it events.
pub(crate) struct Listener {
    child: Child,
    start: Instant,
    stdout: JoinHandle<String>,
    stderr: mpsc::Receiver<String>,
    trace: Vec<String>,
    shown: String,
}

/// How a [`Listener`] ended.
pub(crate) struct Heard {
    pub status: i32,
    pub stdout: String,
    /// stderr without the trace lines.
    pub messages: Vec<String>,
    pub elapsed: Duration,
    shown: String,
}

impl Heard {
    pub fn show(&self) -> String {
        format!(
            "\ncommand: {}\nstatus:  {}\nelapsed: {:?}\n--- stdout ---\n{}\n--- stderr (no \
             trace) ---\n{}\n",
            self.shown,
            self.status,
            self.elapsed,
            self.stdout,
            self.messages.join("\n")
        )
    }
}

impl Listener {
    pub fn start(sock: &Path, args: &[&str]) -> Listener {
        let mut cmd = Command::new(bin("qmp-events"));
        cmd.env_remove("QMP_SOCKET")
            .env_remove("QMP_TRACE")
            .arg("-v")
            .arg("-s")
            .arg(sock)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn qmp-events");
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err = child.stderr.take().unwrap();
        let (tx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Listener {
            child,
            start,
            stdout,
            stderr,
            trace: Vec::new(),
            shown: format!("qmp-events -v -s {} {}", sock.display(), args.join(" ")),
        }
    }

    /// Waits for the reply to qmp_capabilities: QEMU sends events only to
    /// clients past the negotiation, and to those every event from then on.
    pub fn negotiated(&mut self) -> &mut Listener {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let done = line.starts_with("<- {\"return\"");
                    self.trace.push(line);
                    if done {
                        return self;
                    }
                }
                Err(e) => panic!(
                    "{}: no reply to qmp_capabilities ({e}); stderr so far: {:?}",
                    self.shown, self.trace
                ),
            }
        }
    }

    /// Waits for the end (kills it after 60 s).
    pub fn finish(mut self) -> Heard {
        let status = wait_or_kill(&mut self.child, self.start)
            .code()
            .unwrap_or(-1);
        let elapsed = self.start.elapsed();
        let stdout = self.stdout.join().unwrap();
        let rest: Vec<String> = self.stderr.iter().collect();
        let messages = self
            .trace
            .into_iter()
            .chain(rest)
            .filter(|l| !l.starts_with("<- ") && !l.starts_with("-> "))
            .collect();
        let heard = Heard {
            status,
            stdout,
            messages,
            elapsed,
            shown: self.shown,
        };
        assert!(
            !heard.messages.iter().any(|l| l.contains("panicked")),
            "panic{}",
            heard.show()
        );
        heard
    }
}

#[test]
fn qmp_events_on_a_second_monitor_sees_the_jobs_of_the_first() {
    let Some(q) = daemon(Some(5)) else { return };
    let mut listener = Listener::start(
        &mon2(&q),
        &[
            "-e",
            "BLOCK_JOB_ERROR",
            "-n",
            "1",
            "--json",
            "--timeout",
            "20",
        ],
    );
    listener.negotiated();
    // The job, started and followed through the first monitor.
    let out = mirror(
        &q,
        "report",
        &[
            "--json",
            "-e",
            "BLOCK_JOB_ERROR",
            "-e",
            "BLOCK_JOB_COMPLETED",
            "-n",
            "2",
            "--timeout",
            "30",
        ],
    )
    .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.show());
    let heard = listener.finish();
    assert_eq!(heard.status, 0, "{}", heard.show());
    assert!(heard.messages.is_empty(), "{}", heard.show());
    // The very same event (same timestamp), as one whole JSON line.
    assert_eq!(heard.stdout, format!("{}\n", lines[1]), "{}", heard.show());
    let event: Value = serde_json::from_str(heard.stdout.trim_end()).unwrap();
    assert_event(&event, "BLOCK_JOB_ERROR", &read_error("report"));
    assert_eq!(
        event.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["timestamp", "event", "data"],
        "the whole event, members in QEMU's order"
    );

    // No matching event: status 4 after the timeout, said in one line.
    let out = tool(
        "qmp-events",
        &mon2(&q),
        &["-e", "BLOCK_JOB_ERROR", "-n", "1", "--timeout", "1"],
    )
    .status(4);
    out.assert_err("qmp-events: timed out after 1 s: 0 of 1 matching event arrived")
        .assert_stdout("");
    assert!(
        out.elapsed >= Duration::from_secs(1) && out.elapsed < Duration::from_secs(4),
        "{}",
        out.show()
    );
}

#[test]
fn qmp_events_plain_lines_are_seconds_name_data() {
    let Some(q) = daemon(Some(5)) else { return };
    let mut listener = Listener::start(
        &mon2(&q),
        &[
            "-e",
            "BLOCK_JOB_*",
            "-m",
            "device=job0",
            "-n",
            "2",
            "--timeout",
            "20",
        ],
    );
    listener.negotiated();
    let out = mirror(
        &q,
        "report",
        &[
            "--json",
            "-e",
            "*",
            "-n",
            "5",
            "--fail-on",
            "BLOCK_JOB_CANCELLED",
            "--timeout",
            "30",
        ],
    )
    .ok();
    // Every event of the job, as the first monitor got them.
    let all = json_lines(&out);
    let names: Vec<&str> = all[1..]
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "JOB_STATUS_CHANGE",
            "JOB_STATUS_CHANGE",
            "BLOCK_JOB_ERROR",
            "JOB_STATUS_CHANGE",
            "BLOCK_JOB_COMPLETED"
        ],
        "{}",
        out.show()
    );
    let heard = listener.finish();
    assert_eq!(heard.status, 0, "{}", heard.show());
    let plain: Vec<&str> = heard.stdout.lines().collect();
    let wanted: Vec<&Value> = all[1..]
        .iter()
        .filter(|e| e["event"].as_str().unwrap().starts_with("BLOCK_JOB_"))
        .collect();
    assert_eq!(plain.len(), 2, "{}", heard.show());
    for (line, event) in plain.iter().zip(wanted) {
        let (s, us, name, data) = plain_event(line);
        assert_eq!(
            json!({"seconds": s, "microseconds": us}),
            event["timestamp"]
        );
        assert_eq!(name, event["event"], "{line}");
        assert_eq!(data, event["data"].to_string(), "{line}");
    }
}

#[test]
fn qmp_events_ends_with_status_3_when_the_server_goes_away() {
    let Some(q) = daemon(None) else { return };
    let mut listener = Listener::start(q.sock(), &["--json"]);
    listener.negotiated();
    let gone = Instant::now();
    drop(q);
    let heard = listener.finish();
    assert_eq!(heard.status, 3, "{}", heard.show());
    assert_eq!(
        heard.messages,
        ["qmp-events: connection closed by the server while waiting for an event"],
        "{}",
        heard.show()
    );
    assert_eq!(heard.stdout, "", "{}", heard.show());
    assert!(gone.elapsed() < Duration::from_secs(5), "{}", heard.show());
}

// ---- A fake server: exact output, filters, volume.

/// One event as QEMU writes it (spaces, CRLF), with data `{"n": n}`.
fn event_bytes(name: &str, n: usize) -> Vec<u8> {
    format!(
        "{{\"timestamp\": {{\"seconds\": {}, \"microseconds\": {}}}, \"event\": \"{name}\", \
         \"data\": {{\"n\": {n}}}}}\r\n",
        1_700_000_000 + n / 1_000_000,
        n % 1_000_000
    )
    .into_bytes()
}

/// How qmp-events and qmp-exec print that event with --json.
fn event_json(name: &str, n: usize) -> String {
    format!(
        "{{\"timestamp\":{{\"seconds\":{},\"microseconds\":{}}},\"event\":\"{name}\",\
         \"data\":{{\"n\":{n}}}}}\n",
        1_700_000_000 + n / 1_000_000,
        n % 1_000_000
    )
}

/// Compares big outputs line by line, showing the first difference only.
fn assert_same_lines(got: &str, want: &str) {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {i}");
    }
    assert_eq!(got.lines().count(), want.lines().count(), "number of lines");
    assert_eq!(got.len(), want.len(), "bytes");
}

#[test]
fn a_hundred_thousand_events_around_a_reply_all_arrive_in_order() {
    const N: usize = 100_000;
    // Half before the reply, half after, with events of another name mixed
    // in (not printed).
    let mut before = Vec::new();
    let mut after = Vec::new();
    for n in 0..N {
        let part = if n < N / 2 { &mut before } else { &mut after };
        part.extend(event_bytes("E", n));
        if n % 10 == 3 {
            part.extend(event_bytes("F", n));
        }
    }
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(before),
        ret(json!({"status": "running", "running": true})),
        Raw(after),
        Drain,
    ]);
    let out = exec(
        f.path(),
        &[
            "--json",
            "query-status",
            "-e",
            "E",
            "-n",
            "100000",
            "--timeout",
            "60",
        ],
    )
    .run();
    let mut want = String::from("{\"status\":\"running\",\"running\":true}\n");
    for n in 0..N {
        want.push_str(&event_json("E", n));
    }
    assert_eq!(out.status, 0, "status; stderr: {}", out.stderr);
    assert_eq!(out.stderr, "");
    assert_same_lines(&out.stdout, &want);
    f.finish();
}

#[test]
fn a_hundred_thousand_events_through_qmp_events_plain() {
    const N: usize = 100_000;
    let mut all = Vec::new();
    for n in 0..N {
        all.extend(event_bytes("E", n));
    }
    let f = Fake::new(vec![Raw(all)]);
    // No count: it prints until the server goes away.
    let out = tool("qmp-events", f.path(), &[]).run();
    let mut want = String::new();
    for n in 0..N {
        let (s, us) = (1_700_000_000 + n / 1_000_000, n % 1_000_000);
        want.push_str(&format!("{s}.{us:06} E {{\"n\":{n}}}\n"));
    }
    assert_eq!(out.status, 3, "status; stderr: {}", out.stderr);
    assert_eq!(
        out.stderr,
        "qmp-events: connection closed by the server while waiting for an event\n"
    );
    assert_same_lines(&out.stdout, &want);
    f.finish();
}

#[test]
fn plain_and_json_forms_of_events_exactly() {
    let events = b"{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 5}, \"event\": \
        \"BLOCK_JOB_READY\", \"data\": {\"device\": \"job0\", \"len\": 4194304, \"offset\": \
        4194304, \"speed\": 0, \"type\": \"mirror\"}}\r\n{\"timestamp\": {\"seconds\": \
        1700000001, \"microseconds\": 999999}, \"event\": \"RESUME\"}\r\n";
    let f = Fake::new(vec![Raw(events.to_vec())]);
    let out = tool("qmp-events", f.path(), &["-n", "2"]).ok();
    out.assert_stdout(
        "1700000000.000005 BLOCK_JOB_READY \
         {\"device\":\"job0\",\"len\":4194304,\"offset\":4194304,\"speed\":0,\"type\":\"mirror\"}\n\
         1700000001.999999 RESUME\n",
    )
    .assert_err("");
    let f = Fake::new(vec![Raw(events.to_vec())]);
    let out = tool("qmp-events", f.path(), &["-n", "2", "--json"]).ok();
    out.assert_stdout(
        "{\"timestamp\":{\"seconds\":1700000000,\"microseconds\":5},\"event\":\
         \"BLOCK_JOB_READY\",\"data\":{\"device\":\"job0\",\"len\":4194304,\"offset\":4194304,\
         \"speed\":0,\"type\":\"mirror\"}}\n{\"timestamp\":{\"seconds\":1700000001,\
         \"microseconds\":999999},\"event\":\"RESUME\"}\n",
    )
    .assert_err("");
}

/// A few block-job events of two jobs.
fn job_events() -> Vec<u8> {
    let events = [
        json!({"event": "JOB_STATUS_CHANGE", "data": {"id": "job0", "status": "running"}}),
        json!({"event": "BLOCK_JOB_READY", "data": {"device": "job1", "len": 42}}),
        json!({"event": "BLOCK_JOB_READY", "data": {"device": "job0", "len": 42}}),
        json!({"event": "BLOCK_JOB_ERROR", "data": {"device": "job1", "action": "stop"}}),
        json!({"event": "BLOCK_JOB_ERROR", "data": {"device": "job0", "action": "stop"}}),
        json!({"event": "BLOCK_JOB_COMPLETED", "data": {"device": "job0", "len": 42}}),
    ];
    let mut bytes = Vec::new();
    for (n, mut e) in events.into_iter().enumerate() {
        e["timestamp"] = json!({"seconds": 1_700_000_000 + n, "microseconds": 0});
        bytes.extend(e.to_string().into_bytes());
        bytes.extend(b"\r\n");
    }
    bytes
}

/// The names and data of --json output lines.
fn names_and_data(out: &Out) -> Vec<(String, Value)> {
    json_lines(out)
        .into_iter()
        .map(|e| (e["event"].as_str().unwrap().to_string(), e["data"].clone()))
        .collect()
}

#[test]
fn qmp_events_filters_counts_and_fails_on() {
    // Globs and a condition; --fail-on with its own condition skips job1's
    // error and ends on job0's, printing it.
    let f = Fake::new(vec![Raw(job_events()), Drain]);
    let out = tool(
        "qmp-events",
        f.path(),
        &[
            "--json",
            "-e",
            "BLOCK_JOB_*",
            "-m",
            "device=job0",
            "--fail-on",
            "BLOCK_JOB_ERROR,device=job0,action=stop",
        ],
    )
    .status(1);
    out.assert_err(
        "qmp-events: failure event BLOCK_JOB_ERROR {\"device\":\"job0\",\"action\":\"stop\"}",
    );
    assert_eq!(
        names_and_data(&out),
        [
            (
                "BLOCK_JOB_READY".into(),
                json!({"device": "job0", "len": 42})
            ),
            (
                "BLOCK_JOB_ERROR".into(),
                json!({"device": "job0", "action": "stop"})
            ),
        ],
        "{}",
        out.show()
    );
    f.finish();
    // VALUE as JSON: 42 is a number; several -e; -n stops at the count.
    let f = Fake::new(vec![Raw(job_events()), Drain]);
    let out = tool(
        "qmp-events",
        f.path(),
        &[
            "--json",
            "-e",
            "BLOCK_JOB_COMPLETED",
            "-e",
            "BLOCK_JOB_READY",
            "-m",
            "len=42",
            "-n",
            "2",
        ],
    )
    .ok();
    out.assert_err("");
    assert_eq!(
        names_and_data(&out),
        [
            (
                "BLOCK_JOB_READY".into(),
                json!({"device": "job1", "len": 42})
            ),
            (
                "BLOCK_JOB_READY".into(),
                json!({"device": "job0", "len": 42})
            ),
        ],
        "{}",
        out.show()
    );
    f.finish();
    // "42" as a JSON string matches nothing: the timeout, with the count.
    let f = Fake::new(vec![Raw(job_events()), Drain]);
    let out = tool(
        "qmp-events",
        f.path(),
        &["-m", "len=\"42\"", "-n", "1", "--timeout", "0.5"],
    )
    .status(4);
    out.assert_err("qmp-events: timed out after 0.5 s: 0 of 1 matching event arrived")
        .assert_stdout("");
    f.finish();
    // A nested path into the data.
    let f = Fake::new(vec![Raw(job_events()), Drain]);
    let out = tool(
        "qmp-events",
        f.path(),
        &["--json", "-m", "status=running", "-m", "id=job0", "-n", "1"],
    )
    .ok();
    assert_eq!(
        names_and_data(&out),
        [(
            "JOB_STATUS_CHANGE".into(),
            json!({"id": "job0", "status": "running"})
        )],
        "{}",
        out.show()
    );
    f.finish();
}

#[test]
fn qmp_events_without_count_listens_until_the_timeout() {
    let f = Fake::new(vec![Raw(job_events()), Drain]);
    let out = tool(
        "qmp-events",
        f.path(),
        &["--json", "-e", "BLOCK_JOB_ERROR", "--timeout", "1"],
    )
    .ok();
    out.assert_err("");
    assert_eq!(
        names_and_data(&out),
        [
            (
                "BLOCK_JOB_ERROR".into(),
                json!({"device": "job1", "action": "stop"})
            ),
            (
                "BLOCK_JOB_ERROR".into(),
                json!({"device": "job0", "action": "stop"})
            ),
        ],
        "{}",
        out.show()
    );
    assert!(
        out.elapsed >= Duration::from_secs(1) && out.elapsed < Duration::from_secs(4),
        "{}",
        out.show()
    );
    f.finish();
}

#[test]
fn qmp_events_server_closing_is_status_3_in_one_line() {
    let f = Fake::new(vec![Raw(event_bytes("E", 7))]);
    tool("qmp-events", f.path(), &["--json"])
        .status(3)
        .assert_err("qmp-events: connection closed by the server while waiting for an event")
        .assert_stdout(&event_json("E", 7));
    f.finish();
}

#[test]
fn exec_events_ending_early_is_status_3() {
    // The server goes away after one of the two events.
    let f = Fake::new(vec![
        expect("query-status"),
        ret(json!({"status": "running", "running": true})),
        Raw(event_bytes("E", 1)),
    ]);
    exec(f.path(), &["query-status", "-e", "E", "-n", "2", "--json"])
        .status(3)
        .assert_err("qmp-exec: connection closed by the server while waiting for an event")
        .assert_stdout(&format!(
            "{{\"status\":\"running\",\"running\":true}}\n{}",
            event_json("E", 1)
        ));
    f.finish();
}

#[test]
fn closed_stdout_ends_qmp_events_quietly() {
    // Events keep coming (slowly, so that the drip outlasts the pipeline);
    // the fake stops when the client has gone.
    let mut more = Vec::new();
    for n in 1..1000 {
        more.extend(event_bytes("E", n));
    }
    let f = Fake::new(vec![
        Raw(event_bytes("E", 0)),
        Drip(more, Duration::from_micros(200)),
    ]);
    let script = "{ \"$0\" -s \"$1\" --json; echo \"status $?\" >&2; } | head -n 1";
    let out = Command::new("sh")
        .args(["-c", script, bin("qmp-events"), f.path().to_str().unwrap()])
        .env_remove("QMP_SOCKET")
        .env_remove("QMP_TRACE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(stdout, event_json("E", 0), "stderr: {stderr}");
    assert_eq!(stderr, "status 0\n", "nothing but the status on stderr");
    f.finish();
}

#[test]
fn usage_errors() {
    let nowhere = Path::new("/nonexistent/qmp.sock");
    // Event options without -e in qmp-exec: refused before connecting.
    for opts in [
        &["-m", "device=job0"][..],
        &["-n", "1"],
        &["--fail-on", "BLOCK_JOB_ERROR"],
        &["--event-timeout", "5"],
    ] {
        let mut args = vec!["query-status"];
        args.extend(opts);
        exec(nowhere, &args).status(2).assert_err(
            "qmp-exec: -m/--match, -n/--count, --fail-on and --event-timeout need \
                 -e/--event NAME",
        );
    }
    exec(nowhere, &["--batch", "-e", "E"]).status(2).assert_err(
        "qmp-exec: waiting for events (-e, -m, -n, --fail-on, --event-timeout) does not go with \
         --batch",
    );
    for name in ["qmp-exec", "qmp-events"] {
        let cmd: &[&str] = if name == "qmp-exec" {
            &["query-status", "-e", "E"]
        } else {
            &[]
        };
        let run = |opts: &[&str]| {
            let mut args = cmd.to_vec();
            args.extend(opts);
            tool(name, nowhere, &args).status(2)
        };
        // Exact: the value's own form, no word of the argument items'.
        run(&["-m", "!device=x"]).assert_err(&format!(
            "{name}: invalid value '!device=x' for '--match <COND>': bad argument '!device=x': \
             '!' goes with a PATH alone (!PATH: the member is absent); try '{name} --help'"
        ));
        run(&["-m", "a..b=1"]).assert_err(&format!(
            "{name}: invalid value 'a..b=1' for '--match <COND>': bad argument 'a..b=1': \
             empty part in the path (expected PATH=VALUE, PATH or !PATH, e.g. device=job0); \
             try '{name} --help'"
        ));
        run(&["--fail-on", "device=job0"]).assert_err(&format!(
            "{name}: invalid value 'device=job0' for '--fail-on <NAME[,COND...]>': bad \
             argument 'device=job0': expected NAME[,PATH=VALUE|PATH|!PATH...], e.g. \
             BLOCK_JOB_ERROR,device=job0 or BLOCK_JOB_COMPLETED,error; try '{name} --help'"
        ));
        run(&["--fail-on", "BLOCK_JOB_ERROR,,x"]).assert_err(&format!(
            "{name}: invalid value 'BLOCK_JOB_ERROR,,x' for '--fail-on <NAME[,COND...]>': bad \
             argument '': empty part in the path (expected PATH=VALUE, PATH or !PATH, e.g. \
             device=job0); try '{name} --help'"
        ));
        for t in ["-1", "x", "nan", ""] {
            run(&[&format!("--event-timeout={t}")]).assert_err(&format!(
                "{name}: invalid value '{t}' for '--event-timeout <SECS>': '{t}' is not a \
                 positive number of seconds (e.g. 10, 0.5 or 1e4), nor 'none' (no limit); try \
                 '{name} --help'"
            ));
        }
        run(&["-n", "x"]).assert_err(&format!(
            "{name}: invalid value 'x' for '--count <N>': invalid digit found in string; try \
             '{name} --help'"
        ));
    }
}

#[test]
fn exec_event_timeout_is_status_4_after_the_reply() {
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(event_bytes("F", 0)),
        ret(json!({"status": "running", "running": true})),
        Raw(event_bytes("E", 1)),
        Drain,
    ]);
    let out = exec(
        f.path(),
        &[
            "query-status",
            "-e",
            "E",
            "-n",
            "2",
            "--json",
            "--timeout",
            "0.5",
        ],
    )
    .status(4);
    out.assert_err("qmp-exec: timed out after 0.5 s: 1 of 2 matching events arrived")
        .assert_stdout(&format!(
            "{{\"status\":\"running\",\"running\":true}}\n{}",
            event_json("E", 1)
        ));
    assert!(out.elapsed < Duration::from_secs(4), "{}", out.show());
    f.finish();
}

#[test]
fn exec_error_reply_does_not_wait_for_events() {
    let f = Fake::new(vec![
        expect("blockdev-mirror"),
        // Queued before the reply: a wait would find it at once.
        Raw(event_bytes("BLOCK_JOB_READY", 0)),
        Reply(json!({"error": {"class": "GenericError", "desc": "Cannot find device='nope'"}})),
        Drain,
    ]);
    let out = exec(
        f.path(),
        &[
            "blockdev-mirror",
            "device=nope",
            "-e",
            "BLOCK_JOB_READY",
            "--timeout",
            "5",
        ],
    )
    .status(1);
    out.assert_err("qmp-exec: GenericError: Cannot find device='nope'")
        .assert_stdout("");
    assert!(out.elapsed < Duration::from_secs(4), "{}", out.show());
    f.finish();
}

#[test]
fn exec_without_events_does_not_keep_the_events_before_the_reply() {
    // 500,000 events (40 MB) before the reply; qmp-exec without -e never
    // looks at them, so it should not need to keep them. Run with 256 MiB of
    // address space (it aborted after some 150,000 queued events when the
    // client kept every event).
    const N: usize = 500_000;
    let mut before = Vec::with_capacity(N * 90);
    for n in 0..N {
        before.extend(event_bytes("E", n));
    }
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(before),
        ret(json!({"status": "running", "running": true})),
        Drain,
    ]);
    let script = "ulimit -v 262144; exec \"$0\" -s \"$1\" --timeout 60 query-status";
    let out = Command::new("sh")
        .args(["-c", script, bin("qmp-exec"), f.path().to_str().unwrap()])
        .env_remove("QMP_SOCKET")
        .env_remove("QMP_TRACE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"status\":\"running\",\"running\":true}\n",
        "{:?} stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{:?}", out.status);
    f.finish();
}

#[test]
fn a_flood_of_events_before_the_reply_is_bounded_when_events_are_kept() {
    // With -e the events before the reply are kept, up to the library's
    // limit: past it, an error (status 3), not unbounded memory.
    let n = qmp::DEFAULT_EVENT_QUEUE + 1;
    let mut before = Vec::with_capacity(n * 90);
    for i in 0..n {
        before.extend(event_bytes("FLOOD", i));
    }
    let f = Fake::new(vec![
        expect("query-status"),
        Raw(before),
        ret(json!({})),
        Drain,
    ]);
    let out = tool(
        "qmp-exec",
        f.path(),
        &["--timeout", "60", "query-status", "-e", "E"],
    )
    .status(3);
    out.assert_err("qmp-exec: protocol error: expected at most 100000 events while waiting for the reply to 'query-status', got more (raise the limit, or read events sooner)");
    f.abandon();
}
