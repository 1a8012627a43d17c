# Selectors on swept stages: a full selector picks one instance (for a slot that takes
# one artifact), a partial one a sub-family (for a "one or more" slot). Selector values
# are expressions: symbols, variables, arithmetic; from inside another sweep they may
# use that sweep's variables.
pipeline indexing {
  let big = 1024
  stage pool   = synth.igsm(n = 20_000)
  stage test   = synth.igsm(n = 500, seed = 1)
  stage scored = score(pool, by = column("ops"))
  stage init   = model.init(arch = "nano")

  sweep budget in [256, 1024], band in ["easy", "hard"] {
    stage subset = select(scored, budget = budget, band = band)
    stage tuned  = sft(init, subset)
  }

  # one instance
  stage best     = evaluate(tuned[budget=1024, band=hard], test)
  stage best2    = evaluate(tuned[band = "easy", budget = big / 4 * 1], test)
  stage computed = evaluate(tuned[budget=2*512, band=easy,], test)
  # sub-families
  stage hard_mix = concat(subset[band=hard])
  stage big_mix  = concat(subset[budget=big], subset[budget=256, band=easy])

  # from inside a sweep: the selector uses this sweep's variable
  sweep which in ["easy", "hard"] {
    stage cross = evaluate(tuned[budget=256, band=which], test, samples = 2, temperature = 0.8)
  }
}
