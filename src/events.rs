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

/// A condition on an event's data, PATH dotted into `data` (array elements
/// by index):
/// - `PATH=VALUE`: the member equals VALUE. A string member matches VALUE as
///   text, even when VALUE also parses as JSON (`status=null` matches the
///   string `"null"`, `id=123` the string `"123"`), or VALUE as a JSON string
///   (`device="job0"`); any other member matches VALUE parsed as JSON, with
///   numbers compared as numbers (`len=1.0` matches `1`).
/// - `PATH`: the member is present (`error`: a job that failed).
/// - `!PATH`: the member is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// As written, for messages.
    pub raw: String,
    /// The path into `data`.
    pub path: Vec<String>,
    /// What must hold there.
    pub test: Test,
}

/// What a [`Condition`] asks of the member at its path.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Test {
    /// Equal to the text as written, or to it parsed as JSON (if it parses).
    Equals(String, Option<Value>),
    /// Present, with any value.
    Present,
    /// Absent.
    Absent,
}

impl FromStr for Condition {
    type Err = Error;

    /// # Errors
    /// [`Error::Item`] when the path is empty or has an empty part.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |r: &str| Error::Item {
            item: s.to_string(),
            reason: r.to_string(),
        };
        let (path, test) = match s.split_once('=') {
            Some((path, value)) => {
                if path.starts_with('!') {
                    return Err(bad(
                        "'!' goes with a PATH alone (!PATH: the member is absent)",
                    ));
                }
                let json = serde_json::from_str(value).ok();
                (path, Test::Equals(value.to_string(), json))
            }
            None => match s.strip_prefix('!') {
                Some(path) => (path, Test::Absent),
                None => (s, Test::Present),
            },
        };
        let path: Vec<String> = path.split('.').map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad(
                "empty part in the path (expected PATH=VALUE, PATH or !PATH, e.g. device=job0)",
            ));
        }
        Ok(Condition {
            raw: s.to_string(),
            path,
            test,
        })
    }
}

impl Condition {
    /// Whether `data` satisfies the condition.
    pub fn holds(&self, data: &Value) -> bool {
        let mut v = data;
        for key in &self.path {
            let next = match v {
                Value::Object(o) => o.get(key),
                Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            match next {
                Some(x) => v = x,
                None => return self.test == Test::Absent,
            }
        }
        match &self.test {
            Test::Present => true,
            Test::Absent => false,
            Test::Equals(text, json) => match (v, json) {
                (Value::String(s), _) if s == text => true,
                (_, Some(json)) => same(v, json),
                (_, None) => false,
            },
        }
    }
}

/// JSON equality with numbers compared by value (`1.0` equals `1`), exactly
/// for integers.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                false // one below 0, the other above i64::MAX
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Splits `NAME,COND,...` at the commas that are not escaped; `\\,` stands
/// for a comma and `\\\\` for a backslash (any other backslash is itself).
fn split_commas(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some(',' | '\\')) => part.extend(chars.next()),
            ',' => parts.push(std::mem::take(&mut part)),
            c => part.push(c),
        }
    }
    parts.push(part);
    parts
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

    /// Parses `NAME[,COND...]` (the `--fail-on` form), each COND a
    /// [`Condition`]; `\\,` writes a comma inside a VALUE.
    ///
    /// # Errors
    /// [`Error::Item`] for an empty name or a bad condition.
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut parts = split_commas(s).into_iter();
        let name = parts.next().unwrap_or_default();
        if name.is_empty() || name.contains('=') {
            let reason = "expected NAME[,PATH=VALUE|PATH|!PATH...], e.g. \
                          BLOCK_JOB_ERROR,device=job0 or BLOCK_JOB_COMPLETED,error";
            return Err(Error::Item {
                item: s.to_string(),
                reason: reason.into(),
            });
        }
        let conditions = parts
            .map(|p| p.parse::<Condition>())
            .collect::<Result<_, _>>()?;
        Ok(Filter {
            names: vec![name],
            conditions,
        })
    }
}

