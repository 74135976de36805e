"""Realistic HubSpot contacts for benchmarks: the CRM v3 object shape, every property value a
string (or null, as HubSpot returns unset properties), about 1 KB of JSON each, or padded with
a portal's worth of further properties to any size (``record_bytes``).

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


def contacts(
    n: int, *, seed: int = 20240601, first_id: int = FIRST_ID, record_bytes: int | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` contacts with consecutive ids starting at ``first_id``: :func:`contact`'s ~1 KB
    ones, or with ``record_bytes``, :func:`large_contact`'s of about that size."""
    rng = random.Random(seed)
    for i in range(n):
        if record_bytes is None:
            yield contact(first_id + i, rng)
        else:
            yield large_contact(first_id + i, rng, record_bytes)


def entity_ids(n: int, *, first_id: int = FIRST_ID) -> list[str]:
    """The ids :func:`contacts` gives out, in order."""
    return [str(first_id + i) for i in range(n)]


# --- large records ------------------------------------------------------------------------------
#
# Real portals request every property, and a contact then carries hundreds of them (HubSpot
# defines ~250 for contacts; portals add their own), many null: 10-50 KB of JSON per record.
# `large_contacts` pads the contact above with such properties until a record reaches the
# requested size.

_STANDARD_MORE = """
annualrevenue associatedcompanyid associatedcompanylastupdated closedate company_size
currentlyinworkflow date_of_birth days_to_close degree engagements_last_meeting_booked
engagements_last_meeting_booked_campaign engagements_last_meeting_booked_medium
engagements_last_meeting_booked_source fax field_of_study first_conversion_date
first_conversion_event_name first_deal_created_date gender graduation_date
hs_additional_emails hs_all_accessible_team_ids hs_all_assigned_business_unit_ids
hs_all_contact_vids hs_all_owner_ids hs_all_team_ids hs_analytics_average_page_views
hs_analytics_first_referrer hs_analytics_first_timestamp
hs_analytics_first_touch_converting_campaign hs_analytics_first_visit_timestamp
hs_analytics_last_referrer hs_analytics_last_timestamp hs_analytics_last_touch_converting_campaign
hs_analytics_last_url hs_analytics_last_visit_timestamp hs_analytics_num_event_completions
hs_analytics_num_page_views hs_analytics_num_visits hs_analytics_revenue
hs_analytics_source_data_1 hs_analytics_source_data_2 hs_avatar_filemanager_key hs_buying_role
hs_calculated_form_submissions hs_calculated_merged_vids hs_calculated_mobile_number
hs_calculated_phone_number hs_calculated_phone_number_area_code
hs_calculated_phone_number_country_code hs_calculated_phone_number_region_code
hs_clicked_linkedin_ad hs_content_membership_email hs_content_membership_email_confirmed
hs_content_membership_follow_up_enqueued_at hs_content_membership_notes
hs_content_membership_registered_at hs_content_membership_registration_domain_sent_to
hs_content_membership_registration_email_sent_at hs_content_membership_status
hs_conversations_visitor_email hs_count_is_unworked hs_count_is_worked
hs_created_by_conversations hs_created_by_user_id hs_createdate hs_cross_sell_opportunity
hs_document_last_revisited hs_email_bad_address hs_email_bounce hs_email_click
hs_email_customer_quarantined_reason hs_email_delivered hs_email_first_click_date
hs_email_first_open_date hs_email_first_reply_date hs_email_first_send_date
hs_email_hard_bounce_reason hs_email_hard_bounce_reason_enum hs_email_is_ineligible
hs_email_last_click_date hs_email_last_email_name hs_email_last_open_date
hs_email_last_reply_date hs_email_last_send_date hs_email_open hs_email_optout
hs_email_optout_survey_reason hs_email_quarantined hs_email_quarantined_reason
hs_email_recipient_fatigue_recovery_time hs_email_replied hs_email_sends_since_last_engagement
hs_emailconfirmationstatus hs_employment_change_detected_date hs_enriched_email_bounce_detected
hs_facebook_ad_clicked hs_facebook_click_id hs_facebookid hs_feedback_last_ces_survey_date
hs_feedback_last_nps_follow_up hs_feedback_last_nps_rating hs_feedback_last_survey_date
hs_feedback_show_nps_web_survey hs_first_closed_order_id hs_first_engagement_object_id
hs_first_order_closed_date hs_first_outreach_date hs_first_subscription_create_date
hs_google_click_id hs_googleplusid hs_has_active_subscription hs_ip_timezone hs_is_contact
hs_is_enriched hs_is_unworked hs_last_sales_activity_date hs_last_sales_activity_timestamp
hs_last_sales_activity_type hs_last_sms_send_date hs_last_sms_send_name
hs_latest_disqualified_lead_date hs_latest_meeting_activity hs_latest_open_lead_date
hs_latest_qualified_lead_date hs_latest_sequence_ended_date hs_latest_sequence_enrolled
hs_latest_sequence_enrolled_date hs_latest_sequence_finished_date
hs_latest_sequence_unenrolled_date hs_latest_source hs_latest_source_data_1
hs_latest_source_data_2 hs_latest_source_timestamp hs_latest_subscription_create_date
hs_legal_basis hs_linkedin_ad_clicked hs_linkedinid hs_marketable_reason_id
hs_marketable_reason_type hs_marketable_until_renewal hs_mobile_sdk_push_tokens
hs_notes_last_activity hs_notes_next_activity hs_notes_next_activity_type hs_object_source
hs_object_source_id hs_object_source_label hs_object_source_user_id hs_persona
hs_pinned_engagement_id hs_pipeline hs_predictivecontactscore_v2 hs_predictivescoringtier
hs_read_only hs_recent_closed_order_date hs_registered_member hs_registration_method
hs_sa_first_engagement_date hs_sa_first_engagement_descr hs_sa_first_engagement_object_type
hs_sales_email_last_clicked hs_sales_email_last_opened hs_sales_email_last_replied
hs_searchable_calculated_international_mobile_number
hs_searchable_calculated_international_phone_number hs_searchable_calculated_mobile_number
hs_searchable_calculated_phone_number hs_sequences_actively_enrolled_count
hs_sequences_enrolled_count hs_sequences_is_enrolled hs_social_facebook_clicks
hs_social_google_plus_clicks hs_social_last_engagement hs_social_linkedin_clicks
hs_social_num_broadcast_clicks hs_social_twitter_clicks hs_source_object_id
hs_source_portal_id hs_state_code hs_sub_role hs_testpurge hs_testrollback
hs_time_between_contact_creation_and_deal_close
hs_time_between_contact_creation_and_deal_creation hs_time_to_first_engagement
hs_time_to_move_from_lead_to_customer hs_time_to_move_from_marketingqualifiedlead_to_customer
hs_time_to_move_from_opportunity_to_customer
hs_time_to_move_from_salesqualifiedlead_to_customer
hs_time_to_move_from_subscriber_to_customer hs_timezone hs_twitterid hs_unique_creation_key
hs_updated_by_user_id hs_user_ids_of_all_notification_followers
hs_user_ids_of_all_notification_unfollowers hs_user_ids_of_all_owners hs_was_imported
hs_whatsapp_phone_number hubspot_owner_assigneddate hubspot_team_id hubspotscore ip_city
ip_country ip_country_code ip_latlon ip_state ip_state_code ip_zipcode job_function
marital_status message military_status notes_last_contacted notes_last_updated
notes_next_activity_date num_contacted_notes num_conversion_events num_notes
num_unique_conversion_events numemployees owneremail ownername recent_conversion_date
recent_conversion_event_name recent_deal_amount recent_deal_close_date relationship_status
salutation school seniority start_date surveymonkeyeventlastupdated total_revenue
twitterhandle webinareventlastupdated work_email
""".split()  # noqa: SIM905 - 240 names read better as text
_LIFECYCLE = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
    "customer", "evangelist", "other",
)  # fmt: skip
# HubSpot keeps four calculated properties per lifecycle stage.
_STAGE_PROPERTIES = [
    name
    for stage in _LIFECYCLE
    for name in (
        f"hs_lifecyclestage_{stage}_date",
        f"hs_v2_date_entered_{stage}",
        f"hs_v2_date_exited_{stage}",
        f"hs_v2_latest_time_in_{stage}",
    )
]
# A portal's own properties: a handful of integrations, each with the same kinds of fields.
_CUSTOM_AREAS = (
    "erp", "billing", "support", "partner", "event", "webshop", "loyalty", "survey", "consent",
    "onboarding", "contract", "training",
)  # fmt: skip
_CUSTOM_FIELDS = (
    "customer_number", "status", "last_sync_date", "owner_email", "region", "score", "notes",
    "tier", "signup_source", "renewal_date", "account_url", "is_active",
)  # fmt: skip
_TEXTS = (
    "Prefers email contact during business hours",
    "Met at the Oslo integration meetup; follow up on the data platform pilot",
    "Requested a follow-up about the enterprise tier before the budget round in Q3",
    "Imported from the legacy CRM migration batch (2019 export, cleaned)",
    "Interested in the webinar series on master data management and integration patterns",
    "Referred by an existing customer in the maritime sector",
    "Asked for a quote covering 250 seats, SSO and a dedicated support contact",
    "Unsubscribed from the newsletter but wants product updates by phone",
)
_URLS = tuple(
    f"https://www.{site}/{path}?utm_source={src}&utm_medium={medium}&utm_campaign={campaign}"
    for site, path, src, medium, campaign in (
        ("nordlys.no", "produkter/integrasjon", "google", "cpc", "brand-2024"),
        ("fjordkraft.no", "kunde/bedrift/tilbud", "linkedin", "social", "q3-push"),
        ("bergenmaritime.no", "events/summit-registration", "newsletter", "email", "summit"),
        ("oslofintech.no", "blog/open-banking-guide", "twitter", "social", "content"),
        ("example.com", "pricing", "bing", "cpc", "retargeting"),
    )
)


