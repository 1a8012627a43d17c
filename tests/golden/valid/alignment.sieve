# Implicit alignment: a reference from inside a sweep to a stage swept over some of the
# same variables picks the instances whose shared variables match the consumer's cell;
# the producer's other variables stay free. Two separate sweeps that share a variable
# name align too.
pipeline alignment {
  stage pool   = synth.igsm(n = 10_000)
  stage test   = synth.igsm(n = 300, seed = 1)
  stage scored = score(pool, by = column("ops"))
  stage init   = model.init(arch = "nano")

  sweep budget in [100, 200], band in ["easy", "hard"] {
    stage subset = select(scored, budget = budget, band = band)
  }

  # shares `budget` and `band` with the sweep above, adds `lr`:
  # tuned[budget=B,band=X,lr=…] trains on subset[budget=B,band=X]
  sweep band in ["easy", "hard"], budget in [100, 200], lr in [1e-4, 1e-3] {
    stage tuned = sft(init, subset, lr = lr)
  }

  # shares only `budget`: a "one or more" slot receives the aligned sub-family
  # (both bands at this budget) …
  sweep budget in [100, 200] {
    stage mix = concat(subset)
    # … and a one-model slot pins the free variables with a selector
    stage acc = evaluate(tuned[band=hard, lr=1e-3], test)
  }
}
