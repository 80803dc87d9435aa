"""The SQLite backend of the store: one file, one writing connection, group commit (a 202 only after the fsynced
commit), migrations.

Modules: database (the file, migrations, group commit), schema (every version's DDL), transitions (move(): the one
statement that changes a message's state, compare-and-set, with its event row), queue (Store: the outbound queue,
claims, idempotency), queue_reads (QueueReads: what Store reads), otp (OtpStore), inbox (InboxStore: inbound parts,
reassembly, delivery reports), webhooks (WebhookStore: deliveries read back from the durable logs), limits (rate limits counted
in the database), retention (what is kept of finished records, for how long).
May import: domain, codec, log.
"""
