-- planner plan `rename_orders_mixedcase`: backfill (reference batch)
-- `planner backfill plans/rename_orders_mixedcase` runs this work in keyset batches with checkpoints,
-- throttling and resume. By hand: psql -v ON_ERROR_STOP=1 -f backfill.sql, repeated until
-- every statement reports UPDATE 0. Each run is one short transaction per statement.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- public.orders: fill the rows where "Gift Note" IS DISTINCT FROM "MixedCase"
UPDATE "public"."orders" SET "Gift Note" = "MixedCase"
WHERE ("Order Id") IN (
    SELECT "Order Id" FROM "public"."orders"
    WHERE "Gift Note" IS DISTINCT FROM "MixedCase"
    ORDER BY "Order Id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "Gift Note" IS DISTINCT FROM "MixedCase";
