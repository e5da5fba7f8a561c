"""One query for a call between our own accounts (issue 21: the registrar's cost per call): whether the dialled
name is ours, whether the caller may call it (L4), and its ring plan (R9-R12, R14), in one round trip instead of
three. Kamailio calls local_call() first; for a number it goes on as before (numbering, pricing, then
call_in_scope() and ring_plan() for the account the number reaches).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"

LOCAL_CALL = r"""
CREATE OR REPLACE FUNCTION local_call(caller text, callee text, OUT local integer, OUT in_scope integer,
                                      OUT plan text, OUT display text, OUT steps integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    local := dialled_local(callee);
    IF local = 1 THEN
        in_scope := call_in_scope(caller, callee);
        IF in_scope = 1 THEN
            SELECT p.plan, p.display, p.steps INTO plan, display, steps FROM ring_plan(caller, callee) p;
        END IF;
    END IF;
END $$
"""


def upgrade() -> None:
    op.execute(LOCAL_CALL)


def downgrade() -> None:
    op.execute("DROP FUNCTION local_call(text, text)")
