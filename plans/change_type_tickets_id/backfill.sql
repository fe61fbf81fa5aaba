-- planner plan `change_type_tickets_id`: backfill (reference batch)
-- `planner backfill plans/change_type_tickets_id` runs this work in keyset batches with checkpoints,
-- throttling and resume. By hand: psql -v ON_ERROR_STOP=1 -f backfill.sql, repeated until
-- every statement reports UPDATE 0. Each run is one short transaction per statement.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- public.tickets: fill the rows where "id_planner" IS DISTINCT FROM ("id"::BIGINT)
UPDATE "public"."tickets" SET "id_planner" = ("id"::BIGINT)
WHERE ("id") IN (
    SELECT "id" FROM "public"."tickets"
    WHERE "id_planner" IS DISTINCT FROM ("id"::BIGINT)
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "id_planner" IS DISTINCT FROM ("id"::BIGINT);

-- public.ticket_events: fill the rows where "ticket_id_planner" IS DISTINCT FROM ("ticket_id"::BIGINT)
UPDATE "public"."ticket_events" SET "ticket_id_planner" = ("ticket_id"::BIGINT)
WHERE ("id") IN (
    SELECT "id" FROM "public"."ticket_events"
    WHERE "ticket_id_planner" IS DISTINCT FROM ("ticket_id"::BIGINT)
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "ticket_id_planner" IS DISTINCT FROM ("ticket_id"::BIGINT);
