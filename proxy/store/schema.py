"""The mirror's tables. This module is Alembic's only source of truth for the schema
(``migrations/env.py`` points ``target_metadata`` here); never ``create_all`` in production.

Timestamps are UTC. A person with ``sqlite3`` or ``psql`` should be able to read these
tables without the code; the README documents them column by column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend. SQLite has no timezone type and hands
    back naive values; this makes both backends read and write the same thing."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# One row per mirrored record (live or tombstoned).
entities = sa.Table(
    "entities",
    metadata,
    sa.Column("object_type", sa.String(64), primary_key=True),
    sa.Column("entity_id", sa.String(64), primary_key=True, comment="the source's id (_id)"),
    sa.Column(
        "change_seq",
        sa.BigInteger,
        nullable=False,
        comment="per-object change number; the feed's _updated",
    ),
    sa.Column(
        "fingerprint",
        sa.String(64),
        nullable=False,
        comment="hash of the canonical content used for no-op suppression; empty until a "
        "copy with other text makes it needed (computed from data then)",
    ),
    sa.Column("deleted", sa.Boolean, nullable=False, comment="tombstone; the feed's _deleted"),
    sa.Column(
        "data",
        sa.Text,
        nullable=False,
        comment="the record as the source returned it, JSON text (last known for tombstones)",
    ),
    sa.Column("first_seen_at", UtcDateTime(), nullable=False),
    sa.Column("changed_at", UtcDateTime(), nullable=False, comment="when change_seq was set"),
    sa.Column(
        "changed_by_run_id",
        sa.Integer,
        nullable=True,
        comment="the sync run that set change_seq (null when written outside a run)",
    ),
    sa.Column(
        "source_modified_ms",
        sa.BigInteger,
        nullable=True,
        comment="the source's modification time of the stored copy (epoch ms); an older copy "
        "never replaces it",
    ),
    sa.Column(
        "content_hash",
        sa.String(32),
        nullable=True,
        comment="hash of data exactly: equal text, equal content (null: written before 0006)",
    ),
    sa.UniqueConstraint("object_type", "change_seq"),
)

# When each mirrored record was last returned by a sync run: the evidence a full scan's
# deletions rest on. Kept apart from ``entities`` because every full scan touches every
# row: rewriting a narrow row is ~3x cheaper than rewriting a record's whole JSON.
sightings = sa.Table(
    "sightings",
    metadata,
    sa.Column("object_type", sa.String(64), primary_key=True),
    sa.Column("entity_id", sa.String(64), primary_key=True),
    sa.Column(
        "last_seen_run_id",
        sa.Integer,
        nullable=False,
        comment="the last sync run whose fetch returned this record",
    ),
)

# One row per object type: the sequence counter and the sync bookkeeping.
object_state = sa.Table(
    "object_state",
    metadata,
    sa.Column("object_type", sa.String(64), primary_key=True),
    sa.Column(
        "last_change_seq",
        sa.BigInteger,
        nullable=False,
        server_default="0",
        comment="the highest change_seq ever given out; never goes down",
    ),
    sa.Column(
        "watermark",
        UtcDateTime(),
        nullable=True,
        comment="incremental sync resumes from here (source modification time)",
    ),
    sa.Column(
        "first_full_sync_at",
        UtcDateTime(),
        nullable=True,
        comment="when the first complete full scan finished; the feed answers 503 until set",
    ),
    sa.Column("last_full_sync_at", UtcDateTime(), nullable=True),
    sa.Column("last_incremental_sync_at", UtcDateTime(), nullable=True),
    sa.Column(
        "scan_run_id",
        sa.Integer,
        nullable=True,
        comment="the run that began the full scan in progress; null when none is",
    ),
    sa.Column(
        "scan_position",
        sa.Text,
        nullable=True,
        comment="where the full scan in progress resumes (JSON: listing and cursor)",
    ),
    sa.Column("scan_started_at", UtcDateTime(), nullable=True),
    sa.Column(
        "fingerprint_config",
        sa.String(64),
        nullable=True,
        comment="signature of the settings the stored fingerprints were computed with",
    ),
    sa.Column(
        "scan_mode",
        sa.String(16),
        nullable=True,
        comment="full (fetch what changed) | verify (fetch and compare every record)",
    ),
    sa.Column(
        "fetch_signature",
        sa.String(64),
        nullable=True,
        comment="the content settings (properties, associations) every stored record was "
        "last fetched whole under; when they change, the next full scan fetches everything",
    ),
    sa.Column(
        "scan_signature",
        sa.String(64),
        nullable=True,
        comment="the content settings a verifying scan in progress fetches under; it "
        "starts over when they change",
    ),
    sa.Column(
        "type_id",
        sa.String(32),
        nullable=True,
        comment="a custom object's objectTypeId when OBJECT_TYPES names it by that id: the "
        "name it is mirrored and served under, looked up once, is kept with it",
    ),
)

# One row per sync run (full or incremental), queued, running or finished.
sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("object_type", sa.String(64), nullable=False),
    sa.Column(
        "mode",
        sa.String(16),
        nullable=False,
        comment="full | incremental | verify | deletions",
    ),
    sa.Column(
        "status",
        sa.String(16),
        nullable=False,
        comment="queued | running | succeeded | failed | interrupted",
    ),
    sa.Column(
        "trigger",
        sa.String(16),
        nullable=False,
        comment="schedule | admin | cli | startup | retry | resume | check",
    ),
    sa.Column("queued_at", UtcDateTime(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=True),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Column("fetched", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deleted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True, comment="why the run failed; never a secret"),
    sa.Column(
        "owner",
        sa.String(128),
        nullable=True,
        comment="the process that ran it (host:pid:token); null while queued",
    ),
    sa.Column(
        "heartbeat_at",
        UtcDateTime(),
        nullable=True,
        comment="last sign of life of a running run; a stale one was interrupted",
    ),
    sa.Column(
        "scan_run_id",
        sa.Integer,
        nullable=True,
        comment="full runs: the run that began the scan this run carried on (itself if new)",
    ),
    sa.Column(
        "held",
        sa.Integer,
        nullable=False,
        server_default="0",
        comment="deletions held for an operator (mass-deletion guard)",
    ),
    sa.Column(
        "progress_at",
        UtcDateTime(),
        nullable=True,
        comment="when the run last committed a page (at most a few seconds behind); tells "
        "a long scan that moves from a run that hangs while its process beats",
    ),
    sa.Index(None, "object_type", "id"),
    # What /health, /admin/status and the worker ask on every call: the last run of an
    # object type with a status (and mode), and its queued and running runs. Without them
    # each call walks every run the object type ever had (6 ms -> 90 ms at 1.5M rows).
    sa.Index(None, "object_type", "status", "id"),
    sa.Index(None, "object_type", "mode", "status", "id"),
    # At most one queued run per object type and mode, whichever process asks: requests
    # that arrive while one is waiting get that one (see RunLog.request).
    sa.Index(
        "uq_sync_runs_queued",
        "object_type",
        "mode",
        unique=True,
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    ),
)

# Which process runs the syncs of each object type: a lease that its holder renews.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("object_type", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False, comment="host:pid:token of the holder"),
    sa.Column("acquired_at", UtcDateTime(), nullable=False),
    sa.Column(
        "expires_at",
        UtcDateTime(),
        nullable=False,
        comment="the holder renews it; once past, another process may take over",
    ),
)

# Absence deletions a full scan confirmed but did not apply, because they were more than the
# mass-deletion guard allows; an operator confirms or discards them through the admin API.
held_deletions = sa.Table(
    "held_deletions",
    metadata,
    sa.Column("object_type", sa.String(64), primary_key=True),
    sa.Column("entity_id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False, comment="the full run that held it"),
    sa.Column("held_at", UtcDateTime(), nullable=False),
)

# A declared source's OAuth2 refresh token, when its server rotates it: the last one it
# handed out (the declared one is spent), so a restart does not fall back to a dead token.
source_tokens = sa.Table(
    "source_tokens",
    metadata,
    sa.Column("object_type", sa.String(64), primary_key=True, comment="the source's name"),
    sa.Column("refresh_token", sa.Text, nullable=False, comment="secret: never logged"),
    sa.Column("saved_at", UtcDateTime(), nullable=False),
)
