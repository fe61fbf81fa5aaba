-- planner plan `rename_users_name_with_length`: backfill (reference batch)
-- `planner backfill plans/rename_users_name_with_length` runs this work in keyset batches with checkpoints,
-- throttling and resume. By hand: psql -v ON_ERROR_STOP=1 -f backfill.sql, repeated until
-- every statement reports UPDATE 0. Each run is one short transaction per statement.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- public.users: fill the rows where "full_name" IS DISTINCT FROM "name"
UPDATE "public"."users" SET "full_name" = "name"
WHERE ("id") IN (
    SELECT "id" FROM "public"."users"
    WHERE "full_name" IS DISTINCT FROM "name"
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "full_name" IS DISTINCT FROM "name";

-- public.users: fill the rows where "name_len" IS NULL
UPDATE "public"."users" SET "name_len" = (length(full_name))
WHERE ("id") IN (
    SELECT "id" FROM "public"."users"
    WHERE "name_len" IS NULL
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "name_len" IS NULL;
