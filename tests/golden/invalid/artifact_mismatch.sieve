# Artifact-kind mismatches: inputs swapped (a model where a dataset is expected and the
# other way round), a dataset where scores are expected, metrics where a dataset is
# expected.
pipeline artifact_mismatch {
  stage pool   = synth.igsm(n = 1_000)
  stage init   = model.init(arch = "nano")
  stage tuned  = sft(pool, init)
  stage subset = select(pool, budget = 100)
  stage acc    = evaluate(init, pool)
  stage mix    = concat(pool, acc)
}
