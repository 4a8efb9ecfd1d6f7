#!/bin/sh
# Runs the standard benchmark configurations and prints markdown tables of the
# medians (the figures in docs/benchmarks.md come from this script).
#   bench/suite.sh [RUNS] [THREADS]      defaults: 7 runs, threads 1,2,4,8
set -eu
BENCH=${BENCH:-build/bin/bench}
RUNS=${1:-7}
THREADS=${2:-1,2,4,8}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

table() {
	awk -F'[:,{}"]+' '
	BEGIN {
		print "| accounts | txns | compute | threads | seq tps | par tps | speedup | exec/txn | valid/txn | overhead ns/txn | dep. bound | efficiency | line round trip ns |"
		print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	}
	{
		for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)
		printf "| %s | %s | %s | %s | %.0f | %.0f | %.3f | %.3f | %.3f | %.0f | %s | %s | %.0f |\n",
			v["accounts"], v["txns"], v["compute"], v["threads"], v["seq_tps"],
			v["par_tps"], v["speedup"], v["executions_per_txn"],
			v["validations_per_txn"], v["overhead_ns_per_txn"],
			(v["dependency_bound"] > 0 ? v["dependency_bound"] : "-"),
			(v["dependency_bound"] > 0 ? v["efficiency"] : "-"), v["line_round_trip_ns"]
	}' "$1"
}

echo "### Synthetic, 10,000 transactions, 2 reads + 2 writes, $RUNS runs (medians)"
echo
"$BENCH" --accounts 2,10,100,10000 --txns 10000 --reads 2 --writes 2 \
	--compute 0,10 --threads "$THREADS" --runs "$RUNS" --json > "$tmp"
table "$tmp"
sha=$(awk -F'"sha256_ns":' 'NR==1{split($2,a,","); print a[1]}' "$tmp")
echo
echo "SHA-256 of 32 bytes on this machine: ${sha} ns (compute = iterations per transaction)."
echo
echo "### Small blocks: 10,000 accounts, compute 10, 2 threads"
echo
"$BENCH" --accounts 10000 --txns 1,2,4,8,16,24,32,48,64,128,256 --compute 10 \
	--threads 2 --runs "$RUNS" --json > "$tmp"
table "$tmp"
