"""Exceptions modemd raises on purpose, and classify(): what a failed AT command means for retrying (pure).

Policy classes (ErrorClass), from FIELD-NOTES 2.2:

    TRANSIENT     retry the same thing later, with backoff (network congestion, SIM busy, a plain timeout)
    PERMANENT     this request can never succeed as is (bad number, unsupported encoding, our own bug)
    DEVICE_STATE  the SIM / subscription / modem is in a state a human must fix: pause the queue and alert
    AMBIGUOUS     the message may have left: a timeout or lost port after the PDU + Ctrl-Z went out, CMS 332
    UNKNOWN       no rule (plain "ERROR", codes missing from the tables, exceptions that are not ours)

The +CMS ERROR and +CME ERROR codes, their texts and classes: error_codes.py.

Other exceptions: AtTimeout and ChannelClosed are TRANSIENT, or AMBIGUOUS when `after_payload` is set (the PDU
and Ctrl-Z were written, no +CMGS / +CMS ERROR seen: smstools3 and gammu-smsd resend here and so accept
duplicates); PromptNotReceived is TRANSIENT (nothing was submitted); CommandError (bare ERROR) is UNKNOWN;
SimLocked is DEVICE_STATE. A phone's PhoneSendFailed (its RESULT_* cause) and PhoneRefused (an HTTP status) are
classified by phone_errors.py's table.

went_unanswered(): a PromptNotReceived, or an AtTimeout before the payload, says the modem did not answer a command
it should have answered at once. The class stays TRANSIENT; the outbox first asks whether the modem answers at
all (a resync's "AT" probes): if not, the modem hangs, the try is not counted (like an unplugged modem's) and the
modem is reported `not_responding` until it answers again.
"""

from __future__ import annotations

from .error_codes import ErrorClass, cme_class, cme_meaning, cms_class, cms_meaning
from .phone_errors import cause_class, cause_of, http_class


class ModemdError(Exception):
    """Base of every exception modemd raises on purpose."""


class AtError(ModemdError):
    """A command that did not end in OK. `command` is the command line, with secrets already redacted."""

    def __init__(self, message: str = "", *, command: str | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.command = command
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        """Can the same command succeed later without a human? (classify() is the finer answer.)"""
        if self._retryable is not None:
            return self._retryable
        return classify(self) is ErrorClass.TRANSIENT

    @retryable.setter
    def retryable(self, value: bool | None) -> None:
        self._retryable = value

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} (command {self.command})" if self.command else text


class CommandError(AtError):
    """A bare "ERROR" (also NO CARRIER / BUSY / NO ANSWER / NO DIALTONE and vendor variants)."""


class _CodedError(AtError):
    def __init__(self, code: int | None, text: str = "", *, command: str | None = None):
        self.code = code
        self.text = text or self._meaning(code)
        super().__init__(f"{self._label} {code if code is not None else '?'} ({self.text})", command=command)

    _label = ""

    @staticmethod
    def _meaning(code: int | None) -> str:
        raise NotImplementedError


class CmeError(_CodedError):
    """+CME ERROR: <n> | <verbose text> (TS 27.007 9.2)."""

    _label = "+CME ERROR"

    @staticmethod
    def _meaning(code: int | None) -> str:
        return cme_meaning(code)


class CmsError(_CodedError):
    """+CMS ERROR: <n> | <verbose text> (TS 27.005 3.2.5)."""

    _label = "+CMS ERROR"

    @staticmethod
    def _meaning(code: int | None) -> str:
        return cms_meaning(code)


class AtTimeout(AtError):
    """No final result code in time. after_payload=True: the PDU went out, the outcome is unknown."""

    def __init__(self, message: str = "no answer from the modem", *, command: str | None = None,
                 after_payload: bool = False):
        super().__init__(message, command=command)
        self.after_payload = after_payload


class PromptNotReceived(AtError):
    """AT+CMGS did not get its "> " prompt; ESC was sent and nothing was submitted."""


class ChannelClosed(AtError):
    """The port went away (unplug, EIO) or was closed. after_payload=True: it went during a submission."""

    def __init__(self, message: str = "channel closed", *, command: str | None = None, after_payload: bool = False):
        super().__init__(message, command=command)
        self.after_payload = after_payload


class PhoneSendFailed(AtError):
    """A phone running SMS Gateway for Android reported the message Failed, with its error text (phone_errors.py
    classifies the RESULT_* cause it starts with, the way a +CMS ERROR code is)."""

    def __init__(self, error_text: str, *, command: str | None = None):
        self.error_text = error_text or "failed (the phone gave no reason)"
        self.cause = cause_of(error_text)
        super().__init__(f"phone: {self.error_text}", command=command)


class PhoneRefused(AtError):
    """The phone's local server answered a request with an HTTP error: nothing was queued on the phone."""

    def __init__(self, status: int, message: str = "", *, command: str | None = None):
        self.status = status
        super().__init__(f"phone answered HTTP {status}{': ' + message if message else ''}", command=command)


class SimLocked(ModemdError):
    """The SIM needs a PIN/PUK or is unusable. permanent=True: a human must act (PUK, wrong PIN, no SIM)."""

    def __init__(self, message: str = "SIM locked", *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class StorageError(ModemdError):
    """The database could not record or read (disk full, I/O error, read-only or damaged file). What the request
    asked for did not happen; the message is SQLite's own text, which names no row and no data."""


def cms_already_accepted(exc: BaseException) -> bool:
    """CMS 197 (TP-RD set, the SC already holds a message with this TP-MR): count it as sent, do not resend."""
    return isinstance(exc, CmsError) and exc.code == 197


def went_unanswered(exc: BaseException) -> bool:
    """Nothing was submitted and the modem gave no answer in time: no "> " prompt, or a timeout (or a failed
    resync) before the payload went out. A timeout after the payload is not this: that one is AMBIGUOUS."""
    if isinstance(exc, PromptNotReceived):
        return True
    return isinstance(exc, AtTimeout) and not exc.after_payload


def classify(exc: BaseException) -> ErrorClass:
    """The retry policy class of an exception (table in the module docstring)."""
    if isinstance(exc, CmsError):
        return cms_class(exc.code)
    if isinstance(exc, CmeError):
        return cme_class(exc.code)
    if isinstance(exc, (AtTimeout, ChannelClosed)):
        return ErrorClass.AMBIGUOUS if exc.after_payload else ErrorClass.TRANSIENT
    if isinstance(exc, PromptNotReceived):
        return ErrorClass.TRANSIENT
    if isinstance(exc, SimLocked):
        return ErrorClass.DEVICE_STATE
    if isinstance(exc, PhoneSendFailed):
        return cause_class(exc.cause)
    if isinstance(exc, PhoneRefused):
        return http_class(exc.status)
    return ErrorClass.UNKNOWN
