"""The social service's use cases (follows, likes, comments, the feed, notifications): nothing yet."""
