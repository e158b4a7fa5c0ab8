"""The social service's public API models (API.md "Social"): none yet beyond the WebSocket frames
of realtime.py."""
