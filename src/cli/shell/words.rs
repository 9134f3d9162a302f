//! A shell line split into words: whitespace separates words; single
//! quotes keep everything; double quotes keep all but `\"` and `\\`;
//! outside quotes a backslash keeps the next character, as in a POSIX
//! shell. After `:=` (a JSON value) double quotes are JSON's own and stay
//! in the word (`tags:=["a b", "c"]`), still keeping spaces inside them, as
//! QEMU's qmp-shell keeps them.

/// One word and where it starts in the line (for completion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word with quotes and escapes removed.
    pub text: String,
    /// Its first byte in the line.
    pub start: usize,
}

/// Splits `line`; `Err` for an unterminated quote or a trailing backslash.
/// With `lenient` (completion, on a line still being typed) those are
/// accepted and end the last word.
pub fn split(line: &str, lenient: bool) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut chars = line.char_indices();
    fn word(current: &mut Option<Word>, at: usize) -> &mut Word {
        current.get_or_insert_with(|| Word {
            text: String::new(),
            start: at,
        })
    }
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = current.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word(&mut current, i);
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => w.text.push(c),
                        None if lenient => break,
                        None => return Err("a quote (') is not closed".into()),
                    }
                }
            }
            '"' if current.as_ref().is_some_and(|w| w.text.contains(":=")) => {
                let w = word(&mut current, i);
                w.text.push('"');
                loop {
                    match chars.next() {
                        Some((_, '"')) => break w.text.push('"'),
                        Some((_, '\\')) => {
                            w.text.push('\\');
                            if let Some((_, c)) = chars.next() {
                                w.text.push(c);
                            }
                        }
                        Some((_, c)) => w.text.push(c),
                        None if lenient => break,
                        None => return Err("a quote (\") is not closed".into()),
                    }
                }
            }
            '"' => {
                let w = word(&mut current, i);
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c @ ('"' | '\\'))) => w.text.push(c),
                            Some((_, c)) => {
                                w.text.push('\\');
                                w.text.push(c);
                            }
                            None if lenient => break,
                            None => return Err("a quote (\") is not closed".into()),
                        },
                        Some((_, c)) => w.text.push(c),
                        None if lenient => break,
                        None => return Err("a quote (\") is not closed".into()),
                    }
                }
            }
            '\\' => {
                let w = word(&mut current, i);
                match chars.next() {
                    Some((_, c)) => {
                        // Kept for the item grammar, which has escapes of its
                        // own in keys (\. \= \:): only quoting is undone here.
                        if matches!(c, '.' | '=' | ':' | '@') {
                            w.text.push('\\');
                        }
                        w.text.push(c);
                    }
                    None if lenient => {}
                    None => return Err("the line ends with a backslash".into()),
                }
            }
            c => word(&mut current, i).text.push(c),
        }
    }
    words.extend(current);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Result<Vec<String>, String> {
        split(line, false).map(|w| w.into_iter().map(|w| w.text).collect())
    }

    #[test]
    fn table() {
        let ok: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  query-status  ", &["query-status"]),
            ("a b=c", &["a", "b=c"]),
            ("cmd 'x=a b'", &["cmd", "x=a b"]),
            ("cmd x='a b' y=\"c d\"", &["cmd", "x=a b", "y=c d"]),
            (r#"cmd x="a\"b\\c\d""#, &["cmd", r#"x=a"b\c\d"#]),
            (r"cmd x=a\ b", &["cmd", "x=a b"]),
            (r"cmd a\.b=1", &["cmd", r"a\.b=1"]),
            ("cmd x=é\tz", &["cmd", "x=é", "z"]),
            ("cmd v:='{\"a\": [1, 2]}'", &["cmd", "v:={\"a\": [1, 2]}"]),
            ("cmd v:=\"5\"", &["cmd", "v:=\"5\""]),
            (
                r#"cmd t:=["a b","c\"d"] x="e f""#,
                &["cmd", r#"t:=["a b","c\"d"]"#, "x=e f"],
            ),
        ];
        for (line, want) in ok {
            assert_eq!(texts(line).unwrap(), *want, "{line}");
        }
        for bad in ["cmd 'x", "cmd \"x", "cmd x\\", "cmd \"x\\"] {
            assert!(texts(bad).is_err(), "{bad}");
            assert!(split(bad, true).is_ok(), "{bad}");
        }
        let w = split("ab  cd='e", true).unwrap();
        assert_eq!((w[1].start, w[1].text.as_str()), (4, "cd=e"));
    }
}
