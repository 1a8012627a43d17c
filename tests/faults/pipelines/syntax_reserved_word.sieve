# fault: a keyword used as a stage name
pipeline p {
  stage sweep = synth.arith(n = 10)
}
