# Parse-time argument problems, reported together: a positional input after a named
# parameter, a parameter given twice, a selector given twice.
pipeline argument_order {
  stage pool  = synth.igsm(n = 1_000)
  stage init  = model.init(arch = "nano")
  stage tuned = sft(init, lr = 1e-4, pool)
  stage twice = synth.igsm(n = 10, seed = 1, n = 20)
  sweep k in [1, 2] {
    stage data = synth.igsm(n = 10 * k)
  }
  stage pick = split(data[k=1, k=2])
}
