# fault: a consumer of a family that a selector leaves empty
pipeline p {
  sweep s in [1, 2], t in [3] {
    stage g = synth.arith(n = 10, seed = s + t)
  }
  stage c = concat(g[t=4])
}
