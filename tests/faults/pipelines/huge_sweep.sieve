# fault: a sweep of a billion cells
pipeline p {
  sweep s in 1..1_000_000_000 {
    stage g = synth.arith(n = 10, seed = s)
  }
}
