"""Each auth kind over HTTP, item_status, and secrets kept out of errors."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.errors import UpstreamAuthError
from proxy.sources.rest.client import TokenStore

from .conftest import N_RECORDS, STYLES, Upstream, collect, ids_of

OAUTH = {
    "type": "oauth2",
    "token_url": "/oauth/token",
    "client_id": "sim-client",
    "client_secret": "${CLIENT_SECRET}",
}
ENV = {"CLIENT_SECRET": "sim-client-secret", "TOKEN": "sim-bearer-token"}


class MemoryTokens:
    """A token store as the engine keeps one (the database): what was saved, in order."""

    def __init__(self, stored: str | None = None) -> None:
        self.saved: list[str] = [stored] if stored else []

    async def load(self) -> str | None:
        return self.saved[-1] if self.saved else None

    async def save(self, token: str) -> None:
        self.saved.append(token)

    def store(self) -> TokenStore:
        return TokenStore(self.load, self.save)


async def test_bearer_header_from_the_environment(upstream: Upstream) -> None:
    upstream.sim.auth.mode = "bearer"
    table = {**STYLES["cursor"], "headers": {"Authorization": "Bearer ${TOKEN}"}}
    pages, _ = await collect(upstream.source(table, ENV))
    assert len(ids_of(pages)) == N_RECORDS
    with pytest.raises(UpstreamAuthError) as info:
        await collect(upstream.source(table, {"TOKEN": "wrong-SECRET"}))
    assert "wrong-SECRET" not in str(info.value)
    assert "check the credentials of source orders" in str(info.value)


async def test_basic_auth(upstream: Upstream) -> None:
    upstream.sim.auth.mode = "basic"
    auth = {"type": "basic", "username": "sim-user", "password": "${PW}"}
    pages, _ = await collect(
        upstream.source({**STYLES["page"], "auth": auth}, {"PW": "sim-password"})
    )
    assert len(ids_of(pages)) == N_RECORDS
    with pytest.raises(UpstreamAuthError, match="401"):
        await collect(upstream.source({**STYLES["page"], "auth": auth}, {"PW": "nope"}))


async def test_client_credentials_cached_and_fetched_again_once_on_a_401(
    upstream: Upstream,
) -> None:
    sim = upstream.sim
    sim.auth.mode = "oauth2"
    source = upstream.source({**STYLES["offset"], "auth": OAUTH}, ENV)
    pages, _ = await collect(source)
    assert len(ids_of(pages)) == N_RECORDS
    assert sim.auth.token_requests == ["client_credentials"]  # cached across pages
    sim.expire_tokens()  # the server revokes early: the next request gets a 401
    pages, _ = await collect(source)
    assert len(ids_of(pages)) == N_RECORDS
    assert sim.auth.token_requests == ["client_credentials"] * 2


async def test_an_expired_token_is_fetched_again_before_use(upstream: Upstream) -> None:
    sim = upstream.sim
    sim.auth.mode = "oauth2"
    sim.auth.token_ttl_s = 40  # less the 30 s margin: 20 s of use (half the lifetime)
    now = [1000.0]
    source = upstream.source({**STYLES["none"], "auth": OAUTH}, ENV, clock=lambda: now[0])
    await collect(source)
    now[0] += 25
    await collect(source)
    assert sim.auth.token_requests == ["client_credentials"] * 2
    assert sim.counters.requests == 2  # no request went out with a stale token


async def test_a_wrong_client_secret_fails_without_showing_it(upstream: Upstream) -> None:
    upstream.sim.auth.mode = "oauth2"
    source = upstream.source({**STYLES["none"], "auth": OAUTH}, {"CLIENT_SECRET": "leaked-SECRET"})
    with pytest.raises(UpstreamAuthError) as info:
        await collect(source)
    assert "leaked-SECRET" not in str(info.value) and "invalid_client" in str(info.value)


async def test_refresh_token_rotation_is_kept_through_the_token_store(upstream: Upstream) -> None:
    sim = upstream.sim
    sim.auth.mode = "oauth2"
    auth = {**OAUTH, "grant": "refresh_token", "refresh_token": "${REFRESH}"}
    env = {**ENV, "REFRESH": "sim-refresh-0"}
    tokens = MemoryTokens()
    source = upstream.source({**STYLES["cursor"], "auth": auth}, env, tokens.store())
    await collect(source)
    assert tokens.saved == ["sim-refresh-1"] and sim.auth.refresh_token == "sim-refresh-1"
    sim.expire_tokens()
    await collect(source)  # a 401, then the rotated token (not the spent one) refreshes
    assert tokens.saved == ["sim-refresh-1", "sim-refresh-2"]
    # A restart: a new RestSource with the same declaration (and its spent ${REFRESH})
    # starts from the stored token, not the declared one.
    restarted = upstream.source({**STYLES["cursor"], "auth": auth}, env, tokens.store())
    pages, _ = await collect(restarted)
    assert len(ids_of(pages)) == N_RECORDS and tokens.saved[-1] == "sim-refresh-3"
    # Without the store it would have used the spent token: the server refuses it.
    forgetful = upstream.source({**STYLES["cursor"], "auth": auth}, env)
    with pytest.raises(UpstreamAuthError) as info:
        await collect(forgetful)
    message = str(info.value)
    assert "invalid_grant" in message
    assert not any(secret in message for secret in ("sim-refresh-0", "sim-client-secret"))


async def test_item_status(upstream: Upstream) -> None:
    sim = upstream.sim
    sim.auth.mode = "bearer"
    table: dict[str, Any] = {
        **STYLES["none"],
        "headers": {"Authorization": "Bearer ${TOKEN}"},
        "item_url": "/orders/{id}",
    }
    source = upstream.source(table, ENV)
    sim.delete(4)
    assert await source.item_status("3") == "live"
    assert await source.item_status("4") == "gone"  # 410
    assert await source.item_status("999") == "gone"  # 404
    assert await source.item_status("a/b") == "gone"  # quoted into one path segment
    without = upstream.source({**STYLES["none"], "headers": table["headers"]}, ENV)
    assert await without.item_status("3") is None
