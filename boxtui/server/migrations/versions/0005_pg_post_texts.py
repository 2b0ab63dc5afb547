"""PostgreSQL: ``boxtui_post_texts``, the fast path's group commit as one call

The fast path used to write a group of ``msg.text`` posts in one transaction of four
round trips, the box rows locked from the second to the last: each batch held its
boxes' locks across two client round trips, and a client round trip is as slow as the
server's event loop is busy (2–5 ms per batch under load, PROFILE.md "one call").
This function does what those statements did, in one call that the fast path sends
outside a transaction (the call is its own transaction): the locks are held while the
database works, not while a client does.

The posts come in as arrays, one element per post, with their answers already rendered
(the answer, kept in the idempotency record, depends on nothing the call decides).
A post is placed when its sender is an active member of the box, the box is open and
has the creator, and the sender the name, avatar and e-mail, its answer was rendered
with (the fast path keeps them a few seconds), and no event of the box is newer than
the post's time (the app's clock, read before the call; a later call may have taken
the lock first): its ``seq`` (from the sequence, under the lock, in the posts' order)
and position come back, with each placed box's audience. Posts not placed come back
missing; the fast path tries them once more with a fresh time, then hands them to the
routes. An Idempotency-Key recorded (and live) by another request raises ``P0001``,
and nothing is written; the detail lists the keys this call could record.

SQLite: nothing (its fast path writes inline, under the database's write lock).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:40:00
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

POST_TEXTS = r"""
CREATE OR REPLACE FUNCTION boxtui_post_texts(
    p_box varchar[], p_sender varchar[], p_creator varchar[], p_name varchar[], p_avatar varchar[], p_email varchar[],
    p_id varchar[], p_content text[], p_at timestamptz[],
    p_key varchar[], p_fingerprint varchar[], p_body text[], p_expires timestamptz[])
RETURNS TABLE (ord bigint, seq bigint, pos bigint, box_id varchar, audience varchar[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
DECLARE
    r_ord bigint[];
    r_seq bigint[];
    r_pos bigint[];
    r_box varchar[];
    keyed bigint;
    recorded jsonb;
BEGIN
    -- The boxes' rows, locked in byte order (the share route's order: no deadlock).
    PERFORM 1 FROM boxes b WHERE b.id = ANY(p_box) ORDER BY b.id COLLATE "C" FOR UPDATE;
    -- The next statement's snapshot sees everything committed before the locks were ours.
    WITH p AS (
        SELECT * FROM unnest(p_box, p_sender, p_creator, p_name, p_avatar, p_email, p_id, p_content, p_at, p_key, p_fingerprint, p_body, p_expires)
            WITH ORDINALITY AS x(box_id, sender, creator, name, avatar, email, id, content, at, key, fingerprint, body, expires, ord)
    ),
    ok AS MATERIALIZED (
        SELECT p.*, b.visible_count FROM p JOIN boxes b ON b.id = p.box_id JOIN identities i ON i.id = p.sender
        WHERE b.lifecycle = 'open' AND b.creator_id = p.creator
          AND i.display_name IS NOT DISTINCT FROM p.name AND i.avatar_url IS NOT DISTINCT FROM p.avatar AND i.email IS NOT DISTINCT FROM p.email
          AND EXISTS (SELECT 1 FROM memberships m WHERE m.box_id = p.box_id AND m.identity_id = p.sender AND m.active)
          AND NOT EXISTS (
              SELECT 1 FROM events e
              WHERE e.seq IN ((SELECT max(v.seq) FROM events v WHERE v.box_id = p.box_id AND v.visible),
                              (SELECT max(h.seq) FROM events h WHERE h.box_id = p.box_id AND NOT h.visible))
                AND e.created_at > p.at)
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
        SELECT placed.sender, placed.key, placed.fingerprint, 201, placed.body, '{}'::json, placed.at, placed.expires
        FROM placed WHERE placed.key IS NOT NULL
        ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, body = EXCLUDED.body,
            headers = EXCLUDED.headers, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
        WHERE ik.expires_at <= EXCLUDED.created_at
        RETURNING ik.scope, ik.key
    ),
    e AS (
        INSERT INTO events (seq, id, box_id, type, sender_id, referrer_id, content, created_at, visible, active, pos)
        SELECT placed.seq, placed.id, placed.box_id, 'msg.text', placed.sender, NULL, placed.content::json, placed.at, true, true, placed.pos
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
           count(placed.key), (SELECT jsonb_agg(jsonb_build_array(k.scope, k.key)) FROM k)
    INTO r_ord, r_seq, r_pos, r_box, keyed, recorded
    FROM placed;
    IF keyed > coalesce(jsonb_array_length(recorded), 0) THEN
        RAISE EXCEPTION 'boxtui: an Idempotency-Key is already recorded'
            USING ERRCODE = 'P0001', DETAIL = coalesce(recorded, '[]'::jsonb)::text;
    END IF;
    RETURN QUERY
        SELECT x.ord, x.seq, x.pos, x.box_id, NULL::varchar[]
        FROM unnest(r_ord, r_seq, r_pos, r_box) AS x(ord, seq, pos, box_id)
        UNION ALL
        SELECT NULL::bigint, NULL::bigint, NULL::bigint, b.id,
               ARRAY(SELECT m.identity_id FROM memberships m WHERE m.box_id = b.id AND m.active)
        FROM boxes b WHERE b.id = ANY(r_box);
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(POST_TEXTS)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "DROP FUNCTION IF EXISTS boxtui_post_texts(varchar[], varchar[], varchar[], varchar[], varchar[], varchar[],"
            " varchar[], text[], timestamptz[], varchar[], varchar[], text[], timestamptz[])"
        )
