"""The github service's internal gRPC API (codegram.github.v1): no RPC is served yet."""
