# fault: a negative number of rows
pipeline p {
  stage a = synth.arith(n = -10)
}
