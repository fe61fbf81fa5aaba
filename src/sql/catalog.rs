//! Catalog queries shared by the executor (which binds their parameters) and exported
//! migrations (which run the same text through PL/pgSQL `EXECUTE … USING`), so a precondition
//! means the same thing whichever tool checks it.

/// What still depends on a column besides the objects that go away with it (the table's own
/// indexes, constraints on this column alone, its default, an owned sequence, planner's own
/// triggers): views, rules, foreign keys from elsewhere. `$1`: the table as regclass text,
/// `$2`: the column's attnum (int2). One row per blocker, described.
pub const COLUMN_BLOCKERS: &str = "SELECT DISTINCT CASE WHEN d.classid = 'pg_rewrite'::regclass
                    THEN 'view or rule ' || (SELECT r.ev_class::regclass::text FROM pg_rewrite r WHERE r.oid = d.objid)
                    ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END
           FROM pg_depend d
          WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass($1) AND d.refobjsubid = $2
            AND d.deptype IN ('n', 'a')
            AND NOT COALESCE(CASE
                WHEN d.classid = 'pg_class'::regclass THEN (
                    SELECT CASE WHEN c.relkind IN ('i', 'I') THEN EXISTS (
                                    SELECT 1 FROM pg_index i WHERE i.indexrelid = c.oid AND i.indrelid = to_regclass($1))
                                WHEN c.relkind = 'S' THEN d.deptype = 'a'
                                ELSE false END
                      FROM pg_class c WHERE c.oid = d.objid)
                WHEN d.classid = 'pg_constraint'::regclass THEN (
                    SELECT con.conrelid = to_regclass($1) AND con.conkey = ARRAY[$2]::int2[]
                      FROM pg_constraint con WHERE con.oid = d.objid)
                WHEN d.classid = 'pg_attrdef'::regclass THEN true
                WHEN d.classid = 'pg_trigger'::regclass THEN (
                    SELECT t.tgrelid = to_regclass($1) AND t.tgname LIKE 'planner\\_%'
                      FROM pg_trigger t WHERE t.oid = d.objid)
                ELSE false END, false)
          ORDER BY 1";
