"""Webhooks that apps registered through /asg (the store's RegisteredHook rows), as the dispatcher's WebhookConfig:
android-sms-gateway's body and signature, the app's asg_signing_key as the key, the app's own events only. Pure.

A registration the config no longer backs is left out (kept in the store; it comes back with the config): the app
is gone or has no asg_signing_key any more (nothing to sign with), or it is an sms:received webhook of an app that
lost its inbox scope (received SMS are no app's: only an app allowed to read the inbox may have them pushed).
"""

from __future__ import annotations

from typing import Sequence

from ...config.model import AppConfig, WebhookConfig
from ...store import RegisteredHook
from .asg_payload import ASG, ASG_EVENTS

INBOX_SCOPES = frozenset({"inbox", "admin"})


def registered_hooks(hooks: Sequence[RegisteredHook], apps: Sequence[AppConfig]) -> list[WebhookConfig]:
    by_name = {app.name: app for app in apps}
    return [_config(hook, by_name[hook.app]) for hook in hooks if _backed(hook, by_name.get(hook.app))]


def _backed(hook: RegisteredHook, app: AppConfig | None) -> bool:
    if app is None or app.asg_signing_key is None or hook.event not in ASG_EVENTS:
        return False
    return hook.event != "sms:received" or bool(INBOX_SCOPES & app.scopes)


def _config(hook: RegisteredHook, app: AppConfig) -> WebhookConfig:
    # full_numbers: the app's receivers get numbers in full, and read them (to answer an SMS, to match a report).
    return WebhookConfig(url=hook.url, events=ASG_EVENTS[hook.event], secret=app.asg_signing_key,
                         signatures=(ASG,), full_numbers=True, app=app.name, payload=ASG, hook_id=hook.id)
