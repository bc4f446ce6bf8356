"""The live feed: the hook between a live source's client thread and its steps (docs/live.md)."""

from __future__ import annotations

import threading

import pytest

from federation import Approval, DecisionRecord, ExternalSample, LiveFeed, Message

pytestmark = pytest.mark.timeout(30)


def sample(stamp: float, value: float = 0.0, output: str = "x") -> ExternalSample:
    return ExternalSample(output, stamp, 1000.0 + stamp, value)


def test_samples_come_out_in_stamp_order_and_only_when_due():
    feed = LiveFeed()
    for stamp in (30.0, 10.0, 20.0, 10.0):
        feed.push(sample(stamp, stamp))
    assert feed.earliest() == 10.0 and len(feed) == 4
    assert [s.stamp for s in feed.due(20.0)] == [10.0, 10.0, 20.0]  # equal stamps in arrival order
    assert feed.due(25.0) == [] and feed.earliest() == 30.0


def test_consumed_reports_each_taken_sample_once():
    feed = LiveFeed()
    feed.push(sample(1.0))
    feed.push(sample(2.0))
    feed.due(1.0)
    feed.due(5.0)
    assert [s.stamp for s in feed.consumed()] == [1.0, 2.0]
    assert feed.consumed() == []


def test_the_waker_hears_each_new_earliest_stamp():
    feed = LiveFeed()
    feed.push(sample(50.0))
    heard: list[float] = []
    feed.on_arrival(heard.append)  # samples already waiting: told at once
    feed.push(sample(60.0))  # not earlier: no wake
    feed.push(sample(40.0))
    assert heard == [50.0, 40.0]


def test_pushes_from_many_threads_lose_nothing():
    feed = LiveFeed()

    def push(offset: int) -> None:
        for i in range(2000):
            feed.push(sample(float(i * 4 + offset)))

    threads = [threading.Thread(target=push, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    taken = []
    while any(t.is_alive() for t in threads) or len(feed):
        taken += feed.due(1e9)
    for thread in threads:
        thread.join()
    assert sorted(s.stamp for s in taken) == [float(i) for i in range(8000)]


def test_a_message_carries_its_decision_record():
    record = DecisionRecord(7, Approval.EDIT, "operator", "2026-12-02T14:03:11.250Z", "damops.orders")
    message = Message(60.0, "damops.orders", "orders", {"opening": 0.5}, record)
    assert message.decision is not None and message.decision.to_json() == {
        "id": 7, "verdict": "edit", "decided_by": "operator", "decided_at": "2026-12-02T14:03:11.250Z",
        "class": "damops.orders"}  # fmt: skip
    assert Message(0.0, "a.b", "c", 1).decision is None
