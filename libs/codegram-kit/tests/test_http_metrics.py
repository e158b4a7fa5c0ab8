"""The HTTP request metrics are exposed exactly as prometheus_client's own Counter and Histogram
would expose the same requests."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from codegram_kit.runtime.metrics import _LATENCY_BUCKETS, HttpRequestMetrics

# At and around the bounds (a bound is inclusive), beyond the last one, and zero.
SECONDS = [0.0, 0.0004, 0.001, 0.0010001, 0.0025, 0.07, 0.1, 1, 2.4999, 10, 10.5, 42.0]
REQUESTS = [
    ("users", "GET", "/users/{username}", 200),
    ("users", "GET", "/users/{username}", 404),
    ("users", "PATCH", "/users/me", 200),
    ("snippets", "GET", "unmatched", 404),
]


def _exposition(registry: CollectorRegistry) -> list[str]:
    # The library also writes a `_created` time per series; those are left out of the comparison.
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if "_created" not in line)


def test_the_exposition_is_the_librarys_for_the_same_requests() -> None:
    reference = CollectorRegistry()
    counter = Counter(
        "codegram_http_requests_total",
        "HTTP requests served",
        ["service", "method", "route", "status"],
        registry=reference,
    )
    histogram = Histogram(
        "codegram_http_request_duration_seconds",
        "HTTP request latency",
        ["service", "method", "route"],
        buckets=_LATENCY_BUCKETS,
        registry=reference,
    )
    ours = CollectorRegistry()
    metrics = HttpRequestMetrics(ours)
    for n, (service, method, route, status) in enumerate(REQUESTS):
        series = metrics.series(service, method, route, status)
        assert metrics.series(service, method, route, status) is series  # one series per key
        for seconds in SECONDS[n:]:
            counter.labels(service, method, route, str(status)).inc()
            histogram.labels(service, method, route).observe(seconds)
            metrics.observe(series, seconds)
    assert _exposition(ours) == _exposition(reference)
    assert (
        ours.get_sample_value(
            "codegram_http_request_duration_seconds_bucket",
            {"service": "users", "method": "GET", "route": "/users/{username}", "le": "0.001"},
        )
        == 3 + 2
    )  # 0.0, 0.0004 and 0.001 of the 200s; 0.0004 and 0.001 of the 404s


def test_nothing_is_exposed_before_a_request() -> None:
    registry = CollectorRegistry()
    HttpRequestMetrics(registry)
    text = generate_latest(registry).decode()
    assert "# TYPE codegram_http_requests_total counter" in text
    assert "codegram_http_requests_total{" not in text
