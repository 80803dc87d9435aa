"""A small aiohttp client of SMS Gateway for Android's local server (Basic auth over HTTP, usually through
`adb forward`). It speaks only the few routes the driver uses and turns transport failures into the modem layer's
errors, so the outbox classifies them as it does an AT modem's:

    cannot connect (refused, no route)      ChannelClosed              nothing reached the phone: TRANSIENT
    lost or timed out after the request     ChannelClosed(after_payload) for POST /messages the phone may have
                                                                         queued it: AMBIGUOUS
    an HTTP error status                    PhoneRefused(status)       domain/phone_errors.py

Why not the official `android_sms_gateway` client: its async client targets the cloud API's layout, and folds
"could not connect" and "connected, then lost" into one error; the driver needs the two apart (a refused POST is
safe to resend, a lost one may have queued the SMS) and its own timeouts. The official client remains the test of
the simulated phone's API, which is where compatibility with the app is checked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ...domain.errors import ChannelClosed, PhoneRefused
from ...domain.redact import mask_numbers_in

# The local server runs on the phone itself, reached over loopback (adb forward) or the LAN: it answers in well
# under a second unless the app is stopped or the phone asleep; 15 s is generous and still bounds a hung request.
REQUEST_TIMEOUT = 15.0


class PhoneApi:
    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = REQUEST_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post_message(self, body: dict) -> dict:
        return await self._call("POST", "/messages", body, sent_means_maybe=True)

    async def get_message(self, phone_id: str) -> dict:
        return await self._call("GET", f"/messages/{phone_id}")

    async def health(self) -> dict:
        # The app answers 500 when a check fails (WebService: Status.FAIL -> InternalServerError): it answers.
        return await self._call("GET", "/health", ok_statuses=(500,))

    async def patch_settings(self, settings: dict) -> dict:
        return await self._call("PATCH", "/settings", settings)

    async def register_webhook(self, hook_id: str, url: str, event: str) -> dict:
        """POST /webhooks with our own id: the app replaces a webhook of the same id, so attaching again (after a
        restart of modemd, on another port) updates it instead of adding a duplicate."""
        return await self._call("POST", "/webhooks", {"id": hook_id, "url": url, "event": event})

    async def _call(self, method: str, path: str, body: Any = None, *, sent_means_maybe: bool = False,
                    ok_statuses: tuple[int, ...] = ()) -> Any:
        what = f"{method} {path}"
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        try:
            async with self._session.request(method, self.base_url + path, json=body) as response:
                data = await _json(response)
                if response.status >= 400 and response.status not in ok_statuses:
                    raise PhoneRefused(response.status, _message(data), command=what)
                return data
        except aiohttp.ClientConnectorError as exc:
            raise ChannelClosed(f"phone not reachable at {self.base_url}: {exc.os_error or exc}",
                                command=what) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ChannelClosed(f"phone stopped answering: {type(exc).__name__} {exc}".rstrip(), command=what,
                                after_payload=sent_means_maybe) from exc


async def _json(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _message(data: Any) -> str:
    """The phone's error text, numbers masked: it may quote the recipient, and it ends up in the log, the modem's
    last error and /v1/modems."""
    return mask_numbers_in(str(data.get("message", ""))) if isinstance(data, dict) else ""
