# fault: adding a number to a string
pipeline p {
  stage a = synth.arith(n = 10, op = "add" + 1)
}
