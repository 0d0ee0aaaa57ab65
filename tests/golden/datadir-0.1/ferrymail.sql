PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    address       TEXT NOT NULL UNIQUE,
    domain        TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    state         TEXT NOT NULL,
    state_reason  TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
INSERT INTO "accounts" VALUES(1,'local@example.org','example.org','$argon2id$v=19$m=19456,t=2,p=1$gdDlqY5X+wctrKciMXTTnA$0iT3PPjgHD18ZLS1CSTRlsE7GSJo+7C356PoHh+OlgY','local',NULL,1796389994,1796389994);
INSERT INTO "accounts" VALUES(2,'done@example.org','example.org','$argon2id$v=19$m=19456,t=2,p=1$fmGUErWFn+lJ28AYU1gfOw$5YCbJoo5jnghcU5//F9aqiI0xiSuWanICgHsyZ9oqkQ','migrated',NULL,1796389995,1796389995);
INSERT INTO "accounts" VALUES(3,'failed@example.org','example.org','$argon2id$v=19$m=19456,t=2,p=1$0P6A+qWc0muLKrQBoXkAoA$w7rk3FAiEnI5Oks/zAtqoN9MiWJrVtN5wHl9yKURdFA','failed','gave up after 5 attempts: legacy server unavailable: timed out',1796389995,1796389995);
INSERT INTO "accounts" VALUES(4,'interrupted@example.org','example.org','$argon2id$v=19$m=19456,t=2,p=1$BGZNO5roErmgRL6sACbEnA$h0sg7rUNASBBOL9QZB2uWwwmmVK9hspLOzPeHRcHOAI','copying',NULL,1796389995,1796389995);
INSERT INTO "accounts" VALUES(5,'running@example.org','example.org','$argon2id$v=19$m=19456,t=2,p=1$CFNQzJ87NSOJ4pcT+LyxzQ$B7xjf4SoWjJc8pjPq2LBJEHIGHks9MzyiJe5gSogKso','copying',NULL,1796389995,1796389995);
INSERT INTO "accounts" VALUES(6,'switching@example.org','example.org','$argon2id$v=19$m=19456,t=2,p=1$oQv0NUcDv9ZO2/lhMSzq+A$PhkJXcT3RzBn98vUZihoQzEg5O9BniYUo3jJwskWoRU','copying',NULL,1796389995,1796389995);
INSERT INTO "accounts" VALUES(7,'retrying@example.org','example.org','$argon2id$v=19$m=19456,t=2,p=1$5YLuMQGRWu4irX31VILqhw$NtGAH5b5sJWv345pYwmNA0k5skWk3kzs3MOeHSMA/bk','copying',NULL,1796389995,1796389995);
INSERT INTO "accounts" VALUES(8,'paused@example.org','example.org','$argon2id$v=19$m=19456,t=2,p=1$qgirB/RoZBOcBO92C4AmNA$WgRYLYO5XaRzDXT6tJx+Re4kqPiTVJstu3lOUuCa4w0','copying',NULL,1796389995,1796389995);
CREATE TABLE migration_jobs (
    account_id  INTEGER PRIMARY KEY,
    address     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    folders     INTEGER NOT NULL DEFAULT 0,
    messages    INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
, copy_ms INTEGER NOT NULL DEFAULT 0, hook TEXT);
INSERT INTO "migration_jobs" VALUES(2,'done@example.org','done',1,1795000000,1795000060,3,120,456000,NULL,9000,'ok');
INSERT INTO "migration_jobs" VALUES(3,'failed@example.org','failed',5,1795000000,1795000060,1,10,2000,'gave up after 5 attempts: legacy server unavailable: timed out',1200,NULL);
INSERT INTO "migration_jobs" VALUES(4,'interrupted@example.org','interrupted',1,1795000000,1795000060,2,40,80000,NULL,3000,NULL);
INSERT INTO "migration_jobs" VALUES(5,'running@example.org','interrupted',1,1795000000,1796390016,1,5,1000,NULL,500,NULL);
INSERT INTO "migration_jobs" VALUES(6,'switching@example.org','interrupted',1,1795000000,1796390016,4,77,99000,NULL,2500,NULL);
INSERT INTO "migration_jobs" VALUES(7,'retrying@example.org','interrupted',2,1795000000,1796390016,2,12,3072,'legacy server unavailable: timed out',700,NULL);
INSERT INTO "migration_jobs" VALUES(8,'paused@example.org','interrupted',1,1795000000,1796390016,0,0,0,NULL,0,NULL);
CREATE TABLE schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL);
INSERT INTO "schema_versions" VALUES('migrate',2);
CREATE INDEX accounts_domain ON accounts(domain, state);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('accounts',8);
COMMIT;
