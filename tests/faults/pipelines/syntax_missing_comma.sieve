# fault: two arguments without a comma between them
pipeline p {
  stage a = synth.arith(n = 10 seed = 1)
}
