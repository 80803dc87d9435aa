"""The PostgreSQL backend of the store, for several modemd hosts on one database (issue 13). So far its foundation
only, not yet chosen by configuration: database (Database: a psycopg 3 async connection pool opened from a URL and a
password given apart, migrations under an advisory lock, write/read transactions, connection loss -> StorageError)
schema (every version's DDL: version 1 is the SQLite backend's final schema in PostgreSQL's types) and limits
(rate limits counted in the accepting transaction, global across hosts: per-bucket advisory locks), transitions
(move: the backend's one gate for message state).
webhooks (WebhookStore: events from a trigger-fed backlog, one capture at a time, deliveries claimed with a lease).
May import: domain, codec, log (and psycopg, psycopg_pool).
"""

from .database import Database
from .schema import MIGRATIONS

__all__ = ["Database", "MIGRATIONS"]
