//! The human monitor (HMP) over QMP: `human-monitor-command`, and telling
//! its errors from its output.
//!
//! HMP has no error status: `human-monitor-command` answers `return` with
//! the text HMP printed, errors included. The forms below are those QEMU's
//! monitor code prints (`monitor/hmp.c`: command lookup and argument
//! parsing; `hmp_handle_error`: `Error: ` before a command's error), the
//! same from QEMU 7.2 to 10.x.

use serde_json::{Map, Value};

use crate::message::Request;

/// The `human-monitor-command` request for `line`, on CPU `cpu` if given.
pub fn request(line: &str, cpu: Option<u64>) -> Request {
    let mut args = Map::new();
    args.insert("command-line".into(), Value::String(line.to_string()));
    if let Some(cpu) = cpu {
        args.insert("cpu-index".into(), Value::from(cpu));
    }
    Request::new("human-monitor-command", Some(args))
}

/// Line starts that mark HMP output as an error.
const ERROR_STARTS: &[&str] = &[
    // hmp_handle_error, and commands that report an Error themselves.
    "Error: ",
    // monitor_parse_command: no such command (also `help NAME` of one).
    "unknown command: '",
    // handle_hmp_command, after any argument that does not parse.
    "Try \"help ",
    // handle_hmp_command: a command this build or machine lacks.
    "Command \"",
    // monitor_parse_command with -preconfig.
    "Command '",
];

/// The error in HMP's output `text`, as one line (its lines joined with
/// `; `), or `None` when the text is ordinary output.
///
/// HMP errors are recognised by the forms QEMU's monitor prints: a line
/// starting `Error: ` (a command's error), `unknown command: '`,
/// `Try "help ...` (after a bad argument), or `Command "..." is not
/// available`. A command that reports its errors in other words (a few old
/// ones print a bare message) is not recognised.
pub fn error_in(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .collect();
    let is_error = lines.iter().any(|l| {
        ERROR_STARTS.iter().any(|s| l.starts_with(s))
            && (!l.starts_with("Command ") || l.contains("not available"))
    });
    is_error.then(|| lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors() {
        let cases: &[(&str, Option<&str>)] = &[
            ("VM status: running\r\n", None),
            ("", None),
            ("\r\n", None),
            ("unknown command: 'foo'\r\n", Some("unknown command: 'foo'")),
            (
                "Error: Device 'x' not found\r\n",
                Some("Error: Device 'x' not found"),
            ),
            (
                "migrate: integer expected\r\nTry \"help migrate_set_speed\" for more information\r\n",
                Some(
                    "migrate: integer expected; Try \"help migrate_set_speed\" for more information",
                ),
            ),
            (
                "Command \"dump-skeys\" is not available.\r\n",
                Some("Command \"dump-skeys\" is not available."),
            ),
            ("Command history:\r\n", None),
            ("warning: something\r\nok\r\n", None),
            ("a\r\nError: late\r\n", Some("a; Error: late")),
            ("  Error: indented is output\r\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(error_in(text).as_deref(), *want, "{text:?}");
        }
    }
}
