"""The github service's background work (syncs of profiles and repositories on a work queue, with
retries and backoff, and what its schedules enqueue): nothing yet."""
