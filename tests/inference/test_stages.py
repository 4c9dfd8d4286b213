"""Tests of colorize_jax.inference.stages: read-ahead and consumer threads."""

from __future__ import annotations

import threading
import time

import pytest

from colorize_jax.inference import stages


def test_read_ahead_keeps_order_and_reads_at_most_depth_ahead():
    taken = []

    def numbers():
        for number in range(100):
            taken.append(number)
            yield number

    stream = stages.read_ahead(numbers(), depth=3)
    assert next(stream) == 0
    time.sleep(0.3)  # the thread fills the queue, then waits
    assert len(taken) <= 1 + 3 + 1  # the one handed out, the queue, the one waiting to go in
    assert list(stream) == list(range(1, 100))


def test_read_ahead_raises_the_producers_error_where_it_happened():
    def failing():
        yield 1
        yield 2
        raise ValueError("damaged at frame 2")

    stream = stages.read_ahead(failing(), depth=8)
    assert next(stream) == 1 and next(stream) == 2
    with pytest.raises(ValueError, match="damaged at frame 2"):
        next(stream)


def test_closing_read_ahead_early_stops_its_thread():
    def endless():
        number = 0
        while True:
            yield number
            number += 1

    before = threading.active_count()
    stream = stages.read_ahead(endless(), depth=2)
    assert next(stream) == 0
    stream.close()
    assert threading.active_count() == before


def test_consumer_handles_every_item_in_order_before_leaving():
    handled = []

    def slow(item):
        time.sleep(0.001)
        handled.append(item)

    with stages.Consumer(slow, depth=2) as consumer:
        for item in range(50):
            consumer.put(item)
    assert handled == list(range(50))


def test_consumer_raises_its_handlers_error_in_the_callers_thread():
    def fails_on_five(item):
        if item == 5:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):  # from put, or at the latest when leaving
        with stages.Consumer(fails_on_five, depth=2) as consumer:
            for item in range(1000):
                consumer.put(item)


def test_a_callers_error_drops_the_rest_and_stops_the_thread():
    handled, before = [], threading.active_count()

    def slow(item):
        time.sleep(0.02)
        handled.append(item)

    with pytest.raises(KeyboardInterrupt):
        with stages.Consumer(slow, depth=4) as consumer:
            for item in range(4):
                consumer.put(item)
            raise KeyboardInterrupt
    assert len(handled) < 4 and threading.active_count() == before
