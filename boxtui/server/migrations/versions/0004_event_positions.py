"""event positions: each member-visible event's place in its box (1, 2, 3, …)

``events.pos`` numbers a box's visible events in ``seq`` order; hidden events
(``access.*``, ``msg.edit``, ``msg.delete``) have none. Visible events are never
removed from a box's list (edits and deletes fold into them), so positions never
shift: the newest page is ``pos > visible_count - limit`` and an ``offset`` page is a
range of ``(box_id, pos)`` — ``limit`` index entries at any depth, and no query plan
can walk the primary key instead (PROFILE.md §4). Backfilled here in one pass.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 14:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pos', sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE events SET pos = numbered.n FROM "
        "(SELECT seq, row_number() OVER (PARTITION BY box_id ORDER BY seq) AS n FROM events WHERE visible) AS numbered "
        "WHERE numbered.seq = events.seq"
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_box_pos', ['box_id', 'pos'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_box_pos')
        batch_op.drop_column('pos')
