# A stage swept over an empty list has no instances; its consumers outside the sweep
# are reported too.
pipeline empty_sweep_consumer {
  let budgets = []
  stage pool = synth.igsm(n = 1_000)
  sweep budget in budgets {
    stage part = split(pool, fraction = 0.5)
  }
  stage all = concat(part)
  stage one = split(part)
}
