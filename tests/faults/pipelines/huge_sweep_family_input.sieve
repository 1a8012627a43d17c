# fault: a moderate sweep consumed by a sweep of the same size (1e10 edges)
pipeline p {
  sweep s in 1..100_000 {
    stage g = synth.arith(n = 10, seed = s)
  }
  sweep t in 1..100_000 {
    stage c = concat(g, label = false)
  }
}
