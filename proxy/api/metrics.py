"""Prometheus metrics, on a registry of the app's own (tests build many apps per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from proxy.sync import RunOutcome


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

    def observe_run(self, object_type: str, outcome: RunOutcome) -> None:
        status = "succeeded" if outcome.succeeded else "failed"
        self.sync_runs.labels(object_type, outcome.mode, status).inc()
        for kind in ("created", "updated", "deleted"):
            self.sync_changes.labels(object_type, kind).inc(getattr(outcome.counts, kind))
        self.upstream_requests.labels(object_type).inc(outcome.counts.requests)
