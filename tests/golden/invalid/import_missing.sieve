# Imports of files that do not exist (before and inside the block), and of a file whose
# syntax cannot be told from its extension.
import "shared/does_not_exist.sieve"

pipeline import_missing {
  import "shared/nope.yaml"
  import "shared/data.txt"
  stage tuned = sft(init, pool)
}
