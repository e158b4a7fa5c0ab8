"""The social service's internal gRPC API (codegram.social.v1): the batch lookups other services
make, such as "liked by me" and "followed by me". No RPC is served yet."""
