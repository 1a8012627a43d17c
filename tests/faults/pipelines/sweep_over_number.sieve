# fault: a sweep over a number, not a list
pipeline p {
  sweep s in 5 {
    stage g = synth.arith(n = 10, seed = s)
  }
}
