//! The stream decoder on arbitrary bytes, fed in arbitrary pieces: it never
//! panics, and the pieces do not change what it decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmp::wire::Decoder;

/// Decodes `input` fed in pieces ending at `cuts`; the messages, then the
/// first error (as text), if any.
fn decode(input: &[u8], cuts: &[usize], max: usize) -> (Vec<serde_json::Value>, Option<String>) {
    let mut d = Decoder::new(max);
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([input.len()].iter()) {
        let end = end.clamp(start, input.len());
        d.feed(&input[start..end]);
        start = end;
        loop {
            match d.next_message() {
                Ok(Some(m)) => out.push(serde_json::Value::Object(m)),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let max = 64 + usize::from(seed) * 64;
    let whole = decode(input, &[], max);
    // Cut points derived from the seed: every `step` bytes.
    let step = usize::from(seed % 17) + 1;
    let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
    let pieces = decode(input, &cuts, max);
    // Messages are the same whatever the pieces; an error may be found
    // earlier in pieces only for the size cap (seen before the end).
    assert_eq!(
        whole.0[..pieces.0.len()],
        pieces.0[..],
        "messages depend on the pieces"
    );
    if whole.1.is_none() {
        assert_eq!(whole, pieces);
    }
});
