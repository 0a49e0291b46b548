"""Retrying transient failures with the export's tuning: `retry_backoff_ms * 2^(attempt-1)` plus a settling
delay for capacity errors (too many connections, a server starting up), at most `max_retries` times. What is
transient is decided by the caller's classifier (source errors, object-store errors); the retries spent are
counted for the metrics."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    transient: bool
    settle_s: float = 0.0      # extra wait before retrying (capacity errors)
    reason: str = ""           # what went wrong, in words, for the log and the final error


class Retrier:
    def __init__(self, max_retries: int, backoff_ms: int, log, classify: Callable[[BaseException, str], Verdict],
                 give_up: Callable[[BaseException, Verdict, int], BaseException], sleep=time.sleep):
        self.max_retries, self.backoff_ms, self.log = max_retries, backoff_ms, log
        self.classify, self.give_up, self.sleep = classify, give_up, sleep
        self.retries = 0

    def call(self, what: str, action: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return action()
            except Exception as exc:
                attempt += 1
                verdict = self.classify(exc, what)
                if not verdict.transient or attempt > self.max_retries:
                    error = self.give_up(exc, verdict, attempt)
                    if error is exc:
                        raise
                    raise error from exc
                delay = self.backoff_ms * 2 ** (attempt - 1) / 1000 + verdict.settle_s
                self.log.warning(f"{what}: transient error, retry {attempt}/{self.max_retries} in {delay:.1f}s: "
                                 f"{verdict.reason}")
                self.retries += 1
                self.sleep(delay)
