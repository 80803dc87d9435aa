"""A refusal in android-sms-gateway's words: its status and {"message": ...} (the app's ErrorResponse; its Ktor
server answers `mapOf("message" to ...)`)."""

from __future__ import annotations

from aiohttp import web


class AsgError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers

    def response(self) -> web.Response:
        return web.json_response({"message": self.message}, status=self.status, headers=self.headers)
