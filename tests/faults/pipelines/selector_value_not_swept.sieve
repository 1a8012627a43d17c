# fault: a selector value the sweep never takes
pipeline p {
  sweep s in [1, 2] {
    stage g = synth.arith(n = 10, seed = s)
  }
  stage c = concat(g[s=99])
}
