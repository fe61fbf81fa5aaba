-- planner plan `add_users_email_verified`: backfill (reference batch)
-- `planner backfill plans/add_users_email_verified` runs this work in keyset batches with checkpoints,
-- throttling and resume. By hand: psql -v ON_ERROR_STOP=1 -f backfill.sql, repeated until
-- every statement reports UPDATE 0. Each run is one short transaction per statement.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- public.users: fill the rows where "email_verified" IS NULL
UPDATE "public"."users" SET "email_verified" = (verified_at IS NOT NULL)
WHERE ("id") IN (
    SELECT "id" FROM "public"."users"
    WHERE "email_verified" IS NULL
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "email_verified" IS NULL;
