"""The durable store the services call: the outbound queue with its compare-and-set state changes, OTP rows, the
inbox and delivery reports, webhook deliveries, rate limits and retention.

Backends sit below it, one package each: sqlite/ (the embedded default: the file, group commit, schema and
migrations, one module per kind of record).
May import: domain, codec, log. Nothing above the store writes SQL.
"""
