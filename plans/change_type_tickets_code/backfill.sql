-- planner plan `change_type_tickets_code`: backfill (reference batch)
-- `planner backfill plans/change_type_tickets_code` runs this work in keyset batches with checkpoints,
-- throttling and resume. By hand: psql -v ON_ERROR_STOP=1 -f backfill.sql, repeated until
-- every statement reports UPDATE 0. Each run is one short transaction per statement.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- public.tickets: fill the rows where "code_planner" IS DISTINCT FROM (TRIM(code)::INTEGER)
UPDATE "public"."tickets" SET "code_planner" = (TRIM(code)::INTEGER)
WHERE ("id") IN (
    SELECT "id" FROM "public"."tickets"
    WHERE "code_planner" IS DISTINCT FROM (TRIM(code)::INTEGER)
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "code_planner" IS DISTINCT FROM (TRIM(code)::INTEGER);
