//! The address parser: no panics; what parses prints back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmp::Address;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Address>() {
        Ok(a) => {
            let again: Address = a.to_string().parse().expect("Display output parses");
            assert_eq!(again, a, "Display round-trips");
        }
        Err(e) => assert!(e.to_string().starts_with("bad address")),
    }
});
