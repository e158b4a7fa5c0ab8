"""Each service's published gRPC client and the summaries it returns (authors and users from users),
and the registry of services (`registry`: names, dev ports, who calls whom)."""
