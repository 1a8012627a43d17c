# fault: a string where an int is expected
pipeline p {
  stage a = synth.arith(n = "ten")
}
