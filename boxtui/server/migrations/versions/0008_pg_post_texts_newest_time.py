"""PostgreSQL: ``boxtui_post_texts`` gives a post its box's newest time instead of refusing it

The fast path renders a post's answer with the app's clock before the call that places
it (0005). A call used to refuse a post whose time was before its box's newest event:
another process had taken the box's lock first with a later time, or its clock is ahead
of this one's (another machine), or this one's was set back. The post was tried again
with a fresh time and then handed to the routes. With two processes posting to one box
1.5–3 % of posts were tried again and up to 0.5 % went to the routes; with nothing
pacing the processes' calls (the realtime bus's round trip did) 8–15 % and 3–6 %, and
two workers posted a quarter as fast as one; and between machines whose clocks differ
by more than a call takes, the lagging one's posts to a busy box would all go the
routes' way. Now the call places the post at the box's newest time when that is later
than the app's (equal times keep the order of seq: PROTOCOL §10.16 asks that times
never go backwards), exactly as the routes now do (``events.service.event_time``).

The answer holds the time, so it comes in two parts, the bytes before the time and the
bytes after (``p_head``, ``p_tail``); the call writes the Idempotency-Key record's body
as head, the time placed (``format_time``'s form: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; the
format's colons are quoted literals, so no ``:name`` reads as a bind parameter) and
tail, and returns each post's time (``at``) for the fast path to answer the same bytes.

SQLite: nothing (its fast path writes inline, under the database's write lock, and
reads the box's newest time there).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00
"""
import importlib.util
from pathlib import Path

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_OLD_SIGNATURE = (
    "boxtui_post_texts(varchar[], varchar[], varchar[], varchar[], varchar[], varchar[],"
    " varchar[], text[], timestamptz[], varchar[], varchar[], text[], timestamptz[])"
)
_NEW_SIGNATURE = (
    "boxtui_post_texts(varchar[], varchar[], varchar[], varchar[], varchar[], varchar[],"
    " varchar[], text[], timestamptz[], varchar[], varchar[], text[], text[], timestamptz[])"
)

