"""Response classification: one place decides retry, wait or fail."""

from __future__ import annotations

import pytest

from proxy.errors import (
    BadPage,
    UpstreamAuthError,
    UpstreamFatal,
    UpstreamRateLimited,
    UpstreamRetryable,
)
from proxy.sources.http import HttpClient, UriTooLong
from proxy.sources.hubspot.batch_read import BatchReadDecoder

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


def test_a_decoder_of_its_own_keeps_the_retry_rules() -> None:
    """Batch read answers are decoded by a parser of their own: a body it cannot read as
    JSON is retried like any other, a shape it rejects fails with the request named."""
    decode = BatchReadDecoder("lastmodifieddate", "hs_merged_object_ids")
    with pytest.raises(UpstreamRetryable, match="an HTML page"):
        HttpClient.classify("POST /batch/read", 200, HTML, None, decode)
    with pytest.raises(UpstreamRetryable):
        HttpClient.classify("POST /batch/read", 200, b'{"results":[{"id":"\xff"}]}', None, decode)
    with pytest.raises(BadPage, match=r"^POST /batch/read: result 0: .*page rejected"):
        HttpClient.classify("POST /batch/read", 200, b'{"results":[{"id":"1"}]}', None, decode)
    answer = HttpClient.classify(
        "POST /batch/read", 200, b'{"results":[{"id":"1","properties":{}}]}', None, decode
    )
    assert [r.id for r in answer.records] == ["1"]
