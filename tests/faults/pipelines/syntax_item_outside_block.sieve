# fault: a stage outside the pipeline block
stage a = synth.arith(n = 10)
pipeline p {
  stage b = synth.arith(n = 10)
}
