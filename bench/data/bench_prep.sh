#!/usr/bin/env bash
# Data-pipeline throughput on real text nobody here wrote: the shared corpora (en.txt.gz 88 MB of
# packaged English, zh.txt.gz 7 MB of Chinese; see /work/shared/corpora/MANIFEST.txt) concatenated
# twice (~190 MB). Runs `anvil prep` on one thread (the pipeline is one process per shard, so this is
# "per core") and prints MB/s per stage from the report's stage timers, plus peak RSS and the whole
# run's MB/s of CPU time (robust to a busy machine, unlike the wall-clock stage timers).
# Usage: bench/data/bench_prep.sh [ANVIL_BINARY] [WORK_DIR]
set -euo pipefail
ANVIL=${1:-build/anvil}
W=${2:-/tmp/anvil_bench_data}
CORPORA=${ANVIL_CORPORA:-/work/shared/corpora}
mkdir -p "$W"
if [ ! -s "$W/corpus.txt" ]; then
  for _ in 1 2; do zcat "$CORPORA/en.txt.gz"; echo; zcat "$CORPORA/zh.txt.gz"; echo; done > "$W/corpus.txt"
fi
cat > "$W/prep.toml" <<TOML
[prep]
output = "out/corpus.jsonl"
[[input]]
path = "corpus.txt"
format = "text"
text_unit = "blank_line"
group = "general"
[normalize]
languages = ["en", "zh"]
[mix]
enabled = false
TOML
rm -rf "$W/out"
/usr/bin/time -v "$ANVIL" --threads 1 prep --config "$W/prep.toml" 2> "$W/time.log" >/dev/null || { cat "$W/time.log"; exit 1; }
/usr/bin/python3 - "$W" <<'PY'
import json, re, sys
w = sys.argv[1]
r = json.load(open(f"{w}/out/prep_report.json"))
log = open(f"{w}/time.log").read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log).group(1)) / 1024
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", log).group(1)
cpu = float(re.search(r"User time \(seconds\): (\S+)", log).group(1)) + float(re.search(r"System time \(seconds\): (\S+)", log).group(1))
t = r["totals"]
print(f"input: {t['n_input']} records, {t['bytes_input']/1e6:.1f} MB; kept {t['n_kept']} ({t['bytes_kept']/1e6:.1f} MB); "
      f"balanced={r['balanced']}; wall {wall}; peak RSS {rss:.0f} MiB")
print(f"{'stage':<12} {'MB in':>8} {'docs in':>9} {'docs out':>9} {'seconds':>8} {'MB/s':>8}")
s = {x["name"]: x for x in r["stages"]}
for x in r["stages"]:
    print(f"{x['name']:<12} {x['bytes_in']/1e6:8.1f} {x['docs_in']:9d} {x['docs_out']:9d} {x['seconds']:8.2f} {x['mb_per_s']:8.1f}")
core = ["normalize", "exact_dedup", "quality"]
secs = sum(s[n]["seconds"] for n in core if n in s)
print(f"normalize + exact dedup + heuristics: {s['normalize']['bytes_in']/1e6/secs:.1f} MB/s per core "
      f"(bytes entering normalize / time of the three stages; goal >= 50)")
print(f"minhash signatures: {s['minhash']['mb_per_s']:.1f} MB/s per core (goal >= 10)")
ed = r["exact_dedup"]
print(f"exact dedup memory: {ed['memory_bytes']/2**20:.1f} MiB for {ed['docs']} distinct docs = {ed['bytes_per_doc']:.1f} B/doc")
print(f"whole run: {t['bytes_input']/1e6/cpu:.1f} MB/s of CPU time (user+sys {cpu:.1f} s; stage timers above are wall "
      f"time, inflated when other work shares the cores)")
print("dropped:", {k: v["n"] for k, v in t["dropped"].items()})
PY
