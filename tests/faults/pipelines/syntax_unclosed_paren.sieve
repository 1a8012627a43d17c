# fault: a call is never closed
pipeline p {
  stage a = synth.arith(n = 10, seed = 1
  stage b = synth.arith(n = 10)
}
