"""The demo's filterless API keeps changing: edits, creations and deletions."""

from __future__ import annotations

import random

from proxy.simulator.rest import RestSimulator
from proxy.simulator.rest.churn import churn_step


def test_churn_edits_creates_and_deletes_orders() -> None:
    sim = RestSimulator(20)
    before = {rid: dict(r) for rid, r in sim.records.items()}
    rng = random.Random(7)
    for _ in range(200):
        churn_step(sim, rng)
    after = sim.records
    assert set(after) - set(before), "nothing was created"
    assert set(before) - set(after), "nothing was deleted"
    assert sim.gone >= set(before) - set(after)  # the item route answers 410 for them
    edited = [rid for rid in set(before) & set(after) if after[rid] != before[rid]]
    assert edited, "nothing was edited"


def test_churn_on_an_empty_api_creates_one() -> None:
    sim = RestSimulator(0)
    churn_step(sim, random.Random(1))
    assert len(sim.records) == 1
