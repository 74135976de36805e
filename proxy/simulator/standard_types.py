"""HubSpot's standard object types as the simulator models them: contacts, companies, deals,
tickets, products and line items, each with its type id, modification property, property
catalogue, default properties and fake values.

Type ids, the modification properties (contacts ``lastmodifieddate``, every other type
``hs_lastmodifieddate``) and the default properties follow ``reference/hubspot-api.md``
(Part A2, Part C) and HubSpot's object guides; the values are plausible, not HubSpot's.
"""

from __future__ import annotations

from typing import Final

from .catalogue import DEFAULT_PROPERTIES, LIFECYCLE_STAGES, STANDARD_PROPERTIES, PropertyDef
from .clock import iso_from_ms
from .generate import CITIES, COMPANIES, LIFECYCLE_WEIGHTED, contact_values
from .object_types import ObjectType

MODIFIED: Final = "hs_lastmodifieddate"

INDUSTRIES: Final = (
    "COMPUTER_SOFTWARE", "LOGISTICS_AND_SUPPLY_CHAIN", "MARITIME", "RENEWABLES_ENVIRONMENT",
    "FOOD_PRODUCTION", "MANAGEMENT_CONSULTING", "HOSPITAL_HEALTH_CARE", "RETAIL",
)  # fmt: skip
COMPANY_SUFFIXES: Final = ("AS", "ASA", "AB", "GmbH", "Ltd", "BV", "Oy", "ApS")
DEAL_STAGES: Final = (
    "appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
    "decisionmakerboughtin", "contractsent", "closedwon", "closedlost",
)  # fmt: skip
DEAL_TYPES: Final = ("newbusiness", "existingbusiness")
PRIORITIES: Final = ("low", "medium", "high")
TICKET_STAGES: Final = ("1", "2", "3", "4")  # HubSpot's default support pipeline's stage ids
TICKET_PRIORITIES: Final = ("LOW", "MEDIUM", "HIGH")
TICKET_CATEGORIES: Final = ("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY")
TICKET_SUBJECTS: Final = (
    "Cannot log in after password reset", "Invoice shows the wrong VAT rate",
    "Sync stopped overnight", "Request: export to CSV", "Webhook retries too often",
    "Dashboard loads slowly", "Question about the enterprise tier",
    "Duplicate records after import",
)  # fmt: skip
PRODUCTS: Final = (
    "Data Platform", "Integration Hub", "Analytics Add-on", "Support Plan", "Onboarding Package",
    "API Access", "Extra Storage", "Training Day",
)  # fmt: skip
PRODUCT_TIERS: Final = ("Starter", "Professional", "Enterprise", "Basic")
# Deals close within half a year of this instant; fixed so values do not depend on the clock.
_CLOSE_BASE_MS: Final = 1_700_000_000_000
_DAY_MS: Final = 86_400_000


def system_properties(group: str) -> tuple[PropertyDef, ...]:
    return (
        PropertyDef("hs_object_id", "Record ID", "number", "number", group=group,
                    has_unique_value=True, read_only=True),
        PropertyDef("createdate", "Create Date", "datetime", "date", group=group, read_only=True),
        PropertyDef(MODIFIED, "Last Modified Date", "datetime", "date", group=group,
                    read_only=True),
    )  # fmt: skip


def _defs(
    group: str, *specs: tuple[str, str, str, str, tuple[str, ...]]
) -> tuple[PropertyDef, ...]:
    """``(name, label, type, fieldType, options)`` tuples as definitions of ``group``."""
    return system_properties(group) + tuple(
        PropertyDef(name, label, type_, field_type, group=group, options=options)
        for name, label, type_, field_type, options in specs
    )


# ------------------------------------------------------------------------------ companies

COMPANY_PROPERTIES: Final = (
    *_defs(
        "companyinformation",
        ("name", "Company name", "string", "text", ()),
        ("domain", "Company Domain Name", "string", "text", ()),
        ("industry", "Industry", "enumeration", "select", INDUSTRIES),
        ("city", "City", "string", "text", ()),
        ("country", "Country/Region", "string", "text", ()),
        ("phone", "Phone Number", "string", "phonenumber", ()),
        ("numberofemployees", "Number of Employees", "number", "number", ()),
        ("annualrevenue", "Annual Revenue", "number", "number", ()),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", LIFECYCLE_STAGES),
    ),
    # Written by merges only; a semicolon list of every id merged into this record.
    PropertyDef("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox",
                group="companyinformation", read_only=True),
)  # fmt: skip


def company_values(record_id: int, h: int) -> dict[str, str | None]:
    base = COMPANIES[h & 15]
    city, country = CITIES[(h >> 7) & 15]
    slug = base.split()[0].lower()
    return {
        "name": f"{base} {COMPANY_SUFFIXES[(h >> 4) & 7]}",
        "domain": f"{slug}{record_id}.example",
        "industry": INDUSTRIES[(h >> 11) & 7],
        "city": city,
        "country": country,
        "phone": f"+47 {(h >> 14) % 100_000_000:08d}",
        "numberofemployees": str(5 + (h >> 41) % 5000),
        "annualrevenue": str(100_000 * (1 + (h >> 54) % 1000)),
        "lifecyclestage": LIFECYCLE_WEIGHTED[(h >> 61) & 7],
        "hs_merged_object_ids": None,
    }


# ------------------------------------------------------------------------------ deals

