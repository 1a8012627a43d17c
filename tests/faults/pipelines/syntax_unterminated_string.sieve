# fault: a string that never ends
pipeline p {
  stage a = synth.arith(n = 10, op = "add)
}
