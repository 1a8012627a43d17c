# DSL importing DSL: the imported variables and stages are ordinary names here, and the
# imported `let`s come first, so this file's lets may use them.
import "shared/common.sieve"

pipeline import_same_syntax {
  let steps = seed * 100
  stage tuned = sft(init, pool, steps = steps)
  stage acc   = evaluate(tuned, test, slice_by = "ops")
}
