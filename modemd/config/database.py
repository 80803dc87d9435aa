"""The [database] table: where the store lives. Without it (or without `url`), SQLite in the state directory: the
embedded default for one host. With `url = "postgresql://..."`, one PostgreSQL that several modemd hosts share,
this one named `node` in the fleet (default: the machine's hostname).

`url` and `node` are a contract: tools outside this repo write them. The password is not meant to sit in the URL:
`password_file` (a 0600 file), or the systemd credential `modemd-db-password`; one written into the URL anyway is
an inline secret (the config file must not be world-readable), and modemd never shows it (the store shows the URL
without it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from .model import DatabaseConfig
from .reader import Table, read_secret_file, show

CREDENTIAL_NAME = "modemd-db-password"
SCHEMES = ("postgresql", "postgres")
# A node name shows in message histories, /v1/modems and the metrics: a hostname's characters.
NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def read_database(t: Table) -> DatabaseConfig:
    d = DatabaseConfig()
    url = t.string("url", None, secret=True)
    node = t.string("node", None) or d.node
    if not NODE.match(node):
        t.fail("node", f"letters, digits, '.', '_' and '-', at most 63, got {show(node)}")
    lease = t.number("lease", d.lease, 3, 3600)
    password_file = t.path_value("password_file")
    if url is None:
        if password_file is not None:
            t.fail("password_file", "is for a PostgreSQL url; without url the store is SQLite, which has none")
        return DatabaseConfig(node=node, lease=lease)
    try:
        parts = urlsplit(url)
        parts.port                              # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as exc:
        t.fail("url", f"is not a URL ({exc})")
    if parts.scheme not in SCHEMES:
        t.fail("url", "must be a postgresql:// URL (postgresql://user@host:5432/modemd); leave it out for SQLite in "
                      "the state directory")
    if parts.password is not None or "password=" in parts.query:
        t.inline_secret("url")
    password = None
    if password_file is not None:
        password = read_secret_file(t.key("password_file"), password_file).decode("utf-8")
    else:
        password = _credential()
    return DatabaseConfig(url=url, node=node, password=password, password_file=password_file, lease=lease)


def _credential() -> str | None:
    """The systemd credential modemd-db-password (LoadCredential=/SetCredentialEncrypted=), if the unit gives one."""
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    path = Path(cred_dir) / CREDENTIAL_NAME if cred_dir else None
    if path is not None and path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return None
