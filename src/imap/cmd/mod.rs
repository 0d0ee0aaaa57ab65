//! One file per command (or small group of commands), each an `impl Session`.

mod any;
mod append;
mod catenate;
mod copy;
mod esearch;
mod expunge;
mod fetch;
mod headers;
mod idle;
mod list;
mod login;
mod mailbox;
mod quota;
mod search;
mod select;
mod sort;
mod starttls;
mod status;
mod store;
mod thread;
