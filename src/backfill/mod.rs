//! The backfill engine: keyset batches, a checkpoint in each batch's transaction, throttling.
