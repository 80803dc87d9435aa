"""What a store write may refuse with, the same for every backend. The API turns each into its own answer (422,
429, 503); none of them means the storage failed (that is domain.errors.StorageError)."""

from __future__ import annotations

from ..domain.sms import OutboundSms


class Refused(Exception):
    """A write request that says no before it has written anything (a rate limit, say). Like any exception a
    request raises, it fails that request alone; the others committed with it are not affected."""


class RateLimited(Refused):
    """A limit (records.Limit) is reached: nothing was counted, nothing written. `retry_after`: seconds until one
    more hit fits."""

    def __init__(self, bucket: str, retry_after: float):
        # The message names the kind of limit only: a bucket holds a phone number ("otp-send:+49..."), and an
        # exception's text may end up in a log line.
        super().__init__(f"rate limit {bucket.partition(':')[0]}")
        self.bucket = bucket
        self.retry_after = retry_after


class QueueFull(Refused):
    """The queue holds as many messages as it may (LimitsConfig.max_queued, less the OTP reserve for plain SMS):
    back-pressure, nothing queued. The client tries again later."""


class IdempotencyMismatch(Refused):
    """An Idempotency-Key the app used before, now with a different request: nothing is queued."""

    def __init__(self, first: OutboundSms):
        super().__init__(f"the Idempotency-Key was used for message {first.id} with a different request")
        self.first = first
