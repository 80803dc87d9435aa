"""The backends opened for `modemd copy-to-postgres` (store/postgres/transfer.py): the daemon's layer is the one
that builds backends (backend.py), so the command asks here instead of importing them itself."""

from __future__ import annotations

from pathlib import Path

from ..config.model import DatabaseConfig
from ..store.postgres.transfer import TransferError     # noqa: F401 (the command catches it from here)


async def copy_to_postgres(database: DatabaseConfig, source: Path):
    """The SQLite file `source` copied into the PostgreSQL of `database` (migrated first): transfer.Copied. Raises
    transfer.TransferError (the file or the target is not fit; nothing written), StorageError (the server), or
    ImportError (no driver)."""
    from ..store.postgres.queue import Store
    from ..store.postgres.transfer import copy_into, open_source
    from ..store.sqlite.schema import MIGRATIONS
    reader = open_source(source, len(MIGRATIONS))
    try:
        store = Store(database.url, database.password, database.node)
        await store.open()
        try:
            return await store.db.write(lambda conn: copy_into(reader, conn, database.node))
        finally:
            await store.close()
    finally:
        reader.close()
