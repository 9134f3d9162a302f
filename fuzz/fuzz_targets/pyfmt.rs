//! The QEMU-style (Python str/repr) value renderer on arbitrary JSON: no
//! panics, and repr of a string is a quoted, single-line literal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmp::pyfmt::{py_repr, py_str, qom_get_text};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let r = py_repr(&v);
    let _ = py_str(&v);
    let _ = qom_get_text(&v);
    if v.is_string() {
        assert!(
            r.starts_with(['\'', '"']) && r.ends_with(['\'', '"']),
            "{r}"
        );
        assert!(!r.contains('\n'), "{r}");
    }
});