/// How a wait ended without an error.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The wanted number of matching events arrived.
    Done,
    /// A failure event arrived (it was handed to the callback first).
    Failed(Event),
    /// No count was asked for, and the deadline passed.
    Deadline,
    /// No count was asked for, and QEMU quit: it sent `SHUTDOWN`, then
    /// closed the connection.
    Quit,
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
    /// in time; [`Error::Closed`] when the server goes away (unless it sent
    /// `SHUTDOWN` first and no count was asked for: [`Outcome::Quit`]); the
    /// callback's errors.
    pub fn run<S, E, F>(&self, client: &mut Client<S>, mut on_event: F) -> Result<Outcome, E>
    where
        S: Stream,
        E: From<Error>,
        F: FnMut(&Event) -> Result<(), E>,
    {
        let start = Instant::now();
        let mut seen = 0;
        let mut shut_down = false;
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
            let event = match client.next_event(left) {
                Ok(Some(event)) => event,
                Ok(None) => return self.timed_out(client, seen, self.timeout.unwrap_or_default()),
                Err(Error::Closed { partial: 0, .. }) if shut_down => {
                    return match self.count {
                        None => Ok(Outcome::Quit),
                        Some(wanted) => Err(Error::Closed {
                            waiting_for: format!(
                                "{} more matching event{}, after SHUTDOWN (QEMU quit)",
                                wanted - seen,
                                if wanted - seen == 1 { "" } else { "s" }
                            ),
                            partial: 0,
                        }
                        .into()),
                    };
                }
                Err(e) => return Err(e.into()),
            };
            shut_down |= event.name() == "SHUTDOWN";
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
            "status": "null", "f": 1.5, "big": 18446744073709551615u64, "neg": -1,
            "nested": {"a": [1, {"b": null}]}, "obj": {"x": 1, "y": [2.0]}, "comma": "a,b"});
        let cases = [
            ("device=job0", true),
            ("device=\"job0\"", true),
            ("device=job1", false),
            ("len=42", true),
            ("len=42.0", true),
            ("len=4.2e1", true),
            ("len=\"42\"", false),
            ("len=43", false),
            // A string member matches the text, even when it parses as JSON.
            ("s=42", true),
            ("s=\"42\"", true),
            ("s=42.0", false),
            ("status=null", true),
            ("status=\"null\"", true),
            ("ok=true", true),
            ("ok=false", false),
            ("ok=\"true\"", false),
            ("f=1.5", true),
            ("f=1.50", true),
            ("f=1", false),
            ("big=18446744073709551615", true),
            ("big=18446744073709551614", false),
            ("neg=-1", true),
            ("neg=18446744073709551615", false),
            ("nested.a.0=1", true),
            ("nested.a.0=1.0", true),
            ("nested.a.1.b=null", true),
            ("nested.a.2=1", false),
            ("obj={\"y\":[2],\"x\":1.0}", true),
            ("obj={\"x\":1}", false),
            ("missing=x", false),
            ("missing=null", false),
            ("device.x=1", false),
            ("device=", false),
            ("comma=a,b", true),
            // Presence and absence.
            ("device", true),
            ("nested.a.1.b", true),
            ("nested.a.5", false),
            ("missing", false),
            ("!missing", true),
            ("!device", false),
            ("!nested.a.1.b", false),
            ("!nested.a.1.c", true),
            ("!device.x", true),
        ];
        for (c, want) in cases {
            let cond: Condition = c.parse().unwrap();
            assert_eq!(cond.holds(&data), want, "{c}");
        }
        for bad in ["", ".a=1", "a..b=1", "a.=1", "!", "!a=1", "!.a", "=1"] {
            assert!(bad.parse::<Condition>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fail_on() {
        let f: Filter = "BLOCK_JOB_ERROR,device=job0,action=stop".parse().unwrap();
        assert_eq!(f.names, ["BLOCK_JOB_ERROR"]);
        assert_eq!(f.conditions.len(), 2);
        let f: Filter = "BLOCK_JOB_COMPLETED,device=job0,error".parse().unwrap();
        assert_eq!(f.conditions[1].test, Test::Present);
        let cases = [
            ("E,x=a\\,b", vec!["x=a,b"]),
            ("E,x=a\\,b,y=c", vec!["x=a,b", "y=c"]),
            ("E,x=a\\\\,y=c", vec!["x=a\\", "y=c"]),
            ("E,x=a\\b", vec!["x=a\\b"]),
            ("E,x=a\\", vec!["x=a\\"]),
            ("E,!error", vec!["!error"]),
        ];
        for (input, want) in cases {
            let f: Filter = input.parse().unwrap();
            let raw: Vec<&str> = f.conditions.iter().map(|c| c.raw.as_str()).collect();
            assert_eq!(raw, want, "{input:?}");
        }
        let data = serde_json::json!({"x": "a,b"});
        let f: Filter = "E,x=a\\,b".parse().unwrap();
        assert!(f.conditions[0].holds(&data));
        for bad in ["", "device=job0", ",x=1", "E,", "E,,x=1", "E,!a=1"] {
            assert!(bad.parse::<Filter>().is_err(), "{bad:?}");
        }
    }
}
