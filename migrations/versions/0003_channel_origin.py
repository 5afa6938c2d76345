"""channel origin, remembered config follows; full-length story signatures

Why: a chat `follow` must survive a restart, and a channel created from chat
must keep its subscriptions (issue 6): `channels.origin` tells configured and
chat-made channels apart, `channels.config_follows` remembers the `follows`
feeds.yaml gave last time so a restart re-applies them only when the file
changed. `stories.signature` grows to the full MinHash (128 characters, see
bot/match/similarity.py) so the story index can be rebuilt after a restart
(issue 7).

On SQLite the type change rebuilds `stories` (batch mode). No release before
this one wrote `items.story_id`, so the rebuild's implicit DELETE (which sets
`items.story_id` to NULL through the foreign key) loses nothing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "channels",
        sa.Column("origin", sa.String(length=16), server_default="config", nullable=False),
    )
    op.add_column("channels", sa.Column("config_follows", sa.JSON(), nullable=True))
    with op.batch_alter_table("stories") as batch_op:
        batch_op.alter_column(
            "signature",
            existing_type=sa.String(length=64),
            type_=sa.String(length=128),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("stories") as batch_op:
        batch_op.alter_column(
            "signature",
            existing_type=sa.String(length=128),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
    with op.batch_alter_table("channels") as batch_op:
        batch_op.drop_column("config_follows")
        batch_op.drop_column("origin")