def _kind(name: str) -> str:
    """What kind of value a property holds, from its name (HubSpot's naming is regular)."""
    if "url" in name or "referrer" in name:
        return "url"
    if any(w in name for w in ("date", "timestamp", "_at", "lastupdated", "entered", "exited")):
        return "datetime"
    if name.startswith(("hs_is_", "hs_has_")) or name.endswith(
        ("_clicked", "optout", "quarantined", "bad_address", "is_enrolled", "is_active")
    ):
        return "bool"
    if name.startswith(("num_", "hs_time_", "hs_v2_latest_time_in_", "hs_count_")) or name.endswith(
        ("_clicks", "_views", "_visits", "score", "revenue", "amount", "days_to_close", "count")
    ):
        return "number"
    if name.endswith(("_id", "_ids", "vids", "_number")):
        return "id"
    if "email" in name:
        return "email"
    return "text"


def _candidates(kind: str, index: int) -> tuple[str | None, ...]:
    """Eight values a property of ``kind`` takes (about a third of them unset, as in real
    portals); varied by ``index`` so properties differ from each other."""
    rng = random.Random(index)
    if kind == "url":
        values: list[str | None] = [rng.choice(_URLS) for _ in range(5)]
    elif kind == "datetime":
        values = [
            _stamp(
                _EPOCH
                + timedelta(
                    seconds=rng.randint(0, 4 * 365 * 86400), milliseconds=rng.randint(0, 999)
                )
            )
            for _ in range(5)
        ]
    elif kind == "bool":
        values = ["true", "false", "false", "true", "false"]
    elif kind == "number":
        values = [str(rng.randint(0, 10 ** rng.randint(1, 9))) for _ in range(5)]
    elif kind == "id":
        values = [
            ";".join(str(rng.randint(10**7, 10**9)) for _ in range(rng.randint(1, 4)))
            for _ in range(5)
        ]
    elif kind == "email":
        values = [
            f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}@example.no" for _ in range(5)
        ]
    else:
        values = [rng.choice(_TEXTS) for _ in range(5)]
    return (*values, None, None, None)


