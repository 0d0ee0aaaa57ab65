//! The address table of one domain ([`Addresses`]): aliases, catch-all and
//! recipient delimiter, as routing reads them. A leaf of `config/`: built and
//! checked by `addresses.rs`, held by `domain.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where an alias was defined: the domain file or its aliases file, and the line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin {
    pub(super) side_file: bool,
    pub(super) line: usize,
}

/// The address table of one domain.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// Where unknown local parts go (a full address), if anywhere.
    pub catch_all: Option<String>,
    /// Each character separates a local part from its extension (`+`); empty: none.
    pub delimiters: String,
    /// `aliases_file`, resolved.
    pub aliases_file: Option<PathBuf>,
    /// Lower-cased local part -> full-address targets.
    pub(super) aliases: HashMap<String, Vec<String>>,
    pub(super) origins: HashMap<String, Origin>,
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses {
            catch_all: None,
            delimiters: "+".into(),
            aliases_file: None,
            aliases: HashMap::new(),
            origins: HashMap::new(),
        }
    }
}

impl Addresses {
    /// The targets of the alias `local` (any case), as full addresses.
    pub fn alias(&self, local: &str) -> Option<&[String]> {
        self.aliases.get(&local.to_lowercase()).map(Vec::as_slice)
    }

    /// Every alias (lower-cased local part) and its targets.
    pub fn aliases(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.aliases.iter()
    }

    pub fn len(&self) -> usize {
        self.aliases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.aliases.is_empty()
    }

    /// The part of `local` before its first delimiter (`alice` of `alice+news`),
    /// when there is one and something precedes it.
    pub fn base_local<'a>(&self, local: &'a str) -> Option<&'a str> {
        if self.delimiters.is_empty() {
            return None;
        }
        let (i, _) = local
            .char_indices()
            .find(|(_, c)| self.delimiters.contains(*c))?;
        (i > 0).then(|| &local[..i])
    }

    /// The file and line an alias was defined at (`domain_file` for `[aliases]`).
    pub fn place(&self, domain_file: &Path, local: &str) -> (PathBuf, Option<usize>) {
        match self.origins.get(&local.to_lowercase()) {
            Some(o) if o.side_file => (self.aliases_file.clone().unwrap_or_default(), Some(o.line)),
            Some(o) => (domain_file.to_path_buf(), (o.line > 0).then_some(o.line)),
            None => (domain_file.to_path_buf(), None),
        }
    }
}
