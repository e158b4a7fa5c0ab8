"""The social service: follows, likes, comments, the feed, notifications and the real-time channel."""