DEAL_PROPERTIES: Final = _defs(
    "dealinformation",
    ("dealname", "Deal Name", "string", "text", ()),
    ("amount", "Amount", "number", "number", ()),
    ("dealstage", "Deal Stage", "enumeration", "radio", DEAL_STAGES),
    ("pipeline", "Pipeline", "enumeration", "select", ("default",)),
    ("closedate", "Close Date", "datetime", "date", ()),
    ("dealtype", "Deal Type", "enumeration", "radio", DEAL_TYPES),
    ("hs_priority", "Priority", "enumeration", "select", PRIORITIES),
)  # fmt: skip


def deal_values(record_id: int, h: int) -> dict[str, str | None]:
    return {
        "dealname": f"{COMPANIES[h & 15]} – {PRODUCTS[(h >> 4) & 7]}",
        "amount": str(500 * (1 + (h >> 7) % 400)),
        "dealstage": DEAL_STAGES[((h >> 16) & 7) % len(DEAL_STAGES)],
        "pipeline": "default",
        "closedate": iso_from_ms(_CLOSE_BASE_MS + ((h >> 19) % 180) * _DAY_MS),
        "dealtype": DEAL_TYPES[(h >> 27) & 1],
        "hs_priority": PRIORITIES[((h >> 28) & 3) % 3],
    }


# ------------------------------------------------------------------------------ tickets

TICKET_PROPERTIES: Final = _defs(
    "ticketinformation",
    ("subject", "Ticket name", "string", "text", ()),
    ("content", "Ticket description", "string", "textarea", ()),
    ("hs_pipeline", "Pipeline", "enumeration", "select", ("0",)),
    ("hs_pipeline_stage", "Ticket status", "enumeration", "select", TICKET_STAGES),
    ("hs_ticket_priority", "Priority", "enumeration", "select", TICKET_PRIORITIES),
    ("hs_ticket_category", "Category", "enumeration", "checkbox", TICKET_CATEGORIES),
)  # fmt: skip


def ticket_values(record_id: int, h: int) -> dict[str, str | None]:
    subject = TICKET_SUBJECTS[h & 7]
    return {
        "subject": subject,
        "content": f"{subject}. Reported by customer, reference #{record_id}.",
        "hs_pipeline": "0",
        "hs_pipeline_stage": TICKET_STAGES[(h >> 3) & 3],
        "hs_ticket_priority": TICKET_PRIORITIES[((h >> 5) & 3) % 3],
        "hs_ticket_category": TICKET_CATEGORIES[(h >> 7) & 3],
    }


# ------------------------------------------------------------------------------ products

PRODUCT_PROPERTIES: Final = _defs(
    "productinformation",
    ("name", "Name", "string", "text", ()),
    ("price", "Unit price", "number", "number", ()),
    ("description", "Description", "string", "textarea", ()),
    ("hs_sku", "SKU", "string", "text", ()),
)  # fmt: skip


def product_values(record_id: int, h: int) -> dict[str, str | None]:
    name = f"{PRODUCTS[h & 7]} {PRODUCT_TIERS[(h >> 3) & 3]}"
    return {
        "name": name,
        "price": str(50 * (1 + (h >> 5) % 200)),
        "description": f"{name}, billed yearly",
        "hs_sku": f"SKU-{record_id:06d}",
    }


# ------------------------------------------------------------------------------ line items

LINE_ITEM_PROPERTIES: Final = _defs(
    "lineiteminformation",
    ("name", "Name", "string", "text", ()),
    ("quantity", "Quantity", "number", "number", ()),
    ("price", "Unit price", "number", "number", ()),
    ("amount", "Net price", "number", "number", ()),
    ("hs_sku", "SKU", "string", "text", ()),
)  # fmt: skip


def line_item_values(record_id: int, h: int) -> dict[str, str | None]:
    quantity = 1 + (h >> 5) % 20
    price = 50 * (1 + (h >> 10) % 200)
    return {
        "name": f"{PRODUCTS[h & 7]} {PRODUCT_TIERS[(h >> 3) & 3]}",
        "quantity": str(quantity),
        "price": str(price),
        "amount": str(quantity * price),
        "hs_sku": f"SKU-{(h >> 18) % 1000:06d}",
    }


# ------------------------------------------------------------------------------ the types

CONTACTS: Final = ObjectType(
    "contacts", "contact", "0-1", "CONTACT", "lastmodifieddate",
    STANDARD_PROPERTIES, DEFAULT_PROPERTIES, contact_values, mergeable=True,
)  # fmt: skip
COMPANIES_TYPE: Final = ObjectType(
    "companies", "company", "0-2", "COMPANY", MODIFIED, COMPANY_PROPERTIES,
    ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    company_values, mergeable=True,
)  # fmt: skip
DEALS: Final = ObjectType(
    "deals", "deal", "0-3", "DEAL", MODIFIED, DEAL_PROPERTIES,
    ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
     "hs_object_id", "pipeline"),
    deal_values,
)  # fmt: skip
TICKETS: Final = ObjectType(
    "tickets", "ticket", "0-5", "TICKET", MODIFIED, TICKET_PROPERTIES,
    ("content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline",
     "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"),
    ticket_values,
)  # fmt: skip
PRODUCTS_TYPE: Final = ObjectType(
    "products", "product", "0-7", "PRODUCT", MODIFIED, PRODUCT_PROPERTIES,
    ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
    product_values,
)  # fmt: skip
LINE_ITEMS: Final = ObjectType(
    "line_items", "line_item", "0-8", "LINE_ITEM", MODIFIED, LINE_ITEM_PROPERTIES,
    ("amount", "createdate", "hs_lastmodifieddate", "hs_object_id", "name", "price", "quantity"),
    line_item_values,
)  # fmt: skip

STANDARD_TYPES: Final = (CONTACTS, COMPANIES_TYPE, DEALS, TICKETS, PRODUCTS_TYPE, LINE_ITEMS)
