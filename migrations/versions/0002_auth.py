"""Sign-in and sessions (issue 9: points 3, 4, 8, 10).

- users: one-time passwords expire and must be changed (password_must_change,
  password_expires_at); TOTP secrets are encrypted at rest (Fernet, TOTP_ENCRYPTION_KEY),
  so the column grows and existing secrets are encrypted here.
- staff_login_states loses the account lock (anyone could lock any officer out);
  login_throttles counts failures per account and source instead; staff_login_alerts
  remembers when an officer was last told their account is being guessed.
- revoked_sessions: ids of signed-out sessions, so saved cookies stop working.

Revision ID: 0002_auth
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_auth"
down_revision = "0002_notify"
branch_labels = None
depends_on = None

users = sa.table("users", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))


def _rewrite_secrets(transform) -> None:
    """Apply ``transform`` to every stored TOTP secret (the app's key, from its config)."""
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.totp_secret)
                        .where(users.c.totp_secret.is_not(None))).all()
    for user_id, value in rows:
        new = transform(value)
        if new != value:
            conn.execute(users.update().where(users.c.id == user_id).values(totp_secret=new))


def upgrade():
    from webapp.accounts import crypto

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_must_change", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("password_expires_at", sa.DateTime(), nullable=True))
        batch_op.alter_column("totp_secret", existing_type=sa.String(length=64),
                              type_=sa.String(length=255), existing_nullable=True)
    _rewrite_secrets(lambda v: v if crypto.is_encrypted(v) else crypto.encrypt(v))

    with op.batch_alter_table("staff_login_states", schema=None) as batch_op:
        batch_op.drop_column("failed_count")
        batch_op.drop_column("last_failed_at")
        batch_op.drop_column("locked_until")

    op.create_table(
        "login_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttles")),
        sa.UniqueConstraint("account_key", "source_key",
                            name=op.f("uq_login_throttles_account_key_source_key")),
    )
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttles_account_key"), ["account_key"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_login_throttles_last_failed_at"), ["last_failed_at"],
                              unique=False)

    op.create_table(
        "staff_login_alerts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("alerted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_staff_login_alerts_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_staff_login_alerts")),
    )

    op.create_table(
        "revoked_sessions",
        sa.Column("session_id", sa.String(length=43), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_revoked_sessions")),
    )
    with op.batch_alter_table("revoked_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_revoked_sessions_expires_at"), ["expires_at"],
                              unique=False)


def downgrade():
    from webapp.accounts import crypto

    with op.batch_alter_table("revoked_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revoked_sessions_expires_at"))
    op.drop_table("revoked_sessions")
    op.drop_table("staff_login_alerts")
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttles_last_failed_at"))
        batch_op.drop_index(batch_op.f("ix_login_throttles_account_key"))
    op.drop_table("login_throttles")

    with op.batch_alter_table("staff_login_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_count", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("last_failed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))

    _rewrite_secrets(lambda v: crypto.decrypt(v) if crypto.is_encrypted(v) else v)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("totp_secret", existing_type=sa.String(length=255),
                              type_=sa.String(length=64), existing_nullable=True)
        batch_op.drop_column("password_expires_at")
        batch_op.drop_column("password_must_change")
