# fault: a fractional number where an int is expected
pipeline p {
  stage a = synth.arith(n = 1.5)
}
