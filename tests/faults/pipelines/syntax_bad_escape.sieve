# fault: an unknown escape in a string
pipeline p {
  stage a = synth.arith(n = 10, op = "a\qdd")
}
