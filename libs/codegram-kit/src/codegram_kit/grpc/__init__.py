"""gRPC plumbing: the server, the client channel, and domain errors as status codes."""
