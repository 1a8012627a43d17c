# A sweep over `[1, 1.0]`: the two values are accepted as distinct (instances
# `data[v=1]` and `data[v=1.0]`), but a selector compares them numerically, so
# `data[v=1]` matches both instances.
pipeline sweep_int_float_values {
  sweep v in [1, 1.0] {
    stage data = synth.igsm(n = 100)
  }
  stage one = split(data[v=1])
}
