# fault: the pipeline block is never closed
pipeline p {
  stage a = synth.arith(n = 10)
