"""Rate windows: the rate budget shared by the workers of one helpdesk account.

One row per account ("platform:host") and window ("account", or a Zendesk ticket-update
header): the platform's latest count less the slots booked since, when the window resets and the
latest slot booked (connector.http.RateBudget, webhook_app.rate_budget). A new table: existing
rows are untouched; the downgrade drops it.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("account", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("total", sa.Integer),
        sa.Column("remaining", sa.Integer, nullable=False),
        sa.Column("resets_at", sa.Float, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
