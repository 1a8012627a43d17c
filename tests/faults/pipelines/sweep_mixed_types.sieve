# fault: a sweep over an int and a float
pipeline p {
  sweep s in [1, 2.5] {
    stage g = synth.arith(n = 10, seed = s)
  }
}
