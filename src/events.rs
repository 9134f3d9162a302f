//! Waiting for events: filters by name (shell-style globs) and by values in
//! the event's data, a count, failure events, and a deadline.
//!
//! QEMU can emit the events a command causes before that command's reply
//! (e.g. `JOB_STATUS_CHANGE` before `blockdev-mirror` returns), so a wait
//! first looks at the events the client queued while it waited for replies.

use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Phase};
use crate::message::Event;
use crate::wire::Stream;

/// Shell-style glob: `*` any run of characters, `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        // A '*' in the pattern is a wildcard even where the name has a '*'.
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A condition on an event's data: `PATH=VALUE`, PATH dotted into `data`
/// (array elements by index), VALUE compared as JSON when it parses as JSON,
/// else as a string.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// As written, for messages.
    pub raw: String,
    /// The path into `data`.
    pub path: Vec<String>,
    /// The value to compare with.
    pub value: Value,
}

impl FromStr for Condition {
    type Err = Error;

    /// # Errors
    /// [`Error::Item`] when there is no `=` or the path is empty.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |r: &str| Error::Item {
            item: s.to_string(),
            reason: r.to_string(),
        };
        let (path, value) = s
            .split_once('=')
            .ok_or_else(|| bad("expected PATH=VALUE, e.g. device=job0"))?;
        let path: Vec<String> = path.split('.').map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad("empty part in the path before '='"));
        }
        let value =
            serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        Ok(Condition {
            raw: s.to_string(),
            path,
            value,
        })
    }
}

impl Condition {
    /// Whether `data` holds the value at the path.
    pub fn holds(&self, data: &Value) -> bool {
        let mut v = data;
        for key in &self.path {
            v = match v {
                Value::Object(o) => match o.get(key) {
                    Some(x) => x,
                    None => return false,
                },
                Value::Array(a) => match key.parse::<usize>().ok().and_then(|i| a.get(i)) {
                    Some(x) => x,
                    None => return false,
                },
                _ => return false,
            };
        }
        *v == self.value
    }
}

/// Which events count: any of `names` (globs; none given: any event) whose
/// data satisfies every condition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Name patterns; empty means every event.
    pub names: Vec<String>,
    /// Conditions on `data`, all of which must hold.
    pub conditions: Vec<Condition>,
}

impl Filter {
    /// Whether `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        (self.names.is_empty() || self.names.iter().any(|p| glob_match(p, event.name())))
            && self.conditions.iter().all(|c| c.holds(event.data()))
    }
}

impl FromStr for Filter {
    type Err = Error;

    /// Parses `NAME[,PATH=VALUE...]` (the `--fail-on` form).
    ///
    /// # Errors
    /// [`Error::Item`] for an empty name or a bad condition.
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut parts = s.split(',');
        let name = parts.next().unwrap_or_default();
        if name.is_empty() || name.contains('=') {
            let reason = "expected NAME[,PATH=VALUE...], e.g. BLOCK_JOB_ERROR,device=job0";
            return Err(Error::Item {
                item: s.to_string(),
                reason: reason.into(),
            });
        }
        let conditions = parts.map(str::parse).collect::<Result<_, _>>()?;
        Ok(Filter {
            names: vec![name.to_string()],
            conditions,
        })
    }
}

/// How a wait ended without an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The wanted number of matching events arrived.
    Done,
    /// A failure event arrived (it was handed to the callback first).
    Failed(Event),
    /// No count was asked for, and the deadline passed.
    Deadline,
}

/// A wait for events on a connection.
#[derive(Debug, Clone, Default)]
pub struct Wait {
    /// The events wanted.
    pub filter: Filter,
    /// Events that end the wait as a failure.
    pub fail_on: Vec<Filter>,
    /// How many matching events end the wait; `None`: until the deadline or
    /// the end of the connection.
    pub count: Option<usize>,
    /// How long to wait; `None`: no limit.
    pub timeout: Option<Duration>,
}

