# fault: a bool where an int is expected
pipeline p {
  stage a = synth.arith(n = true)
}
