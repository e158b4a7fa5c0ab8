"""Prometheus metrics shared by every process: HTTP and gRPC traffic, outbox backlog, consumers,
dead letters, jobs and periodic tasks."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HttpRequestMetrics(Collector):
    """`codegram_http_requests_total{service, method, route, status}` and
    `codegram_http_request_duration_seconds{service, method, route}`: the families a Counter and a
    Histogram of prometheus_client would expose, kept in one list per series.

    Every request of every process is counted here. The library's metrics take a lock for each of
    the three values a request updates (count, latency sum, bucket); this is one bucket index and
    two list updates. Series are updated and read on the event loop (the request context and the
    `/metrics` route), so nothing else writes them at the same time."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._series: dict[tuple[str, str, str, int], list[float]] = {}
        if registry is not None:
            registry.register(self)

    def series(self, service: str, method: str, route: str, status: int) -> list[float]:
        """The series of one (service, method, route, status): a count per bucket (the last is
        +Inf), then the sum of seconds. Callers keep it and pass it to `observe`."""
        key = (service, method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        return series

    @staticmethod
    def observe(series: list[float], seconds: float) -> None:
        series[bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # a bucket's bound is inclusive
        series[-1] += seconds

    def describe(self) -> Iterable[CounterMetricFamily | HistogramMetricFamily]:
        return self._families()

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests, latency = self._families()
        merged: dict[tuple[str, str, str], list[float]] = {}
        for (service, method, route, status), series in list(self._series.items()):
            requests.add_metric([service, method, route, str(status)], sum(series[:-1]))
            total = merged.setdefault((service, method, route), [0.0] * len(series))
            for i, value in enumerate(series):
                total[i] += value
        bounds = [*map(floatToGoString, _LATENCY_BUCKETS), "+Inf"]
        for labels, total in merged.items():
            cumulative, buckets = 0.0, []
            for bound, count in zip(bounds, total[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric(list(labels), buckets, total[-1])
        yield requests
        yield latency

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, HistogramMetricFamily]:
        return (
            CounterMetricFamily(
                "codegram_http_requests",
                "HTTP requests served",
                labels=["service", "method", "route", "status"],
            ),
            HistogramMetricFamily(
                "codegram_http_request_duration_seconds",
                "HTTP request latency",
                labels=["service", "method", "route"],
            ),
        )


HTTP_METRICS = HttpRequestMetrics()
GRPC_REQUESTS = Counter("codegram_grpc_requests_total", "gRPC calls served", ["service", "method", "code"])
GRPC_LATENCY = Histogram(
    "codegram_grpc_request_duration_seconds",
    "gRPC call latency",
    ["service", "method"],
    buckets=_LATENCY_BUCKETS,
)
OUTBOX_BACKLOG = Gauge("codegram_outbox_backlog", "Events written but not yet published", ["service"])
OUTBOX_PUBLISHED = Counter(
    "codegram_outbox_published_total", "Events published by the outbox relay", ["service"]
)
EVENTS_CONSUMED = Counter(
    "codegram_events_consumed_total",
    "Events handled by a consumer",
    ["service", "consumer", "outcome"],
)
CONSUMER_PENDING = Gauge(
    "codegram_consumer_pending", "Messages waiting for a consumer", ["service", "consumer"]
)
EVENTS_DEAD_LETTERED = Counter(
    "codegram_events_dead_lettered_total",
    "Events a consumer gave up on and published to its dead-letter subject (alert on any increase)",
    ["service", "consumer"],
)
JOBS_SETTLED = Counter(
    "codegram_jobs_total",
    "Job deliveries by how they ended: succeeded, retried, deferred or failed (dead-lettered)",
    ["service", "kind", "outcome"],
)
JOB_QUEUE_DEPTH = Gauge(
    "codegram_job_queue_depth", "Jobs waiting or in progress, by kind", ["service", "kind"]
)
JOB_DURATION = Histogram(
    "codegram_job_duration_seconds",
    "How long a job's handler ran, whatever its outcome",
    ["service", "kind"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
PERIODIC_RUNS = Counter(
    "codegram_periodic_runs_total",
    "Periodic task runs by outcome (ok, failed)",
    ["service", "task", "outcome"],
)
