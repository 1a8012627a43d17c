# fault: a parameter given twice
pipeline p {
  stage a = synth.arith(n = 10, n = 20)
}
