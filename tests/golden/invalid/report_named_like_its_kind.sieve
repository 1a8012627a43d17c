# The report stage of docs/language.md §1, as written there: the stage is named
# `heatmap` and passes `kind = heatmap`, so the bare word names the stage itself instead
# of being the symbol "heatmap" (the YAML twin, `params: {kind: heatmap}`, lowers).
# Also: a heatmap without `y`, and a line chart without `x`.
pipeline report_named_like_its_kind {
  stage pool = synth.igsm(n = 1_000)
  stage init = model.init(arch = "nano")
  sweep budget in [256, 1024], band in ["easy", "hard"] {
    stage tuned = sft(init, pool, steps = budget)
    stage acc   = evaluate(tuned, pool)
  }
  stage heatmap = report(acc, kind = heatmap, x = band, y = budget, value = accuracy)
  stage no_rows = report(acc, kind = "heatmap", x = band)
  stage no_x    = report(acc[band=hard], kind = line)
}
