"""Each service's published gRPC client and the summaries it returns (authors and users from users)."""
