"""Rate limits and retries: an adaptive limiter per (endpoint, role) and a bounded retry loop.

The limiter combines three brakes, because each alone fails somewhere:

* **Concurrency, AIMD.** Start at the ceiling (``--concurrency``); halve on a 429 (never below
  1; one cut per congestion event: a 429 for a call sent before the last cut does not cut
  again); add 1 after a window of successes as long as the current limit. Works against any
  server, but against a fast one even one call in flight can exceed a requests-per-second cap.
* **Pause.** A 429's ``Retry-After`` pauses the whole bucket, so every waiting call backs off
  together instead of each discovering the limit with a 429 of its own.
* **Budget and pacing.** Every response's ``x-ratelimit-remaining-requests`` / ``-tokens``
  (tokens turned into calls by the average tokens per call), less the attempts already sent
  and unanswered, is the number of calls still allowed; ``x-ratelimit-limit-*`` minus that,
  over ``x-ratelimit-reset-*``, is the rate the provider gives calls back (OpenAI's budgets
  refill continuously). Attempts start only while the budget has a call left; below ~10% of
  the limit they are spaced at the refill rate instead of spending the rest in one burst.
* **Own window.** Providers that count a *sliding window* instead (at most N requests in any
  W seconds: many gateways and proxies) give a spent budget back all at once, W after the
  burst that spent it, not evenly, so the refill estimate above lets calls through early and
  earns 429s. The limiter therefore also keeps the start times of its own attempts and never
  starts more than ``x-ratelimit-limit-*`` of them within the longest reset seen (the window:
  a token bucket's reset is at most its refill period, a sliding window's at most W). Against
  a token bucket this never binds before the budget does; against a window it is the window.

The limiter is thread-safe and loop-agnostic (state under a ``threading.Lock``, each waiter's
future woken on its own loop), so calls from the run's loop and from ``chat_sync`` in worker
threads share one bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from judgekit.errors import ModelCallError
from judgekit.models.base import ChatResponse

__all__ = [
    "AdaptiveLimiter",
    "RetryPolicy",
    "RoleLimiter",
    "Ticket",
    "call_with_retries",
    "parse_duration",
]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

#: Statuses that mean "too much load": they cut concurrency and their Retry-After pauses all.
OVERLOAD_STATUSES = frozenset({429, 503, 529})

#: Attempt starts remembered for the own-window brake; a window allowing more is left to the
#: budget brake.
_MAX_STARTS = 4096

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str | None) -> float | None:
    """Seconds in a rate-limit reset header: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5"``."""
    if text is None:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Ticket:
    """One admitted attempt: when it was let through (to tell stale 429s from new ones)."""

    started: float


@dataclass
class _Budget:
    """What one ``x-ratelimit-*`` family says, in calls: ``left`` at ``at``, refilling at
    ``rate`` per second up to ``cap``; after ``reset_at`` the provider's budget is full again
    and this estimate is dropped."""

    left: float
    at: float
    rate: float
    cap: float | None
    reset_at: float
    low_mark: float

    def available(self, now: float) -> float | None:
        if now >= self.reset_at:
            return None
        avail = self.left + (now - self.at) * self.rate
        return min(avail, self.cap) if self.cap is not None else avail


