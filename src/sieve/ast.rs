//! The syntax tree of a script as the grammar of RFC 5228 §8.2 gives it, before
//! any command, test or tag is looked up (validate.rs does that).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgKind {
    /// A tag, lower-cased, without its colon.
    Tag(String),
    Num(u64),
    Str(String),
    /// A bracketed string list (`["a", "b"]`).
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub kind: ArgKind,
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    /// Lower-cased (identifiers are case-insensitive).
    pub name: String,
    pub line: u32,
    pub col: u32,
    pub args: Vec<Arg>,
    pub tests: Vec<Test>,
    /// Whether the tests were a parenthesised test list.
    pub test_list: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub line: u32,
    pub col: u32,
    pub args: Vec<Arg>,
    pub tests: Vec<Test>,
    pub test_list: bool,
    /// The `{ ... }` block, if the command ends with one instead of `;`.
    pub block: Option<Vec<Command>>,
}
