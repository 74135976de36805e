"""The names custom objects are mirrored and served under when OBJECT_TYPES (or
ASSOCIATIONS) gives them by objectTypeId (``2-1234567``): their names in HubSpot's schemas
API, so the feed path of ``2-1234567`` is ``/cars``.

A name is looked up once and kept with the object type's state: later starts take it from
the store, with HubSpot up or down, and the path never changes. When HubSpot cannot be
asked at the first start (down, or the id unknown to it), the id itself is the name, and is
kept likewise: a path that moved at a later start would break the pipes that use it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from proxy.config import Settings, is_type_id
from proxy.errors import UpstreamError
from proxy.sources.http import RequestStats, source_session
from proxy.sources.hubspot import client_from_settings
from proxy.store import Store, migrate

log = logging.getLogger(__name__)

# The schema revision that keeps the names (object_state.type_id); revisions are numbered
# with leading zeros, so they compare as text.
NAMES_KEPT_SINCE = "0007"


async def name_custom_objects(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """``settings`` with every custom object given by objectTypeId in OBJECT_TYPES and
    ASSOCIATIONS renamed to its name, and the renaming (id -> name; empty when there is
    none, and then nothing is opened or asked)."""
    given = [*settings.object_types, *settings.associations]
    given += [t for targets in settings.associations.values() for t in targets]
    type_ids = list(dict.fromkeys(t for t in given if is_type_id(t)))
    if not type_ids:
        return settings, {}
    store = Store.open(settings.database_url)
    try:
        await migrate.upgrade(store.engine)
        names = await store.changes.names_of_type_ids(type_ids)
        new = [i for i in type_ids if i not in names]
        if new:
            found = await _ask_hubspot(settings)
            chosen = {i: found.get(i, i) for i in new}
            for type_id, name in chosen.items():
                if name == type_id:
                    log.warning(
                        "%s: its name could not be found in HubSpot's schemas API; it is "
                        "mirrored and served under its id, for good (write its name in "
                        "OBJECT_TYPES before its first start to have the name)",
                        type_id,
                    )
            await store.changes.register_object_types(
                chosen.values(), type_ids={name: i for i, name in chosen.items()}
            )
            names.update(chosen)
    finally:
        await store.close()

    def named(types: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(names.get(t, t) for t in types))

    renamed = replace(
        settings,
        object_types=named(settings.object_types),
        associations={names.get(k, k): named(v) for k, v in settings.associations.items()},
    )
    return renamed, names


async def mirrored_names(store: Store, object_types: tuple[str, ...]) -> dict[str, str]:
    """The names custom objects given by id are mirrored under, from the store alone (no
    HubSpot, nothing written: for commands that only read). A schema from before 0007
    mirrored them under their ids."""
    type_ids = [t for t in object_types if is_type_id(t)]
    revision = await migrate.stored_revision(store.engine)
    if not type_ids or revision is None or revision < NAMES_KEPT_SINCE:
        return {}
    return await store.changes.names_of_type_ids(type_ids)


async def _ask_hubspot(settings: Settings) -> dict[str, str]:
    """Every custom object's id -> name, or nothing when HubSpot cannot be asked."""
    if not settings.hubspot_access_token:
        return {}
    async with source_session() as session:
        client = client_from_settings(session, settings)
        try:
            return await client.custom_object_names(RequestStats())
        except UpstreamError as exc:
            log.warning("cannot ask HubSpot for the names of custom objects: %s", exc)
            return {}
