//! The shell's two faces: a line editor on a terminal (rustyline: history,
//! completion, events printed above the prompt as they arrive), and a
//! script reader when stdin is not a terminal (no prompt, one reply per
//! line, a status that says whether a line failed).

use std::io::{self, BufRead};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustyline::completion::Completer;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, ExternalPrinter};
use serde_json::Value;

use super::{LineError, Outcome, Session, Shared, complete};
use crate::cli::{Failure, RunResult, Status, event_line, report};
use crate::error::Error;
use crate::output::{Format, render};

/// How many lines the history keeps.
pub const HISTORY_LINES: usize = 1000;

/// The history file: `$XDG_STATE_HOME/qmp-tools/NAME`, else
/// `~/.local/state/qmp-tools/NAME`; `None` with neither variable set.
pub fn history_file(name: &str) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(state) => PathBuf::from(state),
        None => {
            PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".local/state")
        }
    };
    Some(base.join("qmp-tools").join(name))
}

struct Helper(Arc<Shared>);

impl Completer for Helper {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(complete::complete(&*self.0, line, pos))
    }
}

impl Hinter for Helper {
    type Hint = String;
}
impl Highlighter for Helper {}
impl Validator for Helper {}
impl rustyline::Helper for Helper {}

/// How replies are shown.
#[derive(Debug, Clone, Copy)]
pub struct Show {
    /// `--compact`: one line of JSON per reply, not indented.
    pub compact: bool,
}

fn editor_error(e: ReadlineError) -> Failure {
    Failure::Input {
        what: "the terminal".into(),
        source: match e {
            ReadlineError::Io(e) => e,
            e => io::Error::other(e.to_string()),
        },
    }
}

/// The interactive shell, until Ctrl-D (status 0) or until QEMU goes.
///
/// # Errors
/// The terminal's errors; the session's fatal ones (QEMU gone).
pub fn interactive(
    mut session: Session,
    banner: &str,
    history: Option<PathBuf>,
    show: Show,
) -> RunResult {
    let config = Config::builder()
        .max_history_size(HISTORY_LINES)
        .map_err(editor_error)?
        .history_ignore_dups(true)
        .map_err(editor_error)?
        .auto_add_history(true)
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<Helper, FileHistory> =
        Editor::with_config(config).map_err(editor_error)?;
    editor.set_helper(Some(Helper(session.shared.clone())));
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // No history yet is no error.
        let _ = editor.load_history(path);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let printer = editor.create_external_printer().map_err(editor_error)?;
    // Not joined at the end: it looks at `stop` only between polls, and
    // the process ends anyway.
    watch(session.shared.clone(), printer, stop.clone());
    println!("{banner}");
    let result = loop {
        match editor.readline(session.prompt()) {
            Ok(line) => {
                if let Some(path) = &history {
                    // A history that cannot be written must not end the session.
                    let _ = editor.append_history(path);
                }
                for e in session.queued_events() {
                    print!("{}", event_line(&e, false));
                }
                match session.line(&line) {
                    Ok(outcome) => {
                        for e in session.queued_events() {
                            print!("{}", event_line(&e, false));
                        }
                        print_outcome(&outcome, show);
                    }
                    Err(LineError::Input(msg)) => report("qmp-shell", &msg),
                    Err(LineError::Fatal(e)) => break Err(Failure::Qmp(e)),
                }
            }
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => break Ok(Status::Ok),
            Err(e) => break Err(editor_error(e)),
        }
    };
    stop.store(true, Ordering::Relaxed);
    result
}

