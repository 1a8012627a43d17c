# fault: a selector on a variable the sweep does not have
pipeline p {
  sweep s in [1, 2] {
    stage g = synth.arith(n = 10, seed = s)
  }
  stage c = concat(g[q=1])
}
