# fault: two pipeline blocks in one file
pipeline p {
  stage a = synth.arith(n = 10)
}
pipeline q {
  stage b = synth.arith(n = 10)
}
