"""Data generation hooks for the API contract run (loaded by schemathesis through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

# The spec marks every `cursor` parameter with the format "cursor": an opaque value that only a
# previous page hands out (codegram_kit.web.openapi). The one such value a client may make up is
# the empty one (the first page); real cursors reach the run through the stateful phase's links.
schemathesis.openapi.format("cursor", st.just(""))
