# A report axis names a variable of the reported stages: a sweep variable, the column
# their metrics are sliced by (`slice_by`), or `instance`. Anything else is known to fail
# before anything runs, as is a gain over a baseline that is not given.
pipeline report_axes {
  stage pool = synth.igsm(n = 1_000)
  stage init = model.init(arch = "nano")
  sweep budget in [64, 256], band in ["easy", "hard"] {
    stage subset = split(pool, seed = budget)
    stage tuned  = sft(init, subset, steps = 10)
    stage acc    = evaluate(tuned, pool, slice_by = "ops")
  }
  stage base_acc = evaluate(init, pool)
  stage fine   = report(acc, kind = heatmap, x = band, y = budget)
  stage sliced = report(acc[band=hard], kind = line, x = ops, series = budget)
  stage typo   = report(acc, kind = heatmap, x = bnad, y = budget)
  stage flat   = report(base_acc, kind = bar, x = ops)
  stage gain   = report(acc, kind = heatmap, x = band, y = budget, relative_to = baseline)
}
