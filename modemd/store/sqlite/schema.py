"""The database schema: every version in order. PRAGMA user_version says how many are applied (database.migrate).

All DDL lives here, so the SQL modules (queue.py, otp.py, inbox.py, webhooks.py, limits.py) can import each
other's helpers without importing each other's schema. Never edit a shipped version: append a new one.
"""

from __future__ import annotations

# 1: the outbound queue and its lifecycle log (queue.py, transitions.py)
MESSAGES = """
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        destination TEXT NOT NULL,
        body TEXT,
        parts INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        deadline REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        sent_at REAL,
        delivered_at REAL,
        error_code TEXT,
        error_text TEXT,
        modem TEXT,
        refs TEXT NOT NULL DEFAULT '[]',
        possible_duplicate INTEGER NOT NULL DEFAULT 0,
        ambiguous INTEGER NOT NULL DEFAULT 0,
        idempotency_key TEXT
    );
    CREATE INDEX messages_due ON messages(priority, next_attempt_at) WHERE state = 'queued';
    CREATE INDEX messages_state ON messages(state, seq);
    CREATE INDEX messages_deadline ON messages(deadline) WHERE state = 'queued' AND deadline IS NOT NULL;
    CREATE UNIQUE INDEX messages_idempotency ON messages(idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE TABLE message_events (
        message_id TEXT NOT NULL,
        at REAL NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX message_events_message ON message_events(message_id, at)
    """

# 2: one-time passcodes and rate limits (otp.py, limits.py)
OTP = """
    CREATE TABLE otp_verifications (
        id TEXT PRIMARY KEY,
        destination TEXT NOT NULL,
        code_hmac BLOB NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        status TEXT NOT NULL,
        message_id TEXT NOT NULL
    );
    CREATE INDEX otp_by_destination ON otp_verifications(destination, created_at);
    CREATE TABLE rate_events (
        bucket TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX rate_events_bucket ON rate_events(bucket, at);
    CREATE TABLE otp_failures (
        destination TEXT PRIMARY KEY,
        consecutive INTEGER NOT NULL
    )
"""

# 3: inbound SMS, multipart reassembly, delivery reports (inbox.py)
INBOX = """
    CREATE TABLE inbox_parts (
        modem TEXT NOT NULL,
        sender TEXT NOT NULL,
        ref INTEGER NOT NULL,          -- concatenation reference; -1 for single-part messages
        total INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        text TEXT NOT NULL,
        sc_timestamp REAL,
        received_at REAL NOT NULL,
        pdu_digest TEXT NOT NULL,      -- single-part messages have no ref: the PDU's digest tells repeats apart
        PRIMARY KEY (modem, sender, ref, total, seq, pdu_digest)
    );
    CREATE TABLE inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        modem TEXT NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        parts INTEGER NOT NULL,
        complete INTEGER NOT NULL,
        sc_timestamp REAL,
        received_at REAL NOT NULL
    );
    CREATE TABLE status_reports (
        modem TEXT NOT NULL,
        reference INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        status INTEGER NOT NULL,
        discharge_time REAL,
        received_at REAL NOT NULL,
        message_id TEXT
    );
    ALTER TABLE messages ADD COLUMN report_status TEXT NOT NULL DEFAULT '{}'
"""

# 4: webhook deliveries and their read positions in the event logs (webhooks.py)
WEBHOOKS = """
    CREATE TABLE webhook_cursors (
        source TEXT PRIMARY KEY,           -- 'message_events' (rowid) or 'inbox' (seq)
        position INTEGER NOT NULL
    );
    -- Start at the end of the logs: turning webhooks on does not replay the history already in the database.
    INSERT INTO webhook_cursors (source, position) SELECT 'message_events', coalesce(max(rowid), 0) FROM message_events;
    INSERT INTO webhook_cursors (source, position) SELECT 'inbox', coalesce(max(seq), 0) FROM inbox;
    CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        hook TEXT NOT NULL,                -- stable key of the configured webhook (url + events)
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        subject TEXT NOT NULL,             -- message or inbox id: deliveries of one subject go in seq order
        body TEXT NOT NULL,                -- the JSON POSTed, fixed when the event is captured
        state TEXT NOT NULL,               -- pending | done | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        queued_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        finished_at REAL,
        last_error TEXT,
        UNIQUE (hook, event_id)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(hook, next_attempt_at) WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_subject ON webhook_deliveries(hook, subject, seq) WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(finished_at) WHERE state != 'pending'
"""

# 5: the raw user data of each inbound part, so a multipart message is decoded as one stream (inbox.py)
INBOX_PART_DATA = """
    ALTER TABLE inbox_parts ADD COLUMN encoding TEXT NOT NULL DEFAULT '';
    ALTER TABLE inbox_parts ADD COLUMN data BLOB;
    -- GSM-7 national language shift ids "locking,single" (TS 23.038 A.2/A.3), from the part's UDH
    ALTER TABLE inbox_parts ADD COLUMN shift TEXT NOT NULL DEFAULT '0,0'
"""

# 6: delivery reports find their message through an index (inbox._apply_report runs on the event loop:
#    it must not scan every sent message; before this index it did, 1 row per message sent in the last 3 days)
REPORT_MATCH = """
    CREATE INDEX messages_report_match ON messages(modem, substr(destination, -9), sent_at) WHERE sent_at IS NOT NULL
"""

