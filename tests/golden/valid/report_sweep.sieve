# Reports over a sweep: DESIGN's difficulty-vs-budget grid drawn as a heatmap of the
# whole family, a line chart of one band (a sub-family), a gain over the base model
# (the optional `baseline` input), and seeds aggregated into a table. `kind`, `x`, `y`
# and `value` take symbols: outside the sweep `band` and `budget` are not variables, but
# they are sweep variables of the reported stages, which lowering checks.
pipeline report_sweep {
  let seed = 7
  stage pool   = synth.igsm(n = 100_000, ops = 2..12)
  stage test   = synth.igsm(n = 2_000, ops = 2..12, seed = seed + 1)
  stage init   = model.init(arch = "tiny")
  stage base   = sft(init, pool, steps = 3000)
  stage scored = score(pool, by = column("ops"))
  stage base_acc = evaluate(base, test, slice_by = "ops")

  sweep budget in [256, 1024, 4096], band in ["easy", "medium", "hard"] {
    stage subset = select(scored, budget = budget, band = band)
    stage tuned  = sft(base, subset, epochs = 3, lr = 3e-4)
    stage acc    = evaluate(tuned, test, metric = exact_match, slice_by = "ops")
  }

  # every cell of the sweep, in one figure
  stage grid = report(acc, kind = heatmap, x = band, y = budget, value = accuracy)
  # one band, accuracy against the budget on a log axis
  stage hard_line = report(acc[band=hard], kind = line, x = budget, x_scale = log,
                           title = "hard band")
  # gain over the base model, per difficulty slice
  stage gain = report(acc[budget=4096], base_acc, kind = bar, x = ops, series = band,
                      relative_to = baseline, precision = 2)

  # three seeds per budget, averaged in a table
  sweep seed in [1, 2, 3], budget in [256, 1024] {
    stage s_subset = select(scored, budget = budget, band = hard)
    stage s_tuned  = sft(base, s_subset)
    stage s_acc    = evaluate(s_tuned, test)
  }
  stage seeds = report(s_acc, x = budget, aggregate = mean, best = max, width = 640, height = 400)
}
