"""Which fetched pages the pipeline writes together in one transaction."""

from __future__ import annotations

from proxy.diff import Fingerprinter, Incoming
from proxy.pipeline import _Group
from proxy.sources.base import FeedPage

LIMIT = 1_000_000

FINGERPRINT = Fingerprinter(ignored_fields=frozenset())


def records(*ids: str, size: int = 10) -> list[Incoming]:
    return [Incoming(i, False, "x" * size, FINGERPRINT) for i in ids]


def test_pages_naming_other_ids_are_written_together_with_the_last_position() -> None:
    group = _Group()
    group.add(FeedPage(), records("1", "2"), None)
    page = FeedPage(sighted=["3"], gone=["4"])
    assert group.takes(page, records("5"), LIMIT)
    group.add(page, records("5"), None)
    assert [r.entity_id for r in group.incoming] == ["1", "2", "5"]
    assert len(group.pages) == 2


def test_a_page_naming_an_id_of_the_group_waits_for_the_next_transaction() -> None:
    """Seen twice (offset drift), merged away, or sighted: written together, the later
    page's word would no longer come after the earlier one's."""
    group = _Group()
    group.add(FeedPage(), records("1", "2"), None)
    assert not group.takes(FeedPage(), records("2", "3"), LIMIT)
    assert not group.takes(FeedPage(gone=["1"]), [], LIMIT)
    assert not group.takes(FeedPage(sighted=["2"]), [], LIMIT)


def test_a_group_holds_at_most_about_group_bytes_of_records() -> None:
    group = _Group()
    assert group.takes(FeedPage(), records("big", size=LIMIT * 2), LIMIT)  # an empty group
    group.add(FeedPage(), records("big", size=LIMIT * 2), None)
    assert not group.takes(FeedPage(), records("small"), LIMIT)
    assert group.takes(FeedPage(sighted=["seen"]), [], LIMIT)  # ids only: always room


def test_without_a_limit_only_pages_of_ids_seen_join() -> None:
    """Postgres (limit 0): a page with records is a transaction of its own."""
    group = _Group()
    group.add(FeedPage(sighted=["1"]), [], None)
    assert group.takes(FeedPage(sighted=["2"]), [], 0)
    assert not group.takes(FeedPage(), records("3"), 0)
