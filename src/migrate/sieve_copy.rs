//! The user's Sieve scripts carried over in the switch (issue 19 item 4):
//! with `[migration.managesieve]`, every script of the user is read from the
//! legacy ManageSieve server (the user's password, or the admin credential)
//! and stored under the same name; the legacy active script becomes the
//! active one here. A script ferrymail cannot run (an extension it lacks, or
//! it does not compile here) is stored but not activated, and the returned
//! note says so: it goes to the job record, which status shows — a vacation
//! is never dropped silently. Each stored script is read back and compared
//! (the switch's verification); a difference fails the attempt.

use crate::config::Migration;
use crate::filter::{ScriptError, Scripts};
use crate::legacy::managesieve::Session;
use crate::legacy::Login;

use super::error::{MigrateError, Result};

/// Copies the scripts of `address` (account `account_id`), logging in as
/// `login` (the copy's login: `None` when there is none); `Ok(Some(note))`
/// when some script is not active here although it was on the legacy side,
/// or was skipped.
pub async fn carry(
    data_dir: &std::path::Path,
    m: &Migration,
    account_id: i64,
    address: &str,
    login: Option<Login>,
) -> Result<Option<String>> {
    let Some(ep) = &m.managesieve else {
        return Ok(None);
    };
    let login = login.ok_or_else(|| {
        MigrateError::Unavailable("no password in memory and no admin credential".into())
    })?;
    let mut sess = tokio::time::timeout(m.timeout, Session::login(ep, m.timeout, &login))
        .await
        .map_err(|_| MigrateError::Unavailable("legacy ManageSieve: timed out".into()))??;
    drop(login);
    let list = sess.list().await?;
    let mut scripts = Vec::with_capacity(list.len());
    for (name, active) in list {
        let src = sess.get(&name).await?;
        scripts.push((name, active, src));
    }
    sess.logout().await;
    let store = Scripts::of(data_dir, account_id);
    let address = address.to_string();
    tokio::task::spawn_blocking(move || store_all(&store, &address, scripts))
        .await
        .map_err(|e| MigrateError::Unavailable(format!("sieve copy: {e}")))?
}

fn store_err(e: ScriptError) -> MigrateError {
    MigrateError::Unavailable(format!("storing a Sieve script: {e}"))
}

fn store_all(
    store: &Scripts,
    address: &str,
    scripts: Vec<(String, bool, Vec<u8>)>,
) -> Result<Option<String>> {
    let mut notes = Vec::new();
    let mut active_here = None;
    for (name, active, src) in &scripts {
        if !crate::filter::scripts::valid_name(name) {
            notes.push(format!(
                "Sieve script {name:?} skipped: its name is not valid here"
            ));
            continue;
        }
        store.put(name, src).map_err(store_err)?;
        // The verification: what is stored is what the legacy server has.
        if store.get(name).map_err(store_err)? != *src {
            return Err(MigrateError::Verification(format!(
                "Sieve script {name:?} reads back different"
            )));
        }
        if !active {
            continue;
        }
        let missing = crate::sieve::unsupported_extensions(src);
        if !missing.is_empty() {
            notes.push(format!(
                "Sieve script {name:?} was active on the legacy server but is stored inactive: it requires {} which ferrymail lacks",
                missing.join(", ")
            ));
        } else if let Err(e) = crate::sieve::parse(src) {
            notes.push(format!(
                "Sieve script {name:?} was active on the legacy server but is stored inactive: {e}"
            ));
        } else {
            active_here = Some(name.clone());
        }
    }
    store
        .set_active(active_here.as_deref())
        .map_err(store_err)?;
    tracing::info!(
        user = %address,
        scripts = scripts.len(),
        active = active_here.as_deref().unwrap_or(""),
        "Sieve scripts carried over"
    );
    if notes.is_empty() {
        return Ok(None);
    }
    let note = notes.join("; ");
    tracing::warn!(user = %address, note = %note, "Sieve scripts carried over with a problem");
    Ok(Some(note))
}
