"""Each service's published gRPC client and the summaries it returns (authors and users from users,
whom a user follows from social), and the registry of services (`registry`: names, dev ports, who
calls whom)."""
