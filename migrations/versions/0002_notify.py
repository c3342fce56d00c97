"""notification identity: a key over content, recipient and occasion

Revision ID: 0002_notify
Revises: 0001
Create Date: 2026-11-26 12:30:00

A notification was unique per (source_type, source_id, kind), so the first text stored
for a key was reused for later, different messages (another team's officer digest, a
reminder with the old time). It is now identified by ``content_key`` (see
``webapp.delivery.services.notification_key``); personal ones carry ``recipient_id``.
Rows written before this revision get the key ``legacy-<id>``: their text is kept as it
was sent, and no new message can ever match them.
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_notify'
down_revision = '0001'
branch_labels = None
depends_on = None


@contextmanager
def _sqlite_foreign_keys_off():
    """SQLite rebuilds the table (batch "move and copy"); with foreign keys on, dropping
    the old copy would cascade-delete every delivery. The pragma only works outside a
    transaction, so end the one Alembic's connection has open and set it on the driver's
    connection (through SQLAlchemy it would open a new transaction first)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    if bind.in_transaction():
        bind.commit()
    raw = bind.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        if bind.in_transaction():
            bind.commit()
        violations = raw.execute("PRAGMA foreign_key_check").fetchall()
        if violations:
            raise RuntimeError(f"foreign keys broken by the migration: {violations[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def upgrade():
    op.add_column('notifications', sa.Column('content_key', sa.String(length=64), nullable=True))
    op.add_column('notifications', sa.Column('recipient_id', sa.Integer(), nullable=True))
    op.execute("UPDATE notifications SET content_key = 'legacy-' || id")
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table('notifications', schema=None) as batch_op:
            batch_op.alter_column('content_key', existing_type=sa.String(length=64),
                                  nullable=False)
            batch_op.drop_constraint('uq_notifications_source_type_source_id_kind', type_='unique')
            batch_op.create_unique_constraint(batch_op.f('uq_notifications_content_key'),
                                              ['content_key'])
            batch_op.create_foreign_key(batch_op.f('fk_notifications_recipient_id_users'),
                                        'users', ['recipient_id'], ['id'], ondelete='CASCADE')
            batch_op.create_index(batch_op.f('ix_notifications_recipient_id'), ['recipient_id'],
                                  unique=False)
            batch_op.create_index('ix_notifications_source', ['source_type', 'source_id', 'kind'],
                                  unique=False)


def downgrade():
    # The old schema allowed one notification per (source_type, source_id, kind): keep the
    # oldest of each (later ones go, with their deliveries).
    op.execute("DELETE FROM notifications WHERE id NOT IN (SELECT min(id) FROM notifications "
               "GROUP BY source_type, source_id, kind)")
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table('notifications', schema=None) as batch_op:
            batch_op.drop_index('ix_notifications_source')
            batch_op.drop_index(batch_op.f('ix_notifications_recipient_id'))
            batch_op.drop_constraint(batch_op.f('fk_notifications_recipient_id_users'),
                                     type_='foreignkey')
            batch_op.drop_constraint(batch_op.f('uq_notifications_content_key'), type_='unique')
            batch_op.create_unique_constraint('uq_notifications_source_type_source_id_kind',
                                              ['source_type', 'source_id', 'kind'])
            batch_op.drop_column('recipient_id')
            batch_op.drop_column('content_key')
