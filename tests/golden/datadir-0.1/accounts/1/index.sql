PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE TABLE legacy_map (
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    PRIMARY KEY (folder, uidvalidity, uid)
);
CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    uidvalidity   INTEGER NOT NULL,
    uidnext       INTEGER NOT NULL,
    highestmodseq INTEGER NOT NULL,
    special_use   TEXT
);
INSERT INTO "mailboxes" VALUES(1,'INBOX',1796389994,2,2,NULL);
INSERT INTO "mailboxes" VALUES(2,'Drafts',1796389995,1,1,'\Drafts');
INSERT INTO "mailboxes" VALUES(3,'Sent',1796389996,1,1,'\Sent');
INSERT INTO "mailboxes" VALUES(4,'Trash',1796389997,1,1,'\Trash');
INSERT INTO "mailboxes" VALUES(5,'Junk',1796389998,1,1,'\Junk');
INSERT INTO "mailboxes" VALUES(6,'Archive',1796389999,1,1,'\Archive');
INSERT INTO "mailboxes" VALUES(7,'Entwürfe',1796390019,1,1,NULL);
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
INSERT INTO "messages" VALUES(1,1,1,'593f6af1c6a7abce12f9018a9e7237ff',166,1795510800,60,'$Important \Seen',2,NULL);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO "meta" VALUES('last_uidvalidity','1796390019');
CREATE TABLE subscriptions (
    name TEXT PRIMARY KEY
);
INSERT INTO "subscriptions" VALUES('INBOX');
INSERT INTO "subscriptions" VALUES('Drafts');
INSERT INTO "subscriptions" VALUES('Sent');
INSERT INTO "subscriptions" VALUES('Trash');
INSERT INTO "subscriptions" VALUES('Junk');
INSERT INTO "subscriptions" VALUES('Archive');
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('mailboxes',7);
INSERT INTO "sqlite_sequence" VALUES('messages',1);
COMMIT;
