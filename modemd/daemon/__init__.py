"""The composition root: builds every part from a Config, starts them in order, reloads on SIGHUP, stops on SIGTERM,
and talks to systemd.

Modules: lifecycle (run_daemon: start-up order, signals, shutdown), backend (the store SQLite or PostgreSQL, and a
fleet host's lease and view of the others), housekeeping (the prune loop, the simulated modem of --simulate),
listeners (the HTTP API on TCP and unix sockets, the admin socket), notify (the sd_notify datagrams), state_lock
(one daemon per state directory).
May import: everything below the command line.
"""
