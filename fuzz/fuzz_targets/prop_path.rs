//! PATH.PROPERTY splitting: no panics; what parses prints back to the input;
//! the first split is the path and property, and no split leaves a side
//! empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmp::qom::PropPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = text.parse::<PropPath>() {
        assert_eq!(p.to_string(), text);
        assert!(!p.property.is_empty() && !p.path.is_empty());
        let splits = p.splits();
        assert_eq!(splits[0], (p.path.clone(), p.property.clone()));
        assert!(splits.iter().all(|(a, b)| !a.is_empty() && !b.is_empty()));
        assert!(splits.iter().all(|(_, b)| !b.contains('/')));
    }
});
