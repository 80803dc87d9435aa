"""The PostgreSQL backend of the store, for several modemd hosts on one database ([database] url; docs/fleet.md).

Modules: database (Database: a psycopg 3 async connection pool opened from a URL and a password given apart,
migrations under an advisory lock, write/read transactions, connection loss -> StorageError), schema (every
version's DDL: version 1 is the SQLite backend's final schema in PostgreSQL's types, then the fleet's), queue
(Store: claims with FOR UPDATE SKIP LOCKED and a host lease, abandoned sends taken back, the hosts' rows), enqueue
(the checks and inserts of an accepted request in one round trip, NOTIFY on accept), queue_reads (QueueReads: what
Store reads: messages, histories, counts per state, modem and route), steps (requests as steps: a group commit's
requests share their round trips), transitions (move: the backend's one gate for message state), limits (rate limits counted in the accepting
transaction, global across hosts: per-bucket advisory locks), otp (OtpStore: codes checked through any host, single
use by the verification's row lock), inbox (InboxStore: parts reassembled exactly once under a per-group lock,
reports matched to this host's messages), retention (Retention: numbers masked and records pruned in batches that
skip rows others hold), webhooks (WebhookStore: events from a trigger-fed backlog, one capture at a time,
deliveries claimed with a lease).
May import: domain, codec, log (and psycopg, psycopg_pool).
"""

from .database import Database
from .schema import MIGRATIONS

__all__ = ["Database", "MIGRATIONS"]
