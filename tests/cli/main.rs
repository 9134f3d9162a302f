//! Integration tests: the binaries against real QEMU and a fake server.

mod agent;
mod agent_fake;
mod agent_matrix;
mod arguments;
mod docs;
mod events;
mod exec;
mod fake;
mod faults;
mod fuse;
mod jobs;
mod library;
mod matrix;
mod qemu;
mod qom;
mod robust;
mod schema;
mod shell;
mod statuses;
mod util;
