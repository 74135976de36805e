"""Response classification: one place decides retry, wait or fail."""

from __future__ import annotations

import pytest

from proxy.errors import (
    UpstreamAuthError,
    UpstreamFatal,
    UpstreamRateLimited,
    UpstreamRetryable,
)
from proxy.sources.http import HttpClient, UriTooLong

HTML = b"<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"
RATE = (
    b'{"status":"error","message":"You have reached your ten_secondly_rolling limit.",'
    b'"errorType":"RATE_LIMIT","correlationId":"c9","policyName":"TEN_SECONDLY_ROLLING"}'
)


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (429, RATE, UpstreamRateLimited, "ten_secondly_rolling"),
        (
            401,
            b'{"category":"INVALID_AUTHENTICATION","message":"no","correlationId":"x"}',
            UpstreamAuthError,
            "HUBSPOT_ACCESS_TOKEN",
        ),
        (403, b"{}", UpstreamAuthError, "HUBSPOT_ACCESS_TOKEN"),
        (414, HTML, UriTooLong, "414"),
        (502, HTML, UpstreamRetryable, "an HTML page"),
        (503, b"", UpstreamRetryable, "503"),
        (524, b'{"message":"timeout"}', UpstreamRetryable, "timeout"),
        (200, HTML, UpstreamRetryable, "an HTML page"),
        (
            400,
            b'{"category":"VALIDATION_ERROR","message":"bad filter","correlationId":"abc"}',
            UpstreamFatal,
            "correlationId abc",
        ),
    ],
)
def test_classification(status: int, body: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        HttpClient.classify("GET /x", status, body, None)


def test_success_is_parsed_json() -> None:
    assert HttpClient.classify("GET /x", 200, b'{"results": []}', None) == {"results": []}


def test_retry_after_travels_with_the_429() -> None:
    with pytest.raises(UpstreamRateLimited) as err:
        HttpClient.classify("GET /x", 429, RATE, 3.0)
    assert err.value.retry_after == 3.0
