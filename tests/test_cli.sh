#!/usr/bin/env bash
# The hrt command: exit codes (0 ok, 1 failure, 2 usage, 3 model), --help,
# --json output that parses, chat over standard input, embeddings, errors
# that name the file. Usage: test_cli.sh PATH-TO-hrt (ctest passes it).
set -u
hrt=$1
root=$(cd "$(dirname "$0")/.." && pwd)
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check NAME WANT_RC COMMAND...  (stdout -> $tmp/out, stderr -> $tmp/err)
  local name=$1 want=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ "$rc" -eq "$want" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL $name: exit $rc, want $want"; sed 's/^/  | /' "$tmp/err" | head -5; fi
}
expect() { # expect NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name"; fi
}
json_ok() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(0 if ($1) else 1)"; }

check "no arguments" 2 "$hrt"
check "--help" 0 "$hrt" --help
expect "--help lists generate" grep -q generate "$tmp/out"
check "--version" 0 "$hrt" --version
check "unknown command" 2 "$hrt" frobnicate
for cmd in generate chat embed info tokenize mem kb; do
  check "$cmd --help" 0 "$hrt" "$cmd" --help
  expect "$cmd --help says usage" grep -q "usage: hrt $cmd" "$tmp/out"
done
# hrt mem: needs no model
mem="$tmp/mem"
check "mem put" 0 "$hrt" mem put greeting "hello there" --dir "$mem"
check "mem get" 0 "$hrt" mem get greeting --dir "$mem"
expect "mem get prints the value" [ "$(cat "$tmp/out")" = "hello there" ]
printf 'from\nstdin' | "$hrt" mem put k2 --dir "$mem" --ttl 3600 --json >"$tmp/out"
expect "mem put from stdin" json_ok "d == {'stored': True, 'bytes': 10}"
check "mem get --json" 0 "$hrt" mem get k2 --dir "$mem" --json
expect "mem get --json value" json_ok "d['value'] == 'from\\nstdin' and d['tier'] == 'warm'"
check "mem get absent" 1 "$hrt" mem get nope --dir "$mem"
expect "mem get absent says so" grep -q "'nope' is not in" "$tmp/err"
check "mem stats --json" 0 "$hrt" mem stats --dir "$mem" --json
expect "mem stats counts" json_ok "d['tiers']['warm']['entries'] == 2 and d['tiers']['cold']['entries'] == 0"
check "mem compact" 0 "$hrt" mem compact --dir "$mem" --json
expect "mem compact report" json_ok "d['expired'] == 0 and 'cold_segments_compacted' in d"
check "mem compact to cold" 0 "$hrt" mem compact --dir "$mem" --warm-mb 0
check "mem get from cold" 0 "$hrt" mem get greeting --dir "$mem" --json
expect "mem get tier cold" json_ok "d['tier'] == 'cold' and d['value'] == 'hello there'"
check "mem del" 0 "$hrt" mem del greeting --dir "$mem"
check "mem del again" 1 "$hrt" mem del greeting --dir "$mem"
check "mem turns" 0 "$hrt" mem turns nobody --dir "$mem" --json
expect "mem turns empty" json_ok "d == []"
check "mem unknown subcommand" 2 "$hrt" mem bogus --dir "$mem"
check "mem no subcommand" 2 "$hrt" mem
echo '{"format": "hrt-memory", "version": 9}' >"$mem/memory.json"
check "mem newer version" 1 "$hrt" mem stats --dir "$mem"
expect "mem newer version named" grep -q "memory.json: version 9" "$tmp/err"
check "generate without prompt" 2 "$hrt" generate -m /nonexistent.gguf
check "bad number" 2 "$hrt" generate -n ten -p hi
check "unknown option" 2 "$hrt" generate --frobnicate -p hi
check "bad precision" 2 "$hrt" generate --precision int4 -p hi
check "missing model" 3 "$hrt" generate -m /nonexistent/m.gguf -p hi
expect "missing model named" grep -q "/nonexistent/m.gguf" "$tmp/err"
printf 'GGUF\3\0\0\0' >"$tmp/trunc.gguf"
check "truncated model" 3 "$hrt" info "$tmp/trunc.gguf"
expect "truncated model named" grep -q "trunc.gguf" "$tmp/err"

gguf=$root/models/smollm2-135m-instruct-q4_1.gguf
if [ ! -f "$gguf" ]; then
  echo "$pass passed, $fail failed"
  echo "SKIPPED the model checks: models/ is empty (scripts/fetch-models.sh)"
  [ "$fail" -eq 0 ] && exit 77 || exit 1