POST_TEXTS = r"""
CREATE FUNCTION boxtui_post_texts(
    p_box varchar[], p_sender varchar[], p_creator varchar[], p_name varchar[], p_avatar varchar[], p_email varchar[],
    p_id varchar[], p_content text[], p_at timestamptz[],
    p_key varchar[], p_fingerprint varchar[], p_head text[], p_tail text[], p_expires timestamptz[])
RETURNS TABLE (ord bigint, seq bigint, pos bigint, box_id varchar, audience varchar[], at timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
DECLARE
    r_ord bigint[];
    r_seq bigint[];
    r_pos bigint[];
    r_box varchar[];
    r_at timestamptz[];
    keyed bigint;
    recorded jsonb;
BEGIN
    -- The boxes' rows, locked in byte order (the share route's order: no deadlock).
    PERFORM 1 FROM boxes b WHERE b.id = ANY(p_box) ORDER BY b.id COLLATE "C" FOR UPDATE;
    -- The next statement's snapshot sees everything committed before the locks were ours.
    WITH p AS (
        SELECT * FROM unnest(p_box, p_sender, p_creator, p_name, p_avatar, p_email, p_id, p_content, p_at, p_key, p_fingerprint, p_head, p_tail, p_expires)
            WITH ORDINALITY AS x(box_id, sender, creator, name, avatar, email, id, content, at, key, fingerprint, head, tail, expires, ord)
    ),
    ok AS MATERIALIZED (
        SELECT p.*, b.visible_count,
               -- never before the box's newest event, nor before an earlier post of the call to the box
               greatest(max(p.at) OVER (PARTITION BY p.box_id ORDER BY p.ord), (
                   SELECT max(e.created_at) FROM events e
                   WHERE e.seq IN ((SELECT max(v.seq) FROM events v WHERE v.box_id = p.box_id AND v.visible),
                                   (SELECT max(h.seq) FROM events h WHERE h.box_id = p.box_id AND NOT h.visible)))) AS placed_at
        FROM p JOIN boxes b ON b.id = p.box_id JOIN identities i ON i.id = p.sender
        WHERE b.lifecycle = 'open' AND b.creator_id = p.creator
          AND i.display_name IS NOT DISTINCT FROM p.name AND i.avatar_url IS NOT DISTINCT FROM p.avatar AND i.email IS NOT DISTINCT FROM p.email
          AND EXISTS (SELECT 1 FROM memberships m WHERE m.box_id = p.box_id AND m.identity_id = p.sender AND m.active)
    ),
    alloc AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('events', 'seq')) AS seq FROM ok),
    s AS (SELECT alloc.seq, row_number() OVER (ORDER BY alloc.seq) AS r FROM alloc),
    placed AS MATERIALIZED (
        SELECT o.*, s.seq FROM (
            SELECT ok.*, row_number() OVER (ORDER BY ok.box_id COLLATE "C", ok.ord) AS r,
                   ok.visible_count + row_number() OVER (PARTITION BY ok.box_id ORDER BY ok.ord) AS pos
            FROM ok
        ) o JOIN s ON s.r = o.r
    ),
    k AS (
        INSERT INTO idempotency_keys AS ik (scope, key, fingerprint, status, body, headers, created_at, expires_at)
        SELECT placed.sender, placed.key, placed.fingerprint, 201,
               placed.head || to_char(placed.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24":"MI":"SS.US"Z"') || placed.tail,
               '{}'::json, placed.at, placed.expires
        FROM placed WHERE placed.key IS NOT NULL
        ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, body = EXCLUDED.body,
            headers = EXCLUDED.headers, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
        WHERE ik.expires_at <= EXCLUDED.created_at
        RETURNING ik.scope, ik.key
    ),
    e AS (
        INSERT INTO events (seq, id, box_id, type, sender_id, referrer_id, content, created_at, visible, active, pos)
        SELECT placed.seq, placed.id, placed.box_id, 'msg.text', placed.sender, NULL, placed.content::json, placed.placed_at, true, true, placed.pos
        FROM placed
    ),
    c AS (SELECT placed.box_id, count(*) AS n, max(placed.seq) AS last FROM placed GROUP BY placed.box_id),
    bx AS (
        UPDATE boxes SET visible_count = boxes.visible_count + c.n, unread_seq = boxes.unread_seq + c.n, last_event_seq = c.last
        FROM c WHERE boxes.id = c.box_id
    ),
    mb AS (
        UPDATE memberships SET unread_base = memberships.unread_base + u.n
        FROM (SELECT placed.box_id, placed.sender, count(*) AS n FROM placed GROUP BY placed.box_id, placed.sender) u
        WHERE memberships.box_id = u.box_id AND memberships.identity_id = u.sender
    )
    SELECT array_agg(placed.ord ORDER BY placed.ord), array_agg(placed.seq ORDER BY placed.ord),
           array_agg(placed.pos ORDER BY placed.ord), array_agg(placed.box_id ORDER BY placed.ord),
           array_agg(placed.placed_at ORDER BY placed.ord),
           count(placed.key), (SELECT jsonb_agg(jsonb_build_array(k.scope, k.key)) FROM k)
    INTO r_ord, r_seq, r_pos, r_box, r_at, keyed, recorded
    FROM placed;
    IF keyed > coalesce(jsonb_array_length(recorded), 0) THEN
        RAISE EXCEPTION 'boxtui: an Idempotency-Key is already recorded'
            USING ERRCODE = 'P0001', DETAIL = coalesce(recorded, '[]'::jsonb)::text;
    END IF;
    RETURN QUERY
        SELECT x.ord, x.seq, x.pos, x.box_id, NULL::varchar[], x.at
        FROM unnest(r_ord, r_seq, r_pos, r_box, r_at) AS x(ord, seq, pos, box_id, at)
        UNION ALL
        SELECT NULL::bigint, NULL::bigint, NULL::bigint, b.id,
               ARRAY(SELECT m.identity_id FROM memberships m WHERE m.box_id = b.id AND m.active), NULL::timestamptz
        FROM boxes b WHERE b.id = ANY(r_box);
END
$fn$
"""


def _previous() -> str:
    """0005's function, for the downgrade."""
    path = Path(__file__).with_name('0005_pg_post_texts.py')
    spec = importlib.util.spec_from_file_location('boxtui_migration_0005', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.POST_TEXTS


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"DROP FUNCTION IF EXISTS {_OLD_SIGNATURE}")
        op.execute(POST_TEXTS)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"DROP FUNCTION IF EXISTS {_NEW_SIGNATURE}")
        op.execute(_previous())
