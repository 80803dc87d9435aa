"""The command line (`modemd ...`): parse, dispatch, exit codes a script can rely on (sysexits.h).

Modules: main (the parser and the commands that run here: run, simulate, check-config, ...), remote (commands that
talk to a running daemon: status, send, otp, queue, inbox), client (the HTTP client for that, over the admin socket
or loopback TCP), pin (`modemd pin reset`), install (`modemd install-service`), oneshot (`modemd probe`, `sendsms`:
hardware checks without the daemon).
May import: everything.
"""
