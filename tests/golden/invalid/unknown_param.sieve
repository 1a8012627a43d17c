# Unknown parameters: typos get a "did you mean"; a name close to nothing lists the
# kind's parameters; an input slot written as a parameter (`eval = held`).
pipeline unknown_param {
  stage pool  = synth.igsm(n = 1_000, op = 2..8)
  stage held  = synth.igsm(n = 100, seed = 1)
  stage init  = model.init(arch = "nano")
  stage tuned = sft(init, pool, lrr = 1e-4, epoch = 2, eval = held)
  stage acc   = evaluate(tuned, held, colour = "blue")
}
