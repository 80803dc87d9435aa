"""Crash safety through the real daemon: SIGKILL at random points while 500 messages flow, 20 times.

A `modemd simulate` process is the modem (network_delay 15 ms, so a send takes a while and kills land inside AT
exchanges); `modemd run` is killed with SIGKILL at random moments (some during start-up, recovery and modem
bring-up, most while it sends, every third a few ms into a burst of 25 concurrent POSTs, so that some POSTs commit
and lose their answer) and restarted on the same state directory. A producer POSTs 500 messages, each with its own
Idempotency-Key, retrying whenever the daemon does not answer. A last daemon run drains the queue.

Then every message must be accounted for (services/outbox/outbox.py's policy: at-least-once, bounded, max_ambiguous=1):
  - the store holds exactly the accepted messages (a POST cut by a kill is never accepted twice; a retried key
    that was committed answers 200 with the first id, also when all keys are POSTed again at the end);
  - each is `sent`, or `failed` with error code `interrupted` (killed while sending, twice);
  - each `sent` one is on the handset at least once and at most 1 + max_ambiguous times;
  - nothing is on the handset that was never accepted;
  - duplicates on the handset <= kills (a kill leaves at most one message `sending` per modem).
The figures (seed, duplicates, kills that caught a send) are printed, also without -s, and written to
<tmp>/crash-figures.json.  Seed: CRASH_SEED=<n> to replay one run.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from collections import Counter

import pytest

from chaos import Outcome, Producer, get_json, post_json
from kit import TOKEN, DaemonProcess, http_get, wait_for

MESSAGES = 500
KILLS = 20
NETWORK_DELAY = 0.015
MAX_AMBIGUOUS = 1                  # domain.policy.RetryPolicy.max_ambiguous: one resend of a possibly-sent message
SEED = int(os.environ.get("CRASH_SEED", "20240611"))


def _text(i: int) -> str:
    if i % 25 == 0:                # a few two-part messages: a kill can fall between the parts
        return f"chaos #{i:03d} " + "two parts. " * 16
    if i % 7 == 0:                 # UCS-2
        return f"chaos #{i:03d} Grüße €✓"
    return f"chaos #{i:03d} hello"


def index_of(text: str) -> int | None:
    if not text.startswith("chaos #"):
        return None
    return int(text[7:10])


def _healthy(url: str) -> bool:
    return http_get(url + "/healthz")[0] == 200


def _all_messages(port: int) -> list[dict]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    messages, after = [], None
    while True:
        status, page = get_json(port, "/v1/messages?limit=500" + (f"&after={after}" if after else ""), headers)
        assert status == 200, page
        messages += page["data"]
        after = page["next_after"]
        if not after:
            return messages


def _pending(port: int) -> int:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    total = 0
    for state in ("queued", "sending"):
        status, page = get_json(port, f"/v1/messages?status={state}&limit=500", headers)
        assert status == 200, page
        total += len(page["data"])
    return total


@pytest.mark.timeout(150)
def test_sigkill_at_random_points_loses_nothing(sim_process, tmp_path, free_port, capsys):
    rng = random.Random(SEED)
    started = time.monotonic()
    sim_process.control.fault(name="network_delay", value=NETWORK_DELAY)
    outcomes = [Outcome(i, f"chaos-{SEED}-{i}", _text(i), "+4915112%06d" % i) for i in range(MESSAGES)]
    producer = Producer(free_port, TOKEN, outcomes, threads=32, rate=20.0)

    kills, early_kills, burst_kills = [], 0, 0
    daemon = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
    daemon.wait_ready()
    producer.start()
    for n in range(KILLS):
        if n:
            daemon = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
            if rng.random() < 0.25:    # during start-up: store recovery, modem bring-up, first claims
                early_kills += 1
                time.sleep(rng.uniform(0.05, 1.0))
            else:
                daemon.wait_ready()
                time.sleep(rng.uniform(0.1, 1.3))
        else:
            time.sleep(rng.uniform(0.1, 1.3))
        if n % 3 == 2:                 # into a burst of 25 concurrent POSTs: some commit, then lose their answer
            burst_kills += 1
            producer.burst(25)
            time.sleep(rng.uniform(0.002, 0.03))
        daemon.kill()
        kills.append(round(time.monotonic() - started, 2))
    kill_phase = time.monotonic() - started

    final = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
    try:
        final.wait_ready()
        assert producer.join(timeout=60), "producer did not finish"
        assert not producer.errors, producer.errors[:5]
        wait_for(lambda: _pending(free_port) == 0, timeout=60, interval=0.25)
        stored = {m["id"]: m for m in _all_messages(free_port)}
        # Every key again: the first acceptance comes back (200, same id), nothing new is accepted.
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        for o in outcomes:
            status, reply = post_json(free_port, "/v1/messages", {"to": o.to, "text": o.text},
                                      {**headers, "Idempotency-Key": o.key})
            assert (status, reply["id"]) == (200, o.id), (o.index, status, reply)
    finally:
        assert final.terminate() == 0
    total_time = time.monotonic() - started

    # ---- the store holds exactly what was accepted, each in an accounted-for final state --------------------------
    accepted = {o.id: o for o in outcomes}
    assert len(accepted) == MESSAGES, "two keys got the same id"
    assert set(stored) == set(accepted), (f"store has {len(set(stored) - set(accepted))} unknown and misses "
                                          f"{len(set(accepted) - set(stored))} accepted messages")
    states = Counter(m["status"] for m in stored.values())
    not_final = {i: m for i, m in stored.items()
                 if not (m["status"] == "sent" or (m["status"] == "failed" and m["error"]["code"] == "interrupted"))}
    assert not not_final, list(not_final.values())[:5]

    # ---- the handset: every sent message at least once, nothing that was never accepted -----------------------
    handset = Counter(m["text"] for m in sim_process.messages())
    by_text = {o.text: o for o in outcomes}
    strangers = [t for t in handset if t not in by_text]
    assert not strangers, strangers[:5]
    missing = [o.index for o in outcomes if stored[o.id]["status"] == "sent" and handset[o.text] == 0]
    assert not missing, f"sent in the store but never reached the handset: {missing[:10]}"
    too_many = {t: c for t, c in handset.items() if c > 1 + MAX_AMBIGUOUS}
    assert not too_many, too_many
    duplicates = sum(c - 1 for c in handset.values())
    failed_on_handset = sum(1 for o in outcomes if stored[o.id]["status"] == "failed" and handset[o.text])
    flagged = sum(1 for m in stored.values() if m.get("possible_duplicate"))

    # ---- how the kills landed (from the event log in the store) -----------------------------------------------
    with sqlite3.connect(f"file:{tmp_path / 'state' / 'modemd.db'}?mode=ro", uri=True) as db:
        interrupted = db.execute("SELECT count(*) FROM message_events WHERE reason LIKE 'interrupted%'").fetchone()[0]
    refused_posts = sum(1 for o in outcomes if o.broken_tries)
    cut_posts = sum(1 for o in outcomes if o.cut_tries)
    committed_before_cut = sum(1 for o in outcomes if o.status == 200)

    figures = {
        "seed": SEED, "messages": MESSAGES, "kills": KILLS, "kills_during_startup": early_kills,
        "kills_into_post_bursts": burst_kills,
        "kill_times_s": kills, "kill_phase_s": round(kill_phase, 1), "total_s": round(total_time, 1),
        "network_delay_s": NETWORK_DELAY, "final_states": dict(states),
        "kills_that_caught_a_send": interrupted, "flagged_possible_duplicate": flagged,
        "sent_twice_on_handset": duplicates, "failed_interrupted_but_on_handset": failed_on_handset,
        "posts_without_answer_at_first": refused_posts, "posts_cut_mid_request_by_a_kill": cut_posts,
        "retries_answered_200_already_committed": committed_before_cut,
    }
    (tmp_path / "crash-figures.json").write_text(json.dumps(figures, indent=2))
    with capsys.disabled():
        print(f"\n[crash-safety] seed={SEED} (replay: CRASH_SEED={SEED}) figures in {tmp_path / 'crash-figures.json'}")
        print(f"[crash-safety] {MESSAGES} messages, {KILLS} SIGKILLs ({early_kills} during start-up, "
              f"{burst_kills} into a burst of POSTs), "
              f"{interrupted} kills caught a send in flight, {total_time:.1f} s")
        print(f"[crash-safety] final states {dict(states)}; SENT TWICE: {duplicates} "
              f"(flagged possible_duplicate: {flagged}); failed 'interrupted' yet on handset: {failed_on_handset}")
        print(f"[crash-safety] POSTs without an answer at first: {refused_posts} (cut mid-request by a kill: "
              f"{cut_posts}); retries answered 200 with the first id (key committed before the kill): "
              f"{committed_before_cut}; all {MESSAGES} keys re-POSTed at the end: 200, same id")
    assert duplicates <= KILLS
    assert duplicates <= interrupted
