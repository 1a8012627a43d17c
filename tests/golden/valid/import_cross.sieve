# DSL importing YAML (which itself imports DSL); `shared/warmup.sieve` is reached twice
# (through the models file and directly) and merged once.
import "shared/models.yaml"

pipeline import_cross {
  import "shared/warmup.sieve"
  stage data  = synth.arith(n = 10_000, digits = 3..4)
  stage tuned = sft(base, data, warm)     # `warm` fills the optional `eval` slot
}
