"""events: no index on ``sender_id``

No query looks events up by their sender (pages, cursors, counts and the fast paths go
by box and position or by id), and identities are never deleted, so the foreign key
never needs it either. Every event put an entry in it: an index write, and a page to
write back at the commit, per post. Measured on the posts: PROFILE.md "no index on the
sender".

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:30:00
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_events_sender_id', table_name='events')


def downgrade() -> None:
    op.create_index('ix_events_sender_id', 'events', ['sender_id'], unique=False)
