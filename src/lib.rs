//! A small synchronous client for QMP, the JSON protocol of QEMU's monitor,
//! and the shared parts of the `qmp-tools` binaries.
//!
//! The client connects over a Unix socket or TCP, reads the greeting,
//! negotiates capabilities, runs commands (replies matched by id), queues the
//! events that arrive meanwhile without losing any, and pipelines many
//! commands over one connection. Every wait has a deadline; nothing a server
//! sends can make it panic or allocate without bound.
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
pub mod batch;
#[cfg(feature = "cli")]
pub mod cli;
mod client;
mod error;
pub mod events;
mod fdpass;
pub mod hints;
pub mod hmp;
pub mod items;
pub mod lookup;
mod message;
pub mod output;
pub mod pyfmt;
pub mod qom;
mod transport;
pub mod tree;
pub mod wire;

pub use address::Address;
pub use client::{Client, DEFAULT_EVENT_QUEUE, Options, Pipeline};
pub use error::{Error, Phase, QmpError, Result};
pub use fdpass::{MAX_FDS, is_open as fd_is_open};
pub use message::{Event, Greeting, Reply, Request, has_no_side_effects, parse_request};
pub use transport::Connection;
pub use wire::{Direction, Stream, Tracer};
