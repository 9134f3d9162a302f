//! A small synchronous client for QMP, the JSON protocol of QEMU's monitor,
//! and the shared parts of the `qmp-tools` binaries.
//!
//! The layers, bottom up:
//! - **transport** ([`Connection`], [`Address`]): connect to a Unix socket of
//!   any length, an abstract socket or TCP, retrying while QEMU starts; or
//!   listen (`listen:ADDR`) until QEMU connects. Descriptors can go with a
//!   message (SCM_RIGHTS, [`Client::send_with_fds`]).
//! - **session core** ([`Client`]): splits the byte stream into messages
//!   under a size cap ([`wire`]), matches replies by order, queues the events
//!   that arrive meanwhile (none is lost; [`Client::ready_events`] takes
//!   them without waiting, [`Client::poll_fd`] says when), pipelines within a
//!   bounded window, sends out-of-band requests, and keeps a deadline on
//!   every wait. It never prints: [`Options::trace`] is a hook.
//! - **handshakes** ([`handshake`]): QMP's greeting and capabilities
//!   ([`handshake::Qmp`]), the guest agent's resync
//!   ([`handshake::Agent`]); the session core does not depend on them.
//! - **guest agent** ([`agent`]): commands that send no reply on success,
//!   `guest-info`, running a program with `guest-exec`.
//! - **schema** ([`schema`]): the server's `query-qmp-schema`, resolved:
//!   argument types for typing `key=text` items, descriptions for `help`.
//! - **helpers** for the tools: request items ([`items`]), QOM paths, types
//!   and lookups ([`qom`], [`lookup`]), the tree walk ([`tree`]), event
//!   waits ([`events`]), following a job to its end ([`job`]), the
//!   line-driven batch ([`batch`]), HMP ([`hmp`]).
//! - `cli` (the default `cli` feature): clap options, output and the
//!   exit-status table of the binaries; internal to them, not semver API.
//!
//! ```no_run
//! use qmp::{Address, Client, Options};
//!
//! # fn main() -> Result<(), qmp::Error> {
//! let address: Address = "/run/vm1.qmp".parse()?;
//! let mut client = Client::connect(&address, &Options::default())?;
//! let status = client.execute("query-status", None)?;
//! println!("{}", status["status"]);
//! while let Some(event) = client.next_event(Some(std::time::Duration::from_secs(1)))? {
//!     println!("{} {}", event.name(), event.data());
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod address;
pub mod agent;
pub mod batch;
#[cfg(feature = "cli")]
pub mod cli;
mod client;
mod error;
pub mod events;
mod fdpass;
pub mod handshake;
pub mod hints;
pub mod hmp;
pub mod items;
pub mod job;
pub mod lookup;
mod message;
mod minify;
pub mod output;
pub mod pyfmt;
pub mod qom;
pub mod qomfs;
pub mod schema;
mod subset;
mod transport;
pub mod tree;
pub mod wire;

pub use address::Address;
pub use client::{Client, DEFAULT_EVENT_QUEUE, Options, Pipeline, RawReply};
pub use error::{Error, Phase, QmpError, Result};
pub use fdpass::{MAX_FDS, is_open as fd_is_open, wait_readable};
pub use message::{Event, Greeting, Reply, Request, has_no_side_effects, parse_request};
pub use transport::{Connection, Listener};
pub use wire::{Direction, Stream, Tracer};
