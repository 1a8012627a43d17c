# Well-typed values that a kind rejects: a non-positive count, a fraction outside (0, 1),
# a malformed device, several samples with greedy decoding, an empty range.
# `scored` (a model-based score without a model input) is NOT reported here: kinds
# validate their parameters only, so that mistake surfaces when the stage runs.
pipeline invalid_values {
  stage pool   = synth.igsm(n = -5)
  stage train  = split(pool, fraction = 1.5)
  stage init   = model.init(arch = "nano")
  stage tuned  = sft(init, train, device = "gpu")
  stage acc    = evaluate(tuned, train, samples = 4)
  stage scored = score(pool, by = loss)
  stage empty  = synth.igsm(n = 10, ops = 12..2)
}
