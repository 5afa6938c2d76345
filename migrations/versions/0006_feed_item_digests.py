"""remember the item digests of each feed's last stored version

Why: when one item of a feed is new, the others were parsed, normalized and
matched again at every fetch, only to be found stored already. `feeds.item_digests`
holds a digest per item of the last stored version (bot/feeds/seen.py), written
in the same transaction as the items; the next fetch prepares only the items
not in it. NULL (every feed until its next fetch) means nothing is skipped.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("item_digests", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Not batch_alter_table: on SQLite that copies `feeds` and drops the original,
    # and the drop cascades to every item (ON DELETE CASCADE). SQLite 3.35+ drops
    # a column in place.
    op.drop_column("feeds", "item_digests")
