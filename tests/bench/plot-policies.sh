#!/usr/bin/env bash
# plot-policies.sh: bars of one compare-policies run (its JSON lines): the
# cached-token share and the mean time to first token of each policy.
#   tests/bench/plot-policies.sh RUN.jsonl OUT.png "title"
# compare-policies.sh --png calls it when no --rates are given. Needs
# gnuplot (apt-get install gnuplot-nox).
set -euo pipefail
jsonl=${1:?usage: plot-policies.sh RUN.jsonl OUT.png [title]}
png=${2:?usage: plot-policies.sh RUN.jsonl OUT.png [title]}
title=${3:-compare-policies.sh}
command -v gnuplot >/dev/null || { echo "plot-policies.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
dat=$(mktemp)
trap 'rm -f "$dat"' EXIT
/usr/bin/python3 - "$jsonl" >"$dat" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        name = r["label"].split(":")[0].replace("reference_cache_aware", "reference (0.3.2)")
        print('"%s" %.1f %.0f' % (name, 100 * r["hit_rate"], r.get("ttft_mean_ms", 0)))
PY
gnuplot <<GP
set terminal pngcairo size 1100,420 noenhanced
set output '$png'
set multiplot layout 1,2 title '$title'
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by -30
unset key
set yrange [0:*]
set ylabel 'cached prompt tokens (%)'
plot '$dat' using 0:2:xtic(1) with boxes lc rgb '#4472c4', '' using 0:2:(sprintf('%.1f', \$2)) with labels offset 0,0.7
set ylabel 'mean time to first token (ms)'
plot '$dat' using 0:3:xtic(1) with boxes lc rgb '#ed7d31', '' using 0:3:(sprintf('%.0f', \$3)) with labels offset 0,0.7
unset multiplot
GP
echo "wrote $png" >&2
