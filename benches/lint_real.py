#!/usr/bin/env python3
"""planner check on real projects' migration histories: precision, recall, unparsed share, CPU vs squawk.

Nothing of those projects is in this repository. tests/lint_real/manifest.toml names each project,
its commit and the migration folder; the snapshots are brought onto the machine with the session
library's `fetch` (git directories under /work/.mirror/<owner>+<name>/repo, or --mirror DIR holding
the same layout, or any clone: `git clone URL DIR/<owner>+<name>/repo`). This script extracts the
folder at the recorded commit into a scratch directory, runs both tools on the files the project's
migration tool runs, and compares their findings with tests/lint_real/labels.tsv (our own labels,
one line per statement: project, file, statement start line, unsafe|safe|borderline, reason).

    cargo build --release --bin planner
    pip install squawk-cli            # squawk 2.70.0 was used
    python3 benches/lint_real.py      # figures
    python3 benches/lint_real.py --sheet 40 > /tmp/sheet.tsv   # statements to label next
    python3 benches/lint_real.py --draw 4,6 --seed 15 | grep ^DRAW   # sample 3: blind sheet
    python3 benches/lint_real.py --sample 3                          # figures on one sample

`--draw E,R` draws per project E statements planner flags as errors and R risky-looking ones it
does not flag (warnings included), shuffled together and printed without any tool's verdict, so
they are labeled before the verdicts are seen (sample 3 was drawn that way, seed 15).

A statement is "flagged" by planner when it carries an error finding, by squawk when it carries a
finding of one of its safety rules (style, re-runnability and timeout rules left out, as
tests/lint_corpus.rs does). Precision = labeled-unsafe / labeled among flagged statements (strict;
"lenient" counts borderline as right); recall = flagged / labeled-unsafe.
"""

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tests/lint_real/manifest.toml"
LABELS = ROOT / "tests/lint_real/labels.tsv"
ONLY_SAMPLE = ""

SQUAWK_NOT_SAFETY = {
    "prefer-robust-stmts", "prefer-text-field", "prefer-timestamptz", "prefer-timestamp-tz",
    "require-lock-timeout", "require-statement-timeout", "require-enum-value-ordering",
    "ban-char-field", "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity",
    "require-timeout-settings", "transaction-nesting", "ban-uncommitted-transaction",
    "syntax-error",
}
# planner findings about the file or the parser, not a statement's safety.
NOT_STATEMENT_SAFETY = {"missing-lock-timeout", "unparsed-statement", "uncommitted-transaction", "unknown-rule-in-ignore"}
# Statements worth a label when no tool flags them.
RISKY = re.compile(
    r"(?is)\s*(alter\s+table|create\s+(unique\s+)?index|update|delete|drop|do\b|alter\s+type|create\s+trigger"
    r"|vacuum|cluster|reindex|refresh|truncate|lock)")
# squawk's flag per tool: the tools that wrap every file in a transaction.
WRAPPING_TOOLS = {"diesel", "sqlx", "flyway", "rails", "goose", "dbmate", "node-pg-migrate", "postgres-migrations"}


