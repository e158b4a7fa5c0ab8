"""Events: the transactional outbox, the JetStream stream, idempotent consumers and their dead letters."""
