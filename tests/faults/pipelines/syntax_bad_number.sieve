# fault: a malformed number
pipeline p {
  stage a = synth.arith(n = 1.2.3)
}
