"""The ops console in a real browser (Debian's chromium driven by Playwright), served by
the real app behind a reverse proxy under a path prefix, as a Sesam node's system proxy
serves it: two HubSpot object types and one declared source."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from proxy.app import create_app
from proxy.simulator import HubSpotSimulator
from proxy.simulator import create_app as create_hubspot
from proxy.simulator.rest import RestSimulator, create_rest_app
from proxy.sources.configured import resolve_feed_names
from tests.conftest import make_settings
from tests.rest.conftest import STYLES

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI: the console's browser tests need Debian's chromium")
    pytest.skip("no chromium on this machine (apt install chromium)", allow_module_level=True)

ADMIN = "console-admin-token"
PREFIX = "/api/systems/change-proxy/proxy/"
# Where the screenshots the README shows are written (docs/console), when set.
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
READY = re.compile(r"^ready")
HOSTILE = '<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script>'


@dataclass
class Console:
    url: str  # the console's address under the prefix
    app: TestClient
    hubspot: HubSpotSimulator
    rest: RestSimulator
    page: Any  # playwright Page


def reverse_proxy(target: str) -> web.Application:
    """Forwards PREFIX/<path> to ``target``/<path>, headers and body as they came."""

    async def forward(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method,
                f"{target}/{tail}",
                params=request.query,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as upstream,
        ):
            body = await upstream.read()
            drop = ("content-length", "transfer-encoding", "connection")
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in drop}
            return web.Response(status=upstream.status, body=body, headers=kept)

    app = web.Application()
    app.router.add_route("*", PREFIX + "{tail:.*}", forward)
    return app


@pytest.fixture
async def console(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    database_url: str,
) -> AsyncIterator[Console]:
    hubspot = HubSpotSimulator()
    hubspot.create_contacts(30)
    hubspot.objects("companies").create(12)
    rest = RestSimulator(15)
    hubspot_server = await aiohttp_server(create_hubspot(hubspot))
    rest_server = await aiohttp_server(create_rest_app(rest))
    rest_base = str(rest_server.make_url("")).rstrip("/")
    cursor = STYLES["cursor"]
    sources = {
        "orders": {
            **cursor,
            "url": rest_base + cursor["url"],
            "params": {"limit": "5"},
            "interval_seconds": 0,
        }
    }
    settings = make_settings(
        database_url,
        HUBSPOT_BASE_URL=str(hubspot_server.make_url("")).rstrip("/"),
        HUBSPOT_ACCESS_TOKEN=hubspot.token,
        OBJECT_TYPES="contacts,companies",
        ADMIN_TOKEN=ADMIN,
        HUBSPOT_BACKOFF_SECONDS="0.01",
        HUBSPOT_REQUESTS_PER_10S="100000",
        HUBSPOT_SEARCH_PER_SECOND="1000",
        MASS_DELETE_PERCENT="10",
        SOURCES=orjson.dumps(sources).decode(),
    )
    settings, _ = await resolve_feed_names(settings)
    app = await aiohttp_client(create_app(settings, schedule=True))
    proxy = await aiohttp_server(reverse_proxy(str(app.make_url("")).rstrip("/")))
    url = str(proxy.make_url(PREFIX + "admin/"))
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())  # every confirm() is accepted
        yield Console(url, app, hubspot, rest, page)
        await browser.close()


async def sign_in(console: Console, token: str = ADMIN) -> None:
    page = console.page
    await page.goto(console.url)
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


def feed(console: Console, name: str) -> Any:
    return console.page.get_by_role("region", name=name, exact=True)


async def test_every_feed_shows_and_a_full_sync_runs_to_its_end(console: Console) -> None:
    requests: list[str] = []
    console.page.on("request", lambda request: requests.append(request.url))
    await sign_in(console)
    expect = playwright_api.expect
    for name in ("contacts", "companies", "orders"):
        section = feed(console, name)
        await expect(section.get_by_role("heading", name=name, exact=True)).to_be_visible()
        await expect(section.locator(".state")).to_contain_text(READY, timeout=20_000)
    orders = feed(console, "orders")
    await expect(orders.get_by_role("button", name="Full sync")).to_be_visible()
    assert await orders.get_by_role("button", name="Verify").count() == 0  # not its mode
    contacts = feed(console, "contacts")
    await expect(contacts.get_by_role("button", name="Incremental sync")).to_be_visible()
    console.rest.update(3, name="changed in the console test")
    await orders.get_by_role("button", name="Full sync").click()
    await expect(orders.locator(".outcome")).to_contain_text("succeeded", timeout=20_000)
    await expect(orders.locator(".outcome")).to_contain_text("updated 1")
    await expect(orders.locator("ol.runs li").first).to_contain_text("succeeded")
    # The charts and the last changes, as the runs recorded them.
    await expect(orders.locator("figcaption").first).to_contain_text(
        "created 15, updated 1, deleted 0"
    )
    await expect(orders.locator("figure svg").first).to_have_attribute("role", "img")
    await orders.get_by_text("Last 50 changes").click()
    await expect(orders.locator("ol.changes li").first).to_contain_text("3 updated")
    await expect(orders.get_by_text("upstream budget")).to_be_visible()
    await expect(contacts.locator("dd").filter(has_text="requests in 10")).to_be_visible()
    prefix = str(console.page.url).split(PREFIX)[0] + PREFIX
    assert requests and all(r.startswith(prefix) for r in requests), requests
    assert await console.page.evaluate("sessionStorage.length") == 1
    assert ADMIN not in str(console.page.url)
    await console.page.set_viewport_size({"width": 400, "height": 900})
    width = await console.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400  # nothing wider than the screen at 400 px
    if SCREENSHOTS:
        await console.page.set_viewport_size({"width": 1280, "height": 900})
        await console.page.screenshot(path=Path(SCREENSHOTS) / "desktop.png", full_page=True)
        await console.page.set_viewport_size({"width": 400, "height": 900})
        await console.page.screenshot(path=Path(SCREENSHOTS) / "narrow-400px.png", full_page=True)


async def test_a_record_holding_markup_shows_as_text_and_runs_nothing(console: Console) -> None:
    console.rest.update(4, name=HOSTILE)
    await sign_in(console)
    expect = playwright_api.expect
    orders = feed(console, "orders")
    await expect(orders.locator(".state")).to_contain_text(READY, timeout=20_000)
    await orders.get_by_role("button", name="Full sync").click()
    await expect(orders.locator(".outcome")).to_contain_text("succeeded", timeout=20_000)
    await console.page.get_by_label("Feed", exact=True).select_option("orders")
    await console.page.get_by_label("Record id", exact=True).fill("4")
    await console.page.get_by_role("button", name="Look up").click()
    record = console.page.locator("#record pre")
    await expect(record).to_contain_text(HOSTILE.replace('"', '\\"'))
    assert await console.page.evaluate("window.__pwned") is None
    assert await console.page.locator("#record img").count() == 0


async def test_confirming_held_deletions_tombstones_them_in_the_feed(console: Console) -> None:
    await sign_in(console)
    expect = playwright_api.expect
    contacts = feed(console, "contacts")
    await expect(contacts.locator(".state")).to_contain_text(READY, timeout=20_000)
    gone = console.hubspot.live_ids()[:12]  # 40% of 30: over MASS_DELETE_PERCENT=10
    for contact_id in gone:
        console.hubspot.gdpr_delete(contact_id)  # gone from both listings: an absence
    await contacts.get_by_role("button", name="Full sync").click()
    await expect(contacts.locator(".outcome")).to_contain_text("succeeded", timeout=20_000)
    await expect(contacts.get_by_text("Held deletions")).to_be_visible(timeout=10_000)
    await contacts.get_by_role("button", name="Confirm deletions").click()
    await expect(contacts.locator(".outcome")).to_contain_text("12 tombstoned", timeout=10_000)
    resp = await console.app.get("/contacts")
    deleted = {e["_id"] for e in await resp.json() if e["_deleted"]}
    assert deleted == set(gone)


async def test_the_console_works_from_the_keyboard(console: Console) -> None:
    """Sign in with Enter, reach a feed's Full sync by Tab, start it with Enter."""
    page, expect = console.page, playwright_api.expect
    await page.goto(console.url)
    await page.get_by_label("Admin token").fill(ADMIN)
    await page.get_by_label("Admin token").press("Enter")
    orders = feed(console, "orders")
    await expect(orders.locator(".state")).to_contain_text(READY, timeout=20_000)
    button = orders.get_by_role("button", name="Full sync")
    for _ in range(40):  # Tab through the page until the button has the focus
        if await button.evaluate("b => b === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    assert await button.evaluate("b => b === document.activeElement")
    await page.keyboard.press("Enter")
    await expect(orders.locator(".outcome")).to_contain_text("succeeded", timeout=20_000)


async def test_a_wrong_token_says_so_and_asks_again(console: Console) -> None:
    asked: list[str] = []
    console.page.on("request", lambda request: asked.append(request.url))
    await sign_in(console, "not-the-token")
    expect = playwright_api.expect
    await expect(console.page.locator("#message")).to_contain_text("not accepted")
    await expect(console.page.get_by_label("Admin token")).to_be_visible()
    data_requests = [u for u in asked if "/admin/status" in u]
    assert len(data_requests) == 1  # tried once; nothing retried in a loop
    assert await console.page.evaluate("sessionStorage.length") == 0


async def test_a_service_without_admin_token_says_so_once(
    aiohttp_client: Callable[..., Awaitable[TestClient]], database_url: str
) -> None:
    """The page still loads (it holds no data); signing in says the admin routes are off,
    and nothing is asked again."""
    settings = make_settings(database_url, HUBSPOT_BASE_URL="http://127.0.0.1:9")
    app = await aiohttp_client(create_app(settings, schedule=False))
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        await page.goto(str(app.make_url("/admin/")))
        await page.get_by_label("Admin token").fill("anything")
        await page.get_by_role("button", name="Sign in").click()
        await playwright_api.expect(page.locator("#message")).to_contain_text("ADMIN_TOKEN")
        assert len([u for u in asked if u.endswith("/admin/status")]) == 1
        await browser.close()
