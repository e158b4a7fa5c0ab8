"""The auth service: sign-in with GitHub, access and refresh tokens, and the signing keys."""
