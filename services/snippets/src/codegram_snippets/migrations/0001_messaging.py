"""snippets schema: outbox and processed events

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from codegram_kit.db.migrations import messaging_revision

revision, down_revision, branch_labels, depends_on = "0001", None, None, None
upgrade, downgrade = messaging_revision("snippets")
