"""Code every CodeGram process shares: settings, logging, metrics, tracing, db, outbox, events, gRPC."""
