"""What snippets and docs share: items, visibility, tags, keyset lists, search, use cases, store, events."""
