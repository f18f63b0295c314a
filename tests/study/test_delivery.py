"""`Delivery`: logging calls kept in order while the tracking store is unreachable, sent when it answers,
and named when they cannot be sent. (A real server stopped and started during a live study:
tests/study/test_faults_live.py.)"""

from __future__ import annotations

import time

import pytest

from study.tracking.delivery import Delivery, unreachable


def test_calls_wait_in_order_while_the_store_is_unreachable_and_go_out_when_it_answers() -> None:
    up, delivered = False, []

    def call(n: int):
        def deliver() -> None:
            if not up:
                raise ConnectionRefusedError("[Errno 111] Connection refused")
            delivered.append(n)
        return deliver

    delivery = Delivery("test store", retry_s=0.2, final_wait_s=0.5)
    delivery.send("first", call(1))
    delivery.send("second", call(2))
    assert delivered == [] and [what for what, _ in delivery.pending] == ["first", "second"]
    up = True
    delivery.send("third", call(3))  # within the retry interval: waits behind the others, nothing tried
    assert delivered == []
    time.sleep(0.25)
    assert delivery.flush() and delivered == [1, 2, 3]  # in order
    up = False
    delivery.send("fourth", call(4))
    assert delivery.finish() == ["fourth"]  # given up after final_wait_s: said, not silently dropped

    broken = Delivery("test store")
    with pytest.raises(ValueError, match="bad call"):  # a call that is wrong (not a reachability problem) raises
        broken.send("wrong", lambda: (_ for _ in ()).throw(ValueError("bad call")))
    assert unreachable(ConnectionResetError()) and not unreachable(ValueError("Connection refused"))
