# A whole sweep family passed where one artifact is expected: outside the sweep, `tuned`
# is the family of three models; `tuned[lr=…]` would pick one.
pipeline family_for_one {
  stage pool = synth.igsm(n = 1_000)
  stage init = model.init(arch = "nano")
  sweep lr in [1e-4, 3e-4, 1e-3] {
    stage tuned = sft(init, pool, lr = lr)
  }
  stage acc = evaluate(tuned, pool)
  # a partial selector that still leaves several instances
  sweep band in ["easy", "hard"], budget in [1, 2] {
    stage part = split(pool)
  }
  stage one = sft(init, part[band=hard])
}
