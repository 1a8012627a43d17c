# An import cycle between two helper files (one YAML, one DSL), reported with the whole
# chain at the import that closes it; and a file importing itself.
import "shared/cycle_a.yaml"
import "import_cycle.sieve"

pipeline import_cycle {
  stage tuned = sft(init, pool)
}
