"""issue 13 (newcomer): London's postcodes from the ONS Postcode Directory (postcode
search in the ward finder)

Revision ID: 0003_newcomer
Revises: 0003_polish
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_newcomer"
down_revision = "0003_edge"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "postcodes",
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.Column("outward", sa.String(length=4), nullable=False),
        sa.Column("ward_id", sa.Integer(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["ward_id"], ["wards.id"], name=op.f("fk_postcodes_ward_id_wards"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("postcode", name=op.f("pk_postcodes")),
    )
    with op.batch_alter_table("postcodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_postcodes_outward"), ["outward"], unique=False)
        batch_op.create_index(batch_op.f("ix_postcodes_ward_id"), ["ward_id"], unique=False)


def downgrade():
    with op.batch_alter_table("postcodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postcodes_ward_id"))
        batch_op.drop_index(batch_op.f("ix_postcodes_outward"))
    op.drop_table("postcodes")
