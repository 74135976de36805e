"""Change-index writes: pages of fetched records, tombstones, sightings, fingerprints.

Every write that hands out change numbers runs in one transaction that first locks the object
type's counter row (``SELECT … FOR UPDATE`` on Postgres, ``BEGIN IMMEDIATE`` on SQLite) and
holds it until commit. So numbers are assigned in commit order, and a reader can never see
change N+1 while N is still invisible (DESIGN.md invariant 1).

Writes made for a sync run name the process (``owner``) that holds the object type's lease;
the transaction checks the lease first, so a process that lost it can no longer write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from proxy.diff import (
    Change,
    Fingerprinter,
    Incoming,
    Stored,
    advances_modified,
    classify,
    needs_stored_fingerprint,
    with_last_associations,
)
from proxy.errors import StoreError
from proxy.store import bulk, held
from proxy.store.database import ID_CHUNK, Database, utcnow
from proxy.store.held import ConfirmRefused, ConfirmResult
from proxy.store.leases import check_lease
from proxy.store.record_text import stored_form, text_of
from proxy.store.scans import save_position, update_state
from proxy.store.schema import entities, object_state, sightings

# Fingerprints are recomputed this many records per read. It runs in the serving process
# (at the first start after an upgrade or a settings change) beside the feed: a batch is
# held as text while each record is parsed in turn, so its size bounds the memory. Records
# of 20-50 KB (portals with hundreds of properties) make 200 rows 4-10 MB; 1,000 rows of 20
# KB raised the server's peak RSS by ~60 MB (bench.feed --record-kb 20).
REFINGERPRINT_BATCH = 200


def sequence_base(created: datetime) -> int:
    """Where the change numbers of a mirror created at ``created`` start: microseconds since
    1970 (about 1.8 x 10^15 in 2026, below 2^53, so exact in any JSON reader). A mirror
    created later starts above every number an earlier one handed out, unless that one
    averaged more than a million changes a second over its life: a Sesam pipe whose
    ``since`` came from a lost mirror (a container's volume gone, a database recreated) then
    receives every entity of the new one, instead of nothing or an error."""
    return int(created.timestamp() * 1_000_000)


@dataclass
class ApplyResult:
    """What one write did to the change index."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0  # archived upstream, never mirrored: nothing to tell anyone
    stale: int = 0  # older than the stored copy: not applied
    first_seq: int | None = None  # first change number handed out, if any
    last_seq: int | None = None

    def add(self, other: ApplyResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.stale += other.stale
        if other.first_seq is not None and self.first_seq is None:
            self.first_seq = other.first_seq
        if other.last_seq is not None:
            self.last_seq = other.last_seq

    def count(self, change: Change) -> None:
        if change is Change.UNCHANGED:
            self.unchanged += 1
        elif change is Change.SKIPPED:
            self.skipped += 1
        elif change is Change.STALE:
            self.stale += 1
        elif change is Change.CREATED:
            self.created += 1
        elif change is Change.UPDATED:
            self.updated += 1
        else:
            self.deleted += 1

    @property
    def changes(self) -> int:
        return self.created + self.updated + self.deleted


@dataclass
class _Sequence:
    """Change numbers handed out inside one locked transaction."""

    last: int
    first_given: int | None = field(default=None)

    def next(self) -> int:
        self.last += 1
        if self.first_given is None:
            self.first_given = self.last
        return self.last


def _as_it_is(text: str) -> str:
    return text


def _update_by_id(object_type: str) -> sa.Update:
    """An UPDATE of one entity per parameter set, the id bound as ``b_id`` (executemany)."""
    return entities.update().where(
        entities.c.object_type == object_type, entities.c.entity_id == sa.bindparam("b_id")
    )


class ChangeIndex:
    def __init__(self, db: Database) -> None:
        self.db = db
        # What a record's JSON text is written as (record_text.py): SQLite compresses
        # large ones; Postgres compresses by itself.
        self._stored_form: Callable[[str], str | bytes] = stored_form if db.is_sqlite else _as_it_is

    # --- the sequence ---------------------------------------------------------------------

    def _lock_sequence(self, conn: sa.Connection, object_type: str) -> _Sequence:
        """Lock the object type's counter row until commit and return its value."""
        query = sa.select(object_state.c.last_change_seq).where(
            object_state.c.object_type == object_type
        )
        if not self.db.is_sqlite:
            query = query.with_for_update()
        last = conn.execute(query).scalar_one_or_none()
        if last is None:
            raise StoreError(f"object type {object_type!r} is not registered")
        return _Sequence(last=int(last))

    def _save_sequence(self, conn: sa.Connection, object_type: str, seq: _Sequence) -> None:
        if seq.first_given is None:
            return
        conn.execute(
            object_state.update()
            .where(object_state.c.object_type == object_type)
            .values(last_change_seq=seq.last)
        )

    async def register_object_types(
        self, object_types: Iterable[str], *, type_ids: Mapping[str, str] | None = None
    ) -> None:
        """Make sure each object type has its state row (idempotent, safe when two processes
        start at once). A new row's change numbers start at :func:`sequence_base`.
        ``type_ids`` (name -> objectTypeId) records the custom objects OBJECT_TYPES names by
        id under the name they are mirrored as (:meth:`names_of_type_ids`)."""
        base = sequence_base(utcnow())
        rows = [{"object_type": t, "last_change_seq": base} for t in object_types]
        named = [{"b_type": name, "type_id": i} for name, i in (type_ids or {}).items()]

        def write(conn: sa.Connection) -> None:
            conn.execute(self.db.insert(object_state).on_conflict_do_nothing(), rows)
            if named:
                conn.execute(
                    object_state.update()
                    .where(object_state.c.object_type == sa.bindparam("b_type"))
                    .values(type_id=sa.bindparam("type_id")),
                    named,
                )

        if rows:
            await self.db.write(write)

    async def names_of_type_ids(self, type_ids: Iterable[str]) -> dict[str, str]:
        """The names custom objects given by objectTypeId were mirrored under before: the
        one recorded with the id, or the id itself for a mirror made under it (as versions
        before 0007 did)."""
        ids = list(type_ids)
        query = sa.select(object_state.c.type_id, object_state.c.object_type).where(
            sa.or_(object_state.c.type_id.in_(ids), object_state.c.object_type.in_(ids))
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        out = {name: name for type_id, name in rows if type_id is None}
        out.update({type_id: name for type_id, name in rows if type_id is not None})
        return out

    # --- pages ------------------------------------------------------------------------------

    async def apply_page(
        self,
        object_type: str,
        records: Sequence[Incoming],
        *,
        run_id: int | None = None,
        owner: str | None = None,
        position: str | None = None,
    ) -> ApplyResult:
        """Write one page of fetched records. Creates and content changes get the next change
        numbers; unchanged records, and copies older than the stored one, get nothing. With
        ``run_id``, every record of the page is marked as seen by that run (the evidence a
        full scan's deletions rest on), and ``position`` (a full scan's) is saved with it.
        The page is applied whole or not at all."""
        if not records and position is None:
            return ApplyResult()

        def write(conn: sa.Connection) -> ApplyResult:
            if owner is not None:
                check_lease(conn, object_type, owner)
            result = self._apply_page(conn, object_type, records, run_id, utcnow())
            if position is not None:
                save_position(conn, object_type, position)
            return result

        return await self.db.write(write)

    async def unchanged_page(
        self, object_type: str, records: Sequence[Incoming]
    ) -> ApplyResult | None:
        """The result of applying ``records`` if none of them would change the mirror
        (the common case of a rescan), found without taking the write lock; None when
        something would change, and :meth:`apply_page` must run. Sightings are not
        recorded here (see :meth:`record_sightings`).

        Deciding "unchanged" outside the lock is safe: if another writer changes a record
        meanwhile, skipping our older copy of it is what the locked path does too."""
        stored = await self.db.read(lambda conn: self._compared(conn, object_type, records))
        result = ApplyResult()
        for rec in records:
            copy = stored.get(rec.entity_id)
            change = classify(rec, copy)
            if change in (Change.CREATED, Change.UPDATED, Change.DELETED):
                return None
            if change is Change.UNCHANGED and advances_modified(rec, copy):
                return None  # its stored modification time must move (no new number)
            result.count(change)
        return result

    async def stored(self, object_type: str, ids: list[str]) -> dict[str, Stored]:
        """What the mirror holds of ``ids`` (fingerprint, tombstone, modification time)."""
        return await self.db.read(lambda conn: self._stored(conn, object_type, ids))

    async def record_sightings(
        self,
        object_type: str,
        run_id: int,
        ids: list[str],
        *,
        owner: str | None = None,
        position: str | None = None,
    ) -> None:
        """Record that run ``run_id`` fetched these ids (the evidence full scans rest on),
        and a full scan's ``position`` with them."""
        if not ids and position is None:
            return

        def write(conn: sa.Connection) -> None:
            if owner is not None:
                check_lease(conn, object_type, owner)
            self._record_sightings(conn, object_type, run_id, ids)
            if position is not None:
                save_position(conn, object_type, position)

        await self.db.write(write)

    def _apply_page(
        self,
        conn: sa.Connection,
        object_type: str,
        records: Sequence[Incoming],
        run_id: int | None,
        now: datetime,
    ) -> ApplyResult:
        result = ApplyResult()
        seq = self._lock_sequence(conn, object_type)
        stored = self._compared(conn, object_type, records)
        records = self._keeping_associations(conn, object_type, records, stored)
        now_bound = bulk.bound_time(conn, now)  # converted once, not per row
        inserts: list[tuple[Any, ...]] = []  # in bulk.ENTITY_COLUMNS order
        changes: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []  # unchanged, but modified later than stored
        for rec in records:
            copy = stored.get(rec.entity_id)
            change = classify(rec, copy)
            result.count(change)
            if change is Change.UNCHANGED and advances_modified(rec, copy):
                moved.append({"b_id": rec.entity_id, "source_modified_ms": rec.modified_ms})
            elif change is Change.CREATED:
                inserts.append(
                    (
                        object_type,
                        rec.entity_id,
                        seq.next(),
                        rec.fingerprint_to_store,
                        rec.content_hash,
                        False,
                        self._stored_form(rec.data),
                        now_bound,
                        now_bound,
                        run_id,
                        rec.modified_ms,
                    )
                )
            elif change in (Change.UPDATED, Change.DELETED):
                changes.append(
                    {
                        "b_id": rec.entity_id,
                        "change_seq": seq.next(),
                        "fingerprint": rec.fingerprint_to_store,
                        "content_hash": rec.content_hash,
                        "deleted": rec.deleted,
                        "data": self._stored_form(rec.data),
                        "changed_at": now,
                        "changed_by_run_id": run_id,
                        "source_modified_ms": rec.modified_ms,
                    }
                )
        bulk.insert_entities(conn, inserts)
        if changes:
            conn.execute(
                _update_by_id(object_type).values(
                    {
                        name: sa.bindparam(name)
                        for name in (
                            "change_seq",
                            "fingerprint",
                            "content_hash",
                            "deleted",
                            "data",
                            "changed_at",
                            "changed_by_run_id",
                            "source_modified_ms",
                        )
                    }
                ),
                changes,
            )
        if moved:
            # No new number and the same text: only an ignored property moved (or
            # nothing visible), and the next full sync must not fetch it again for that.
            conn.execute(
                _update_by_id(object_type).values(
                    source_modified_ms=sa.bindparam("source_modified_ms")
                ),
                moved,
            )
        if run_id is not None:
            self._record_sightings(conn, object_type, run_id, [r.entity_id for r in records])
        self._save_sequence(conn, object_type, seq)
        if seq.first_given is not None:
            result.first_seq, result.last_seq = seq.first_given, seq.last
        return result

    def _keeping_associations(
        self,
        conn: sa.Connection,
        object_type: str,
        records: Sequence[Incoming],
        stored: Mapping[str, Stored],
    ) -> Sequence[Incoming]:
        """``records``, the archived copies that tombstone a live one carrying that copy's
        associations (the tombstone keeps its last known data: DESIGN.md)."""
        dying = {
            r.entity_id: r
            for r in records
            if r.deleted and (copy := stored.get(r.entity_id)) is not None and not copy.deleted
        }
        if not dying:
            return records
        kept = {
            entity_id: with_last_associations(dying[entity_id], text_of(data))
            for entity_id, data in _by_ids(conn, object_type, list(dying), entities.c.data)
        }
        return [kept.get(r.entity_id, r) if r.deleted else r for r in records]

    def _record_sightings(
        self, conn: sa.Connection, object_type: str, run_id: int, ids: list[str]
    ) -> None:
        bulk.record_sightings(conn, object_type, run_id, ids)

    def _stored(self, conn: sa.Connection, object_type: str, ids: list[str]) -> dict[str, Stored]:
        out: dict[str, Stored] = {}
        for start in range(0, len(ids), ID_CHUNK):
            rows = bulk.stored_rows(conn, object_type, ids[start : start + ID_CHUNK])
            for entity_id, fingerprint, deleted, modified_ms, text_hash in rows:
                out[entity_id] = Stored(fingerprint, bool(deleted), modified_ms, text_hash)
        return out

    def _compared(
        self, conn: sa.Connection, object_type: str, records: Sequence[Incoming]
    ) -> dict[str, Stored]:
        """The stored copies of ``records``, each with its fingerprint where deciding needs
        it: one never computed is computed from the stored text (the first time a copy with
        other text arrives) and kept for this decision only."""
        stored = self._stored(conn, object_type, [r.entity_id for r in records])
        needed = {
            r.entity_id: r for r in records if needs_stored_fingerprint(r, stored.get(r.entity_id))
        }
        for entity_id, data in _by_ids(conn, object_type, list(needed), entities.c.data):
            fingerprint = needed[entity_id].fingerprinter.of_json(text_of(data))
            stored[entity_id] = replace(stored[entity_id], fingerprint=fingerprint)
        return stored

    # --- tombstones ---------------------------------------------------------------------------

    async def mark_deleted(
        self,
        object_type: str,
        entity_ids: Iterable[str],
        *,
        run_id: int | None = None,
        owner: str | None = None,
        unseen_since: int | None = None,
    ) -> ApplyResult:
        """Tombstone the named ids that are live in the mirror (merge evidence, or absences
        HubSpot confirmed). Each gets a new change number and keeps its last known data;
        unknown or already deleted ids are left alone. With ``unseen_since`` (a full scan's
        first run), only the ids no run has seen since then: a record seen meanwhile stays."""
        result = ApplyResult()
        ids = sorted(set(entity_ids))
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]

            def write(conn: sa.Connection, chunk: list[str] = chunk) -> ApplyResult:
                if owner is not None:
                    check_lease(conn, object_type, owner)
                if unseen_since is not None:
                    still_unseen = conn.execute(
                        sa.select(entities.c.entity_id).where(
                            entities.c.object_type == object_type,
                            entities.c.entity_id.in_(chunk),
                            ~_seen_since(unseen_since).exists(),
                        )
                    )
                    chunk = [row[0] for row in still_unseen]
                return self._tombstone(conn, object_type, chunk, utcnow(), run_id)

            result.add(await self.db.write(write))
        return result

    def _tombstone(
        self,
        conn: sa.Connection,
        object_type: str,
        ids: Sequence[str],
        now: datetime,
        run_id: int | None = None,
        seq: _Sequence | None = None,
    ) -> ApplyResult:
        """Tombstone those of ``ids`` that are live, under the sequence lock (``seq``: taken
        already by the caller's transaction)."""
        result = ApplyResult()
        if not ids:
            return result
        if seq is None:
            seq = self._lock_sequence(conn, object_type)
        live = sorted(
            entity_id
            for entity_id, deleted in _by_ids(conn, object_type, list(ids), entities.c.deleted)
            if not deleted
        )
        if live:
            conn.execute(
                _update_by_id(object_type).values(
                    change_seq=sa.bindparam("change_seq"),
                    deleted=True,
                    changed_at=now,
                    changed_by_run_id=run_id,
                ),
                [{"b_id": entity_id, "change_seq": seq.next()} for entity_id in live],
            )
            self._save_sequence(conn, object_type, seq)
        result.deleted = len(live)
        if seq.first_given is not None:
            result.first_seq, result.last_seq = seq.first_given, seq.last
        return result

    async def confirm_held(
        self, object_type: str, run_id: int
    ) -> ConfirmResult | ConfirmRefused | None:
        """An operator confirmed the deletions run ``run_id`` held. In one transaction under
        the sequence lock: refuse while a run or a scan could still hold sightings the
        mirror has not got (``held.refusal``), keep those seen or changed since they were
        held, tombstone the rest, and drop the run's held set. None when the run holds
        nothing (any more)."""

        def write(conn: sa.Connection) -> ConfirmResult | ConfirmRefused | None:
            # The lock first: a scan that begins writes this row, so it waits for us (and
            # one that began before is seen by the checks below).
            seq = self._lock_sequence(conn, object_type)
            if not held.holds(conn, object_type, run_id):
                return None
            refused = held.refusal(conn, object_type)
            if refused is not None:
                return refused
            result = ConfirmResult()
            doomed = held.decide(conn, object_type, run_id, result)
            done = self._tombstone(conn, object_type, doomed, utcnow(), run_id, seq=seq)
            result.deleted = done.deleted
            result.first_seq, result.last_seq = done.first_seq, done.last_seq
            held.release(conn, object_type, run_id)
            return result

        return await self.db.write(write)

    async def unseen_live_ids(self, object_type: str, scan_id: int) -> list[str]:
        """Live records no run has seen since run ``scan_id`` began its scan: the candidates
        for the scan's absence deletions, in id order."""

        def read(conn: sa.Connection) -> list[str]:
            rows = conn.execute(
                sa.select(entities.c.entity_id)
                .where(
                    entities.c.object_type == object_type,
                    entities.c.deleted.is_(False),
                    ~_seen_since(scan_id).exists(),
                )
                .order_by(entities.c.entity_id)
            )
            return [row[0] for row in rows]

        return await self.db.read(read)

    async def live_count(self, object_type: str) -> int:
        query = sa.select(sa.func.count()).where(
            entities.c.object_type == object_type, entities.c.deleted.is_(False)
        )
        return await self.db.read(lambda conn: int(conn.execute(query).scalar_one()))

    # --- fingerprints -------------------------------------------------------------------------

    async def refingerprint(
        self, object_type: str, fingerprint: Fingerprinter, signature: str
    ) -> int:
        """Recompute stored fingerprints when the settings they depend on changed (the
        signature differs from the one stored), without handing out change numbers: a new
        setting by itself is not a change of any record. Returns how many fingerprints
        changed. Idempotent; an interrupted pass is redone at the next call."""
        current = await self.db.read(
            lambda conn: conn.execute(
                sa.select(object_state.c.fingerprint_config).where(
                    object_state.c.object_type == object_type
                )
            ).scalar_one_or_none()
        )
        if current == signature:
            return 0
        statement = _update_by_id(object_type).values(fingerprint=sa.bindparam("fingerprint"))
        changed, after = 0, ""
        while True:

            def read_batch(conn: sa.Connection, after: str = after) -> list[Any]:
                # Those never computed are computed too: the text fetched under the new
                # settings differs from every stored one, so each would otherwise be parsed
                # again at every comparison.
                query = (
                    sa.select(entities.c.entity_id, entities.c.fingerprint, entities.c.data)
                    .where(entities.c.object_type == object_type, entities.c.entity_id > after)
                    .order_by(entities.c.entity_id)
                    .limit(REFINGERPRINT_BATCH)
                )
                return list(conn.execute(query))

            rows = await self.db.read(read_batch)
            if not rows:
                break
            updates = [
                {"b_id": entity_id, "fingerprint": new}
                for entity_id, old, data in rows
                if (new := fingerprint.of_json(text_of(data))) != old
            ]
            if updates:

                def write(conn: sa.Connection, updates: list[dict[str, str]] = updates) -> None:
                    conn.execute(statement, updates)

                await self.db.write(write)
                changed += len(updates)
            after = rows[-1][0]
        await self._update_state(object_type, fingerprint_config=signature)
        return changed

    # --- object state -------------------------------------------------------------------------

    async def _update_state(
        self, object_type: str, owner: str | None = None, **values: Any
    ) -> None:
        await update_state(self.db, object_type, owner, **values)

    async def set_watermark(
        self, object_type: str, watermark: datetime, *, owner: str | None = None
    ) -> None:
        await self._update_state(object_type, owner, watermark=watermark)

    async def mark_incremental_done(
        self, object_type: str, at: datetime, *, owner: str | None = None
    ) -> None:
        await self._update_state(object_type, owner, last_incremental_sync_at=at)


def _by_ids(
    conn: sa.Connection, object_type: str, ids: list[str], *columns: sa.ColumnElement[Any]
) -> Iterator[Any]:
    """``entity_id`` and ``columns`` of the stored records among ``ids``, ID_CHUNK ids per
    statement (the databases bound how many parameters one takes)."""
    for start in range(0, len(ids), ID_CHUNK):
        yield from conn.execute(
            sa.select(entities.c.entity_id, *columns).where(
                entities.c.object_type == object_type,
                entities.c.entity_id.in_(ids[start : start + ID_CHUNK]),
            )
        ).all()  # one fetch, not a driver call per row


def _seen_since(scan_id: int) -> sa.Select[Any]:
    """Correlated: a sighting of the entity by the scan's first run or any later one."""
    return sa.select(sightings.c.entity_id).where(
        sightings.c.object_type == entities.c.object_type,
        sightings.c.entity_id == entities.c.entity_id,
        sightings.c.last_seen_run_id >= scan_id,
    )
