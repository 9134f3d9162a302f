//! The fault matrix: hostile or broken servers against every binary that
//! connects. For each scenario and each tool: the expected exit status,
//! exactly one line on stderr starting with the tool's name (or none on
//! success), no panic, an end within the timeout plus three seconds, and peak
//! memory under a stated bound.

use std::time::Duration;

use crate::fake::*;
use crate::util::tool;

/// Every tool, with arguments that make it send one ordinary request.
const TOOLS: [(&str, &[&str]); 6] = [
    ("qmp-exec", &["query-status"]),
    ("qom-get", &["/machine.type"]),
    // --json: one command, as the scenarios script one reply (typed
    // values ask qom-list first: tests/cli/arguments.rs).
    ("qom-set", &["--json", "/machine.x", "1"]),
    ("qom-list", &["/machine"]),
    ("qom-tree", &["/machine"]),
    ("qmp-events", &[]),
];

/// Peak resident memory allowed to any tool in any scenario: twice the
/// default 64 MiB message cap (while the read buffer grows, the allocator
/// may hold the old and the new buffer at once) plus 32 MiB for the program,
/// a read chunk and parsed values. Measured: 70 to 112 MiB for a 1 GiB
/// message (depending on whether glibc moves or copies the buffer), under
/// 25 MiB everywhere else.
const MEMORY_BOUND_KIB: u64 = 160 << 10;

/// The timeout given to the tools: 1 s, but 30 s where a gigabyte must be
/// read up to the cap first (debug builds are slow at it: 2 s alone here,
/// over 10 s once with another suite and a q35 benchmark running).
fn timeout(s: &Scenario) -> u64 {
    if s.name.contains("GiB") { 30 } else { 1 }
}

struct Scenario {
    name: &'static str,
    /// What the server does (the handshake, if any, is part of it).
    script: fn() -> Vec<Step>,
    /// Exit status of the tools that send a request.
    status: i32,
    /// Exit status of qmp-events, which sends none and reads events.
    events_status: i32,
    /// A part of the stderr line (for status 0: none expected).
    says: &'static str,
}

fn greet_then(rest: Vec<Step>) -> Vec<Step> {
    let mut s = handshake();
    s.extend(rest);
    s
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub const GIB: usize = 1 << 30;

pub fn nested(depth: usize) -> Vec<u8> {
    let mut v = b"{\"return\": ".to_vec();
    v.extend(std::iter::repeat_n(b'[', depth));
    v.extend(std::iter::repeat_n(b']', depth));
    v.extend_from_slice(b"}\r\n");
    v
}

fn events(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        v.extend_from_slice(
            format!("{{\"event\": \"FLOOD\", \"data\": {{\"n\": {i}}}}}\r\n").as_bytes(),
        );
    }
    v
}

