"""installation secrets

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Secrets that belong to one installation (one database) rather than one server process: the key
that signs pagination cursors. Made here, once, from PostgreSQL's strong random source
(gen_random_uuid uses pg_strong_random), so every server process of this database, stateless HTTP
workers behind a balancer included, signs and accepts the same cursors, and a replica has it too.
The explain login is not granted SELECT on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "installation_secrets",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_installation_secrets")),
        sa.CheckConstraint("octet_length(secret) >= 16", name=op.f("ck_installation_secrets_secret_length")),
    )
    op.execute(
        "INSERT INTO installation_secrets (name, secret) VALUES ('cursor', "
        "decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))"
    )


def downgrade() -> None:
    op.drop_table("installation_secrets")
