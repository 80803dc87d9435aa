"""The SQLite backend of the store: one file, one writing connection, group commit (a 202 only after the fsynced
commit), migrations.

Modules: database (the file, migrations, group commit), schema (every version's DDL), queue (Store: the outbound
queue, compare-and-set transitions, idempotency), otp (OtpStore), inbox (InboxStore: inbound parts, reassembly,
delivery reports), webhooks (WebhookStore: deliveries read back from the durable logs), limits (rate limits counted
in the database), retention (what is kept of finished records, for how long).
May import: domain, codec, log.
"""
