"""issue 16 (sms): text messages through GOV.UK Notify: residents' confirmed mobile
numbers, their confirmation codes (hashed) and text categories; deliveries get the
"delivered" state (Notify's receipts), which needs a wider state column

Revision ID: 0003_sms
Revises: 0002_scope
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_sms"
down_revision = "0002_scope"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sms_numbers",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_sms_numbers_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_sms_numbers")),
    )
    op.create_index(op.f("ix_sms_numbers_phone"), "sms_numbers", ["phone"], unique=False)
    op.create_table(
        "sms_categories",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_sms_categories_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "category", name=op.f("pk_sms_categories")),
    )
    op.create_table(
        "phone_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_phone_codes_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_codes")),
    )
    op.create_index(op.f("ix_phone_codes_user_id"), "phone_codes", ["user_id"], unique=False)
    op.create_index(op.f("ix_phone_codes_phone"), "phone_codes", ["phone"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("state", existing_type=sa.String(length=8),
                              type_=sa.String(length=12), existing_nullable=False)


def downgrade():
    op.execute("UPDATE deliveries SET state = 'sent' WHERE state = 'delivered'")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("state", existing_type=sa.String(length=12),
                              type_=sa.String(length=8), existing_nullable=False)
    op.drop_index(op.f("ix_phone_codes_phone"), table_name="phone_codes")
    op.drop_index(op.f("ix_phone_codes_user_id"), table_name="phone_codes")
    op.drop_table("phone_codes")
    op.drop_table("sms_categories")
    op.drop_index(op.f("ix_sms_numbers_phone"), table_name="sms_numbers")
    op.drop_table("sms_numbers")
