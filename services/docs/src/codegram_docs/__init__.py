"""The docs service: documentation pages and their search."""