# 7: apps (api.auth.App): every message and verification belongs to the app that made it; what existed before apps
#    was made by the default app's tokens. A message remembers the digest of the request that made it, so a reused
#    Idempotency-Key with another body is refused instead of answered with the first message.
APPS = """
    ALTER TABLE messages ADD COLUMN app TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE messages ADD COLUMN request_digest TEXT;
    CREATE INDEX messages_app ON messages(app, seq);
    ALTER TABLE otp_verifications ADD COLUMN app TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX otp_by_app_destination ON otp_verifications(app, destination, created_at);
    -- Consecutive wrong codes per app and number, with when the last one was: one app's wrong tries do not lock
    -- another app's user out, and the lock decays (store_otp.LOCK_DECAY). The old per-number counts are dropped.
    DROP TABLE otp_failures;
    CREATE TABLE otp_failures (
        app TEXT NOT NULL,
        destination TEXT NOT NULL,
        consecutive INTEGER NOT NULL,
        last_at REAL NOT NULL,
        PRIMARY KEY (app, destination)
    )
"""

# 8: messages per state and kind, kept by triggers in the transaction that changes them (Store.counts() and the
#    queue bound read 14 rows instead of scanning every message: 5 s STATUS= refreshes, /metrics, every enqueue)
MESSAGE_COUNTS = """
    CREATE TABLE message_counts (
        state TEXT NOT NULL,
        kind TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (state, kind)
    ) WITHOUT ROWID;
    INSERT INTO message_counts (state, kind, n) SELECT state, kind, count(*) FROM messages GROUP BY state, kind;
    CREATE TRIGGER message_counts_insert AFTER INSERT ON messages BEGIN
        INSERT OR IGNORE INTO message_counts (state, kind, n) VALUES (NEW.state, NEW.kind, 0);
        UPDATE message_counts SET n = n + 1 WHERE state = NEW.state AND kind = NEW.kind;
    END;
    CREATE TRIGGER message_counts_move AFTER UPDATE OF state ON messages WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE message_counts SET n = n - 1 WHERE state = OLD.state AND kind = OLD.kind;
        INSERT OR IGNORE INTO message_counts (state, kind, n) VALUES (NEW.state, NEW.kind, 0);
        UPDATE message_counts SET n = n + 1 WHERE state = NEW.state AND kind = NEW.kind;
    END;
    CREATE TRIGGER message_counts_delete AFTER DELETE ON messages BEGIN
        UPDATE message_counts SET n = n - 1 WHERE state = OLD.state AND kind = OLD.kind;
    END
"""

# 9: the messages one POST /v1/messages queued for several recipients share a batch id (api/batches.py); the index
#    lists a batch in the order its request named the numbers (seq), and holds no row of a single message.
BATCHES = """
    ALTER TABLE messages ADD COLUMN batch_id TEXT;
    CREATE INDEX messages_batch ON messages(batch_id, seq) WHERE batch_id IS NOT NULL
"""

# 10: the same code on resend (services/otp.py): a pending code is kept sealed (domain/otp_seal.py: AES-GCM under a
# key that is not in this file, the verification id as associated data) so a new send within its validity sends
# it again; `sends` counts the SMS it went out in.
OTP_RESEND = """
    ALTER TABLE otp_verifications ADD COLUMN sends INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE otp_verifications ADD COLUMN code_sealed TEXT;
"""

# 11: webhooks an app registered through POST /asg/webhooks (webhooks.py), beside the configured ones; an app names
#     its own (the id is the app's to choose), so the key is the pair.
ASG_WEBHOOKS = """
    CREATE TABLE asg_webhooks (
        app TEXT NOT NULL,
        id TEXT NOT NULL,
        url TEXT NOT NULL,
        event TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (app, id)
    )
"""

# 12: the admin page's plots read the sends of the last hours (queue.py sends_since): without this index that read
#     scans every message's whole history, once a poll.
SENT_EVENTS = """
    CREATE INDEX message_events_sent ON message_events(at) WHERE to_state = 'sent'
"""

# 13: a single-part SMS remembers what it was received as (its PDU's digest; a phone's: its event id's), so the same
#     one stored again (a phone's webhook retried across a restart of modemd, a SIM slot read again after a crash
#     between the commit and the delete) is dropped for as long as the message is kept (inbox.py).
INBOX_SOURCE = """
    ALTER TABLE inbox ADD COLUMN source_digest TEXT;
    CREATE UNIQUE INDEX inbox_source ON inbox(modem, sender, source_digest) WHERE source_digest IS NOT NULL
"""

# 14: routing and SIM budgets. A message may be bound to a modem or a group ("modem:NAME", "group:NAME"; NULL: any
#     modem), and only a modem it names claims it (domain/routing.py). What each modem sent since a time (a SIM's
#     budget per hour, day, month; counters per modem) is read by modem and sent_at.
ROUTES = """
    ALTER TABLE messages ADD COLUMN route TEXT;
    CREATE INDEX messages_modem_sent ON messages(modem, sent_at) WHERE sent_at IS NOT NULL
"""

MIGRATIONS = [MESSAGES, OTP, INBOX, WEBHOOKS, INBOX_PART_DATA, REPORT_MATCH, APPS, MESSAGE_COUNTS, BATCHES,
              OTP_RESEND, ASG_WEBHOOKS, SENT_EVENTS, INBOX_SOURCE, ROUTES]
