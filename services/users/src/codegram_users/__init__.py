"""The users service: profiles, profile search, and the GitHub-linked user record."""
