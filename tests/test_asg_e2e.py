"""docs/asg.md's migration, run as written against the real daemon on a simulated modem: the official client, built
by the page's own lines (its base URL, user and password), sends to two numbers that reach the handset and reads
them Sent; a webhook it registers receives sms:sent, signed so that the documented X-Signature check accepts it and
refuses the body tampered with; an SMS injected through the simulator's control socket reaches its sms:received
webhook."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from android_sms_gateway import Message, ProcessState, TextMessage, Webhook, WebhookEvent

from kit import Receiver, running_daemon, until, verify_asg_signature, wait_for

DOC = Path(__file__).resolve().parents[1] / "docs" / "asg.md"
NUMBERS = ["+4915112345678", "+4917612345678"]


def doc_block(language: str) -> str:
    return re.search(rf"```{language}\n(.*?)```", DOC.read_text(), re.S).group(1)


def migrated() -> dict:
    """The names docs/asg.md's Python lines define, the client among them."""
    names: dict = {}
    exec(doc_block("python"), names)
    return names


def posts(receiver: Receiver, event: str) -> list[dict]:
    return [r for r in receiver.requests if r["event"].get("event") == event and r.get("status") == 204]


async def test_the_documented_migration_sends_reports_and_receives(sim_process, tmp_path):
    doc = migrated()
    key = re.search(r'asg_signing_key = "([^"]+)"', doc_block("toml")).group(1).encode()
    config = doc_block("toml") + f'\n[[modems]]\nname = "sim0"\nport = "{sim_process.link}"\n'
    port = urlsplit(doc["BASE_URL"]).port
    with Receiver(secret=key) as receiver, running_daemon(tmp_path, port=port, config=config) as daemon:
        async with doc["client"] as client:
            sent_hook = await client.create_webhook(Webhook(id=None, url=receiver.url, event=WebhookEvent.SMS_SENT))
            inbox_hook = await client.create_webhook(Webhook(id="inbox", url=receiver.url,
                                                             event=WebhookEvent.SMS_RECEIVED))
            state = await client.send(Message(phone_numbers=NUMBERS, text_message=TextMessage(text="order shipped")))
            assert state.state is ProcessState.Pending
            wait_for(lambda: len(sim_process.messages()) == 2, timeout=30)
            assert sorted(m["to"] for m in sim_process.messages()) == sorted(NUMBERS)

            async def all_sent() -> bool:
                return (await client.get_state(state.id)).state is ProcessState.Sent
            await until(all_sent, timeout=15)
            assert [r.state for r in (await client.get_state(state.id)).recipients] == [ProcessState.Sent] * 2

            wait_for(lambda: len(posts(receiver, "sms:sent")) == 2, timeout=20)
            sim_process.control.inject_sms(sender="+447700900123", text="Thanks, got it")
            wait_for(lambda: posts(receiver, "sms:received"), timeout=20)
        assert daemon.terminate() == 0
    sent = posts(receiver, "sms:sent")
    assert sorted(r["event"]["payload"]["phoneNumber"] for r in sent) == sorted(NUMBERS)
    assert {r["event"]["payload"]["messageId"] for r in sent} == {state.id}
    assert {r["event"]["webhookId"] for r in sent} == {sent_hook.id} and receiver.bad_signatures == 0
    for request in sent:
        assert verify_asg_signature(key, request["body"], request["headers"])
        assert not verify_asg_signature(key, request["body"].replace(b'"sms:sent"', b'"sms:failed"'),
                                        request["headers"])
    [received] = posts(receiver, "sms:received")
    assert received["event"]["webhookId"] == inbox_hook.id == "inbox"
    payload = received["event"]["payload"]
    assert payload["message"] == "Thanks, got it"
    assert payload["phoneNumber"] == payload["sender"] == "+447700900123"
    assert received["event"]["deviceId"] == "sim0"