const SCENARIOS: &[Scenario] = &[
    // The greeting.
    Scenario {
        name: "no greeting",
        script: || vec![Drain],
        status: 3,
        events_status: 3,
        says: "is busy: no greeting within 1 s",
    },
    Scenario {
        name: "close before the greeting",
        script: Vec::new,
        status: 3,
        events_status: 3,
        says: "closed by the server while waiting for the greeting",
    },
    Scenario {
        name: "close during the greeting",
        script: || vec![Raw(b"{\"QMP\": {\"vers".to_vec())],
        status: 3,
        events_status: 3,
        says: "in the middle of a message",
    },
    Scenario {
        name: "greeting not JSON",
        script: || vec![Raw(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()), Drain],
        status: 3,
        events_status: 3,
        says: "expected a JSON object, got 'SSH-2.0",
    },
    Scenario {
        name: "greeting not an object",
        script: || vec![Raw(b"[\"QMP\"]\r\n".to_vec()), Drain],
        status: 3,
        events_status: 3,
        says: "expected a JSON object",
    },
    Scenario {
        name: "greeting without QMP",
        script: || vec![Raw(b"{\"hello\": 1}\r\n".to_vec()), Drain],
        status: 3,
        events_status: 3,
        says: "expected the greeting",
    },
    Scenario {
        name: "greeting dripped a byte per 100 ms",
        script: || vec![Drip(greeting(), ms(100))],
        status: 4,
        events_status: 4,
        says: "did not arrive in full within 1 s",
    },
    Scenario {
        name: "greeting with invalid UTF-8",
        script: || vec![Raw(b"{\"QMP\": {\"x\": \"\xff\xfe\"}}\r\n".to_vec()), Drain],
        status: 3,
        events_status: 3,
        says: "invalid unicode",
    },
    Scenario {
        name: "greeting nested 100,000 deep",
        script: || vec![Raw(nested(100_000)), Drain],
        status: 3,
        events_status: 3,
        says: "recursion limit",
    },
    Scenario {
        name: "greeting of 1 GiB without an end",
        script: || vec![Flood(b"{\"QMP\": \"".to_vec(), b'x', GIB)],
        status: 3,
        events_status: 3,
        says: "at most 67108864 bytes",
    },
    Scenario {
        name: "capabilities refused",
        script: || {
            vec![
                Raw(greeting()),
                expect("qmp_capabilities"),
                Raw(b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\r\n".to_vec()),
                Drain,
            ]
        },
        status: 1,
        events_status: 1,
        says: "GenericError: no",
    },
    // After negotiation: the server answers without waiting for a request.
    Scenario {
        name: "close after negotiation",
        script: || greet_then(vec![]),
        status: 3,
        events_status: 3,
        says: "connection closed by the server while waiting for",
    },
    Scenario {
        name: "close during a reply",
        script: || greet_then(vec![Raw(b"{\"return\": [{\"na".to_vec())]),
        status: 3,
        events_status: 3,
        says: "in the middle of a message (16 bytes received)",
    },
    Scenario {
        name: "reply in one-byte writes",
        script: || greet_then(vec![Drip(b"{\"return\": []}\r\n".to_vec(), ms(2)), Drain]),
        status: 0,
        events_status: 3,
        says: "",
    },
    Scenario {
        name: "pretty multi-line reply",
        script: || {
            greet_then(vec![
                Raw(b"{\n    \"return\": [\n    ]\n}\n".to_vec()),
                Drain,
            ])
        },
        status: 0,
        events_status: 3,
        says: "",
    },
    Scenario {
        name: "CRLF and LF mixed, events first",
        script: || {
            greet_then(vec![
                Raw(
                    b"{\"event\": \"A\"}\n{\"event\": \"B\", \"data\": {}}\r\n{\"return\": []}\n"
                        .to_vec(),
                ),
                Drain,
            ])
        },
        status: 0,
        events_status: 3,
        says: "",
    },
    Scenario {
        name: "reply of 1 GiB without an end",
        script: || greet_then(vec![Flood(b"{\"return\": \"".to_vec(), b'x', GIB)]),
        status: 3,
        events_status: 3,
        says: "at most 67108864 bytes",
    },
    Scenario {
        name: "reply nested 100,000 deep",
        script: || greet_then(vec![Raw(nested(100_000)), Drain]),
        status: 3,
        events_status: 3,
        says: "recursion limit",
    },
    Scenario {
        name: "numbers past u64",
        script: || {
            greet_then(vec![
                Raw(b"{\"return\": [18446744073709551616, -9223372036854775809]}\r\n".to_vec()),
                Drain,
            ])
        },
        status: 0,
        events_status: 3,
        says: "",
    },
    Scenario {
        name: "reply with invalid UTF-8",
        script: || greet_then(vec![Raw(b"{\"return\": \"\xc3\x28\"}\r\n".to_vec()), Drain]),
        status: 3,
        events_status: 3,
        says: "invalid unicode",
    },
    Scenario {
        name: "reply with NUL bytes",
        script: || greet_then(vec![Raw(b"{\"return\": \"a\x00b\"}\r\n".to_vec()), Drain]),
        status: 3,
        events_status: 3,
        says: "protocol error",
    },
    Scenario {
        name: "reply with a foreign id",
        script: || {
            greet_then(vec![
                Raw(b"{\"return\": [], \"id\": \"theirs\"}\r\n".to_vec()),
                Drain,
            ])
        },
        status: 3,
        events_status: 3,
        says: "we never sent",
    },
    Scenario {
        name: "error reply without desc",
        script: || {
            greet_then(vec![
                Raw(b"{\"error\": {\"class\": \"GenericError\"}}\r\n".to_vec()),
                Drain,
            ])
        },
        status: 1,
        events_status: 3,
        says: "GenericError",
    },
    Scenario {
        name: "error that is not an object",
        script: || greet_then(vec![Raw(b"{\"error\": \"bad\"}\r\n".to_vec()), Drain]),
        status: 3,
        events_status: 3,
        says: "expected a reply or an event",
    },
    Scenario {
        name: "an empty object",
        script: || greet_then(vec![Raw(b"{}\r\n".to_vec()), Drain]),
        status: 3,
        events_status: 3,
        says: "expected a reply or an event",
    },
    Scenario {
        // The client negotiates again; this server then never answers.
        name: "a second greeting, then silence",
        script: || greet_then(vec![Raw(greeting()), Drain]),
        status: 4,
        events_status: 0,
        says: "no reply to",
    },
    Scenario {
        name: "garbage after the reply",
        script: || {
            greet_then(vec![
                Raw(b"{\"return\": []}\r\n\x1b[2Jgarbage".to_vec()),
                Drain,
            ])
        },
        status: 0,
        events_status: 3,
        says: "",
    },
    Scenario {
        name: "5,000 events flood before the reply",
        script: || {
            greet_then(vec![
                Raw(events(5_000)),
                Raw(b"{\"return\": []}\r\n".to_vec()),
                Drain,
            ])
        },
        status: 0,
        events_status: 3,
        says: "",
    },
    Scenario {
        name: "reply slower than the timeout",
        script: || greet_then(vec![Sleep(ms(3000))]),
        status: 4,
        events_status: 0,
        says: "within 1 s",
    },
    Scenario {
        name: "reply dripped a byte per second",
        script: || greet_then(vec![Drip(b"{\"return\": []}\r\n".to_vec(), ms(1000))]),
        status: 4,
        events_status: 0,
        says: "within 1 s",
    },
];

/// Runs one tool against one scenario; the peak memory, or what went wrong.
fn run(scenario: &Scenario, name: &str, args: &[&str]) -> Result<u64, String> {
    let want = if name == "qmp-events" {
        scenario.events_status
    } else {
        scenario.status
    };
    let says = if name == "qmp-events" {
        ""
    } else {
        scenario.says
    };
    let what = format!("{} / {name}", scenario.name);
    check(
        &what,
        (scenario.script)(),
        timeout(scenario),
        name,
        args,
        want,
        says,
    )
}

/// Runs tool `name` with `--timeout secs` and `args` against a fake playing
/// `script`; checks its status is `want`, that it says `says` (and nothing
/// else: one line starting with its name, or none on success), ends within
/// the timeout plus 3 s, and stays under the memory bound. The peak memory,
/// or what went wrong.
pub fn check(
    what: &str,
    script: Vec<Step>,
    secs: u64,
    name: &str,
    args: &[&str],
    want: i32,
    says: &str,
) -> Result<u64, String> {
    let fake = Fake::raw(script);
    let secs_arg = secs.to_string();
    let mut all = vec!["--timeout", secs_arg.as_str()];
    // qmp-events listens until its event timeout, which is --timeout unless
    // given: where the scenario's fault must reach it, listen long enough
    // for a fake slowed by a loaded machine to send it (the fault, not the
    // deadline, ends the run).
    let listen = if name == "qmp-events" && want != 0 {
        all.extend_from_slice(&["--event-timeout", "10"]);
        10
    } else {
        secs
    };
    all.extend_from_slice(args);
    let (out, peak) = tool(name, fake.path(), &all).spawn().wait_peak();
    let mut problems = Vec::new();
    if out.status != want {
        problems.push(format!("status {} instead of {want}", out.status));
    }
    if out.stderr.contains("panicked") {
        problems.push("panicked".into());
    }
    let lines: Vec<&str> = out.stderr.lines().collect();
    let quiet = want == 0;
    if quiet && !lines.is_empty() && name != "qom-tree" {
        problems.push("stderr should be empty".into());
    }
    if !quiet {
        if lines.len() != 1 || !lines[0].starts_with(&format!("{name}: ")) {
            problems.push("stderr should be exactly one line starting with the tool's name".into());
        }
        if !out.stderr.contains(says) {
            problems.push(format!("stderr should say {says:?}"));
        }
    }
    // A wide margin: two suites at once on two cores still pass, and an
    // end past timeout+3 s still shows a deadline that did not hold.
    if out.elapsed > Duration::from_secs(secs.max(listen) + 3) {
        problems.push(format!(
            "took {:?}, more than the timeout plus 3 s",
            out.elapsed
        ));
    }
    if peak > MEMORY_BOUND_KIB {
        problems.push(format!(
            "peak memory {peak} KiB over the bound {MEMORY_BOUND_KIB} KiB"
        ));
    }
    fake.abandon(); // the client may rightly give up before the script ends
    if problems.is_empty() {
        Ok(peak)
    } else {
        Err(format!("{what}: {}{}", problems.join("; "), out.show()))
    }
}

/// Runs `runs` jobs (`job(i)` for each i) on four threads; the failures,
/// and the peaks with the job's index.
pub fn drive(
    runs: usize,
    job: impl Fn(usize) -> Result<u64, String> + std::marker::Sync,
) -> (Vec<String>, Vec<(u64, usize)>) {
    let next = std::sync::Mutex::new(0..runs);
    let failures = std::sync::Mutex::new(Vec::new());
    let peaks = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let i = next.lock().unwrap().next();
                    let Some(i) = i else { break };
                    match job(i) {
                        Ok(peak) => peaks.lock().unwrap().push((peak, i)),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            });
        }
    });
    (failures.into_inner().unwrap(), peaks.into_inner().unwrap())
}

#[test]
fn fault_matrix() {
    assert!(SCENARIOS.len() >= 25);
    let n = TOOLS.len();
    let (failures, mut peaks) = drive(SCENARIOS.len() * n, |i| {
        let (name, args) = TOOLS[i % n];
        run(&SCENARIOS[i / n], name, args)
    });
    peaks.sort();
    let named = |p: &(u64, usize)| (p.0, SCENARIOS[p.1 / n].name, TOOLS[p.1 % n].0);
    if let (Some(top), Some(quiet)) = (
        peaks.last().map(named),
        peaks.iter().rev().map(named).find(|p| !p.1.contains("GiB")),
    ) {
        eprintln!(
            "fault matrix: {} runs; peak memory {} KiB ({} / {}), {} KiB without the GiB floods",
            peaks.len(),
            top.0,
            top.1,
            top.2,
            quiet.0
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        SCENARIOS.len() * TOOLS.len(),
        failures.join("\n")
    );
}
