"""The HTTP side: app factory, error envelope, pagination, responses, strict request bodies, bearer tokens."""