def split_statements(sql):
    """(start_line, end_line, text) of each top-level statement: quotes, dollar quotes and comments
    are skipped; an independent splitter, so labels do not depend on planner's own."""
    out, i, n, line = [], 0, len(sql), 1
    start, start_line = None, None

    def close(end_i, end_line):
        nonlocal start, start_line
        if start is not None:
            text = sql[start:end_i].strip()
            if text:
                out.append((start_line, end_line, text))
        start, start_line = None, None

    while i < n:
        c = sql[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        if sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            line += sql.count("\n", i, j)
            i = j
            continue
        if start is None and c != ";":
            start, start_line = i, line
        if c == ";":
            close(i, line)
            i += 1
            continue
        if c in "'\"":
            j = i + 1
            backslash = c == "'" and i > 0 and sql[i - 1] in "eE"
            while j < n:
                if backslash and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            line += sql.count("\n", i, j)
            i = j + 1
            continue
        if c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", sql[i:])
            if m and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                tag = m.group(0)
                j = sql.find(tag, i + len(tag))
                j = n if j < 0 else j + len(tag)
                line += sql.count("\n", i, j)
                i = j
                continue
        i += 1
    close(n, line)
    return out


def picks(tool, rel):
    name = rel.name.lower()
    if tool == "diesel":
        return name == "up.sql"
    if tool == "prisma":
        return name == "migration.sql"
    if tool == "golang-migrate":
        return name.endswith(".up.sql")
    if tool == "flyway":
        return re.match(r"^(v[0-9._]+__|r__).*\.sql$", name) is not None
    if tool == "sqlx":
        return name.endswith(".sql") and not name.endswith(".down.sql")
    return name.endswith(".sql")


def cpu_of(cmd, cwd):
    """Run cmd; return (stdout, CPU seconds user+sys of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[:2000]}")
    return p.stdout, cpu


def extract(project, mirror, work):
    gitdir = Path(mirror) / project["repo"].replace("/", "+") / "repo"
    if not gitdir.exists():
        return None, f"{project['name']}: no snapshot at {gitdir} (fetch github:{project['repo']})"
    dest = Path(work) / project["name"]
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "--git-dir", str(gitdir), "archive", project["commit"], project["path"]],
        capture_output=True,
    )
    if archive.returncode != 0:
        return None, f"{project['name']}: git archive failed: {archive.stderr.decode()[:300]}"
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    include = re.compile(project.get("include", ".*"))
    files = sorted(
        p.relative_to(dest)
        for p in dest.rglob("*")
        if p.is_file() and picks(project["tool"], p) and include.search(str(p.relative_to(dest)))
    )
    for p in dest.rglob("*"):
        if p.is_file() and p.relative_to(dest) not in files and p.suffix == ".sql":
            p.unlink()
    # Templates the runner renders before running them (gobuffalo/pop's `{{ index .Options
    # "Namespace" }}`): checked as rendered, which is what runs.
    for pattern, value in project.get("render", {}).items():
        for f in files:
            path = dest / f
            path.write_text(re.sub(pattern, value, path.read_text(encoding="utf-8")), encoding="utf-8")
    return (dest, files), None


def statement_of(stmts, line):
    for s in stmts:
        if s[0] <= line <= s[1]:
            return s[0]
    return None


def run_project(project, args):
    got, err = extract(project, args.mirror, args.work)
    if err:
        return None, err
    dest, files = got
    rel = [str(f) for f in files]
    stmts = {f: split_statements((dest / f).read_text(encoding="utf-8", errors="replace")) for f in rel}
    planner_cmd = [args.planner, "check", "--format", "json", "--pg-version", str(project.get("pg", 15))]
    planner_cmd += ["--tool", project["tool"]] if project["tool"] != "none" else []
    planner_cmd += ["--assume-in-transaction"] if project.get("assume_in_transaction") else []
    planner_cmd += [project["path"]]
    out, planner_cpu = cpu_of(planner_cmd, dest)
    report = json.loads(out)
    squawk_cmd = [args.squawk, "--reporter", "json", f"--pg-version={project.get('pg', 15)}.0"]
    if project["tool"] in WRAPPING_TOOLS or project.get("assume_in_transaction"):
        squawk_cmd.append("--assume-in-transaction")
    squawk_out, squawk_cpu = cpu_of(squawk_cmd + rel, dest) if args.squawk else ("[]", 0.0)
    ours, ours_warn, theirs, ours_any, unparsed = {}, {}, {}, {}, set()
    for f in report["findings"]:
        path = os.path.relpath(f["file"], ".")
        s = statement_of(stmts.get(path, []), f["start"]["line"])
        key = (path, s)
        if f["rule"] == "unparsed-statement":
            unparsed.add(key)
        ours_any.setdefault(key, []).append(f"{f['severity']}:{f['rule']}")
        if f["severity"] == "error" or (f["severity"] == "warning" and f["rule"] in args.as_error):
            ours.setdefault(key, []).append(f["rule"])
        if f["severity"] == "warning" and f["rule"] not in NOT_STATEMENT_SAFETY:
            ours_warn.setdefault(key, []).append(f["rule"])
    for f in json.loads(squawk_out or "[]"):
        if f["rule_name"] in SQUAWK_NOT_SAFETY:
            continue
        s = statement_of(stmts.get(f["file"], []), f["line"] + 1)
        theirs.setdefault((f["file"], s), []).append(f["rule_name"])
    return {
        "dest": dest, "files": rel, "stmts": stmts, "ours": ours, "ours_warn": ours_warn, "ours_any": ours_any,
        "theirs": theirs, "unparsed": unparsed, "summary": report["summary"],
        "planner_cpu": planner_cpu, "squawk_cpu": squawk_cpu,
    }, None


def load_labels():
    labels = {}
    if not LABELS.exists():
        return labels
    for n, raw in enumerate(LABELS.read_text().splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) < 5 or parts[3] not in ("unsafe", "safe", "borderline", "invalid"):
            sys.exit(f"{LABELS}:{n}: want project<TAB>file<TAB>line<TAB>unsafe|safe|borderline|invalid<TAB>reason")
        sample = parts[5] if len(parts) > 5 else "1"
        if ONLY_SAMPLE and sample != ONLY_SAMPLE:
            continue
        labels[(parts[0], parts[1], int(parts[2]))] = parts[3]
    return labels


def ratio(a, b):
    return f"{a / b:.2f} ({a}/{b})" if b else "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--planner", default=str(ROOT / "target/release/planner"))
    ap.add_argument("--squawk", default=shutil.which("squawk") or "")
    ap.add_argument("--mirror", default="/work/.mirror")
    ap.add_argument("--work", default="/tmp/lint_real")
    ap.add_argument("--sheet", type=int, default=0, help="print N unlabeled statements per project to label")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--sheet-ours", action="store_true", help="with --sheet: only statements planner flags")
    ap.add_argument("--only", default="")
    ap.add_argument("--show", action="store_true", help="list every flagged/labeled disagreement")
    ap.add_argument("--sample", default="", help="use only the labels of this sample (1, 2 or 3)")
    ap.add_argument("--as-error", default="", metavar="RULES",
                    help="count these rules' warnings as errors (--as-error drop-column,drop-table: the "
                         "severities before round three, when every drop was an error)")
    ap.add_argument("--draw", default="", metavar="ERRORS,RISKY",
                    help="blind sheet: per project ERRORS statements planner flags as errors and RISKY "
                         "risky-looking ones it does not, shuffled together, without any tool's verdict")
    args = ap.parse_args()
    global ONLY_SAMPLE
    ONLY_SAMPLE = args.sample
    args.as_error = set(filter(None, args.as_error.split(",")))
    args.planner = str(Path(args.planner).resolve())
    projects = tomllib.loads(MANIFEST.read_text())["project"]
    labels = load_labels()
    totals = dict(stmts=0, files=0, unparsed=0, pcpu=0.0, scpu=0.0)
    conf = {"planner": [0, 0, 0, 0, 0], "squawk": [0, 0, 0, 0, 0]}  # flagged&unsafe, flagged&border, flagged&labeled, unsafe, unsafe&flagged
    rng = random.Random(args.seed)
    warned = [0, 0]  # unsafe, flagged by planner as error or warning
    for project in projects:
        if args.only and project["name"] != args.only:
            continue
        res, err = run_project(project, args)
        if err:
            print(f"skipped: {err}", file=sys.stderr)
            continue
        nstmts = sum(len(v) for v in res["stmts"].values())
        if res["summary"]["files"] != len(res["files"]):
            print(f"warning: {project['name']}: planner read {res['summary']['files']} files, expected {len(res['files'])}", file=sys.stderr)
        totals["stmts"] += nstmts
        totals["files"] += len(res["files"])
        totals["unparsed"] += len(res["unparsed"])
        totals["pcpu"] += res["planner_cpu"]
        totals["scpu"] += res["squawk_cpu"]
        print(f"{project['name']:<12} {len(res['files']):>5} files {nstmts:>6} statements  "
              f"planner: {len(res['ours']):>4} flagged, {len(res['unparsed']):>3} unparsed, {res['planner_cpu']:.2f}s CPU  "
              f"squawk: {len(res['theirs']):>4} flagged, {res['squawk_cpu']:.2f}s CPU")
        name = project["name"]
        for tool, flagged in (("planner", res["ours"]), ("squawk", res["theirs"])):
            for (f, line), rules in flagged.items():
                lab = labels.get((name, f, line))
                if lab in ("unsafe", "safe", "borderline"):
                    c = conf[tool]
                    c[2] += 1
                    c[0] += lab == "unsafe"
                    c[1] += lab == "borderline"
                    if args.show and tool == "planner" and lab != "unsafe":
                        print(f"  FP? {lab:<10} {name} {f}:{line} {rules}")
            for (p, f, line), lab in labels.items():
                if p == name and lab == "unsafe":
                    conf[tool][3] += 1
                    hit = (f, line) in flagged
                    conf[tool][4] += hit
                    if tool == "planner":
                        warned[0] += 1
                        warned[1] += hit or (f, line) in res["ours_warn"]
                    if args.show and tool == "planner" and not hit:
                        print(f"  MISS {name} {f}:{line} {res['ours_any'].get((f, line), [])}")
        if args.show:
            for (f, line) in sorted(res["unparsed"], key=str):
                print(f"  UNPARSED {name} {f}:{line}")
        if args.draw:
            n_err, n_risky = (int(x) for x in args.draw.split(","))
            todo = [(f, s) for f, ss in res["stmts"].items() for s in ss if (name, f, s[0]) not in labels]
            errs = [t for t in todo if (t[0], t[1][0]) in res["ours"]]
            risky = [t for t in todo if (t[0], t[1][0]) not in res["ours"] and RISKY.match(t[1][2])]
            rng.shuffle(errs)
            rng.shuffle(risky)
            drawn = errs[:n_err] + risky[:n_risky]
            rng.shuffle(drawn)
            for f, (start, end, text) in drawn:
                print(f"DRAW\t{name}\t{f}\t{start}\t{' '.join(text.split())[:600]}")
        if args.sheet:
            flagged = set(res["ours"]) if args.sheet_ours else set(res["ours"]) | set(res["theirs"])
            todo = [
                (f, s) for f, ss in res["stmts"].items() for s in ss
                if (name, f, s[0]) not in labels
            ]
            hot = [t for t in todo if (t[0], t[1][0]) in flagged]
            risky = [t for t in todo if (t[0], t[1][0]) not in flagged and RISKY.match(t[1][2])]
            rng.shuffle(hot)
            rng.shuffle(risky)
            for kind, group in (("flagged", hot), ("unflagged", [] if args.sheet_ours else risky)):
                for f, (start, end, text) in group[: args.sheet]:
                    marks = res["ours"].get((f, start), []), res["theirs"].get((f, start), []), res["ours_any"].get((f, start), [])
                    one = " ".join(text.split())[:400]
                    print(f"SHEET\t{name}\t{f}\t{start}\t{kind}\t{marks}\t{one}")
    print()
    print(f"files {totals['files']}, statements {totals['stmts']}, unparsed {totals['unparsed']} "
          f"({100 * totals['unparsed'] / max(totals['stmts'], 1):.2f} %)")
    print(f"CPU: planner {totals['pcpu']:.2f} s, squawk {totals['scpu']:.2f} s "
          f"(ratio {totals['pcpu'] / totals['scpu'] if totals['scpu'] else float('nan'):.2f})")
    for tool, c in conf.items():
        print(f"{tool:<8} precision strict {ratio(c[0], c[2])}, lenient {ratio(c[0] + c[1], c[2])}, "
              f"recall {ratio(c[4], c[3])}")
    print(f"planner  recall counting warnings: {ratio(warned[1], warned[0])}")
    print(f"labels: {len(labels)} statements "
          f"({sum(v == 'unsafe' for v in labels.values())} unsafe, {sum(v == 'borderline' for v in labels.values())} borderline, "
          f"{sum(v == 'safe' for v in labels.values())} safe)")


if __name__ == "__main__":
    main()
