//! Sieve (RFC 5228) mail filtering: a parser, a validator and an interpreter,
//! pure (no I/O): the caller gives the script, the message, the envelope and
//! a `Host` for mailbox and script lookups, and gets a list of actions or an
//! error (then it keeps the message in INBOX). Interpreter only; not yet used
//! at delivery. Supported syntax, extensions and limits: docs/sieve.md.
//!
//! Pipeline: lexer.rs (tokens) -> parser.rs (ast.rs) -> validate.rs and
//! validate_test.rs (ir.rs, with tags.rs and encoded.rs) -> interp.rs (with
//! eval.rs, match_.rs, msg.rs, state.rs, datepart.rs).

mod action;
mod ast;
mod datepart;
mod encoded;
mod error;
mod eval;
mod interp;
mod ir;
mod lexer;
mod match_;
mod msg;
mod parser;
mod state;
mod tags;
mod validate;
mod validate_test;

pub use action::{Action, Context, Envelope, Host, Limits, NoHost, Vacation};
pub use error::Error;
pub use interp::{compile, run};
pub use ir::Script;
pub use validate::EXTENSIONS;

/// Compiles `src` with the default limits.
pub fn parse(src: &[u8]) -> Result<Script, Error> {
    compile(src, &Limits::default())
}

/// The extensions `src` requires that this interpreter lacks (lower-cased):
/// for storing such a script without activating it and saying why. Empty
/// when there are none, or when the script does not parse at all.
pub fn unsupported_extensions(src: &[u8]) -> Vec<String> {
    let limits = Limits::default();
    if src.len() > limits.max_script_size {
        return Vec::new();
    }
    match lexer::lex(src).and_then(|t| parser::parse(&t, limits.max_depth)) {
        Ok(tree) => validate::unsupported(&tree),
        Err(_) => Vec::new(),
    }
}
