//! The schema of an account's index (`accounts/<id>/index.sqlite`).

use crate::store::db::Migration;

/// Append steps; never edit a released one.
pub(super) const SCHEMA: &[Migration] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    uidvalidity   INTEGER NOT NULL,
    uidnext       INTEGER NOT NULL,
    highestmodseq INTEGER NOT NULL,
    special_use   TEXT
);
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid          INTEGER NOT NULL,
    blob         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    internaldate INTEGER NOT NULL,
    tz_minutes   INTEGER NOT NULL DEFAULT 0,
    flags        TEXT NOT NULL DEFAULT '',
    modseq       INTEGER NOT NULL,
    legacy_uidl  TEXT,
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob);
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
CREATE TABLE subscriptions (
    name TEXT PRIMARY KEY
);
CREATE TABLE legacy_map (
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    PRIMARY KEY (folder, uidvalidity, uid)
);
"#,
    r#"
-- \Recent (RFC 3501 §2.3.2): messages with a UID from first_recent on have
-- not been shown to any session yet. Existing mailboxes start with none.
ALTER TABLE mailboxes ADD COLUMN first_recent INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET first_recent = uidnext;
"#,
    r#"
-- The header cache (headers.rs): what FETCH of ENVELOPE, BODY(STRUCTURE) and
-- header sections and SEARCH of header fields need, so they do not open
-- message files. One row per message file (copies share it); `version` is the
-- renderer's, rows of another version count as missing. `header` is NULL when
-- the header block is too big to keep here.
CREATE TABLE header_cache (
    blob          TEXT PRIMARY KEY,
    version       INTEGER NOT NULL,
    header        BLOB,
    envelope      BLOB NOT NULL,
    body          BLOB NOT NULL,
    bodystructure BLOB NOT NULL
);
"#,
];
