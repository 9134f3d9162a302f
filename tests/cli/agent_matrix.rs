//! The fault matrix for the guest-agent tools: hostile or broken agents
//! against qga-exec and qga-run, checked as tests/cli/matrix.rs checks the
//! QMP tools (status, one line on stderr, no panic, the deadline, memory).

use crate::fake::*;
use crate::matrix::{GIB, check, drive, ms, nested};

/// The agent tools, the first command each sends after the sync, and the
/// arguments that make them send it.
const TOOLS: [(&str, &str, &[&str]); 2] = [
    ("qga-exec", "guest-info", &["guest-get-time"]),
    ("qga-run", "guest-exec", &["true"]),
];

struct Scenario {
    name: &'static str,
    /// What the agent does; given the first command to expect after a sync.
    script: fn(&'static str) -> Vec<Step>,
    /// qga-exec's status (qga-run's is 125 for every failure of its own).
    status: i32,
    /// A part of the stderr line.
    says: &'static str,
}

/// Syncs, reads `first`, then plays `rest`.
fn synced(first: &'static str, rest: Vec<Step>) -> Vec<Step> {
    let mut s = vec![Sync(Vec::new()), Expect(first, None)];
    s.extend(rest);
    s
}

const NO_AGENT: &str = "no answer from the guest agent at ";

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "silent",
        script: |_| vec![Drain],
        status: 4,
        says: NO_AGENT,
    },
    Scenario {
        name: "close at once",
        script: |_| Vec::new(),
        status: 3,
        // Closed before or after the sync was written: either way it names it.
        says: "'guest-sync-delimited'",
    },
    Scenario {
        name: "1 GiB without a delimiter",
        script: |_| vec![Flood(Vec::new(), b'x', GIB)],
        status: 4,
        says: NO_AGENT,
    },
    Scenario {
        name: "delimiters, replies, never our id",
        // Ids 0 to 999: ours comes from the clock, far above.
        script: |_| {
            let mut v = Vec::new();
            for i in 0..1000 {
                v.push(0xFF);
                v.extend_from_slice(format!("{{\"return\": {i}}}\n").as_bytes());
            }
            vec![Raw(v), Drain]
        },
        status: 4,
        says: NO_AGENT,
    },
    Scenario {
        name: "sync reply dripped a byte per second",
        script: |_| vec![Drip(b"\xff{\"return\": 1}\n".to_vec(), ms(1000))],
        status: 4,
        says: NO_AGENT,
    },
    Scenario {
        name: "garbage after the sync",
        script: |first| synced(first, vec![Raw(b"hello\r\n".to_vec())]),
        status: 3,
        says: "protocol error: expected a JSON object, got 'hello",
    },
    Scenario {
        name: "a 1 GiB reply",
        script: |first| synced(first, vec![Flood(b"{\"return\": \"".to_vec(), b'a', GIB)]),
        status: 3,
        says: "at most 67108864 bytes",
    },
    Scenario {
        name: "nested 100000 deep",
        script: |first| synced(first, vec![Raw(nested(100_000))]),
        status: 3,
        says: "recursion limit",
    },
    Scenario {
        name: "invalid UTF-8",
        script: |first| synced(first, vec![Raw(b"{\"return\": \"\xff\xfe\"}\n".to_vec())]),
        status: 3,
        says: "invalid unicode",
    },
    Scenario {
        name: "close in the middle of the reply",
        script: |first| synced(first, vec![Raw(b"{\"return\": {\"ver".to_vec())]),
        status: 3,
        says: "in the middle of a message",
    },
    Scenario {
        name: "no reply",
        script: |first| synced(first, vec![Drain]),
        status: 4,
        says: "no reply to '",
    },
    Scenario {
        name: "a reply with an id never sent",
        script: |first| synced(first, vec![Raw(b"{\"return\": {}, \"id\": 7}\n".to_vec())]),
        status: 3,
        says: "a reply with an id we never sent",
    },
    Scenario {
        name: "reply dripped a byte per second",
        script: |first| synced(first, vec![Drip(b"{\"return\": {}}\n".to_vec(), ms(1000))]),
        status: 4,
        says: "within 1 s",
    },
];

/// 1 s, but 10 s where a gigabyte is sent (debug builds are slow at it).
fn timeout(s: &Scenario) -> u64 {
    if s.name.contains("GiB") { 10 } else { 1 }
}

#[test]
fn agent_fault_matrix() {
    let n = TOOLS.len();
    let (failures, _) = drive(SCENARIOS.len() * n, |i| {
        let (s, (name, first, args)) = (&SCENARIOS[i / n], TOOLS[i % n]);
        let want = if name == "qga-run" { 125 } else { s.status };
        let what = format!("{} / {name}", s.name);
        check(
            &what,
            (s.script)(first),
            timeout(s),
            name,
            args,
            want,
            s.says,
        )
    });
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        SCENARIOS.len() * n,
        failures.join("\n")
    );
}
