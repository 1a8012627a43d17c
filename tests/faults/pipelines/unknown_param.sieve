# fault: a parameter the kind does not take
pipeline p {
  stage a = synth.arith(n = 10, size = 3)
}
