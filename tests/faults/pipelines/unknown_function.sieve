# fault: a function that does not exist
pipeline p {
  stage a = synth.arith(n = frobnicate(10))
}
