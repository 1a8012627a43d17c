# Undefined variables in arithmetic and ranges: a typo with a "did you mean", a name used
# before any `let` defines it.
pipeline undefined_variable {
  let seed = 7
  let rows = n_rows * 2
  let n_rows = 1_000
  stage pool = synth.igsm(n = 1_000, seed = sed + 1)
  stage test = synth.igsm(n = 100, ops = 2..max_ops)
}
