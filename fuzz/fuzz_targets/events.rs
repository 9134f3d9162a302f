//! The event matcher: globs agree with a plain recursive matcher; conditions
//! and filters parse and match arbitrary events without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmp::events::{Condition, Filter, glob_match};

/// The obvious exponential matcher, on short inputs only.
fn reference(p: &[char], n: &[char]) -> bool {
    match (p.first(), n.first()) {
        (None, None) => true,
        (Some('*'), _) => reference(&p[1..], n) || (!n.is_empty() && reference(p, &n[1..])),
        (Some('?'), Some(_)) => reference(&p[1..], &n[1..]),
        (Some(a), Some(b)) if a == b => reference(&p[1..], &n[1..]),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let (pattern, name, rest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    if p.len() <= 12 && n.len() <= 24 {
        assert_eq!(
            glob_match(pattern, name),
            reference(&p, &n),
            "{pattern:?} {name:?}"
        );
    } else {
        let _ = glob_match(pattern, name);
    }
    let _ = pattern.parse::<Filter>();
    if let Ok(c) = name.parse::<Condition>()
        && let Ok(data) = serde_json::from_str::<serde_json::Value>(rest)
    {
        let _ = c.holds(&data);
    }
});
