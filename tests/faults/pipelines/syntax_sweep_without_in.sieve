# fault: a sweep without `in`
pipeline p {
  sweep s [1, 2] {
    stage a = synth.arith(n = 10, seed = s)
  }
}
