"""One rooted exception hierarchy, grouped by what the caller should do about it."""

from __future__ import annotations


class ProxyError(Exception):
    """Root of every error this service raises on purpose."""


# --- the user must fix something; retrying will not help -------------------------------


class ConfigError(ProxyError):
    """A setting is missing or malformed. The message names the setting, never its value
    when it is a secret."""


class BadRequest(ProxyError):
    """A client sent a malformed request; answered with 400 and a JSON body."""


# --- the feed cannot answer yet; the client should come back later -----------------------


class NotReady(ProxyError):
    """The object type's mirror is not complete yet (no full sync has finished)."""


class FeedBusy(NotReady):
    """Every feed slot stayed taken for as long as a pull may wait for one."""


# --- upstream (source API) failures, by recovery strategy ----------------------------------


class UpstreamError(ProxyError):
    """Anything that went wrong talking to the source API. The run fails; committed work
    stays, and the feed keeps serving."""


class UpstreamRetryable(UpstreamError):
    """A transient failure (5xx, timeout, connection error, non-JSON body): back off, retry.
    ``wait_at_least``: what the server asked for (a 503's ``Retry-After``), bounded."""

    def __init__(self, message: str, wait_at_least: float | None = None) -> None:
        super().__init__(message)
        self.wait_at_least = wait_at_least


class UpstreamRateLimited(UpstreamRetryable):
    """A 429: wait for the window to free, then retry without counting it as a failure."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamAuthError(UpstreamError):
    """401/403: the token is wrong or lacks a scope. Fails the run at once."""


class UpstreamFatal(UpstreamError):
    """A response that retrying cannot fix (other 4xx)."""


class BadPage(UpstreamError):
    """A page whose shape is wrong (no results, a record without id). Rejected whole."""


class ListingLoop(BadPage):
    """A listing asked again for a next URL, cursor or page number it had asked for, or
    got a page whose ids are exactly an earlier page's: it would never end. Fails the run."""


class DeclarationMismatch(BadPage):
    """A declared source's ``records`` or ``id`` path finds nothing in the first page of a
    listing: the declaration does not fit the API. A setting to fix: retrying will not
    help, so it is named at once (``change-proxy sync`` exits 2, ``/health`` says it)."""


class ListingIncomplete(UpstreamError):
    """A full scan's listing ended early: records it did not see are still live in the
    source. None of its absence deletions are applied; the next full sync starts over."""


class RunTimedOut(ProxyError):
    """A sync run took longer than RUN_TIMEOUT_SECONDS."""


# --- the store ------------------------------------------------------------------------------


class StoreError(ProxyError):
    """The mirror database failed or is in an unexpected state."""


class LeaseLost(StoreError):
    """Another process took over the object type's sync lease: this process must stop
    writing for it (its run fails; the new holder carries on)."""


class LeaseHeld(ProxyError):
    """Another live process holds the object type's sync lease (``change-proxy sync``
    beside a running ``serve``)."""


class UnknownObjectType(ProxyError):
    """An object type that is not configured."""


class UnsupportedMode(BadRequest):
    """A sync mode the feed does not support (a source without a server-side change
    filter has no incremental runs)."""
