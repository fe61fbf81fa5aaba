-- planner plan `rename_billing_invoices_amount_cents`: backfill (reference batch)
-- `planner backfill plans/rename_billing_invoices_amount_cents` runs this work in keyset batches with checkpoints,
-- throttling and resume. By hand: psql -v ON_ERROR_STOP=1 -f backfill.sql, repeated until
-- every statement reports UPDATE 0. Each run is one short transaction per statement.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- billing.invoices: fill the rows where "total_cents" IS DISTINCT FROM "amount_cents"
UPDATE "billing"."invoices" SET "total_cents" = "amount_cents"
WHERE ("id") IN (
    SELECT "id" FROM "billing"."invoices"
    WHERE "total_cents" IS DISTINCT FROM "amount_cents"
    ORDER BY "id"
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
AND "total_cents" IS DISTINCT FROM "amount_cents";