fi
check "generate --json" 0 "$hrt" generate -m "$gguf" -p "What is the capital of France?" --json
expect "answer is Paris, stopped at EOS" json_ok "'Paris' in d['text'] and d['stop_reason'] == 'eos' and d['generated_tokens'] > 0"
check "generate streams text" 0 "$hrt" generate -m "$gguf" -p "What is the capital of France?" -n 12
expect "streamed text" grep -q "Paris" "$tmp/out"
printf 'What is 2 + 2?' >"$tmp/prompt.txt"
check "generate -f" 0 "$hrt" generate -m "$gguf" -f "$tmp/prompt.txt" -n 8 --json
expect "generate -f json" json_ok "d['prompt_tokens'] > 5 and d['generated_tokens'] <= 8"
check "generate stop string" 0 "$hrt" generate -m "$gguf" --raw -p "One, two, three," -n 30 --stop six --json
expect "stop string honoured" json_ok "d['stop_reason'] == 'stop_string' and 'six' not in d['text']"
check "info --json" 0 "$hrt" info "$gguf" --json
expect "info fields" json_ok "d['arch'] == 'llama' and d['n_layer'] == 30 and d['weight_type'] == 'Q4_1' and d['chat_template']"
check "tokenize --json" 0 "$hrt" tokenize -m "$gguf" --json "Hello world"
expect "tokenize ids" json_ok "d == [19556, 905]"
if [ -d "$root/models/all-minilm-l6-v2" ]; then
  check "embed --json" 0 "$hrt" embed -m "$root/models/all-minilm-l6-v2" --json "a cat" "a dog"
  expect "two unit vectors of 384" json_ok "len(d) == 2 and all(len(v) == 384 and abs(sum(x*x for x in v) - 1) < 1e-4 for v in d)"
  check "embed with a decoder" 1 "$hrt" embed -m "$gguf" "x"
  # hrt kb: ingest, search with citations, stats, rm
  kb="$tmp/kb" kd="$tmp/kbdocs"
  mkdir -p "$kd"
  printf 'The office opens at nine. Parking is free on weekends.\n' >"$kd/office.txt"
  printf '# Returns\n\nItems can be returned within 30 days for a refund.\n' >"$kd/returns.md"
  printf '\0\1\2binary' >"$kd/blob.txt"
  check "kb add" 0 "$hrt" kb add "$kd" --kb "$kb" --json
  expect "kb add counts" json_ok "d['added'] == 2 and d['skipped'] == 1 and d['chunks_added'] == 2"
  check "kb search" 0 "$hrt" kb search "can I get my money back" --kb "$kb" -k 1 --json
  expect "kb search cites returns.md" json_ok "d[0]['source'].endswith('returns.md') and d[0]['start'] == 0 and d[0]['text'].startswith('# Returns')"
  check "kb stats" 0 "$hrt" kb stats --kb "$kb" --json
  expect "kb stats counts" json_ok "d['documents'] == 2 and d['vectors'] == 2 and d['dim'] == 384"
  check "kb add again" 0 "$hrt" kb add "$kd" --kb "$kb" --json
  expect "kb add again unchanged" json_ok "d['unchanged'] == 2 and d['added'] == 0"
  check "kb rm" 0 "$hrt" kb rm "$kd/office.txt" --kb "$kb" --json
  expect "kb rm count" json_ok "d['removed'] == 1"
  check "kb rm again" 1 "$hrt" kb rm "$kd/office.txt" --kb "$kb"
  check "kb search bm25" 0 "$hrt" kb search "office parking" --kb "$kb" --mode bm25 --json
  expect "kb search after rm" json_ok "d == []"
  check "kb add missing" 1 "$hrt" kb add "$kd/nope" --kb "$kb"
  expect "kb add missing named" grep -q "nope" "$tmp/err"
  check "kb bad mode" 2 "$hrt" kb search x --mode fuzzy --kb "$kb"
  check "kb no subcommand" 2 "$hrt" kb --kb "$kb"
fi
# chat over standard input: two turns, the second sees the first
printf 'My name is Ada.\nWhat is my name?\n/quit\n' >"$tmp/chat.txt"
"$hrt" chat -m "$gguf" -n 24 <"$tmp/chat.txt" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "chat exits 0" [ "$rc" -eq 0 ]
expect "chat remembers the name" grep -q "Ada" "$tmp/out"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
