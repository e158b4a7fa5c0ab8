"""What the github service publishes through the outbox and consumes with durable consumers: nothing
yet."""
