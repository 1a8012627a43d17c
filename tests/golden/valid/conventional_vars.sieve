# The conventional variables: `seed` and `device` default the `seed` / `device`
# parameters of every kind that has one; an explicit parameter wins; inside a sweep a
# sweep variable (or sweep `let`) named `seed` / `device` is the default for that sweep.
pipeline conventional_vars {
  let seed   = 42
  let device = "cpu"

  stage data  = synth.igsm(n = 1_000)                   # seed 42
  stage other = synth.igsm(n = 1_000, seed = seed + 1)  # seed 43 (explicit wins)
  stage init  = model.init(arch = "nano")               # seed 42
  stage base  = sft(init, data)                         # seed 42, device "cpu"
  stage acc   = evaluate(base, other, device = "cuda:1") # explicit device wins

  # a sweep variable named `seed`: one training run per seed
  sweep seed in [1, 2, 3] {
    stage rerun = sft(init, data, steps = 10)           # seed 1 / 2 / 3, device "cpu"
  }
  # a sweep `let` named `device`
  sweep gpu in [0, 1] {
    let device = "cuda:" + "0"
    stage on_gpu = sft(init, data, steps = 10 + gpu)    # device "cuda:0"
  }
}