/// Prints the events as they arrive, above the line being edited, until
/// `stop`; says so once when QEMU closes the connection.
fn watch(
    shared: Arc<Shared>,
    mut printer: impl ExternalPrinter + Send + 'static,
    stop: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let Some(fd) = shared.poll_fd() else { return };
        while !stop.load(Ordering::Relaxed) {
            match crate::fdpass::wait_readable(fd, POLL) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            match shared.ready_events() {
                Ok(events) => {
                    for e in events {
                        let _ = printer.print(event_line(&e, false));
                    }
                    // Readable but nothing whole yet: the rest is on its way.
                    std::thread::sleep(Duration::from_millis(5));
                }
                // The shell is leaving (and may have stopped QEMU itself).
                Err(_) if stop.load(Ordering::Relaxed) => return,
                Err(e) => {
                    let msg = match e {
                        Error::Closed { .. } => "QEMU closed the connection (Ctrl-D leaves)".into(),
                        e => crate::cli::one_line(&e),
                    };
                    let _ = printer.print(format!("qmp-shell: {msg}\n"));
                    return;
                }
            }
        }
    });
}

/// How often the event printer looks at `stop`.
const POLL: Duration = Duration::from_millis(200);

fn print_outcome(outcome: &Outcome, show: Show) {
    match outcome {
        Outcome::Nothing => {}
        Outcome::Text(t) | Outcome::Hmp(t) => {
            print!("{t}");
            if !t.is_empty() && !t.ends_with('\n') {
                println!();
            }
        }
        Outcome::Reply(reply) => match reply.message().get("error") {
            Some(e) => println!(
                "{}: {}",
                e["class"].as_str().unwrap_or("Error"),
                e["desc"].as_str().unwrap_or("")
            ),
            None => {
                let value = reply
                    .message()
                    .get("return")
                    .cloned()
                    .unwrap_or(Value::Null);
                let format = if show.compact {
                    Format::Json
                } else {
                    Format::Pretty
                };
                if let Some(text) = render(&value, format, true) {
                    print!("{}", crate::output::terminal_safe(&text, true));
                }
            }
        },
    }
}

/// Lines from stdin, no prompt: each reply as one JSON line on stdout (the
/// whole message, as qmp-exec --batch prints it), HMP output as it is,
/// errors on stderr with their line number. With `exit_on_error` the first
/// error reply ends it with status 1, the first invalid line with 2;
/// without, it goes on and the status is the first failure's.
///
/// # Errors
/// Reading stdin, writing stdout, the session's fatal errors.
pub fn script(mut session: Session, exit_on_error: bool) -> RunResult {
    let mut status = Status::Ok;
    let mut last = 0;
    for (n, line) in io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|source| Failure::Input {
            what: "reading stdin".into(),
            source,
        })?;
        last = n + 1;
        let failed = match session.line(&line) {
            Ok(Outcome::Nothing) => None,
            Ok(Outcome::Text(t)) => {
                crate::cli::write_stdout(&t, false)?;
                None
            }
            Ok(Outcome::Hmp(t)) => {
                let t = if t.is_empty() || t.ends_with('\n') {
                    t
                } else {
                    format!("{t}\n")
                };
                crate::cli::write_stdout(&t, false)?;
                crate::hmp::error_in(&t).map(|e| {
                    report("qmp-shell", &format!("line {last}: HMP: {e}"));
                    Status::Failed
                })
            }
            Ok(Outcome::Reply(reply)) => {
                let text = format!("{}\n", Value::Object(reply.message().clone()));
                crate::cli::write_stdout(&text, true)?;
                reply.into_result().err().map(|e| {
                    report("qmp-shell", &format!("line {last}: {e}"));
                    Status::Failed
                })
            }
            Err(LineError::Input(msg)) => {
                report("qmp-shell", &format!("line {last}: {msg}"));
                Some(Status::Usage)
            }
            Err(LineError::Fatal(e)) => return Err(Failure::Qmp(e)),
        };
        if let Some(s) = failed {
            if exit_on_error {
                return Ok(s);
            }
            if status == Status::Ok {
                status = s;
            }
        }
    }
    if session.in_transaction() {
        report(
            "qmp-shell",
            &format!("line {last}: the input ends inside transaction( ... ): close it with ')'"),
        );
        if status == Status::Ok {
            status = Status::Usage;
        }
    }
    Ok(status)
}
