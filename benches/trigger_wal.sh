#!/usr/bin/env bash
# What a row trigger costs a bulk UPDATE, in WAL records and bytes per row (load-independent),
# on one table shape, each arm on its own fresh table. Not a test; see benches/README.md.
#
#   benches/trigger_wal.sh [ROWS]            # default 200000
#   PLANNER=target/debug/planner PGURL=postgres://postgres@127.0.0.1:5432 benches/trigger_wal.sh
#
# Arms (the UPDATE is the add-column backfill's: SET verified = verified_at IS NOT NULL):
#   none          no trigger
#   before_false  BEFORE UPDATE row trigger, WHEN (false), body a no-op
#   before_off    the same trigger, ALTER TABLE ... DISABLE TRIGGER
#   before_of     BEFORE UPDATE OF payload (a column the UPDATE does not set), no WHEN
#   planner       planner's own triggers: `planner plan add-column` + `planner apply --phase expand`
#   after_false   AFTER UPDATE row trigger, WHEN (false)
# and the app's side of the AFTER alternative: N/10 single-row UPDATEs that flip verified_at
# between NULL and now(), so that every one changes the derived column (a rename's case):
#   app_before    planner's BEFORE trigger fills verified in the same row version
#   app_after     an AFTER UPDATE OF verified_at trigger fills it with a second UPDATE
#
# WAL comes from pg_waldump --stats=record over the arm's LSN range, restricted to the arm's
# heap and primary-key index (other sessions' writes do not count); the bulk arms also give
# EXPLAIN (ANALYZE, WAL) of the statement (this backend only) and its execution time. Needs
# read access to the server's pg_wal (run as root or postgres on the server's machine). PERF=1
# also profiles each bulk UPDATE's backend with `perf record` (root, same machine).
set -euo pipefail

ROWS=${1:-200000}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=planner_trigger_wal_$$
PLANNER=${PLANNER:-target/debug/planner}
BIN=${PGBIN:-/usr/lib/postgresql/15/bin}
APP_ROWS=$((ROWS / 10))

