"""Background threads for streamed work: a producer read ahead and a consumer fed behind.

A film is decoded, run through the network, post-processed and encoded. PyAV, OpenCV and XLA
release the GIL while they work, so running decoding and the post-process (flow, recombining,
encoding) in threads of their own lets them overlap the network's steps. Queues are bounded, so
memory stays bounded however long the stream, and an exception in a thread is raised again in
the caller's thread (as is the caller's own: the threads then stop and are joined).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_DONE = object()
_POLL_SECONDS = 0.1


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead(items: Iterable[Any], depth: int) -> Iterator[Any]:
    """Yields `items`, which a background thread takes up to `depth` ahead of the caller.

    The iterable's exceptions are raised here, at the point in the stream where they happened.
    Closing this generator early (or an exception in the caller) stops the thread.
    """
    if depth < 1:
        raise ValueError(f"read-ahead depth must be positive, got {depth}")
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer's thread
            put(_Failure(error))

    thread = threading.Thread(target=produce, name="read_ahead", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class Consumer:
    """Calls `handle(item)` in a background thread for each item `put`, in order.

    Use as a context manager: leaving it normally waits for the items put to be handled and
    raises the first exception `handle` raised; leaving it with an exception drops the items
    not yet handled. `put` raises a failure of `handle` as soon as it is seen.
    """

    def __init__(self, handle: Callable[[Any], None], depth: int):
        if depth < 1:
            raise ValueError(f"consumer depth must be positive, got {depth}")
        self._handle = handle
        self._buffer: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._consume, name="consumer", daemon=True)
        self._thread.start()

    def _consume(self) -> None:
        while True:
            try:
                item = self._buffer.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _DONE or self._stop.is_set():
                return
            try:
                self._handle(item)
            except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
                self._failure = error
                self._stop.set()
                return

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    def put(self, item: Any) -> None:
        """Queues `item` (waits while the queue is full)."""
        while True:
            self._check()
            try:
                self._buffer.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._check()
                    raise RuntimeError("the consumer thread stopped") from None

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.put(_DONE)
            self._thread.join()
            self._check()
        else:
            self._stop.set()
            self._thread.join()
