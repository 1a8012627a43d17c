# fault: an input after a named parameter
pipeline p {
  stage a = synth.arith(n = 10)
  stage b = synth.arith(n = 10, seed = 2)
  stage c = concat(label = false, a, b)
}
