//! `--set KEY=VALUE` (repeatable, every command): values of the server file
//! changed without copying it, e.g. `--set imap.listen=127.0.0.1:20143` on a
//! machine where the quickstart's port is taken. KEY is a dotted path into the
//! server file; VALUE is read as a TOML value, else taken as a string; a single
//! value where the file has (or the setting takes) a list becomes a list of
//! one. The overrides are set once at start ([`set`]) and apply to every load,
//! SIGHUP reloads included.

use std::sync::OnceLock;

static OVERRIDES: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Records the overrides of this process (the first call wins). `Err` names
/// one that is not `KEY=VALUE`.
pub fn set(pairs: &[String]) -> Result<(), String> {
    let _ = OVERRIDES.set(parse(pairs)?);
    Ok(())
}

fn parse(pairs: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut parsed = Vec::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| {
                format!("--set {p}: expected KEY=VALUE, e.g. imap.listen=127.0.0.1:20143")
            })?;
        parsed.push((k.trim().to_string(), v.to_string()));
    }
    Ok(parsed)
}

/// The keys given with `--set`.
pub(super) fn keys() -> Vec<String> {
    OVERRIDES
        .get()
        .map(|o| o.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default()
}

/// `text` with the overrides applied; unchanged without any. `Err` for a key
/// that cannot be set (a part of it is a value, not a table).
pub(super) fn apply(text: &str) -> Result<String, String> {
    match OVERRIDES.get().filter(|o| !o.is_empty()) {
        Some(list) => apply_list(text, list),
        None => Ok(text.to_string()),
    }
}

fn apply_list(text: &str, list: &[(String, String)]) -> Result<String, String> {
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    for (key, raw) in list {
        let parts: Vec<&str> = key.split('.').collect();
        let (last, tables) = parts.split_last().ok_or("empty key")?;
        let mut t = &mut doc;
        for p in tables {
            let entry = t
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = entry
                .as_table_mut()
                .ok_or_else(|| format!("--set {key}: `{p}` is a value, not a section"))?;
        }
        let mut value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut v| v.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let wants_list = match t.get(*last) {
            Some(existing) => existing.is_array(),
            None => matches!(*last, "listen" | "listen_tls") && tables.first() != Some(&"admin"),
        };
        if wants_list && !value.is_array() {
            value = toml::Value::Array(vec![value]);
        }
        t.insert(last.to_string(), value);
    }
    toml::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_lists_and_sections() {
        // Not `set`: the process-wide list would change other tests' loads.
        let list = super::parse(&[
            "imap.listen=127.0.0.1:20143".into(),
            "admin.listen=127.0.0.1:20080".into(),
            "smtp.max_message_size=1000".into(),
            "hostname=\"mx.example.org\"".into(),
        ])
        .unwrap();
        let out = super::apply_list(
            "hostname = \"a\"\n[imap]\nlisten = [\"127.0.0.1:143\"]\n",
            &list,
        )
        .unwrap();
        let t: toml::Table = out.parse().unwrap();
        assert_eq!(
            t["imap"]["listen"],
            toml::Value::Array(vec!["127.0.0.1:20143".into()])
        );
        assert_eq!(
            t["admin"]["listen"],
            toml::Value::String("127.0.0.1:20080".into())
        );
        assert_eq!(t["smtp"]["max_message_size"], toml::Value::Integer(1000));
        assert_eq!(t["hostname"], toml::Value::String("mx.example.org".into()));
        assert!(super::parse(&["novalue".into()]).is_err());
        assert!(super::apply_list("a = 1\n", &super::parse(&["a.b=2".into()]).unwrap()).is_err());
    }
}
