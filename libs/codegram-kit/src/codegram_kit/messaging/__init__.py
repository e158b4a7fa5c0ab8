"""Messaging: the transactional outbox, the JetStream stream, consumers, dead letters and jobs."""
