# Sourced by the study scripts that compare fine-tunes ("arms"): arm NAME ARGS... trains
# $OUT/NAME.h5 with train_cnn.py on $T, "${COMMON[@]}" then ARGS, logging to $OUT/NAME.log,
# unless that log already ends in its DONE line, so a stopped comparison resumes by arm.
arm() {
  local name=$1; shift
  if grep -qs "^DONE" "$OUT/$name.log"; then echo "$name: done"; return; fi
  echo "$name: training (log $OUT/$name.log)"
  "$PY" train_cnn.py "$T" --out "$OUT/$name.h5" "${COMMON[@]}" "$@" > "$OUT/$name.log" 2>&1
  tail -n 1 "$OUT/$name.log"
}