class _Waiter:
    __slots__ = ("future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class AdaptiveLimiter:
    """Admission control for one (endpoint, role) bucket; see the module docstring.

    Args:
        max_concurrency: The ceiling, and the starting limit.
        clock: Monotonic seconds (injectable for tests).
        sleep: Async sleep (injectable for tests).
        low_fraction: Pace when remaining/limit falls below this.
        max_pace_s: Longest gap pacing or a pause may impose at once.
    """

    def __init__(self, max_concurrency: int, *, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep, low_fraction: float = 0.1,
                 max_pace_s: float = 60.0) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.low_fraction = low_fraction
        self.max_pace_s = max_pace_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limit = self.max_concurrency
        self._in_flight = 0
        self._sent = 0  # slots past the gate: attempts the provider may already be counting
        self._successes = 0
        self._last_cut = float("-inf")
        self._paused_until = float("-inf")
        self._next_slot = float("-inf")
        self._budgets: dict[str, _Budget] = {}
        # Own window: per kind (calls allowed, window seconds), and our recent attempt starts.
        self._windows: dict[str, tuple[float, float]] = {}
        # Kept even before any limit is known: the first burst counts against the window too.
        self._starts: deque[float] = deque(maxlen=_MAX_STARTS)
        self._tokens_per_call = 0.0
        self._waiters: deque[_Waiter] = deque()
        self.cuts = 0  # how often the limit was halved (reported by tests and benchmarks)

    @property
    def limit(self) -> int:
        """The current concurrency limit."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Attempts holding a slot now."""
        return self._in_flight

    @property
    def paused_until(self) -> float:
        """Clock time before which no attempt starts."""
        return self._paused_until

    def budget(self) -> float | None:
        """Calls the provider's rate-limit headers still allow now (None: no limit known)."""
        with self._lock:
            return self._available_locked(self._clock())[0]

    @property
    def interval(self) -> float:
        """The gap between attempt starts while pacing (0 when the budget is not low)."""
        with self._lock:
            return self._available_locked(self._clock())[1]

    # -- admission -------------------------------------------------------------------------

    async def acquire(self) -> Ticket:
        """Wait for a concurrency slot, then for the pause and pacing gate; return a ticket."""
        await self._take_slot()
        try:
            return Ticket(started=await self._gate())
        except BaseException:  # cancelled while paused: give the slot back
            self._release(sent=False)
            raise

    def release(self) -> None:
        """Give back the slot taken by :meth:`acquire`."""
        self._release(sent=True)

    def _release(self, *, sent: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            self._sent -= sent
            self._wake_locked()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        """``async with limiter.slot() as ticket:`` around one attempt."""
        ticket = await self.acquire()
        try:
            yield ticket
        finally:
            self.release()

    async def _take_slot(self) -> None:
        with self._lock:
            if not self._waiters and self._in_flight < self._limit:
                self._in_flight += 1
                return
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                if waiter.granted:  # woken and cancelled in the same breath: pass it on
                    self._in_flight -= 1
                    self._wake_locked()
                else:
                    self._waiters.remove(waiter)
            raise

    def _wake_locked(self) -> None:
        # Hand slots over directly (in_flight counted here), so a newcomer cannot barge in
        # between the wake-up and the waiter running: FIFO, no starvation.
        while self._waiters and self._in_flight < self._limit:
            waiter = self._waiters.popleft()
            waiter.granted = True
            self._in_flight += 1
            try:
                waiter.loop.call_soon_threadsafe(_resolve, waiter.future)
            except RuntimeError:  # its loop is closed: nobody is waiting any more
                waiter.granted = False
                self._in_flight -= 1

    def _available_locked(self, now: float) -> tuple[float | None, float, float]:
        """(calls allowed now or None, pacing interval, seconds until one call is allowed)."""
        avail: float | None = None
        interval = wait = 0.0
        for name, budget in list(self._budgets.items()):
            have = budget.available(now)
            if have is None:  # past its reset: the provider's budget is full again
                del self._budgets[name]
                continue
            avail = have if avail is None else min(avail, have)
            if have < budget.low_mark and budget.rate > 0:
                interval = max(interval, 1.0 / budget.rate)
            if have < 1:
                refill = (1 - have) / budget.rate if budget.rate > 0 else budget.reset_at - now
                wait = max(wait, min(refill, budget.reset_at - now))
        return avail, interval, wait

    def _window_wait_locked(self, now: float) -> float:
        """Seconds until one more attempt fits in every known window of our own starts."""
        if not self._windows:
            return 0.0
        longest = max(w for _, w in self._windows.values())
        starts = self._starts
        while starts and starts[0] <= now - longest:
            starts.popleft()
        wait = 0.0
        for cap, window in self._windows.values():
            allowed = max(int(cap), 1)
            if len(starts) < allowed:
                continue
            # Starts are in order: the window is full when the allowed-th newest is in it,
            # and has room again when that one leaves it.
            oldest = starts[-allowed]
            if oldest > now - window:
                wait = max(wait, oldest + window - now)
        return wait

    async def _gate(self) -> float:
        while True:
            with self._lock:
                now = self._clock()
                avail, interval, wait = self._available_locked(now)
                if avail is not None and avail >= 1 and interval > 0:
                    wait = self._next_slot - now  # pacing: the last of the budget, spaced
                wait = max(wait, self._paused_until - now, self._window_wait_locked(now))
                if wait <= 0:
                    for budget in self._budgets.values():
                        have = budget.available(now)
                        if have is not None:
                            budget.left, budget.at = have - 1, now
                    if avail is not None and interval > 0:
                        self._next_slot = now + interval
                    self._starts.append(now)
                    self._sent += 1
                    return now
            await self._sleep(min(wait, self.max_pace_s))

    # -- feedback --------------------------------------------------------------------------

    def on_success(self, ticket: Ticket, response: ChatResponse | None = None) -> None:
        """An attempt succeeded: grow the limit after a window of successes, read headers."""
        with self._lock:
            if response is not None:
                tokens = response.prompt_tokens + response.completion_tokens
                if tokens:
                    # A moving average: the token budget is turned into calls with it.
                    prev = self._tokens_per_call
                    self._tokens_per_call = tokens if prev == 0 else 0.8 * prev + 0.2 * tokens
                self._read_headers_locked(response.headers)
            if self._limit < self.max_concurrency:
                self._successes += 1
                if self._successes >= self._limit:
                    self._limit += 1
                    self._successes = 0
                    self._wake_locked()

    def on_failure(self, ticket: Ticket, error: ModelCallError) -> None:
        """An attempt failed: on overload, cut the limit once and pause for ``retry_after``."""
        with self._lock:
            headers = getattr(error, "headers", None)
            if isinstance(headers, Mapping):
                self._read_headers_locked(headers)
            if error.status not in OVERLOAD_STATUSES:
                return
            now = self._clock()
            if ticket.started >= self._last_cut:
                self._limit = max(1, self._limit // 2)
                self._successes = 0
                self._last_cut = now
                self.cuts += 1
            if error.retry_after is not None:
                pause = min(max(error.retry_after, 0.0), self.max_pace_s)
                self._paused_until = max(self._paused_until, now + pause)

    def on_headers(self, headers: Mapping[str, str]) -> None:
        """Read ``x-ratelimit-*`` headers (lower-case names) and pace or pause accordingly."""
        with self._lock:
            self._read_headers_locked(headers)

    def _read_headers_locked(self, headers: Mapping[str, str]) -> None:
        now = self._clock()
        for kind in ("requests", "tokens"):
            remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
            if remaining is None or reset is None:
                continue
            reset = min(reset, self.max_pace_s)
            # Count in calls: the token budget is divided by the average tokens per call.
            per_call = 1.0 if kind == "requests" else max(self._tokens_per_call, 1.0)
            cap = _number(headers.get(f"x-ratelimit-limit-{kind}"))
            cap_calls = cap / per_call if cap else None
            left = remaining / per_call
            # By the reset the provider gives back what was spent, evenly (OpenAI's budgets
            # refill continuously); with no limit header, assume only what is left, spread.
            spent = (cap_calls - left) if cap_calls is not None else left
            rate = max(spent, 1.0) / reset if reset > 0 else 0.0
            low_mark = max(self.low_fraction * cap_calls, 1.0) if cap_calls else self._limit
            if cap_calls and reset > 0:
                # The window is the longest reset seen: right after a start, a sliding
                # window's reset is the whole window, and a bucket's never exceeds its
                # refill period. Slack (5% + 50 ms): the provider dates a request by its
                # arrival, which on a busy client comes tens of ms after we let it through;
                # less slack saw 3-6% of calls rejected at 100 rps, this ~1-2% (at a cost of
                # up to ~10% of the rate against 1-second windows, ~5% against minute ones).
                _, seen = self._windows.get(kind, (0.0, 0.0))
                self._windows[kind] = (cap_calls, max(seen, reset * 1.05 + 0.05))
            # Attempts sent and not yet answered (other than this one) spend some of what is
            # left; slot holders still waiting at the gate have spent nothing.
            self._budgets[kind] = _Budget(
                left=left - max(self._sent - 1, 0), at=now, rate=rate, cap=cap_calls,
                reset_at=now + reset, low_mark=low_mark)


class RoleLimiter:
    """One role's view of an endpoint: its own concurrency ceiling over the shared limiter.

    Target and judge calls to one endpoint spend one rate-limit budget: the provider counts
    them together, so two limiters each reading ``x-ratelimit-remaining`` would spend what is
    left twice. The shared :class:`AdaptiveLimiter` holds the budget, the pause and the AIMD
    limit; each role adds a fixed ceiling (``--concurrency`` / ``--judge-concurrency``) so
    judges cannot crowd out targets, or the other way round.

    Args:
        shared: The endpoint's limiter.
        ceiling: Attempts of this role in flight at most.
    """

    def __init__(self, shared: AdaptiveLimiter, ceiling: int) -> None:
        self.shared = shared
        self.cap = AdaptiveLimiter(ceiling)  # no headers are fed to it: concurrency only

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        """``async with limiter.slot() as ticket:`` around one attempt."""
        async with self.cap.slot(), self.shared.slot() as ticket:
            yield ticket

    def on_success(self, ticket: Ticket, response: ChatResponse | None = None) -> None:
        """See :meth:`AdaptiveLimiter.on_success`."""
        self.shared.on_success(ticket, response)

    def on_failure(self, ticket: Ticket, error: ModelCallError) -> None:
        """See :meth:`AdaptiveLimiter.on_failure`."""
        self.shared.on_failure(ticket, error)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    Attributes:
        max_attempts: Attempts in all, the first included.
        max_retry_s: Total seconds from the first attempt's start; a retry whose wait would
            end past it is not made.
        base_s: The first backoff ceiling; it doubles per failure.
        cap_s: The largest backoff ceiling.
    """

    max_attempts: int = 6
    max_retry_s: float = 120.0
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, failures: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th failed attempt.

        Full jitter (uniform in [0, min(cap, base·2^(n-1))]) spreads retries that failed
        together; a ``retry_after`` is a floor, with up to 20% more so that calls the provider
        sent back at once do not all return at the same instant.
        """
        if retry_after is not None:
            return max(retry_after, 0.0) * (1.0 + 0.2 * rng.random())
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** (failures - 1)))


async def call_with_retries(attempt: Callable[[], Awaitable[ChatResponse]], *,
                            limiter: AdaptiveLimiter | RoleLimiter, policy: RetryPolicy,
                            timeout_s: float,
                            clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                            rng: random.Random | None = None) -> tuple[ChatResponse, int, float]:
    """Run ``attempt`` under the limiter until it succeeds or the policy gives up.

    Returns:
        The response, the number of attempts, and the seconds from the first attempt's start.

    Raises:
        ModelCallError: the last failure, with ``attempts`` set; a provider exception that is
            not a ModelCallError becomes a non-retryable one, a timeout a retryable one.
    """
    rng = rng or random.Random()
    attempts = 0
    first_start: float | None = None
    while True:
        async with limiter.slot() as ticket:
            if first_start is None:
                first_start = ticket.started
            attempts += 1
            try:
                response = await asyncio.wait_for(attempt(), timeout_s)
            except ModelCallError as exc:
                error = exc
            except (asyncio.TimeoutError, TimeoutError):
                error = ModelCallError(f"timed out after {timeout_s:g}s", retryable=True)
            except Exception as exc:  # a provider bug must still end as this call's error
                error = ModelCallError(f"{type(exc).__name__}: {exc}", retryable=False)
            else:
                limiter.on_success(ticket, response)
                return response, attempts, clock() - first_start
            limiter.on_failure(ticket, error)
        wait = policy.delay(attempts, error.retry_after, rng)
        if (not error.retryable or attempts >= policy.max_attempts
                or clock() + wait - first_start > policy.max_retry_s):
            error.attempts = attempts
            raise error
        await sleep(wait)
