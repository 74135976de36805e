"""Prometheus metrics, on a registry of the app's own (tests build many apps per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from proxy.sync import RunOutcome
from proxy.sync_health import ObjectHealth


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.feed_requests = Counter(
            "change_proxy_feed_requests",
            "Feed requests answered, by object type and HTTP status",
            ["object_type", "status"],
            registry=self.registry,
        )
        self.feed_entities = Counter(
            "change_proxy_feed_entities",
            "Entities streamed to feed clients",
            ["object_type"],
            registry=self.registry,
        )
        self.sync_runs = Counter(
            "change_proxy_sync_runs",
            "Finished sync runs, by object type, mode and outcome",
            ["object_type", "mode", "status"],
            registry=self.registry,
        )
        self.sync_changes = Counter(
            "change_proxy_sync_changes",
            "Changes written to the change index, by object type and kind",
            ["object_type", "kind"],
            registry=self.registry,
        )
        self.upstream_requests = Counter(
            "change_proxy_upstream_requests",
            "Requests sent to the source API by sync runs, 429s and retries included",
            ["object_type"],
            registry=self.registry,
        )
        self.feed_streaming = Gauge(
            "change_proxy_feed_streaming",
            "Feed responses streaming now (at most the process's feed slots)",
            registry=self.registry,
        )
        self.feed_waiting = Gauge(
            "change_proxy_feed_waiting",
            "Feed requests waiting for a slot to stream",
            registry=self.registry,
        )
        self.feed_seconds = Histogram(
            "change_proxy_feed_seconds",
            "Time to stream one feed response",
            ["object_type"],
            registry=self.registry,
        )

        # Sync health, read at each scrape: alert on change_proxy_sync_healthy == 0.
        self.sync_healthy = Gauge(
            "change_proxy_sync_healthy",
            "1 while the object type's sync works (worker alive, runs succeeding), else 0",
            ["object_type"],
            registry=self.registry,
        )
        self.worker_alive = Gauge(
            "change_proxy_sync_worker_alive",
            "1 while this process's sync worker of the object type runs",
            ["object_type"],
            registry=self.registry,
        )
        self.lease_held = Gauge(
            "change_proxy_sync_lease_held",
            "1 while this process holds the object type's sync lease (runs its syncs)",
            ["object_type"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "change_proxy_last_sync_success_timestamp_seconds",
            "When a sync run of the object type last succeeded (any process)",
            ["object_type"],
            registry=self.registry,
        )
        self.held_deletions = Gauge(
            "change_proxy_held_deletions",
            "Deletions a full scan held for an operator (mass-deletion guard)",
            ["object_type"],
            registry=self.registry,
        )

    def observe_worker(self, object_type: str, *, alive: bool, holds_lease: bool) -> None:
        self.worker_alive.labels(object_type).set(int(alive))
        self.lease_held.labels(object_type).set(int(holds_lease))

    def observe_health(self, health: ObjectHealth) -> None:
        object_type = health.object_type
        self.sync_healthy.labels(object_type).set(int(health.healthy))
        self.observe_worker(object_type, alive=health.worker_alive, holds_lease=health.holds_lease)
        self.held_deletions.labels(object_type).set(health.held_deletions)
        if health.last_success_at is not None:
            self.last_success.labels(object_type).set(health.last_success_at.timestamp())

    def observe_run(self, object_type: str, outcome: RunOutcome) -> None:
        self.sync_runs.labels(object_type, outcome.mode, outcome.status).inc()
        for kind in ("created", "updated", "deleted"):
            self.sync_changes.labels(object_type, kind).inc(getattr(outcome.counts, kind))
        self.upstream_requests.labels(object_type).inc(outcome.counts.requests)
