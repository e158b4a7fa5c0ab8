"""The github service's public API models (API.md "GitHub"): none yet."""
