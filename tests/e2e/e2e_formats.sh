#!/bin/sh
# e2e_formats.sh BUILD_DIR: each framework's fixture (tests/fixtures/, see
# its README for the published format each one follows) imported through
# the real stack with its profile: the records, groups, successes and
# rewards that arrive are the ones the fixture holds. Also: JSON documents
# (.json/.traj, an inspect_ai log), --join with a SWE-bench report, field
# warnings in the report and --strict, and import --dry-run without a stack.
set -u

BUILD=${1:?usage: e2e_formats.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
TS="$BUILD/tools/trajstore"
FX=$(cd "$(dirname "$0")/../fixtures" && pwd)

. "$(dirname "$0")/e2e_stack.sh"
stack_dirs fmt

# check NAME EXPR: EXPR over the records this import added (new: a list of
# summaries; rep: the import report(s), one dict a file) must be True
check () {
    "$PY" - "$T/before" "$T/after" "$T/rep" "$2" <<'PYEOF' || fail "$1: $2"
import json, sys
def load(p):
    return [json.loads(l) for l in open(p) if l.strip()]
before = {r["id"] for r in load(sys.argv[1])}
new = [r for r in load(sys.argv[2]) if r["id"] not in before]
rep = load(sys.argv[3])
groups = {r["group"] for r in new if r["group"] is not None}
succ = sum(1 for r in new if r["success"] is True)
fails = sum(1 for r in new if r["success"] is False)
rsum = sum(r["reward"] for r in new if r["reward"] is not None)
ok = eval(sys.argv[4])
if ok is not True:
    print("got:", json.dumps(new, indent=None)[:3000], json.dumps(rep)[:1000], file=sys.stderr)
    sys.exit(1)
PYEOF
}

# import NAME ARGS...: imports and lists the store before and after
import_ () {
    name=$1; shift
    "$TS" list --all --json --data "$D" >"$T/before" 2>/dev/null || fail "$name: list"
    "$TS" import --json --quiet --data "$D" "$@" >"$T/rep" 2>"$T/err"
    rc=$?
    [ $rc -le 1 ] || fail "$name: import exited $rc: $(cat "$T/rep" "$T/err")"
    "$TS" list --all --json --data "$D" >"$T/after" 2>/dev/null || fail "$name: list"
    echo "--- $name: $(wc -l <"$T/rep") report(s), $(($(wc -l <"$T/after") - $(wc -l <"$T/before"))) new records"
}

echo "--- dry-run needs no stack and picks the right profile"
for pair in tau/tool-calling-gpt-4o-0.1_range_0-3_user-gpt-4o.json:tau \
            swe/django__django-11099.traj.json:swe agentbench/runs.jsonl:agentbench \
            reflexion/env_results_trial_0.json:reflexion \
            reflexion/reflexion_humaneval_py_pass_at_1.jsonl:reflexion verl/10.jsonl:verl \
            verifiers/results.jsonl:verifiers verifiers/vf-eval/results.jsonl:verifiers \
            inspect/2025-01-20T10-15-00+00-00_gsm8k_XyZ123.json:inspect; do
    f=${pair%:*}; want=${pair##*:}
    "$TS" import --dry-run --json --data "$D" "$FX/$f" >"$T/dry" 2>"$T/err" \
        || fail "dry-run $f: $(cat "$T/err")"
    best=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["best"])' "$T/dry")
    [ "$best" = "$want" ] || fail "dry-run $f: best fit $best, expected $want: $(cat "$T/dry")"
done
"$TS" import --dry-run --profile agentbench "$FX/agentbench/runs.jsonl" >"$T/dry" 2>&1 \
    || fail "dry-run text: $(cat "$T/dry")"
# agentbench's index does not name one attempt: the id shown is the one
# the record will be stored under, the run's line
grep -q "line 1: id=runs:1 (the run's line: the record's id does not name one attempt) group=0 run=runs model=- success=true reward=- created=2025-01-17T18:32:21.900Z steps=4" "$T/dry" \
    || fail "dry-run text does not show line 1's mapping: $(cat "$T/dry")"
"$TS" import --dry-run --json --profile agentbench --run-per-file --run gpt4 \
    "$FX/agentbench/runs.jsonl" >"$T/dry" 2>&1 || fail "dry-run --run: $(cat "$T/dry")"
"$PY" -c 'import json,sys; r = json.load(open(sys.argv[1]))["records"][1]
assert (r["id"], r["id_from"], r["run"]) == ("gpt4/runs:2", "line", "gpt4/runs"), r' "$T/dry" \
    || fail "dry-run --run-per-file --run: not the stored id: $(cat "$T/dry")"
"$TS" import --dry-run --json --profile agentbench --id content "$FX/agentbench/runs.jsonl" >"$T/dry" 2>&1 \
    || fail "dry-run --id content: $(cat "$T/dry")"
"$PY" -c 'import json,sys; r = json.load(open(sys.argv[1]))["records"][0]
assert (r["id"], r["id_from"]) == ("0", "profile"), r' "$T/dry" \
    || fail "dry-run --id content: not the field's id: $(cat "$T/dry")"
[ ! -e "$D/logs" ] || fail "dry-run must not start or need a stack"

"$TS" up --workers 2 --data "$D" >"$T/up" 2>&1 || fail "up: $(cat "$T/up")"

import_ tau --profile tau "$FX/tau/tool-calling-gpt-4o-0.1_range_0-3_user-gpt-4o.json"
check tau 'len(new) == 6 and len(groups) == 3 and succ == 3 and fails == 3 and rsum == 3.0'
# tau's task_id+trial repeats in every run: records are named RUN:RECORD
check tau 'sorted(r["id"] for r in new) == ["tool-calling-gpt-4o-0.1_range_0-3_user-gpt-4o:%d" % i for i in range(1, 7)]'
check tau 'sorted(r["steps"] for r in new) == [1, 2, 3, 3, 4, 5]'
import_ tau-again --profile tau "$FX/tau/tool-calling-gpt-4o-0.1_range_0-3_user-gpt-4o.json"
check tau-again 'len(new) == 0 and rep[0]["duplicates"] == 6'

import_ swe --profile swe --join "$FX/swe/claude-sonnet-4.run1.json:instance_id" \
    "$FX/swe/django__django-11099.traj.json" "$FX/swe/sympy__sympy-20590.traj.json" \
    "$FX/swe/astropy__astropy-12907.traj"
# the .traj file names no instance: its file's name does, and the report's
# resolved list then reaches it through --join
check swe 'len(new) == 3 and groups == {"django__django-11099", "sympy__sympy-20590", "astropy__astropy-12907"}'
check swe '{r["group"]: r["success"] for r in new} == {"django__django-11099": True, "sympy__sympy-20590": False, "astropy__astropy-12907": True}'
check swe 'sorted(r["steps"] for r in new) == [2, 3, 5] and all(r["model"] == "anthropic/claude-sonnet-4-20250514" for r in new if r["group"] != "astropy__astropy-12907")'
# several .traj files of one command are ONE run, named after their
# directory; a record without a per-attempt id is RUN:FILE:LINE
check swe '{r["run"] for r in new} == {"swe"} and len({r["id"] for r in new}) == 3'
check swe '"swe:astropy__astropy-12907:1" in [r["id"] for r in new]'
"$TS" runs --json --data "$D" >"$T/runs" || fail "runs"
"$PY" -c 'import json,sys; r=[x for x in map(json.loads, open(sys.argv[1])) if x["run"] == "swe"]; assert len(r) == 1 and r[0]["records"] == 3 and r[0]["groups"] == 3 and sorted(r[0]["files"]) == ["astropy__astropy-12907", "django__django-11099", "sympy__sympy-20590"], r' "$T/runs" \
    || fail "runs: the .traj files are not one run swe of 3 records: $(cat "$T/runs")"
import_ swe-again --profile swe "$FX/swe/django__django-11099.traj.json" \
    "$FX/swe/sympy__sympy-20590.traj.json" "$FX/swe/astropy__astropy-12907.traj"
check swe-again 'len(new) == 0 and sum(x["duplicates"] for x in rep) == 3'
import_ swe-per-file --profile swe --run-per-file "$FX/swe/django__django-11099.traj.json" \
    "$FX/swe/astropy__astropy-12907.traj"
check swe-per-file '{r["run"] for r in new} == {"django__django-11099", "astropy__astropy-12907"} and len(new) == 2'
check swe-per-file '"astropy__astropy-12907:1" in [r["id"] for r in new]'
import_ swe-run --profile swe --run claude-sonnet "$FX/swe/django__django-11099.traj.json" \
    "$FX/swe/astropy__astropy-12907.traj"
check swe-run '{r["run"] for r in new} == {"claude-sonnet"} and len(new) == 2'
# SWE-agent's own layout: RUN_DIR/<instance>/<instance>.traj: the run is RUN_DIR
mkdir -p "$T/trajectories/sweagent-run7/astropy__astropy-12907" "$T/trajectories/sweagent-run7/sympy__sympy-20590"
cp "$FX/swe/astropy__astropy-12907.traj" "$T/trajectories/sweagent-run7/astropy__astropy-12907/"
cp "$FX/swe/sympy__sympy-20590.traj.json" "$T/trajectories/sweagent-run7/sympy__sympy-20590/"
import_ swe-layout --profile swe "$T/trajectories/sweagent-run7/astropy__astropy-12907/astropy__astropy-12907.traj" \
    "$T/trajectories/sweagent-run7/sympy__sympy-20590/sympy__sympy-20590.traj.json"
check swe-layout '{r["run"] for r in new} == {"sweagent-run7"} and len(new) == 2'

import_ agentbench --profile agentbench "$FX/agentbench/runs.jsonl"
# the oracle: AgentBench's own overall.json for the same run
acc=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["custom"]["overall"]["acc"])' "$FX/agentbench/overall.json")
check agentbench "len(new) == 4 and len(groups) == 4 and succ == 2 and fails == 1 and succ / len(new) == $acc"
check agentbench 'all(r["created_ms"] for r in new) and sorted(r["steps"] for r in new) == [1, 2, 2, 4]'
check agentbench 'rep[0]["warned"] == 0 and rep[0]["rejected"] == 0'

