//! What the session, the completer and the event printer share: the one
//! client (behind a lock), the schema fetched on first use, and the lookups
//! completion caches; and the `-l`/`-v` tracer.

use std::fs::File;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::json;

use crate::client::Client;
use crate::error::Error;
use crate::message::Event;
use crate::schema::Schema;
use crate::wire::{Direction, Tracer};

/// What the session, the completer and the event printer share.
pub struct Shared {
    client: Mutex<Client>,
    /// The server's schema, fetched when first needed (typing items,
    /// help, completion): a line without items, and the prompt, wait for
    /// no 236 KB reply. `None` in HMP mode, or when it cannot be had.
    schema: OnceLock<Option<Schema>>,
    /// `-H`: lines are HMP command lines.
    pub hmp: bool,
    /// Inside `transaction(` ... `)`: the first word is an action.
    pub in_transaction: AtomicBool,
    /// Set while the shell talks to QEMU on its own behalf (completion,
    /// events), so that `-v` echoes only what the user sent.
    quiet: Arc<AtomicBool>,
    drivers: OnceLock<Vec<String>>,
    hmp_names: OnceLock<(Vec<String>, Vec<String>)>,
}

impl Shared {
    /// Shares `client`; `quiet` is the flag [`tracer`] was given.
    pub fn new(client: Client, hmp: bool, quiet: Arc<AtomicBool>) -> Self {
        Shared {
            client: Mutex::new(client),
            schema: OnceLock::new(),
            hmp,
            in_transaction: AtomicBool::new(false),
            quiet,
            drivers: OnceLock::new(),
            hmp_names: OnceLock::new(),
        }
    }

    /// The server's schema (fetched on first use; `None` in HMP mode or
    /// when the server would not give it).
    pub fn schema(&self) -> Option<&Schema> {
        self.schema
            .get_or_init(|| {
                if self.hmp {
                    return None;
                }
                self.quietly(Schema::fetch).ok()
            })
            .as_ref()
    }

    /// The client, for the user's own command.
    pub(super) fn client(&self) -> MutexGuard<'_, Client> {
        // A panic while holding the lock aborts (panic = "abort"), so the
        // lock is never poisoned in the binaries; in tests, take it anyway.
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the client with `-v` echo off (the shell's own queries).
    pub fn quietly<T>(&self, f: impl FnOnce(&mut Client) -> T) -> T {
        let mut client = self.client();
        self.quiet.store(true, Ordering::Relaxed);
        let out = f(&mut client);
        self.quiet.store(false, Ordering::Relaxed);
        out
    }

    /// The events that have arrived, without waiting.
    ///
    /// # Errors
    /// [`Error::Closed`] when QEMU has gone.
    pub fn ready_events(&self) -> Result<Vec<Event>, Error> {
        self.quietly(|c| c.ready_events())
    }

    /// The socket's descriptor, to poll for events.
    pub fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        self.client().poll_fd()
    }

    /// Concrete device types (`driver=` of device_add), asked once.
    pub fn drivers(&self) -> &[String] {
        self.drivers.get_or_init(|| {
            let args = json!({"implements": "device", "abstract": false});
            let reply = self.quietly(|c| c.execute("qom-list-types", args.as_object()));
            let mut names: Vec<String> = reply
                .ok()
                .and_then(|v| v.as_array().cloned())
                .into_iter()
                .flatten()
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect();
            names.sort();
            names
        })
    }

    /// HMP command names and `info` subcommands, from HMP's `help`.
    pub fn hmp_names(&self) -> &(Vec<String>, Vec<String>) {
        self.hmp_names.get_or_init(|| {
            // "help" lists "name|alias args -- text"; "help info" lists
            // "info name -- text": the word at `nth`.
            let mut commands = self.hmp_words("help", 0);
            commands.retain(|w| w != "info");
            commands.push("info".into());
            commands.sort();
            (commands, self.hmp_words("help info", 1))
        })
    }

    /// The `nth` word of each line HMP's `line` prints, split at `|`,
    /// sorted, without repeats (empty when HMP fails).
    fn hmp_words(&self, line: &str, nth: usize) -> Vec<String> {
        let request = crate::hmp::request(line, None);
        let text = self
            .quietly(|c| c.execute_request(&request))
            .unwrap_or_default();
        let mut words: Vec<String> = text
            .as_str()
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(nth))
            .flat_map(|w| w.split('|').map(String::from).collect::<Vec<_>>())
            .collect();
        words.sort();
        words.dedup();
        words
    }
}

/// `-l FILE` and `-v`: every message both ways to the log, and what the
/// user's lines send to stderr (not the shell's own queries: `quiet`).
pub fn tracer(log: Option<File>, echo: bool, quiet: Arc<AtomicBool>) -> Option<Tracer> {
    if log.is_none() && !echo {
        return None;
    }
    let log = Mutex::new(log);
    Some(Tracer::new(move |direction, text| {
        let arrow = match direction {
            Direction::Sent => "->",
            Direction::Received => "<-",
        };
        if let Some(f) = log.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            // A log that cannot be written must not stop the session.
            let _ = writeln!(f, "{arrow} {text}");
        }
        if echo && direction == Direction::Sent && !quiet.load(Ordering::Relaxed) {
            eprintln!("{arrow} {}", crate::output::sanitize(text));
        }
    }))
}
