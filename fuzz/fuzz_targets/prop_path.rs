//! PATH.PROPERTY splitting: no panics; what parses prints back to the input,
//! and the property holds no dot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmp::qom::PropPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = text.parse::<PropPath>() {
        assert_eq!(p.to_string(), text);
        assert!(!p.property.contains('.') && !p.property.is_empty() && !p.path.is_empty());
    }
});
