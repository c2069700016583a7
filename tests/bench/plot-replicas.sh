#!/usr/bin/env bash
# plot-replicas.sh: one replicas.sh run (its replicas.tsv) as a PNG: per
# workload (a row of panels), the cache hit rate and the throughput against
# the number of router replicas, one line without sync and one with it.
#   tests/bench/plot-replicas.sh replicas.tsv OUT.png ["title"]
# replicas.sh calls it at the end of a run. Needs gnuplot (apt-get install
# gnuplot-nox).
set -euo pipefail
tsv=${1:?usage: plot-replicas.sh replicas.tsv OUT.png [title]}
png=${2:?usage: plot-replicas.sh replicas.tsv OUT.png [title]}
title=${3:-replicas.sh}
command -v gnuplot >/dev/null || { echo "plot-replicas.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
dat=$(mktemp -d)
trap 'rm -rf "$dat"' EXIT
# One file per (workload, sync): "N hit% req/s" lines; "workloads" lists
# the workloads in their order and the replica counts seen.
/usr/bin/python3 - "$tsv" "$dat" <<'PY'
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
order, ns, series = [], set(), {}
for r in rows:
    if r["workload"] not in order:
        order.append(r["workload"])
    ns.add(int(r["replicas"]))
    series.setdefault((r["workload"], r["sync"]), []).append(
        (int(r["replicas"]), 100 * float(r["hit_rate"]), float(r["rps"])))
for (wl, sync), pts in series.items():
    with open(os.path.join(sys.argv[2], "%s.%s.dat" % (wl, sync)), "w") as f:
        for p in sorted(pts):
            f.write("%d %g %g\n" % p)
with open(os.path.join(sys.argv[2], "workloads"), "w") as f:
    f.write(" ".join(order) + "\n")
    f.write(", ".join("'%d' %d" % (n, n) for n in sorted(ns)) + "\n")
    f.write("%g\n" % (1.25 * max(ns)))
PY
{ read -r workloads; read -r xtics; read -r xmax; } <"$dat/workloads"
nrows=$(wc -w <<<"$workloads")
plots=""
for wl in $workloads; do
  for col in 2 3; do
    if [ "$col" = 2 ]; then
      what="cache hits" ylabel="cache hit rate (% of prompt tokens)"
    else
      what="throughput" ylabel="requests/s"
    fi
    lines=""
    for sync in off on; do
      [ -f "$dat/$wl.$sync.dat" ] || continue
      lines+="'$dat/$wl.$sync.dat' using 1:$col with linespoints lw 2 pt 7 title 'sync $sync', "
    done
    plots+="set title '$wl: $what'; set ylabel '$ylabel'; plot ${lines%, }
"
  done
done
gnuplot <<GP
set terminal pngcairo size 1100,$((60 + 330 * nrows)) noenhanced
set output '$png'
set multiplot layout $nrows,2 title '$title'
set xlabel 'router replicas behind nginx (round robin)'
set logscale x 2
set xtics ($xtics)
set xrange [0.8:$xmax]
set yrange [0:*]
set grid
set key bottom left
$plots
unset multiplot
GP
echo "wrote $png" >&2
