"""The whole file: `build_config(data)` reads a parsed TOML document into a Config, each table by the module of
its side, with the checks a value needs beyond its type:

  server    [server], [auth], [[apps]], [limits]   where the API listens, who may call it, how much they may send
  modems    [[modems]], [queue], [retention]       the devices, how messages are retried, how long they are kept
  otp       [otp]                                  the one-time passcodes
  webhooks  [[webhooks]]                           where events go
  database  [database]                             where the store is (SQLite here, or a PostgreSQL fleet)
  routing   [[routes]], [discovery]                which modem a message goes through; where modems are found
  values    checks of single values several tables share (names, listen addresses, regions)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .database import read_database
from .server import read_apps, read_auth, read_limits, read_server
from .model import KEYS, RESERVED_APPS, Config
from .modems import read_modems, read_queue, read_retention
from .otp import read_otp
from .routing import read_discovery, read_routes
from .reader import ReadContext, Table
from .webhooks import read_webhooks


def build_config(data: dict, source: Path | None, *, world_readable: bool = False) -> Config:
    ctx = ReadContext(KEYS, world_readable)
    top = Table(data, "", KEYS[""], ctx)
    auth = read_auth(top.table("auth"))
    apps = read_apps(top, auth)
    modems = read_modems(top)
    app_names = (*RESERVED_APPS, *(a.name for a in apps))
    config = Config(source=source, simulate=top.boolean("simulate", Config.simulate),
                    server=read_server(top.table("server")), auth=auth, apps=apps,
                    limits=read_limits(top.table("limits")),
                    modems=modems, otp=read_otp(top.table("otp")), queue=read_queue(top.table("queue")),
                    retention=read_retention(top.table("retention")),
                    webhooks=read_webhooks(top, apps), database=read_database(top.table("database")),
                    discovery=read_discovery(top.table("discovery")), routes=read_routes(top, modems, app_names))
    return replace(config, warnings=tuple(ctx.warnings))
