# fault: text after the pipeline block
pipeline p {
  stage a = synth.arith(n = 10)
}
and then some
