"""What the social service publishes through the outbox (follows, likes, comments) and consumes with
durable consumers (users, snippets and docs events feeding its read models): nothing yet.

The session revocations that close sockets are heard by every replica on core NATS, in realtime.py.
"""
