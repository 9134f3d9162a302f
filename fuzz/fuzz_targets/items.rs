//! The `key=value` item grammar and argument building: no panics; a parsed
//! item builds into arguments holding its value at its path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmp::items::{Item, build_arguments};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut items = Vec::new();
    for word in text.split('\n') {
        // '@' names files, read when arguments are built: not from a fuzzer.
        if word.contains('@') {
            let _ = word.parse::<Item>();
            continue;
        }
        if let Ok(item) = word.parse::<Item>() {
            assert!(!item.path.is_empty());
            assert!(item.raw.starts_with(&item.key));
            let one = build_arguments(serde_json::Map::new(), std::slice::from_ref(&item)).unwrap();
            let mut v = &serde_json::Value::Object(one);
            for key in &item.path {
                v = &v[key.as_str()];
            }
            assert_eq!(Some(v), item.resolve().ok().as_ref());
            items.push(item);
        }
    }
    let _ = build_arguments(serde_json::Map::new(), &items);
});
