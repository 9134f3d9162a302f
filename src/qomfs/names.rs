//! QOM names as file names, reversibly.
//!
//! A file name cannot be empty, `.` or `..`, nor hold `/` or NUL; QOM
//! names can (nothing in QEMU forbids a `/` in a property name). Such
//! names are written with `%` escapes: `/` is `%2F`, NUL `%00`, `%` itself
//! `%25`, the names `.` and `..` are `%2E` and `%2E%2E`, and the empty name
//! is a lone `%`. Every other name is its own file name. Only the
//! canonical spelling decodes, so the mapping is one to one.

/// The file name for QOM name `name`.
pub fn encode(name: &str) -> String {
    match name {
        "" => return "%".into(),
        "." => return "%2E".into(),
        ".." => return "%2E%2E".into(),
        _ => {}
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    out
}

/// The QOM name a file name stands for; `None` for a name [`encode`] never
/// gives (which therefore names nothing).
pub fn decode(file: &str) -> Option<String> {
    let name = match file {
        "%" => String::new(),
        "%2E" => ".".into(),
        "%2E%2E" => "..".into(),
        _ => {
            let mut out = String::with_capacity(file.len());
            let mut rest = file;
            while let Some(i) = rest.find('%') {
                out.push_str(&rest[..i]);
                let c = match rest.get(i + 1..i + 3)? {
                    "25" => '%',
                    "2F" => '/',
                    "00" => '\0',
                    _ => return None,
                };
                out.push(c);
                rest = &rest[i + 3..];
            }
            out.push_str(rest);
            out
        }
    };
    (encode(&name) == file).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let cases = [
            ("type", "type"),
            ("device[0]", "device[0]"),
            ("sse4.2", "sse4.2"),
            ("", "%"),
            (".", "%2E"),
            ("..", "%2E%2E"),
            ("...", "..."),
            ("a/b", "a%2Fb"),
            ("/", "%2F"),
            ("50%", "50%25"),
            ("%2F", "%252F"),
            ("nul\0x", "nul%00x"),
            ("ü/ß", "ü%2Fß"),
        ];
        for (name, file) in cases {
            assert_eq!(encode(name), file, "{name:?}");
            assert_eq!(decode(file).as_deref(), Some(name), "{file:?}");
        }
        // What encode never writes names nothing.
        for file in ["%2f", "%41", "%2", "a%", "%zz", "%2E.", "x%2E", "%%"] {
            assert_eq!(decode(file), None, "{file:?}");
        }
        assert_eq!(decode("%252").as_deref(), Some("%2"));
    }
}
