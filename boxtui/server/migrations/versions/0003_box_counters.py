"""box counters: the visible-event count and the unread counters, maintained per post

``boxes.visible_count`` answers ``HEAD /boxes/{id}/events`` without ``COUNT(*)``.
Unread counts no longer write one row per member per post: ``boxes.unread_seq``
counts the box's unread-type events, and a member's unread count is
``boxes.unread_seq - memberships.unread_base`` (a post also moves its sender's base,
an ack sets the base to the box's counter). Existing counts carry over:
``unread_base = -unread_count`` with ``unread_seq = 0``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 14:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('boxes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visible_count', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('unread_seq', sa.BigInteger(), server_default='0', nullable=False))
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unread_base', sa.BigInteger(), server_default='0', nullable=False))
    # One grouped pass over the visible-events index, not one count per box.
    op.execute(
        "UPDATE boxes SET visible_count = counts.n FROM "
        "(SELECT box_id, count(*) AS n FROM events WHERE visible GROUP BY box_id) AS counts "
        "WHERE counts.box_id = boxes.id"
    )
    op.execute("UPDATE memberships SET unread_base = -unread_count WHERE unread_count <> 0")


def downgrade() -> None:
    op.execute(
        "UPDATE memberships SET unread_count = "
        "(SELECT CASE WHEN boxes.unread_seq > memberships.unread_base THEN boxes.unread_seq - memberships.unread_base ELSE 0 END "
        "FROM boxes WHERE boxes.id = memberships.box_id)"
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('unread_base')
    with op.batch_alter_table('boxes', schema=None) as batch_op:
        batch_op.drop_column('unread_seq')
        batch_op.drop_column('visible_count')
