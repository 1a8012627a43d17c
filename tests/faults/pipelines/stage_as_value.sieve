# fault: a stage used where a number is expected
pipeline p {
  stage a = synth.arith(n = 10)
  stage b = synth.arith(n = a)
}
