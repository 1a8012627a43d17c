# fault: a name with a non-ASCII letter
pipeline p {
  stage café = synth.arith(n = 10)
}
