# A single-variable sweep over learning rates: three instances of each swept stage,
# `acc` in a cell consumes `tuned` of the same cell.
pipeline sweep_single {
  stage train = synth.arith(n = 2_000, digits = 1..3)
  stage test  = synth.arith(n = 200, digits = 1..3, seed = 1)
  stage init  = model.init(arch = "nano")

  sweep lr in [1e-4, 3e-4, 1e-3] {
    stage tuned = sft(init, train, lr = lr, epochs = 2)
    stage acc   = evaluate(tuned, test, metric = exact_match)
  }
}
