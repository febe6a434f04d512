#!/usr/bin/env bash
# hrt run: task files checked before they run (errors name the JSON path),
# the built-in tools, expectations and branches, exit codes, and the example
# tasks end to end on the default models (skipped without them).
# Usage: test_task.sh PATH-TO-hrt (ctest passes it).
set -u
hrt=$1
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cli_lib.sh
. "$root/tests/cli_lib.sh"
export TMPDIR="$tmp/scratch"
mkdir -p "$TMPDIR"
# lines: the JSON lines of $tmp/out as a list L (the summary last)
lines_ok() { python3 -c "
import json, sys
L = [json.loads(l) for l in open('$tmp/out')]
S = L[-1]['summary']
sys.exit(0 if ($1) else 1)"; }

# ---- invalid task files: exit 2, the JSON path of the problem named ----
bad() { # bad NAME JSON EXPECTED-MESSAGE
  printf '%s' "$2" >"$tmp/bad.json"
  check "invalid: $1" 2 "$hrt" run "$tmp/bad.json"
  expect "invalid: $1: message" grep -qF -- "$3" "$tmp/err"
}
bad "not JSON" '{"hrt_task": 1, "steps": [' 'bad.json: $: not valid JSON (near line 1'
bad "not an object" '[1, 2]' '$: a task is a JSON object, not an array'
bad "no version" '{"steps": [{"recall": "x"}]}' '$: missing "hrt_task"'
bad "newer version" '{"hrt_task": 2, "steps": [{"recall": "x"}]}' '$.hrt_task: version 2 is newer than this hrt reads (1)'
bad "no steps" '{"hrt_task": 1}' '$: missing "steps"'
bad "empty steps" '{"hrt_task": 1, "steps": []}' '$.steps: no steps'
bad "unknown key" '{"hrt_task": 1, "stpes": []}' '$: unknown key "stpes"'
bad "step not an object" '{"hrt_task": 1, "steps": [{"recall": "x"}, 7]}' '$.steps[1]: a step is an object, not a number'
bad "no action" '{"hrt_task": 1, "steps": [{"id": "a"}]}' '$.steps[0]: no action'
bad "two actions" '{"hrt_task": 1, "steps": [{"ask": "a", "recall": "b"}]}' '$.steps[0]: both "ask" and "recall"'
bad "ask not a string" '{"hrt_task": 1, "steps": [{"ask": 5}]}' '$.steps[0]: "ask": expected a string, not a number'
bad "bad path" '{"hrt_task": 1, "steps": [{"ask": "q", "path": "medium"}]}' '$.steps[0]: "path": "medium" is not auto, light or full'
bad "unknown tool" '{"hrt_task": 1, "steps": [{"tool": "shell", "input": "ls"}]}' '"tool": "shell" is not calculator, datetime, kb_search or memory'
bad "retrieve without kb" '{"hrt_task": 1, "steps": [{"retrieve": "q"}]}' '$.steps[0]: "retrieve" needs a knowledge base: $.settings.kb'
bad "expect no check" '{"hrt_task": 1, "steps": [{"recall": "x", "expect": [{"in": "output"}]}]}' '$.steps[0].expect[0]: no check'
bad "expect two checks" '{"hrt_task": 1, "steps": [{"recall": "x", "expect": {"contains": "a", "equals": "b"}}]}' '$.steps[0].expect: both "contains" and "equals"'
bad "number not a number" '{"hrt_task": 1, "steps": [{"recall": "x", "expect": [{"contains": "a"}, {"number": "18"}]}]}' '$.steps[0].expect[1]: "number": expected a number, not a string'
bad "bad regex" '{"hrt_task": 1, "steps": [{"recall": "x", "expect": {"regex": "a("}}]}' '$.steps[0].expect: "regex": '
bad "bad in" '{"hrt_task": 1, "steps": [{"recall": "x", "expect": {"contains": "a", "in": "answer"}}]}' '"in": "answer" is not output, path, sources or cited'
bad "template names nothing" '{"hrt_task": 1, "steps": [{"id": "a", "recall": "x"}, {"recall": "{{b}}"}]}' '$.steps[1]: {{b}} names no step id'
bad "duplicate id" '{"hrt_task": 1, "steps": [{"id": "a", "recall": "x"}, {"id": "a", "recall": "y"}]}' '$.steps[1]: "id": "a" is used twice'
bad "nested error" '{"hrt_task": 1, "steps": [{"recall": "x"}, {"if": {"contains": "a"}, "then": [{"recall": "y"}, {"tool": "calculator"}]}]}' '$.steps[1].then[1]: missing "input"'
bad "if without branches" '{"hrt_task": 1, "steps": [{"if": {"contains": "a"}}]}' '$.steps[0]: an "if" needs "then" or "else" steps'
bad "settings type" '{"hrt_task": 1, "settings": {"threshold": 2}, "steps": [{"recall": "x"}]}' '$.settings: "threshold": 2 is outside [0, 1]'
bad "budget key" '{"hrt_task": 1, "settings": {"budgets": {"light_tokens": 5}}, "steps": [{"recall": "x"}]}' '$.settings.budgets: unknown key "light_tokens"'
bad "now" '{"hrt_task": 1, "settings": {"now": "2026-02-30"}, "steps": [{"recall": "x"}]}' '$.settings.now: "2026-02-30" is not a date'
bad "memory off but needed" '{"hrt_task": 1, "settings": {"memory": false}, "steps": [{"recall": "x"}]}' '$.settings.memory: false, but a step needs the memory'
bad "trailing text" '{"hrt_task": 1, "steps": [{"recall": "x"}]} and more' '$: not valid JSON (near line 1, byte 44)'
bad "a key twice" '{"hrt_task": 1, "steps": [{"recall": "x", "expect": {"contains": "a"}, "expect": {"contains": "b"}}]}' '$.steps[0]: "expect" appears twice'
bad "a key of another action" '{"hrt_task": 1, "steps": [{"tool": "calculator", "input": "1", "session": "s"}]}' '$.steps[0]: unknown key "session" (known: tool, id, expect, input, k)'
bad "k on a calculator" '{"hrt_task": 1, "steps": [{"tool": "calculator", "input": "1", "k": 2}]}' '"k" belongs to retrieve and the kb_search tool'
bad "k not whole" '{"hrt_task": 1, "settings": {"kb": {"dir": "x"}}, "steps": [{"retrieve": "q", "k": 2.5}]}' '$.steps[0]: "k": expected a whole number, not 2.5'
bad "id on an if" '{"hrt_task": 1, "steps": [{"recall": "x"}, {"id": "c", "if": {"contains": "a"}, "then": [{"recall": "y"}]}]}' '$.steps[1]: an "if" step has no output for an "id" to name'
bad "ignore_case on a number" '{"hrt_task": 1, "steps": [{"recall": "x", "expect": {"number": 1, "ignore_case": true}}]}' '"ignore_case" does not apply to a "number" check'
bad "now with spaces" '{"hrt_task": 1, "settings": {"now": "2024- 1- 1"}, "steps": [{"recall": "x"}]}' '$.settings.now: "2024- 1- 1" is not a date'
check "missing file" 2 "$hrt" run "$tmp/nope.json"
expect "missing file named" grep -qF "nope.json: $: cannot open" "$tmp/err"
check "no task file" 2 "$hrt" run
check "--check on a valid file" 0 "$hrt" run --check "$root/examples/tasks/math.json"

# ---- tools, facts, templates, branches, expectations: no model needed ----
cat >"$tmp/tools.json" <<'JSON'
{"hrt_task": 1, "name": "tools",
 "settings": {"now": "2026-11-22T10:00:00Z"},
 "steps": [
  {"id": "eggs", "tool": "calculator", "input": "(16 - 3 - 4) * 2", "expect": {"number": 18}},
  {"id": "quarter", "tool": "calculator", "input": "{{eggs}} / 4", "expect": [{"number": 4.5, "tolerance": 0.01}, {"equals": "4.5"}]},
  {"tool": "calculator", "input": "2^3^2 - -1 + sqrt(16) + max(2, 7) % 4 + round(2.5)", "expect": {"equals": "523"}},
  {"id": "due", "tool": "datetime", "input": "add 30 days to 2026-11-22", "expect": {"equals": "2026-12-22"}},
  {"tool": "datetime", "input": "weekday {{due}}", "expect": {"equals": "Tuesday"}},
  {"tool": "datetime", "input": "days until 2026-12-25", "expect": {"number": 33}},
  {"tool": "datetime", "input": "now", "expect": {"equals": "2026-11-22T10:00:00Z"}},
  {"tool": "datetime", "input": "days between 2024-02-28 2024-03-01", "expect": {"number": 2}},
  {"remember": "Alice ordered a Brightbox camera", "key": "customer"},
  {"id": "who", "recall": "customer", "expect": [{"contains": "ALICE"}, {"not_contains": "Bob"}, {"regex": "^Alice .* camera$"}]},
  {"if": {"step": "who", "contains": "camera"},
   "then": [{"id": "then1", "tool": "calculator", "input": "1 + 1", "expect": {"equals": "2"}}],
   "else": [{"id": "else1", "tool": "calculator", "input": "2 + 2"}]},
  {"if": {"step": "eggs", "number": 17}, "then": [{"tool": "calculator", "input": "3 + 3"}]},
  {"id": "wrong", "tool": "calculator", "input": "10 / 4", "expect": [{"number": 2}, {"equals": "2.5"}, {"contains": "2.5", "in": "path"}]},
  {"tool": "calculator", "input": "10^15 + 2^-1", "expect": [{"equals": "1000000000000000.5"}, {"number": 1e15, "tolerance": 1}]},
  {"tool": "calculator", "input": "2^-30", "expect": {"number": 9.313225746154785e-10, "tolerance": 1e-20}},
  {"tool": "calculator", "input": "1.5e3 * 2", "expect": {"equals": "3000"}},
  {"tool": "calculator", "input": "0x10"},
  {"tool": "calculator", "input": "1 + €€€"},
  {"tool": "datetime", "input": "add 1 dayzzz"},
  {"tool": "calculator", "input": "1 / 0"},
  {"tool": "calculator", "input": "2 +* 3"},
  {"tool": "datetime", "input": "next tuesday"},
  {"recall": "nobody"}
 ]}
JSON
check "tools task: failing expectations exit 1" 1 "$hrt" run "$tmp/tools.json"
expect "tools: one line per step run, then a summary" lines_ok "len(L) == 25 and [d['index'] for d in L[:-1]] == list(range(1, 25))"
expect "tools: calculator and templates" lines_ok "L[0]['output'] == '18' and L[1]['input'] == '18 / 4' and L[1]['output'] == '4.5' and L[2]['output'] == '523'"
expect "tools: datetime on the task's clock" lines_ok "[d['output'] for d in L[3:8]] == ['2026-12-22', 'Tuesday', '33', '2026-11-22T10:00:00Z', '2']"
expect "tools: remember and recall" lines_ok "L[8]['kind'] == 'remember' and L[9]['output'] == 'Alice ordered a Brightbox camera' and all(e['pass'] for e in L[9]['expect'])"
expect "tools: the then branch ran, not the else" lines_ok "L[10]['branch'] == 'then' and L[11]['id'] == 'then1' and L[11]['at'] == '\$.steps[10].then[0]' and not any(d.get('id') == 'else1' for d in L)"
expect "tools: a false condition without else runs nothing" lines_ok "L[12]['branch'] == 'else' and L[13]['id'] == 'wrong'"
expect "tools: failed expectations reported" lines_ok "[e['pass'] for e in L[13]['expect']] == [False, True, False] and L[13]['pass'] is False and L[13]['expect'][2]['why'] == 'the step has no \"path\"'"
expect "tools: large, small and exponent numbers" lines_ok "[L[i]['output'] for i in (14, 15, 16)] == ['1000000000000000.5', '9.313225746154785e-10', '3000'] and all(L[i]['pass'] for i in (14, 15, 16))"
expect "tools: errors named" lines_ok "'unexpected character at offset 1' in L[17]['error'] and 'at offset 4' in L[18]['error'] and L[19]['error'].startswith('datetime:') and 'division by zero' in L[20]['error'] and 'offset 3' in L[21]['error'] and L[22]['error'].startswith('datetime:') and L[23]['error'] == 'nothing remembered under \"nobody\"'"
expect "tools: every line is valid UTF-8 (a cut character replaced)" python3 -c "
d = open('$tmp/out', 'rb').read(); d.decode('utf-8'); assert '\ufffd' in d.decode()"
expect "tools: summary counts" lines_ok "S['steps'] == 24 and S['steps_failed'] == 8 and S['expectations'] == 20 and S['expectations_failed'] == 2 and S['pass'] is False"
expect "tools: failures listed on stderr" grep -qF '$.steps[12] (wrong): expected number 2 (within 0) in the output' "$tmp/err"
# the same without the failing steps passes
python3 - "$tmp/tools.json" "$tmp/tools-ok.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t['steps'] = t['steps'][:12]
json.dump(t, open(sys.argv[2], 'w'))
PY
check "tools task without failures exits 0" 0 "$hrt" run -q -o "$tmp/ok.jsonl" "$tmp/tools-ok.json"
expect "-o writes the lines to a file" python3 -c "
import json; L = [json.loads(l) for l in open('$tmp/ok.jsonl')]; assert L[-1]['summary']['pass'] is True"
expect "-q: nothing on stderr" [ ! -s "$tmp/err" ]
expect "temporary memory removed" [ -z "$(ls -A "$TMPDIR")" ]

# ---- the example tasks on the default models ----
models="${HRT_MODELS_DIR:-$root/models}"
if [ ! -f "$models/smollm2-135m-instruct-q4_1.gguf" ] || [ ! -d "$models/all-minilm-l6-v2" ]; then
  echo "default models absent (scripts/fetch-models.sh): the example tasks are not run"
else
  for name in customer-service conversation math; do
    "$hrt" run "$root/examples/tasks/$name.json" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    expect "$name: exit status follows the summary ($rc)" lines_ok "(S['pass'] and $rc == 0) or (not S['pass'] and $rc == 1)"
    expect "$name: every ask reports path, tokens and latency" lines_ok "all(d['path'] in ('cache', 'light', 'full') and d['tokens']['generated'] >= 0 and d['tokens']['prompt'] > 0 and d['latency_ms']['total'] > 0 and 'saved' in d['tokens'] for d in L[:-1] if d['kind'] == 'ask' and 'error' not in d)"
    expect "$name: summary tokens are the sum of the steps'" lines_ok "S['tokens']['generated'] == sum(d['tokens']['generated'] for d in L[:-1] if 'tokens' in d) and S['tokens']['prompt'] == sum(d['tokens']['prompt'] for d in L[:-1] if 'tokens' in d)"
    cp "$tmp/out" "$tmp/$name.jsonl"
  done
  expect "customer service: the order is found in the knowledge base" python3 -c "
import json; L = [json.loads(l) for l in open('$tmp/customer-service.jsonl')]
d = [x for x in L if x.get('id') == 'lookup'][0]
assert d['hits'][0]['source'].endswith('orders.jsonl#BB-1042') and d['pass'], d"
  expect "customer service: the escalation branch ran" python3 -c "
import json; L = [json.loads(l) for l in open('$tmp/customer-service.jsonl')]
b = [x for x in L if x.get('kind') == 'if'][0]
dmg = [x for x in L if x.get('id') == 'damaged'][0]
assert b['branch'] == ('then' if dmg['path'] == 'full' else 'else')
if b['branch'] == 'else': assert [x for x in L if x.get('id') == 'escalation'][0]['path'] == 'full'"
  expect "conversation: facts recalled and looked up by similarity" python3 -c "
import json; L = [json.loads(l) for l in open('$tmp/conversation.jsonl')]
o = [x for x in L if x.get('id') == 'order'][0]; c = [x for x in L if x.get('id') == 'contact'][0]
assert o['output'] == \"Dana's order number is BB-1042\" and c['key'] == 'dana-contact' and c['pass'], (o, c)
assert L[-2]['input'] == \"How do I track order Dana's order number is BB-1042?\""
  expect "math: the calculator agrees with every reference" python3 -c "
import json; L = [json.loads(l) for l in open('$tmp/math.jsonl')]
assert [x['output'] for x in L if x.get('kind') == 'calculator'] == ['18', '3', '60', '29']"
  # greedy decoding: the same task gives the same answers
  "$hrt" run -q "$root/examples/tasks/conversation.json" >"$tmp/again.jsonl" 2>/dev/null
  expect "conversation: a second run gives the same outputs" python3 -c "
import json
a = [json.loads(l).get('output') for l in open('$tmp/conversation.jsonl')]
b = [json.loads(l).get('output') for l in open('$tmp/again.jsonl')]
assert a == b, (a, b)"
  expect "temporary knowledge bases and memories removed" [ -z "$(ls -A "$TMPDIR")" ]
fi

# ---- hrt bench efficiency on a small set of its own ----
if [ -f "$models/smollm2-135m-instruct-q4_1.gguf" ] && [ -d "$models/all-minilm-l6-v2" ]; then
  mkdir -p "$tmp/set"
  cat >"$tmp/set/devset.jsonl" <<JSON
{"hrt_devset": 1, "kbs": {"help": {"files": ["$root/examples/helpcentre"], "product": "Brightbox"}}}
{"id": "ret1", "kind": "support", "query": "How long do I have to return a camera?", "kb": "help", "reference": ["You can return it within 30 days of delivery."], "source": "returns/return-product.md"}
{"id": "ret2", "kind": "support", "query": "How long do I have to return a camera?", "kb": "help", "reference": ["You can return it within 30 days of delivery."], "source": "returns/return-product.md"}
{"id": "sum", "kind": "gsm8k", "query": "Tom has 2 apples and buys 3 more. How many apples does he have?", "kb": null, "reference": ["5"], "source": null}
JSON
  check "bench efficiency" 0 "$hrt" bench efficiency -q --set "$tmp/set/devset.jsonl" --out "$tmp/eff" \
    --configs always-full,always-light,routed+pruning+cache --sweep 5 --light-max-tokens 120 --full-max-tokens 96 \
    --threshold 0.9
  expect "bench: the table" grep -q "| routed+pruning+cache |" "$tmp/out"
  expect "bench: CSV rows per configuration and per swept threshold" python3 -c "
import csv; R = list(csv.DictReader(open('$tmp/eff.csv')))
names = [r['configuration'] for r in R]
assert names == ['always-full', 'always-light', 'routed+pruning+cache'] + ['routed (computed)'] * 5, names
full, light, cache = R[0], R[1], R[2]
assert int(full['full']) == 3 and int(light['full']) == 0 and int(full['errors']) == 0
assert int(cache['cache_hits']) == 1 and int(cache['saved_cache']) > 0  # the repeated question
assert float(full['support_cited_right']) >= 0 and full['gsm8k_right'] != '' and full['squad_f1'] == ''
# the sweep's first point sends everything to the full path: the always-full run itself
assert R[3]['generated_tokens'] == full['generated_tokens'] and R[3]['accuracy'] == full['accuracy'], (R[3], full)
assert int(R[3]['full']) == 3 and int(R[7]['full']) == int(R[7]['escalated']) and int(cache['full']) == int(cache['escalated'])"
  expect "bench: one CSV row per query and configuration" python3 -c "
import csv; R = list(csv.DictReader(open('$tmp/eff-queries.csv')))
assert len(R) == 9 and {r['id'] for r in R} == {'ret1', 'ret2', 'sum'}
assert [r['path'] for r in R if r['configuration'] == 'routed+pruning+cache' and r['id'] == 'ret2'] == ['cache']"
  expect "bench: the plot is SVG" python3 -c "
import xml.etree.ElementTree as E; t = E.parse('$tmp/eff.svg').getroot()
assert t.tag.endswith('svg') and len(t.findall('{http://www.w3.org/2000/svg}polyline')) == 1"
  printf '{"hrt_devset": 1}\n{"id": "x", "kind": "chitchat", "query": "hi"}\n' >"$tmp/set/bad.jsonl"
  check "bench: a bad set" 2 "$hrt" bench efficiency --set "$tmp/set/bad.jsonl"
  expect "bench: a bad set names the line" grep -qF 'bad.jsonl:2: needs "id", "query" and "kind"' "$tmp/err"
  check "bench: no set" 2 "$hrt" bench efficiency --set "$tmp/set/none.jsonl"
  check "bench: unknown configuration" 2 "$hrt" bench efficiency --configs fastest
fi

# ---- the full path on a remote model: hrt ask --full-remote and a task's settings.remote ----
if [ -f "$models/smollm2-135m-instruct-q4_1.gguf" ] && [ -d "$models/all-minilm-l6-v2" ]; then
  python3 "$root/tests/openai_stub.py" "$tmp/port" "$tmp/requests.jsonl" &
  stub=$!
  for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  url="http://127.0.0.1:$(cat "$tmp/port")/v1/chat/completions"
  HRT_STUB_KEY=sk-stub check "ask --full-remote" 0 "$hrt" ask --no-memory --no-router --path full --json \
    --full-remote "$url" --remote-model stub-model --remote-key-env HRT_STUB_KEY "How do I return a camera?"
  expect "ask --full-remote: the server's answer" python3 -c "
import json; d = json.load(open('$tmp/out'))
assert d['path'] == 'full' and d['answer'] == 'Ship it back within 30 days.', d
assert d['thinking'] == 'The steps are in the passages.' and d['stages']['full']['prompt_tokens'] == 50"
  expect "ask --full-remote: what was sent" python3 -c "
import json; r = json.loads(open('$tmp/requests.jsonl').readline())
assert r['auth'] == 'Bearer sk-stub' and r['body']['model'] == 'stub-model' and r['body']['stream'] is True
assert 'How do I return a camera?' in r['body']['messages'][-1]['content'] and 'Passages' in r['body']['messages'][-1]['content']"
  printf '{"hrt_task": 1, "settings": {"kb": {"ingest": ["%s"]}, "router": null, "remote": {"url": "%s", "model": "m2"}},
    "steps": [{"ask": "How do I return a camera?", "path": "full", "expect": {"contains": "30 days"}}]}' \
    "$root/examples/helpcentre" "$url" >"$tmp/remote.json"
  check "task with settings.remote" 0 "$hrt" run -q "$tmp/remote.json"
  expect "task with settings.remote: answered by the server" lines_ok "L[0]['path'] == 'full' and L[0]['output'] == 'Ship it back within 30 days.' and S['pass']"
  kill "$stub"
  check "ask --full-remote, nothing listening" 1 "$hrt" ask --no-memory --no-router --path full \
    --full-remote "$url" "How do I return a camera?"
  expect "nothing listening: the error names the URL" grep -qF "$url" "$tmp/err"
  printf '{"hrt_task": 1, "settings": {"remote": {"url": "ftp://x"}}, "steps": [{"ask": "q"}]}' >"$tmp/bad.json"
  check "invalid: remote url" 2 "$hrt" run "$tmp/bad.json"
  expect "invalid: remote url: message" grep -qF '$.settings.remote: "url": "ftp://x" is not an http:// or https:// URL' "$tmp/err"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
