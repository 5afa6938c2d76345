"""remember the quiet hours feeds.yaml gave each channel

Why: quiet hours set with the chat `quiet` command were reset to the file's
value at every restart. `channels.config_quiet` holds what the file said at the
last sync ("" for none), so a restart re-applies the file's quiet hours only
when the file changed, as `config_follows` does for follows (0003).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 05:35:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("channels", sa.Column("config_quiet", sa.String(length=11), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch_op:
        batch_op.drop_column("config_quiet")