psql_db() { psql "$PGURL/$DB" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
cleanup() { psql "$PGURL/postgres" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
WORK=$(mktemp -d)
trap cleanup EXIT

psql "$PGURL/postgres" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"
DATADIR=$(psql_db -c "SHOW data_directory")
DBOID=$(psql_db -c "SELECT oid FROM pg_database WHERE datname = current_database()")
echo "$(psql_db -c 'SELECT version()')"
echo "rows $ROWS (app arms: $APP_ROWS single-row updates); load average $(cut -d' ' -f1-3 /proc/loadavg)"

build() { # table
  psql_db -c "CREATE TABLE $1 (id bigint PRIMARY KEY, email text, verified_at timestamptz, payload text);
    INSERT INTO $1 SELECT g, 'user' || g || '@example.com',
      CASE WHEN g % 2 = 0 THEN timestamptz '2026-01-01' + g * interval '1 second' END, repeat('x', 60)
      FROM generate_series(1, $ROWS) g;
    ALTER TABLE $1 ADD COLUMN verified boolean;" >/dev/null
  psql_db -c "VACUUM ANALYZE $1"
}

# The table's heap and pkey as tablespace/database/relfilenode, for pg_waldump --relation.
rels() {
  psql_db -c "SELECT reltablespace, pg_relation_filenode(oid) FROM pg_class WHERE oid IN ('$1'::regclass, '${1}_pkey'::regclass)" |
    while IFS='|' read -r ts node; do
      [ "$ts" = 0 ] && ts=$(psql_db -c "SELECT oid FROM pg_tablespace WHERE spcname = 'pg_default'")
      echo "$ts/$DBOID/$node"
    done
}

# Records and bytes (record + FPI) per row over [from, to) for the table's relations, by type.
waldump() { # table from to rows
  for rel in $(rels "$1"); do
    "$BIN/pg_waldump" -p "$DATADIR/pg_wal" -s "$2" -e "$3" --relation="$rel" --stats=record
  done | sed 's/([^)]*)//g' | awk -v n="$4" '
    $1 ~ /\// && $2 > 0 { r += $2; b += $3; f += $4; t = t sprintf(" %s %.2f", $1, $2 / n) }
    END { printf "WAL %.2f records/row, %.0f bytes/row + %.0f FPI:%s", r / n, b / n, f / n, t }'
}

lsn() { psql_db -c "SELECT pg_current_wal_flush_lsn()"; }

noop_fn="CREATE OR REPLACE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';"

# planner's triggers, exactly as `apply --phase expand` installs them (it adds the column too).
planner_expand() { # table
  psql_db -c "ALTER TABLE $1 DROP COLUMN verified" >/dev/null
  PLANS=$((${PLANS:-0} + 1)) # plan names are unique per database
  { "$PLANNER" --database-url "$PGURL/$DB" plan add-column "$1.verified" boolean --not-null \
      --backfill "verified_at IS NOT NULL" --out "$WORK/plans" --name "flow_$PLANS" &&
    "$PLANNER" --database-url "$PGURL/$DB" apply "$WORK/plans/flow_$PLANS" --phase expand; } \
    >"$WORK/planner.log" 2>&1 || { cat "$WORK/planner.log"; exit 1; }
}

# One bulk UPDATE on a fresh table after `setup` (SQL, @T replaced by the table's name, or
# the word planner), from pg_waldump and from EXPLAIN (ANALYZE, WAL) of this backend.
bulk() { # arm setup
  local t="t_$1" from to
  build "$t"
  if [ "$2" = planner ]; then planner_expand "$t"; elif [ -n "$2" ]; then psql_db -c "${2//@T/$t}" >/dev/null; fi
  psql_db -c "CHECKPOINT"
  from=$(lsn)
  local explain="EXPLAIN (ANALYZE, WAL, TIMING off, FORMAT JSON) UPDATE $t SET verified = verified_at IS NOT NULL"
  if [ -n "${PERF:-}" ]; then
    # The backend's CPU profile: where in the executor the statement spends its samples.
    PGAPPNAME=trigger_wal_perf psql_db -c "SELECT pg_sleep(1)" -c "$explain" | sed 1d >"$WORK/plan.json" &
    local pid=""
    while [ -z "$pid" ]; do
      pid=$(psql_db -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'trigger_wal_perf' AND datname = current_database()")
    done
    perf record -q -F 999 -g -p "$pid" -o "$WORK/perf.data" >/dev/null 2>&1
    wait
  else
    psql_db -c "$explain" >"$WORK/plan.json"
  fi
  to=$(lsn)
  printf '%-13s %s; %s\n' "$1" "$(waldump "$t" "$from" "$to" "$ROWS")" "$(python3 - "$WORK/plan.json" "$ROWS" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))[0]
n = int(sys.argv[2]); top = p["Plan"]
print(f"EXPLAIN: {top['WAL Records']/n:.2f} records/row, {top['WAL Bytes']/n:.0f} bytes/row "
      f"({top['WAL FPI']} FPI), {p['Execution Time']/n*1000:.2f} us/row")
PY
)"
  python3 -c "import json; print('$1', json.load(open('$WORK/plan.json'))[0]['Execution Time'] / $ROWS * 1000)" >>"$WORK/times"
  if [ -n "${PERF:-}" ]; then
    perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | awk -v arm="$1" '
      / (ExecBRUpdateTriggers|ExecBRUpdateTriggersNew|ExecARUpdateTriggers|heap_lock_tuple|heap_update|_bt_doinsert|XLogInsert) / {
        s = s sprintf(" %s %s", $NF == "-" ? $(NF - 2) : $NF, $1) }
      END { printf "%-13s perf (share of the backend'"'"'s samples, callees included):%s\n", arm, s }'
  fi
  psql_db -c "DROP TABLE $t"
}

# The app's side: APP_ROWS single-row updates of verified_at on a filled table.
app() { # arm setup
  local t="t_$1" from to
  build "$t"
  if [ "$2" = planner ]; then planner_expand "$t"; else psql_db -c "${2//@T/$t}" >/dev/null; fi
  psql_db -c "UPDATE $t SET verified = verified_at IS NOT NULL" >/dev/null
  psql_db -c "VACUUM $t" -c "CHECKPOINT"
  from=$(lsn)
  psql_db -c "DO \$\$ BEGIN FOR i IN 1..$APP_ROWS LOOP
    UPDATE $t SET verified_at = CASE WHEN verified_at IS NULL THEN now() END WHERE id = (i * 7919) % $ROWS + 1;
    END LOOP; END \$\$" >/dev/null
  to=$(lsn)
  printf '%-13s %s per app update; rows out of sync: %s\n' "$1" "$(waldump "$t" "$from" "$to" "$APP_ROWS")" \
    "$(psql_db -c "SELECT count(*) FROM $t WHERE verified IS DISTINCT FROM (verified_at IS NOT NULL)")"
  psql_db -c "DROP TABLE $t"
}

before_false="$noop_fn CREATE TRIGGER tr BEFORE UPDATE ON @T FOR EACH ROW WHEN (false) EXECUTE FUNCTION noop();"
after_false="$noop_fn CREATE TRIGGER tr AFTER UPDATE ON @T FOR EACH ROW WHEN (false) EXECUTE FUNCTION noop();"
bulk none ""
bulk before_false "$before_false"
bulk before_off "$noop_fn CREATE TRIGGER tr BEFORE UPDATE ON @T FOR EACH ROW EXECUTE FUNCTION noop(); ALTER TABLE @T DISABLE TRIGGER tr;"
bulk before_of "$noop_fn CREATE TRIGGER tr BEFORE UPDATE OF payload ON @T FOR EACH ROW EXECUTE FUNCTION noop();"
bulk after_false "$after_false"
if [ -x "$PLANNER" ]; then
  bulk planner planner
  app app_before planner
else
  echo "planner arms skipped: no executable at PLANNER=$PLANNER (cargo build first)"
fi
app app_after "CREATE FUNCTION fill_@T() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN UPDATE @T SET verified = (NEW.verified_at IS NOT NULL) WHERE id = NEW.id; RETURN NULL; END \$\$;
  CREATE TRIGGER fill AFTER UPDATE OF verified_at ON @T FOR EACH ROW
    WHEN (NEW.verified IS DISTINCT FROM (NEW.verified_at IS NOT NULL)) EXECUTE FUNCTION fill_@T();"

# Time: ROUNDS-1 more rounds of the main arms, in reverse order every other round (ABAB), then
# the median execution time per row of every arm and its ratio to no trigger (load-dependent).
arms=(none before_false after_false)
[ -x "$PLANNER" ] && arms+=(planner)
for ((round = 2; round <= ${ROUNDS:-3}; round++)); do
  order=("${arms[@]}")
  ((round % 2 == 0)) && order=($(printf '%s\n' "${arms[@]}" | tac))
  for arm in "${order[@]}"; do
    case $arm in
      none) bulk none "" ;; before_false) bulk before_false "$before_false" ;;
      after_false) bulk after_false "$after_false" ;; planner) bulk planner planner ;;
    esac
  done
done
python3 - "$WORK/times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    arm, us = line.split()
    t.setdefault(arm, []).append(float(us))
base = statistics.median(t["none"])
rounds = len(t["none"])
print("median execution time per row over", rounds, "rounds (EXPLAIN ANALYZE, TIMING off):",
      ", ".join(f"{a} {statistics.median(v):.2f} us (x{statistics.median(v) / base:.2f})"
                for a, v in t.items() if len(v) == rounds))
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
