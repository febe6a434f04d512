#!/usr/bin/env bash
# The hrt command: exit codes (0 ok, 1 failure, 2 usage, 3 model), --help,
# --json output that parses, chat over standard input, embeddings, errors
# that name the file. Usage: test_cli.sh PATH-TO-hrt (ctest passes it).
set -u
hrt=$1
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cli_lib.sh
. "$root/tests/cli_lib.sh"
json_ok() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(0 if ($1) else 1)"; }

check "no arguments" 2 "$hrt"
check "--help" 0 "$hrt" --help
expect "--help lists generate" grep -q generate "$tmp/out"
check "--version" 0 "$hrt" --version
check "unknown command" 2 "$hrt" frobnicate
for cmd in generate chat embed info tokenize mem kb ask router run bench; do
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

  # hrt ask: the agent over the example help centre, indexed on first use
  # into the models directory (a private one here)
  hm="$tmp/models"
  mkdir -p "$hm"
  ln -s "$gguf" "$root/models/all-minilm-l6-v2" "$hm/"
  check "ask, no flags" 0 env HRT_MODELS_DIR="$hm" "$hrt" ask "How do I reset my password?"
  expect "ask answers with sources" grep -q "reset-password.md" "$tmp/out"
  expect "example kb built on first use" [ -f "$hm/helpcentre.kb/kb.json" ]
  check "ask paraphrase --json" 0 env HRT_MODELS_DIR="$hm" "$hrt" ask --json "How can I reset my password?"
  expect "paraphrase served from the cache" json_ok "d['path'] == 'cache' and d['generated_tokens'] == 0 and d['saved']['cache'] > 0 and 'cache: hit' in d['explain']"
  check "ask multi-step --explain" 0 env HRT_MODELS_DIR="$hm" "$hrt" ask --explain --no-cache \
    "I paid 99.99 dollars for a yearly Plus Home plan 3 months ago. If I cancel today, how much will be refunded after the processing fee, and when will the money arrive?"
  expect "multi-step goes full, and says why" grep -q "^path: full" "$tmp/out"
  expect "explain shows the router" grep -q "^router: score" "$tmp/out"
  check "ask empty" 1 env HRT_MODELS_DIR="$hm" "$hrt" ask ""
  expect "ask empty named" grep -q "empty" "$tmp/err"
  check "ask huge" 1 env HRT_MODELS_DIR="$hm" "$hrt" ask "$(head -c 20000 /dev/zero | tr '\0' a)"
  expect "ask huge named" grep -q "at most" "$tmp/err"
  check "ask invalid UTF-8" 0 env HRT_MODELS_DIR="$hm" "$hrt" ask --no-memory --path light --json $'How do I \xff\xfe reset my password?'
  expect "ask invalid UTF-8 answered" json_ok "d['path'] == 'light' and len(d['answer']) > 0"
  check "ask missing kb" 1 "$hrt" ask --kb "$tmp/no-such-kb" "hello?"
  expect "ask missing kb named" grep -q "no-such-kb" "$tmp/err"
  check "ask bad path" 2 "$hrt" ask --path medium "hello?"
  check "ask two questions" 2 "$hrt" ask one two
  printf 'How do I share my cameras with my family?\nCan they change the settings?\n/quit\n' |
    HRT_MODELS_DIR="$hm" "$hrt" chat --kb "$hm/helpcentre.kb" --memory "$tmp/chatmem" --session t1 >"$tmp/out" 2>"$tmp/err"
  expect "chat --kb exits 0" [ $? -eq 0 ]
  check "chat --kb kept the turns" 0 "$hrt" mem turns t1 --dir "$tmp/chatmem" --json
  expect "four turns" json_ok "len(d) == 4 and d[2]['content'] == 'Can they change the settings?'"
  # hrt router train
  for i in 1 2 3 4 5 6; do
    printf '{"query": "How do I find setting %s?", "label": 0}\n{"question": "If %s cameras cost $%s0 each with 15%% off, and shipping is $9, what is the total?", "weak_correct": false, "strong_correct": true}\n' $i $i $i
  done >"$tmp/labels.jsonl"
  check "router train" 0 "$hrt" router train --json -o "$tmp/router.json" "$tmp/labels.jsonl"
  expect "router report" json_ok "d['rows'] == 12 and d['full_rows'] == 6 and d['auc_train'] > 0.9"
  check "ask with the new router" 0 env HRT_MODELS_DIR="$hm" "$hrt" ask --router "$tmp/router.json" --no-memory --path light --json "Where are my invoices?"
  printf '{"query": "no label"}\n' >"$tmp/bad.jsonl"
  check "router train bad labels" 1 "$hrt" router train -o "$tmp/r2.json" "$tmp/bad.jsonl"
  expect "router train names the line" grep -q "bad.jsonl:1" "$tmp/err"
  check "router without train" 2 "$hrt" router "$tmp/labels.jsonl"
fi
# chat over standard input: two turns, the second sees the first
printf 'My name is Ada.\nWhat is my name?\n/quit\n' >"$tmp/chat.txt"
"$hrt" chat -m "$gguf" -n 24 <"$tmp/chat.txt" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "chat exits 0" [ "$rc" -eq 0 ]
expect "chat remembers the name" grep -q "Ada" "$tmp/out"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