import_ reflexion --profile reflexion "$FX/reflexion/env_results_trial_0.json" \
    "$FX/reflexion/reflexion_humaneval_py_pass_at_1.jsonl"
check reflexion 'len(new) == 5 and groups == {"env_0", "env_1", "env_2", "HumanEval/0", "HumanEval/1"} and succ == 2 and fails == 3'
check reflexion '{r["group"]: r["steps"] for r in new if r["group"].startswith("Human")} == {"HumanEval/0": 1, "HumanEval/1": 3}'

import_ verl --profile verl "$FX/verl/10.jsonl"
check verl 'len(new) == 4 and len(groups) == 2 and succ == 3 and rsum == 3.0'

import_ verifiers --profile verifiers "$FX/verifiers/results.jsonl"
check verifiers 'len(new) == 4 and groups == {"0", "1"} and succ == 2 and fails == 1 and rsum == 2.0'
check verifiers 'rep[0]["warned"] == 1 and rep[0]["warnings"] == {"reward": {"/reward: expected a number, got string": {"count": 1, "first_line": 4}}}'

import_ verifiers-strict --profile verifiers --strict "$FX/verifiers/results.jsonl"
check verifiers-strict 'rep[0]["rejected"] == 1 and rep[0]["duplicates"] == 3 and rep[0]["warned"] == 0'
# vf-eval's saved results: `id` is the example (its 2 rollouts share it):
# 6 attempts in 3 groups, the model from metadata.json by --set
model=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"])' "$FX/verifiers/vf-eval/metadata.json")
import_ vf-eval --profile verifiers --run vf-math --set "model=$model" "$FX/verifiers/vf-eval/results.jsonl"
check vf-eval 'len(new) == 6 and groups == {"0", "1", "2"} and succ == 2 and fails == 4 and abs(rsum - 3.2) < 1e-9'
check vf-eval '{r["model"] for r in new} == {"gpt-4.1-mini"} and {r["run"] for r in new} == {"vf-math"} and all(r["steps"] == 1 for r in new)'
check vf-eval 'rep[0]["warned"] == 0 and rep[0]["rejected"] == 0'
import_ vf-eval-again --profile verifiers --run vf-math "$FX/verifiers/vf-eval/results.jsonl"
check vf-eval-again 'len(new) == 0 and rep[0]["duplicates"] == 6'
# pass@1 of the run: the mean over its groups of their success rates
"$TS" runs --json --data "$D" >"$T/runs" || fail "runs"
"$PY" -c 'import json,sys; r=[x for x in map(json.loads, open(sys.argv[1])) if x["run"] == "vf-math"][0]; assert r["groups"] == 3 and abs(r["pass@1"] - (0.5 + 0.5 + 0) / 3) < 1e-9, r' "$T/runs" \
    || fail "runs: vf-math is not 3 groups with pass@1 1/3: $(cat "$T/runs")"

