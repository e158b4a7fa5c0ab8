"""The snippets service: code snippets and their search."""
