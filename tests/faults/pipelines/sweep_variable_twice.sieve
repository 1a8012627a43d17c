# fault: one sweep variable bound twice
pipeline p {
  sweep s in [1, 2], s in [3, 4] {
    stage g = synth.arith(n = 10, seed = s)
  }
}