import_ inspect --profile inspect "$FX/inspect/2025-01-20T10-15-00+00-00_gsm8k_XyZ123.json"
check inspect 'len(new) == 4 and groups == {"gsm8k:1", "gsm8k:2"} and succ == 3 and fails == 1 and rsum == 3.0'
check inspect 'all(r["created_ms"] == 1737368100000 and r["model"] == "gpt-4o-mini-2024-07-18" for r in new)'
check inspect 'sorted(r["id"] for r in new)[0] == "Qm4TLQuMbL4q6q0sZ6A0aL"'
# the stored sample carries the log's eval (task, model, run_id)
"$TS" get --json --data "$D" Qm4TLQuMbL4q6q0sZ6A0aL >"$T/rec" || fail "get an inspect sample"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["eval"]["run_id"] == "Cd3KqPSy7vXgDsY8NEZkoM" and d["epoch"] == 2, d' "$T/rec" \
    || fail "the sample lacks the log's eval: $(cat "$T/rec")"

echo "--- a truncated JSON document: an error naming the record"
head -c 400 "$FX/tau/tool-calling-gpt-4o-0.1_range_0-3_user-gpt-4o.json" >"$T/cut.json"
"$TS" import --quiet --profile tau --data "$D" "$T/cut.json" >"$T/rep" 2>"$T/err"
[ $? -eq 2 ] || fail "a truncated document must exit 2"
grep -q "cut.json: byte 400, record 1: the document ends inside" "$T/err" \
    || fail "the error must name the byte and record: $(cat "$T/err")"
echo "ok"
