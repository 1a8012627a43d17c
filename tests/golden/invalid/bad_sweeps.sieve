# Bad sweeps, all reported together: an empty list, a value that is not a list,
# duplicate values, a list of lists, a variable repeated in one sweep, a variable with a
# stage's name, an inner sweep shadowing an outer sweep variable.
pipeline bad_sweeps {
  stage pool = synth.igsm(n = 1_000)
  sweep a in [] {
    stage s1 = synth.igsm(n = 1)
  }
  sweep b in 3 {
    stage s2 = synth.igsm(n = 1)
  }
  sweep c in [256, 1024, 256] {
    stage s3 = synth.igsm(n = c)
  }
  sweep d in [[1, 2], [3]] {
    stage s4 = synth.igsm(n = 1)
  }
  sweep e in [1], e in [2] {
    stage s5 = synth.igsm(n = 1)
  }
  sweep pool in [1, 2] {
    stage s6 = synth.igsm(n = 1)
  }
  sweep f in [1, 2] {
    sweep f in [3, 4] {
      stage s7 = synth.igsm(n = f)
    }
  }
}