impl Wait {
    /// Waits, handing every matching or failure event to `on_event` as it
    /// arrives (events queued before the wait began come first).
    ///
    /// # Errors
    /// [`Error::Timeout`] when a count was asked for and fewer events matched
    /// in time; [`Error::Closed`] when the server goes away; the callback's
    /// errors.
    pub fn run<S, E, F>(&self, client: &mut Client<S>, mut on_event: F) -> Result<Outcome, E>
    where
        S: Stream,
        E: From<Error>,
        F: FnMut(&Event) -> Result<(), E>,
    {
        let start = Instant::now();
        let mut seen = 0;
        if self.count == Some(0) {
            return Ok(Outcome::Done);
        }
        loop {
            let left = match self.timeout {
                None => None,
                Some(t) => match t.checked_sub(start.elapsed()).filter(|l| !l.is_zero()) {
                    Some(l) => Some(l),
                    None => return self.timed_out(client, seen, t),
                },
            };
            let Some(event) = client.next_event(left)? else {
                return self.timed_out(client, seen, self.timeout.unwrap_or_default());
            };
            if self.fail_on.iter().any(|f| f.matches(&event)) {
                on_event(&event)?;
                return Ok(Outcome::Failed(event));
            }
            if self.filter.matches(&event) {
                on_event(&event)?;
                seen += 1;
                if self.count == Some(seen) {
                    return Ok(Outcome::Done);
                }
            }
        }
    }

    fn timed_out<S: Stream, E: From<Error>>(
        &self,
        client: &Client<S>,
        seen: usize,
        after: Duration,
    ) -> Result<Outcome, E> {
        match self.count {
            None => Ok(Outcome::Deadline),
            Some(wanted) => Err(Error::Timeout {
                address: client.address().to_string(),
                phase: Phase::Events { seen, wanted },
                after,
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("BLOCK_JOB_*", "BLOCK_JOB_READY", true),
            ("BLOCK_JOB_*", "BLOCK_JOB_", true),
            ("BLOCK_JOB_*", "JOB_STATUS_CHANGE", false),
            ("*", "", true),
            ("", "", true),
            ("", "X", false),
            ("SHUTDOWN", "SHUTDOWN", true),
            ("SHUTDOWN", "SHUTDOWNX", false),
            ("*_ERROR", "BLOCK_JOB_ERROR", true),
            ("B?OCK*ERR*", "BLOCK_JOB_ERROR", true),
            ("*A*B*", "xxAyyBzz", true),
            ("*A*B", "xxAyyBzz", false),
            ("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("?", "é", true),
            // Found by fuzzing: a '*' in the name must not eat the pattern's.
            ("*a*c", "device=[1*a*b?c", true),
            ("*", "*", true),
            ("a*", "a*b", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(glob_match(p, n), want, "{p:?} {n:?}");
        }
    }

    #[test]
    fn conditions() {
        let data = serde_json::json!({"device": "job0", "len": 42, "ok": true, "s": "42",
            "nested": {"a": [1, {"b": null}]}});
        let cases = [
            ("device=job0", true),
            ("device=\"job0\"", true),
            ("device=job1", false),
            ("len=42", true),
            ("len=\"42\"", false),
            ("s=42", false),
            ("s=\"42\"", true),
            ("ok=true", true),
            ("ok=false", false),
            ("nested.a.0=1", true),
            ("nested.a.1.b=null", true),
            ("nested.a.2=1", false),
            ("missing=x", false),
            ("device.x=1", false),
            ("device=", false),
        ];
        for (c, want) in cases {
            let cond: Condition = c.parse().unwrap();
            assert_eq!(cond.holds(&data), want, "{c}");
        }
        for bad in ["device", "", ".a=1", "a..b=1", "a.=1"] {
            assert!(bad.parse::<Condition>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fail_on() {
        let f: Filter = "BLOCK_JOB_ERROR,device=job0,action=stop".parse().unwrap();
        assert_eq!(f.names, ["BLOCK_JOB_ERROR"]);
        assert_eq!(f.conditions.len(), 2);
        for bad in ["", "device=job0", ",x=1", "E,novalue"] {
            assert!(bad.parse::<Filter>().is_err(), "{bad:?}");
        }
    }
}
