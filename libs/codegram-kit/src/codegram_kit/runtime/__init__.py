"""One process: the service definition, settings, logging, tracing, metrics, request context, readiness."""
