"""Prometheus metrics shared by every process: HTTP and gRPC traffic, outbox backlog, consumers,
dead letters, jobs and periodic tasks."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "codegram_http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "codegram_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=_LATENCY_BUCKETS,
)
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
