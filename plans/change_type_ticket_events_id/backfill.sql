-- planner plan `change_type_ticket_events_id`: backfill (reference batch)
-- `planner backfill plans/change_type_ticket_events_id` runs this work in keyset batches with checkpoints,
-- throttling and resume. By hand: psql -v ON_ERROR_STOP=1 -f backfill.sql, repeated until
-- every statement reports UPDATE 0. Each run is one short transaction per statement.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- public.ticket_events: fill the rows where "id_planner" IS DISTINCT FROM ("id"::BIGINT)
UPDATE "public"."ticket_events" SET "id_planner" = ("id"::BIGINT)
WHERE ("id") IN (
    SELECT "id" FROM "public"."ticket_events"
    WHERE "id_planner" IS DISTINCT FROM ("id"::BIGINT)
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "id_planner" IS DISTINCT FROM ("id"::BIGINT);
