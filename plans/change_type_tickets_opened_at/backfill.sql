-- planner plan `change_type_tickets_opened_at`: backfill (reference batch)
-- `planner backfill plans/change_type_tickets_opened_at` runs this work in keyset batches with checkpoints,
-- throttling and resume. By hand: psql -v ON_ERROR_STOP=1 -f backfill.sql, repeated until
-- every statement reports UPDATE 0. Each run is one short transaction per statement.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- public.tickets: fill the rows where "opened_at_planner" IS DISTINCT FROM ("opened_at" AT TIME ZONE 'UTC')
UPDATE "public"."tickets" SET "opened_at_planner" = ("opened_at" AT TIME ZONE 'UTC')
WHERE ("id") IN (
    SELECT "id" FROM "public"."tickets"
    WHERE "opened_at_planner" IS DISTINCT FROM ("opened_at" AT TIME ZONE 'UTC')
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "opened_at_planner" IS DISTINCT FROM ("opened_at" AT TIME ZONE 'UTC');
