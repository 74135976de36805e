"""The admin JSON routes the console reads: one record, the latest changes, a day of
activity, and each feed's request budget."""

from __future__ import annotations

from proxy.simulator import HubSpotSimulator
from tests.sync.conftest import ADMIN, RigFactory

AUTH = {"X-Admin-Token": ADMIN}  # as the console sends it


async def test_record_changes_and_activity_tell_what_happened(make_rig: RigFactory) -> None:
    sim = HubSpotSimulator()
    ids = sim.create_contacts(5)
    rig = await make_rig(sim)
    first = await rig.sync("full")
    sim.update(ids[2], {"firstname": "Renamed"})
    second = await rig.sync("incremental")
    assert (first.created, second.updated) == (5, 1)

    resp = await rig.client.get(f"/admin/record?object=contacts&id={ids[2]}", headers=AUTH)
    assert resp.status == 200
    found = await resp.json()
    [served] = [e for e in await rig.feed() if e["_id"] == ids[2]]
    assert found["entity"] == served and found["updated"] == served["_updated"]
    assert (found["deleted"], found["changed_by_run_id"]) == (False, second.id)
    assert found["changed_at"] > found["first_seen_at"]

    body = await (await rig.client.get("/admin/changes?object=contacts", headers=AUTH)).json()
    kinds = [(c["id"], c["kind"]) for c in body["changes"]]
    assert kinds[0] == (ids[2], "updated")  # newest first
    assert sorted(kinds[1:]) == sorted((i, "created") for i in ids if i != ids[2])
    assert [c["updated"] for c in body["changes"]] == sorted(
        (c["updated"] for c in body["changes"]), reverse=True
    )
    two = await (
        await rig.client.get("/admin/changes?object=contacts&limit=2", headers=AUTH)
    ).json()
    assert len(two["changes"]) == 2

    activity = await (await rig.client.get("/admin/activity?object=contacts", headers=AUTH)).json()
    hours = activity["hours"]
    assert len(hours) == 24 and hours == sorted(hours, key=lambda h: h["start"])
    totals = {k: sum(h[k] for h in hours) for k in ("created", "updated", "deleted", "runs")}
    assert totals == {"created": 5, "updated": 1, "deleted": 0, "runs": 2}
    assert sum(h["requests"] for h in hours) == first.requests + second.requests
    assert [r["id"] for r in activity["runs"]] == [second.id, first.id]

    status = await (await rig.client.get("/admin/status", headers=AUTH)).json()
    contacts = status["objects"]["contacts"]
    assert contacts["upstream"]["requests_in_window"] >= first.requests + second.requests
    assert contacts["modes"] == ["full", "incremental", "verify", "deletions"]


async def test_record_lookup_refuses_and_misses_clearly(make_rig: RigFactory) -> None:
    rig = await make_rig()
    missing = await rig.client.get("/admin/record?object=contacts&id=404404", headers=AUTH)
    assert missing.status == 404 and "404404" in (await missing.json())["error"]
    blank = await rig.client.get("/admin/record?object=contacts", headers=AUTH)
    assert blank.status == 400 and "id" in (await blank.json())["error"]
    nul = await rig.client.get("/admin/record?object=contacts&id=a%00b", headers=AUTH)
    assert nul.status == 404
    wrong = await rig.client.get("/admin/changes?object=contacts", headers={"X-Admin-Token": "x"})
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"  # no dialog


async def test_the_console_page_needs_no_token_and_holds_no_data(make_rig: RigFactory) -> None:
    rig = await make_rig()
    page = await rig.client.get("/admin/")
    assert page.status == 200 and page.content_type == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    html = await page.text()
    assert 'href="icon.svg"' in html and "contacts" not in html
    for name in ("console.js", "console.css", "icon.svg"):
        assert (await rig.client.get(f"/admin/{name}")).status == 200
    redirect = await rig.client.get("/admin", allow_redirects=False)
    assert redirect.status == 301 and redirect.headers["Location"] == "admin/"
