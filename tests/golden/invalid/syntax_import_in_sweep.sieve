# Syntax: imports are not allowed inside a sweep.
pipeline import_in_sweep {
  stage init = model.init(arch = "nano")
  sweep k in [1, 2] {
    import "shared/data.sieve"
    stage tuned = sft(init, data, epochs = k)
  }
}