def _large_catalogue() -> list[tuple[str, tuple[str | None, ...]]]:
    names = [
        *_STANDARD_MORE,
        *_STAGE_PROPERTIES,
        *(f"{area}_{field}" for area in _CUSTOM_AREAS for field in _CUSTOM_FIELDS),
    ]
    return [(name, _candidates(_kind(name), i)) for i, name in enumerate(names)]


_CATALOGUE = _large_catalogue()


def large_contact(entity_id: int, rng: random.Random, record_bytes: int) -> dict[str, Any]:
    """:func:`contact` with more properties from a portal's catalogue, added in catalogue
    order until the record's JSON reaches ``record_bytes`` (past the catalogue's ~390
    properties, its names again with a numeric suffix, as in a portal with many)."""
    record = contact(entity_id, rng)
    properties = record["properties"]
    # The record's JSON size so far, kept up to date without serialising it again.
    size = 300 + sum(len(k) + len(v or "null") + 6 for k, v in properties.items())
    round_ = 0
    while size < record_bytes:
        suffix = f"_{round_ + 1}" if round_ else ""
        for name, values in _CATALOGUE:
            if size >= record_bytes:
                break
            value = values[rng.getrandbits(3)]
            properties[name + suffix] = value
            size += len(name) + len(suffix) + (4 if value is None else len(value) + 2) + 4
        round_ += 1
    return record
