# A stage outside a sweep that consumes a swept stage receives the whole family (every
# instance, in instance order): `concat` takes one or more datasets, and extra
# positional inputs join the same slot.
pipeline family_consumer {
  stage pool   = synth.igsm(n = 20_000, ops = 2..12)
  stage scored = score(pool, by = column("ops"))
  stage extra  = synth.arith(n = 100)

  sweep band in ["easy", "medium", "hard"], budget in [100, 200] {
    stage subset = select(scored, band = band, budget = budget)
  }

  stage all_bands = concat(subset)                    # 6 instances
  stage with_more = concat(extra, subset, pool, ids = keep, label = false)
  stage init      = model.init(arch = "nano")
  stage tuned     = sft(init, all_bands)
  stage out       = export(with_more, path = "out/mixture.parquet", overwrite = true)
}
