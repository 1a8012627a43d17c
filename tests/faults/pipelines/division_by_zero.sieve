# fault: a division by zero
pipeline p {
  stage a = synth.arith(n = 10 / 0)
}
