"""Realistic HubSpot contacts for benchmarks: the CRM v3 object shape, every property value a
string (or null, as HubSpot returns unset properties), about 1 KB of JSON each.

Deterministic for a given seed, generated lazily so a benchmark never holds all of them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# HubSpot ids are numeric strings; start somewhere that looks like a real portal.
FIRST_ID = 51_000_001

_FIRST = [
    "Ada", "Bjørn", "Chen", "Dina", "Emil", "Fatima", "Gustav", "Hilde", "Ingrid", "Jonas",
    "Kari", "Lars", "Maja", "Nils", "Olav", "Priya", "Ragnhild", "Sven", "Tuva", "Åse",
]  # fmt: skip
_LAST = [
    "Berg", "Hansen", "Ito", "Jensen", "Kaur", "Larsen", "Moreau", "Nilsen", "Olsen",
    "Pedersen", "Quist", "Rønning", "Solberg", "Thorsen", "Ueland", "Vik", "Wold", "Østby",
]  # fmt: skip
_COMPANIES = [
    "Nordlys Energi AS", "Fjordkraft Digital", "Bergen Maritime Systems", "Oslo Fintech Lab",
    "Trondheim Robotics", "Stavanger Subsea Solutions", "Tromsø Arctic Logistics",
    "Kristiansand Health Partners", "Drammen Industrial Services", "Ålesund Seafood Export",
]  # fmt: skip
_CITIES = [
    ("Oslo", "Oslo", "0150"), ("Bergen", "Vestland", "5003"), ("Trondheim", "Trøndelag", "7010"),
    ("Stavanger", "Rogaland", "4006"), ("Tromsø", "Troms", "9008"), ("Drammen", "Buskerud", "3015"),
    ("Kristiansand", "Agder", "4611"), ("Ålesund", "Møre og Romsdal", "6002"),
]  # fmt: skip
_STREETS = ["Storgata", "Kirkegata", "Strandveien", "Parkveien", "Industriveien", "Fjordgata"]
_TITLES = [
    "Chief Technology Officer", "Head of Procurement", "Senior Data Engineer",
    "Marketing Manager", "Customer Success Lead", "Operations Director", "Sales Executive",
]  # fmt: skip
_INDUSTRIES = ["COMPUTER_SOFTWARE", "OIL_ENERGY", "MARITIME", "FINANCIAL_SERVICES", "LOGISTICS"]
_STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "customer"]
_LEAD_STATUS = ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "CONNECTED", None]
_SOURCES = ["ORGANIC_SEARCH", "DIRECT_TRAFFIC", "EMAIL_MARKETING", "SOCIAL_MEDIA", "OFFLINE"]
_CAMPAIGNS = ["spring-webinar", "nordic-summit", "product-launch", "newsletter", "retargeting"]
_EPOCH = datetime(2021, 1, 1, tzinfo=UTC)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def contact(entity_id: int, rng: random.Random) -> dict[str, Any]:
    """One contact as HubSpot's CRM v3 API returns it with ~25 requested properties."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    company = rng.choice(_COMPANIES)
    domain = company.split()[0].lower().replace("å", "a").replace("ø", "o") + ".no"
    city, state, zip_code = rng.choice(_CITIES)
    created = _EPOCH + timedelta(seconds=rng.randint(0, 3 * 365 * 86400), microseconds=1000)
    modified = created + timedelta(seconds=rng.randint(60, 365 * 86400), milliseconds=337)
    email = f"{first.lower()}.{last.lower()}.{entity_id}@{domain}".replace("ø", "o").replace(
        "å", "a"
    )
    campaign = rng.choice(_CAMPAIGNS)
    properties: dict[str, str | None] = {
        "hs_object_id": str(entity_id),
        "email": email,
        "firstname": first,
        "lastname": last,
        "phone": f"+47 {rng.randint(20000000, 99999999)}",
        "mobilephone": f"+47 {rng.randint(40000000, 49999999)}",
        "company": company,
        "website": f"https://www.{domain}",
        "jobtitle": rng.choice(_TITLES),
        "address": f"{rng.choice(_STREETS)} {rng.randint(1, 120)}",
        "city": city,
        "state": state,
        "zip": zip_code,
        "country": "Norway",
        "industry": rng.choice(_INDUSTRIES),
        "lifecyclestage": rng.choice(_STAGES),
        "hs_lead_status": rng.choice(_LEAD_STATUS),
        "hubspot_owner_id": str(rng.randint(10_000_000, 99_999_999)),
        "hs_email_domain": domain,
        "hs_analytics_source": rng.choice(_SOURCES),
        "hs_analytics_first_url": (
            f"https://www.{domain}/landing/{campaign}?utm_source=newsletter"
            f"&utm_medium=email&utm_campaign={campaign}-{created.year}"
        ),
        "hs_marketable_status": rng.choice(["true", "false"]),
        "hs_language": rng.choice(["nb", "en", "nn", "sv"]),
        "num_associated_deals": str(rng.randint(0, 12)),
        "hs_merged_object_ids": None,
        "createdate": _stamp(created),
        "lastmodifieddate": _stamp(modified),
    }
    return {
        "id": str(entity_id),
        "properties": properties,
        "createdAt": _stamp(created),
        "updatedAt": _stamp(modified),
        "archived": False,
    }


def contacts(n: int, *, seed: int = 20240601, first_id: int = FIRST_ID) -> Iterator[dict[str, Any]]:
    """``n`` contacts with consecutive ids starting at ``first_id``."""
    rng = random.Random(seed)
    for i in range(n):
        yield contact(first_id + i, rng)


def entity_ids(n: int, *, first_id: int = FIRST_ID) -> list[str]:
    """The ids :func:`contacts` gives out, in order."""
    return [str(first_id + i) for i in range(n)]
