"""The one place requests to a source happen: pace, send, classify, back off, retry.

Every response is classified here, once:

- 2xx with a JSON body: returned;
- 429: rate-limited; wait (``Retry-After`` if given, else until the window frees) and retry
  without counting it as a failed try;
- 5xx, timeouts, connection errors, and any body that is not JSON (HubSpot's edge answers
  HTML): retryable; exponential backoff with full jitter, at most ``max_tries`` tries;
- 401/403: the token is wrong or lacks a scope; fail at once;
- 414: the URL is too long; the caller must split the request;
- any other 4xx: fatal.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
from yarl import URL

from proxy.errors import (
    BadPage,
    UpstreamAuthError,
    UpstreamError,
    UpstreamFatal,
    UpstreamRateLimited,
    UpstreamRetryable,
)
from proxy.sources.ratelimit import Budget, RollingWindowLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")

# A 429 storm that never ends is an outage, not a rate limit: give up after this many.
MAX_RATE_LIMITED_RETRIES = 50
MAX_BACKOFF_S = 60.0
HUBSPOT_AUTH_HINT = (
    "check HUBSPOT_ACCESS_TOKEN (a private-app token with read scope for this object type)"
)
HUBSPOT_CONNECT_HINT = "check HUBSPOT_BASE_URL and this machine's network"

# The longest a server's header may make us wait, or the longest window it may announce:
# HubSpot's are 10 s (and Retry-After a few seconds); a header saying more is broken or
# hostile, and must not stall every sync of the process (the limiter is shared).
MAX_HEADER_WAIT_S = 60.0


class UriTooLong(UpstreamFatal):
    """HTTP 414: the request named too much in its URL."""


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 5
    backoff_s: float = 1.0  # first delay; doubles per try, full jitter

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class RawResponse:
    """A response :meth:`HttpClient.request_raw` let through: a 2xx, or a status the caller
    said it handles itself (a 304, an item's 404)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class RequestStats:
    """Counts every request sent, retries and 429s included (the run record's ``requests``)."""

    requests: int = 0
    rate_limited: int = 0
    retried: int = 0


def _error_detail(body: bytes) -> str:
    """A short, safe description of an error body: HubSpot's message, category and
    correlationId when it is JSON; otherwise just its kind."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:200].decode(errors="replace").lower()
        return "an HTML page" if "<html" in text else "a non-JSON body"
    if not isinstance(data, dict):
        return "an unexpected JSON body"
    parts = [str(data.get(k)) for k in ("category", "message") if data.get(k)]
    if data.get("correlationId"):
        parts.append(f"correlationId {data['correlationId']}")
    return ": ".join(parts)[:500] or "a JSON error"


def _finite(raw: str | None) -> float | None:
    """A header's number, or None when it is missing, unparsable or not finite-or-infinite
    (NaN)."""
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return None if math.isnan(value) else value


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait before retrying, from ``Retry-After``, bounded to
    [0, MAX_HEADER_WAIT_S]; None when absent or unreadable (an HTTP-date: HubSpot sends
    seconds; the caller then waits a whole window, which is bounded too)."""
    value = _finite(headers.get("Retry-After"))
    if value is None or value < 0:
        return None
    return min(value, MAX_HEADER_WAIT_S)  # inf and 1e999 included


def budget(headers: Mapping[str, str]) -> Budget | None:
    """HubSpot's announced budget (``X-HubSpot-RateLimit-*``), or None when the headers are
    missing or make no sense. An interval that is not positive (it would turn pacing off) or
    longer than MAX_HEADER_WAIT_S is ignored; the rest of the budget still counts."""
    limit = _finite(headers.get("X-HubSpot-RateLimit-Max"))
    remaining = _finite(headers.get("X-HubSpot-RateLimit-Remaining"))
    if limit is None or remaining is None or not 1 <= limit < 1e9:
        return None
    interval_ms = _finite(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
    interval_s = interval_ms / 1000 if interval_ms is not None else None
    if interval_s is not None and not 0 < interval_s <= MAX_HEADER_WAIT_S:
        interval_s = None
    return Budget(
        max=int(limit),
        remaining=int(min(max(remaining, 0), limit)),
        interval_s=interval_s,
    )


def source_session(owner: str | None = None) -> aiohttp.ClientSession:
    """The one HTTP session a process uses for its sources (statuses are classified by
    :meth:`HttpClient.classify`, never raised by aiohttp). With ``owner`` (the process's
    name in leases), the User-Agent names it: who called the source, and when, can then be
    told apart in the source's own logs."""
    agent = f"change-proxy ({owner})" if owner else "change-proxy"
    return aiohttp.ClientSession(headers={"User-Agent": agent}, raise_for_status=False)


class HttpClient:
    """JSON over HTTP with pacing and retries. ``limiter`` paces every request;
    callers may pass an extra one (HubSpot's search has its own budget)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        limiter: RollingWindowLimiter,
        policy: RetryPolicy,
        timeout_s: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        auth_hint: str = HUBSPOT_AUTH_HINT,
        connect_hint: str = HUBSPOT_CONNECT_HINT,
    ) -> None:
        # The hints end the messages of a 401/403 and of a failed connection: what the user
        # should check (HubSpot's settings by default; a declared source names its own).
        self.auth_hint = auth_hint
        self.connect_hint = connect_hint
        self.session = session
        self.limiter = limiter
        self.policy = policy
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        extra_limiter: RollingWindowLimiter | None = None,
        stats: RequestStats | None = None,
        decode: Callable[[bytes], Any] = orjson.loads,
    ) -> Any:
        """Send until a JSON success, a fatal answer, or the tries run out. Every request
        sent is counted in ``stats`` (the run's). ``decode`` reads a success's body: it
        raises ValueError for a body that is not JSON (retried) and BadPage for a shape it
        rejects."""
        body = orjson.dumps(json) if json is not None else None
        send_headers = dict(headers or {})
        if body is not None:
            send_headers["Content-Type"] = "application/json"

        async def once() -> Any:
            return await self._send_once(method, url, params, body, send_headers, decode)

        return await self._with_retries(once, stats, extra_limiter)

    async def request_raw(
        self,
        method: str,
        url: str | URL,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stats: RequestStats | None = None,
        passthrough: Collection[int] = (),
    ) -> RawResponse:
        """Send until a 2xx (or a status in ``passthrough``), a fatal answer, or the tries
        run out, with the same pacing, retries and classification as :meth:`request_json`,
        but hand back the status, headers and body unread: the caller reads them (a
        ``Link`` header, an ``ETag``, a 304 without a body). ``url`` may be a yarl
        ``URL(..., encoded=True)``: then it is sent exactly as given."""

        async def once() -> RawResponse:
            what = f"{method} {str(url).split('?', 1)[0]}"
            status, raw, response_headers = await self._exchange(
                what, method, url, params, data, headers or {}
            )
            if 200 <= status < 300 or status in passthrough:
                return RawResponse(status, response_headers, raw)
            self.classify(
                what, status, raw, retry_after(response_headers), auth_hint=self.auth_hint
            )
            raise UpstreamFatal(f"{what}: unexpected status {status}")  # 1xx/3xx

        return await self._with_retries(once, stats, None)

    async def _with_retries(
        self,
        once: Callable[[], Awaitable[T]],
        stats: RequestStats | None,
        extra_limiter: RollingWindowLimiter | None,
    ) -> T:
        stats = stats if stats is not None else RequestStats()
        attempt = 0
        limited = 0
        while True:
            await self.limiter.acquire()
            if extra_limiter is not None:
                await extra_limiter.acquire()
            stats.requests += 1
            try:
                return await once()
            except UpstreamRateLimited as exc:
                limited += 1
                stats.rate_limited += 1
                if limited > MAX_RATE_LIMITED_RETRIES:
                    raise UpstreamRetryable(
                        f"still rate-limited after {limited} tries: {exc}"
                    ) from None
                (extra_limiter or self.limiter).pause(exc.retry_after)
                log.info("rate-limited by the source (%s); waiting", exc)
            except UpstreamRetryable as exc:
                attempt += 1
                if attempt >= self.policy.max_tries:
                    raise UpstreamRetryable(f"{exc} (gave up after {attempt} tries)") from None
                stats.retried += 1
                delay = max(self.policy.delay(attempt, self._rng), exc.wait_at_least or 0.0)
                log.warning("%s; retry %d in %.1fs", exc, attempt, delay)
                await self._sleep(delay)

    async def _exchange(
        self,
        what: str,
        method: str,
        url: str | URL,
        params: Mapping[str, str] | None,
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """One request: its status, body and headers; a network failure is retryable."""
        try:
            async with self.session.request(
                method, url, params=params, data=body, headers=headers, timeout=self.timeout
            ) as resp:
                raw = await resp.read()
                return resp.status, raw, resp.headers
        except TimeoutError:
            raise UpstreamRetryable(f"{what} timed out") from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror if exc.os_error.strerror else str(exc.os_error)
            raise UpstreamRetryable(
                f"{what}: cannot connect to {exc.host}:{exc.port} ({reason}); {self.connect_hint}"
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamRetryable(f"{what} failed: {type(exc).__name__}: {exc}") from None

    async def _send_once(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        headers: Mapping[str, str],
        decode: Callable[[bytes], Any],
    ) -> Any:
        what = f"{method} {url.split('?', 1)[0]}"
        status, raw, headers = await self._exchange(what, method, url, params, body, headers)
        announced = budget(headers)
        wait = retry_after(headers)
        # On a 429 the pause is decided by the 429 itself (Retry-After, else a window).
        if announced is not None and status != 429:
            self.limiter.observe(announced)
        return self.classify(what, status, raw, wait, decode, auth_hint=self.auth_hint)

    @staticmethod
    def classify(
        what: str,
        status: int,
        raw: bytes,
        retry_after: float | None,
        decode: Callable[[bytes], Any] = orjson.loads,
        *,
        auth_hint: str = HUBSPOT_AUTH_HINT,
    ) -> Any:
        """Turn one response into a value or the exception that says what to do."""
        if status == 429:
            raise UpstreamRateLimited(f"{what}: 429 {_error_detail(raw)}", retry_after)
        if status in (401, 403):
            raise UpstreamAuthError(f"{what}: {status} {_error_detail(raw)}; {auth_hint}")
        if status == 414:
            raise UriTooLong(f"{what}: 414 URI too long")
        if status == 503:  # unavailable for a while: its Retry-After is honoured, bounded
            raise UpstreamRetryable(f"{what}: 503 {_error_detail(raw)}", retry_after)
        if status >= 500 or status in (408, 423):
            raise UpstreamRetryable(f"{what}: {status} {_error_detail(raw)}")
        if status >= 400:
            raise UpstreamFatal(f"{what}: {status} {_error_detail(raw)}")
        try:
            return decode(raw)
        except BadPage as exc:
            raise BadPage(f"{what}: {exc}") from None
        except ValueError:  # orjson's JSONDecodeError among them
            raise UpstreamRetryable(f"{what}: {status} with {_error_detail(raw)}") from None


__all__ = [
    "HttpClient",
    "RawResponse",
    "RequestStats",
    "RetryPolicy",
    "UpstreamError",
    "UriTooLong",
    "source_session",
]
