# Bad selectors: an unknown sweep variable (with a "did you mean"), a value not in the
# sweep (the note lists the values), a selector on a stage that is not swept, and a
# string where the sweep has ints.
pipeline bad_index {
  stage pool   = synth.igsm(n = 1_000)
  stage scored = score(pool, by = column("ops"))
  stage init   = model.init(arch = "nano")
  sweep budget in [256, 1024], band in ["easy", "hard"] {
    stage subset = select(scored, budget = budget, band = band)
    stage tuned  = sft(init, subset)
  }
  stage a = evaluate(tuned[budgte=256, band=easy], pool)
  stage b = evaluate(tuned[budget=512, band=easy], pool)
  stage c = evaluate(tuned[budget=256, band=medium], pool)
  stage d = sft(init, pool[budget=256])
  stage e = evaluate(tuned[budget="256", band=easy], pool)
}
