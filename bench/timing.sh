# Timing helpers for the benchmarks; source this file after setting `work` (a scratch
# folder).
#   now            the time, in seconds with nanoseconds
#   seconds CMD…   runs CMD, prints its wall time in seconds; on failure prints CMD's
#                  output and stops the script
#   median         the median of the numbers on standard input, one per line

now() { date +%s.%N; }

seconds() {
  local start end
  start=$(now)
  if ! "$@" >"$work/last.log" 2>&1; then
    echo "failed: $*" >&2
    cat "$work/last.log" >&2
    exit 1
  fi
  end=$(now)
  echo "$end - $start" | bc -l
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
